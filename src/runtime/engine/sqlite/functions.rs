//! The scalar and aggregate functions the SQLite dialect calls (`bpl_*`).
//! Written once in Rust with chrono and chrono-tz, so a result depends on
//! its arguments only — never on the host's time zone or locale.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use super::decimal::decimal_kind;
use super::judge;
use crate::sql::checksum::{encode, Canonical, Sums};
use crate::sql::types::{DATE_FORMAT, TIMESTAMP_FORMAT};

pub(super) const FLAGS: FunctionFlags =
    FunctionFlags::SQLITE_UTF8.union(FunctionFlags::SQLITE_DETERMINISTIC);

/// Registers every `bpl_*` function on a connection.
pub fn register(conn: &Connection) -> Result<()> {
    conn.create_scalar_function("bpl_to_date", 2, FLAGS, |ctx| {
        let (Some(ts), Some(tz)) = (text(ctx, 0), text(ctx, 1)) else {
            return Ok(None);
        };
        Ok(to_date(&ts, &tz))
    })?;
    date_fn(conn, "bpl_week", |d| {
        let w = d.iso_week();
        Some(format!("{:04}-W{:02}", w.year(), w.week()))
    })?;
    date_fn(conn, "bpl_quarter", |d| {
        Some(format!("{:04}-Q{}", d.year(), (d.month() - 1) / 3 + 1))
    })?;
    date_fn(conn, "bpl_month_end", |d| {
        Some(fmt(last_of_month(d.year(), d.month())?))
    })?;
    date_fn(conn, "bpl_week_start", |d| {
        Some(fmt(d - chrono::Days::new(
            d.weekday().num_days_from_monday() as u64,
        )))
    })?;
    date_fn(conn, "bpl_week_end", |d| {
        Some(fmt(d + chrono::Days::new(
            6 - d.weekday().num_days_from_monday() as u64,
        )))
    })?;
    date_fn(conn, "bpl_quarter_end", |d| {
        Some(fmt(last_of_month(d.year(), ((d.month() - 1) / 3 + 1) * 3)?))
    })?;
    date_fn(conn, "bpl_year_end", |d| {
        Some(fmt(last_of_month(d.year(), 12)?))
    })?;
    conn.create_scalar_function("bpl_days_in_month", 1, FLAGS, |ctx| {
        Ok(text(ctx, 0)
            .and_then(|t| first_day(&t))
            .and_then(|d| last_of_month(d.year(), d.month()))
            .map(|d| d.day() as i64))
    })?;
    conn.create_scalar_function("bpl_as", 2, FLAGS, |ctx| {
        let kind = text(ctx, 1).unwrap_or_default();
        Ok(convert(ctx.get_raw(0), &kind))
    })?;
    conn.create_scalar_function("bpl_problems", -1, FLAGS, |ctx| {
        let checks = ctx.get_or_create_aux(0, compiled_checks)?;
        Ok(judge::problems(
            &checks,
            (1..ctx.len()).map(|i| ctx.get_raw(i)),
        ))
    })?;
    conn.create_scalar_function("bpl_row_status", -1, FLAGS, |ctx| {
        let checks = ctx.get_or_create_aux(0, compiled_checks)?;
        Ok(judge::row_status(&checks, |i| ctx.get_raw(i + 1)))
    })?;
    conn.create_scalar_function("bpl_lower", 1, FLAGS, |ctx| {
        Ok(text(ctx, 0).map(|t| t.to_lowercase()))
    })?;
    conn.create_scalar_function("bpl_upper", 1, FLAGS, |ctx| {
        Ok(text(ctx, 0).map(|t| t.to_uppercase()))
    })?;
    // The same on every engine (see `sql::checksum::stable_id`).
    conn.create_scalar_function("bpl_stable_id", -1, FLAGS, |ctx| {
        Ok(crate::sql::checksum::stable_id((0..ctx.len()).map(
            |i| match ctx.get_raw(i) {
                ValueRef::Null => Canonical::Null,
                ValueRef::Integer(n) => Canonical::Integer(n),
                ValueRef::Real(f) => Canonical::Real(f),
                ValueRef::Text(t) => Canonical::Text(t),
                ValueRef::Blob(b) => Canonical::Bytes(b),
            },
        )))
    })?;
    conn.create_scalar_function("bpl_bucket", 2, FLAGS, |ctx| {
        let n: i64 = ctx.get(1)?;
        let mut h = Fnv::new(0);
        h.value(ctx.get_raw(0));
        Ok((n > 0).then(|| (h.0 % n as u64) as i64))
    })?;
    super::decimal::register(conn)?;
    conn.create_aggregate_function("bpl_checksum", -1, FLAGS, Checksum)?;
    conn.create_aggregate_function("bpl_percentile", 2, FLAGS, Percentile)?;
    Ok(())
}

/// The columns' checks, the first argument of `bpl_problems` and
/// `bpl_row_status`: a constant, parsed and compiled once per statement,
/// not once per row.
fn compiled_checks(v: ValueRef<'_>) -> serde_json::Result<Vec<judge::Compiled>> {
    serde_json::from_slice::<Vec<crate::sql::boundary::Check>>(v.as_bytes().unwrap_or(b"[]"))
        .map(judge::compile)
}

fn text(ctx: &Context<'_>, i: usize) -> Option<String> {
    match ctx.get_raw(i) {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::to_owned),
        ValueRef::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

fn fmt(d: NaiveDate) -> String {
    d.format(DATE_FORMAT).to_string()
}

/// The first day of what a date, month (`2026-06`) or timestamp names.
fn first_day(t: &str) -> Option<NaiveDate> {
    let t = t.trim();
    if t.len() == 7 {
        return NaiveDate::parse_from_str(&format!("{t}-01"), DATE_FORMAT).ok();
    }
    NaiveDate::parse_from_str(t.get(..10)?, DATE_FORMAT).ok()
}

fn last_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

fn date_fn(
    conn: &Connection,
    name: &str,
    f: impl Fn(NaiveDate) -> Option<String> + Send + 'static,
) -> Result<()> {
    conn.create_scalar_function(name, 1, FLAGS, move |ctx| {
        Ok(text(ctx, 0).and_then(|t| first_day(&t)).and_then(&f))
    })
}

/// A value read from a source as the column's declared type stores it, or
/// `None` when it is not a value of that type: the slow path of the typed
/// input boundary (`sql::boundary`), reached only by values not already in
/// the stored form.
pub fn convert(v: ValueRef<'_>, kind: &str) -> Option<Value> {
    let text = match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().map(str::trim),
        _ => None,
    };
    if let Some((precision, scale)) = decimal_kind(kind) {
        return super::decimal::scaled(v, precision, scale)
            .ok()
            .map(Value::Integer);
    }
    if kind == "decimal" {
        return super::decimal::as_written(v);
    }
    match (kind, v) {
        (_, ValueRef::Null) => None,
        ("int", ValueRef::Integer(i)) => Some(Value::Integer(i)),
        ("int", ValueRef::Real(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Some(Value::Integer(f as i64))
        }
        ("int", _) => text?.parse::<i64>().ok().map(Value::Integer),
        ("number", ValueRef::Integer(i)) => Some(Value::Integer(i)),
        ("number", ValueRef::Real(f)) if f.is_finite() => Some(Value::Real(f)),
        ("number", _) => text?
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Real),
        ("bool", ValueRef::Integer(i @ (0 | 1))) => Some(Value::Integer(i)),
        ("bool", _) => match text? {
            "true" | "TRUE" | "1" => Some(Value::Integer(1)),
            "false" | "FALSE" | "0" => Some(Value::Integer(0)),
            _ => None,
        },
        ("string", ValueRef::Integer(i)) => Some(Value::Text(i.to_string())),
        ("string", ValueRef::Real(f)) => Some(Value::Text(f.to_string())),
        ("string", ValueRef::Text(_)) => text.map(|_| {
            // Kept as written: only surrounding blanks are not trimmed away.
            Value::Text(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned())
        }),
        ("date", _) => NaiveDate::parse_from_str(text?, "%Y-%m-%d")
            .ok()
            .map(|d| Value::Text(fmt(d))),
        ("timestamp", _) => timestamp(text?).map(Value::Text),
        ("month", _) => {
            let t = text?;
            NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d")
                .ok()
                .filter(|_| t.len() == 7)
                .map(|_| Value::Text(t.to_string()))
        }
        _ => None,
    }
}

/// A timestamp in the canonical stored form (UTC, whole seconds), from ISO
/// 8601 with a space or `T`, and `Z`, an offset or none (UTC). A fraction
/// of a second is refused rather than dropped.
pub fn timestamp(t: &str) -> Option<String> {
    let utc = chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc())
        .or_else(|_| {
            chrono::DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%:z").map(|d| d.naive_utc())
        })
        .or_else(|_| NaiveDateTime::parse_from_str(t, TIMESTAMP_FORMAT))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    if utc.and_utc().timestamp_subsec_nanos() != 0 {
        return None;
    }
    Some(utc.format(TIMESTAMP_FORMAT).to_string())
}

/// The calendar date of a UTC timestamp in an IANA time zone.
pub fn to_date(ts: &str, tz: &str) -> Option<String> {
    let zone: chrono_tz::Tz = tz.parse().ok()?;
    let at = NaiveDateTime::parse_from_str(ts.trim(), TIMESTAMP_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Some(fmt(zone.from_utc_datetime(&at).date_naive()))
}

/// FNV-1a, 64 bits: small, stable across machines and releases.
struct Fnv(u64);

impl Fnv {
    fn new(seed: u64) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325 ^ seed)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Hashes a value with its type, so `1` and `'1'` differ and a null is
    /// not an empty string.
    fn value(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Null => self.bytes(&[0]),
            ValueRef::Integer(i) => {
                self.bytes(&[1]);
                self.bytes(&i.to_le_bytes());
            }
            ValueRef::Real(f) => {
                self.bytes(&[2]);
                self.bytes(&f.to_bits().to_le_bytes());
            }
            ValueRef::Text(t) => {
                self.bytes(&[3]);
                self.bytes(&(t.len() as u64).to_le_bytes());
                self.bytes(t);
            }
            ValueRef::Blob(b) => {
                self.bytes(&[4]);
                self.bytes(&(b.len() as u64).to_le_bytes());
                self.bytes(b);
            }
        }
    }
}

/// The content checksum over the canonical row encoding
/// (`sql::checksum`), so the same rows give the same checksum on every
/// engine, in any order.
struct Checksum;

impl Aggregate<(Sums, Vec<u8>), Option<String>> for Checksum {
    fn init(&self, _: &mut Context<'_>) -> Result<(Sums, Vec<u8>)> {
        Ok((Sums::default(), Vec::new()))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut (Sums, Vec<u8>)) -> Result<()> {
        let (sums, row) = acc;
        row.clear();
        for i in 0..ctx.len() {
            encode(
                row,
                match ctx.get_raw(i) {
                    ValueRef::Null => Canonical::Null,
                    ValueRef::Integer(i) => Canonical::Integer(i),
                    ValueRef::Real(f) => Canonical::Real(f),
                    ValueRef::Text(t) => Canonical::Text(t),
                    ValueRef::Blob(b) => Canonical::Bytes(b),
                },
            );
        }
        sums.add(row);
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<(Sums, Vec<u8>)>,
    ) -> Result<Option<String>> {
        Ok(Some(acc.map(|a| a.0).unwrap_or_default().hex()))
    }
}

/// The `q` quantile by linear interpolation between closest ranks.
struct Percentile;

impl Aggregate<(Vec<f64>, f64), Option<f64>> for Percentile {
    fn init(&self, _: &mut Context<'_>) -> Result<(Vec<f64>, f64)> {
        Ok((Vec::new(), 0.5))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut (Vec<f64>, f64)) -> Result<()> {
        if let Some(q) = number(ctx.get_raw(1)) {
            acc.1 = q.clamp(0.0, 1.0);
        }
        if let Some(x) = number(ctx.get_raw(0)) {
            acc.0.push(x);
        }
        Ok(())
    }

    fn finalize(&self, _: &mut Context<'_>, acc: Option<(Vec<f64>, f64)>) -> Result<Option<f64>> {
        let Some((mut xs, q)) = acc else {
            return Ok(None);
        };
        if xs.is_empty() {
            return Ok(None);
        }
        xs.sort_by(f64::total_cmp);
        let pos = q * (xs.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        Ok(Some(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64)))
    }
}

fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_date_uses_the_named_zone_not_the_host() {
        assert_eq!(
            to_date("2026-06-14 18:30:00", "Asia/Jakarta").as_deref(),
            Some("2026-06-15")
        );
        assert_eq!(
            to_date("2026-06-14 18:30:00", "UTC").as_deref(),
            Some("2026-06-14")
        );
        assert_eq!(to_date("nonsense", "UTC"), None);
        assert_eq!(to_date("2026-06-14 18:30:00", "Mars/Olympus"), None);
    }

    #[test]
    fn calendar_functions() {
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        let q = |sql: &str| -> String { c.query_row(sql, [], |r| r.get::<_, String>(0)).unwrap() };
        assert_eq!(q("SELECT bpl_month_end('2024-02-10')"), "2024-02-29");
        assert_eq!(q("SELECT bpl_month_end('2026-12')"), "2026-12-31");
        assert_eq!(q("SELECT bpl_week('2026-01-01')"), "2026-W01");
        assert_eq!(q("SELECT bpl_quarter('2026-06-30')"), "2026-Q2");
        assert_eq!(q("SELECT bpl_quarter_end('2026-05')"), "2026-06-30");
        assert_eq!(q("SELECT bpl_week_start('2026-06-17')"), "2026-06-15");
        let n: i64 = c
            .query_row("SELECT bpl_days_in_month('2026-02')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 28);
    }

    /// The typed read that judges a row once (`boundary::typed_read`)
    /// gives every value and every problem the per-column reading gives
    /// (`boundary::value`, `bpl_problems`), on values in and out of their
    /// stored form.
    #[test]
    fn typed_read_reads_what_the_per_column_reading_reads() {
        use crate::plan::Column;
        use crate::semantic::{Dec, T};
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        let column = |name: &str, ty: T, nullable: bool| Column {
            name: name.into(),
            ty,
            nullable,
        };
        let dec = Dec {
            precision: 10,
            scale: 2,
        };
        let columns = vec![
            column("i", T::Int, false),
            column("s", T::String, true),
            column("d", T::Decimal(dec), true),
            column("ts", T::Timestamp, true),
            column("dt", T::Date, true),
            column("m", T::Month, true),
            column("b", T::Bool, true),
            column("f", T::Float, true),
            column(
                "e",
                T::Enum(vec!["a".to_string(), "b".to_string()].into()),
                true,
            ),
        ];
        c.execute_batch(
            "CREATE TABLE t (i, s, d, ts, dt, m, b, f, e);
             INSERT INTO t VALUES
               (1, 'x', 12.5, '2026-06-01 10:00:00', '2026-06-01', '2026-06', 1, 1.5, 'a'),
               (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
               (3, 'y', 7, '2026-06-01T10:00:00Z', '2026-06-01', '2026-06', 0, 2, 'b'),
               ('4', 5, '0.10', '2026-06-01 10:00:00+02:00', ' 2026-06-01', '2026-6', 'true', '2.5', 'c'),
               (NULL, 'z', 0.125, '2026-13-01 10:00:00', '2026-02-30', '2026-13', 2, 'x', 'a'),
               (6, 'é', 123456789.12, 'ɑ026-06-01 10:00:00', 'ɑ026-06-01', 'ɑ026-06', 1, 1e300, 'a'),
               (7, x'00', 1e20, '2026-06-01 10:00:00', '2026-06-01', '2026-06', 1, -0.0, 'a'),
               (8, 's', -0.01, '2026-06-01 10:00:00', '2026-06-01', '2026-06', 1, 3, 'b');",
        )
        .unwrap();
        let required = |c: &Column| !c.nullable;
        let per_column = format!(
            "SELECT {}, {} AS _bpl_bad FROM t AS s",
            columns
                .iter()
                .map(|c| format!("{} AS {}", crate::sql::boundary::value("s", c), c.name))
                .collect::<Vec<_>>()
                .join(", "),
            crate::sql::boundary::problems("s", &columns, required)
        );
        let once = crate::sql::boundary::typed_read("t AS s", "1", &columns, required);
        let rows = |sql: &str| -> Vec<Vec<rusqlite::types::Value>> {
            let mut stmt = c.prepare(sql).unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| (0..n).map(|k| r.get(k)).collect())
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let (a, b) = (rows(&per_column), rows(&once));
        assert_eq!(a.len(), 8);
        assert_eq!(a, b);
        // The good rows in stored form take the quick way; the others not.
        let status = |k: usize| -> rusqlite::types::Value {
            c.query_row(
                &format!(
                    "SELECT _bpl_status FROM ({}) WHERE i = {k}",
                    once.replacen(
                        "SELECT ",
                        "SELECT s._bpl_status AS _bpl_status, s.i AS i, ",
                        1
                    )
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(status(1), rusqlite::types::Value::Null);
        assert_eq!(status(3), rusqlite::types::Value::Integer(1));
    }

    #[test]
    fn checksum_ignores_row_order_but_not_values() {
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        c.execute_batch(
            "CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 'x'), (2, NULL), (3, 'z');",
        )
        .unwrap();
        let sum = |sql: &str| -> String { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        let a = sum("SELECT bpl_checksum(a, b) FROM (SELECT * FROM t ORDER BY a)");
        let b = sum("SELECT bpl_checksum(a, b) FROM (SELECT * FROM t ORDER BY a DESC)");
        assert_eq!(a, b);
        c.execute_batch("UPDATE t SET b = '' WHERE a = 2").unwrap();
        assert_ne!(a, sum("SELECT bpl_checksum(a, b) FROM t"));
    }

    #[test]
    fn percentile_interpolates() {
        let c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        let p: f64 = c
            .query_row(
                "SELECT bpl_percentile(x, 0.5) FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 4 UNION ALL SELECT 10)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(p, 3.0);
    }
}
