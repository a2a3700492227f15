//! The `pipeline` benchmark's project, its data and the same pipeline
//! written by hand in SQL. Shared by `benches/pipeline.rs` (which times both)
//! and `tests/bench_pipeline.rs` (which keeps them valid in CI).
//!
//! The pipeline (issue 12's shape): a raw event source with invalid,
//! duplicate and late rows; an effective-dated reference of units to
//! regions; a staging dataset whose row rules quarantine and which dedupes;
//! daily metrics per day and region with an as-of join; a 30-day rolling
//! dataset and a monthly roll-up of the daily one.
//!
//! The data ends on [`LAST`] and spans whole months before it, so every
//! month passes the roll-up's completeness check. It is deterministic: each
//! delivery `i` of N carries an event id `e` (`e = i`, or `i - 7` for a
//! redelivery) and every attribute is a hash of `e` (or of `i`, for what
//! differs between two deliveries).

use chrono::{Datelike, Duration, NaiveDate};
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection};

/// The last day of data; the range ends here.
pub const LAST: &str = "2026-06-30";
/// The processing time of the full build. Rows ingested later are the
/// late batch, loaded between the build and the rerun.
pub const BUILD_AS_OF: &str = "2026-07-01T01:00:00Z";
const BUILD_CUTOFF: &str = "2026-07-01 01:00:00";
/// The processing time of the rerun of the last three days.
pub const RERUN_AS_OF: &str = "2026-07-03T06:00:00Z";
/// Days the rerun recomputes, ending on [`LAST`].
pub const RERUN_DAYS: i64 = 3;
/// The rolling window's length: a day's change reaches this many outputs.
const WINDOW_DAYS: i64 = 30;
pub const UNITS: u64 = 1000;
const REGIONS: u64 = 8;
const CUSTOMERS: u64 = 200_000;

pub const BPL_TOML: &str = r#"name = "pipeline_bench"
time_zone = "UTC"
engine = "sqlite"
warehouse = "target/warehouse.sqlite"
ledger = "target/ledger.sqlite"
"#;

/// The project: one file, four layers.
pub const SPEC: &str = include_str!("pipeline.bpl");

/// The published datasets, each with the columns its consumers read (the
/// hand-written tables have exactly these).
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "staged_events",
        &[
            "event_id",
            "unit_id",
            "customer_id",
            "kind",
            "amount",
            "event_time",
            "event_date",
        ],
    ),
    (
        "region_daily",
        &[
            "event_date",
            "region",
            "events",
            "buys",
            "amount",
            "customers",
        ],
    ),
    (
        "region_rolling_30d",
        &["event_date", "region", "events", "buys", "amount", "days"],
    ),
    (
        "region_monthly",
        &["event_month", "region", "events", "buys", "amount", "days"],
    ),
];

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Deliveries in `raw_events`, late batch included.
    pub rows: u64,
    /// Whole months of data, ending with [`LAST`]'s month.
    pub months: u32,
    /// Whether some redeliveries are invalid while the first delivery was
    /// valid: the rows whose outcome depends on running the row rules
    /// before the dedupe (as the contract says) or after.
    pub invalid_redeliveries: bool,
}

impl Spec {
    pub fn new(rows: u64) -> Spec {
        Spec {
            rows,
            months: 3,
            invalid_redeliveries: true,
        }
    }

    pub fn last(&self) -> NaiveDate {
        date(LAST)
    }

    /// The first day: the first of the earliest month.
    pub fn first(&self) -> NaiveDate {
        let last = self.last();
        let months = last.year() * 12 + last.month0() as i32 + 1 - self.months.max(1) as i32;
        NaiveDate::from_ymd_opt(months / 12, months as u32 % 12 + 1, 1).expect("a month")
    }

    pub fn days(&self) -> i64 {
        (self.last() - self.first()).num_days() + 1
    }

    /// The backfill range of the full build, as `bplc` takes it.
    pub fn build_range(&self) -> String {
        format!("{}..{}", self.first(), self.last())
    }

    /// The backfill range of the rerun: the last [`RERUN_DAYS`] days.
    pub fn rerun_range(&self) -> String {
        format!("{}..{}", self.rerun_first(), self.last())
    }

    fn rerun_first(&self) -> NaiveDate {
        self.last() - Duration::days(RERUN_DAYS - 1)
    }

    /// The partitions a backfill from `from` to `to` recomputes, by dataset:
    /// the same days for staging and daily metrics, the window's spill-over
    /// for the rolling dataset, whole months for the roll-up.
    fn scope(from: NaiveDate, to: NaiveDate) -> Scope {
        let month_start = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).expect("a day");
        let next =
            NaiveDate::from_ymd_opt(to.year() + to.month() as i32 / 12, to.month() % 12 + 1, 1)
                .expect("a day");
        Scope {
            from: from.to_string(),
            to: to.to_string(),
            rolling_to: (to + Duration::days(WINDOW_DAYS - 1)).to_string(),
            month_from: month_start.to_string(),
            month_to: (next - Duration::days(1)).to_string(),
        }
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
}

/// What one step recomputes, as `BETWEEN` bounds (days as `YYYY-MM-DD`).
struct Scope {
    from: String,
    to: String,
    rolling_to: String,
    /// The days of the whole months the range touches.
    month_from: String,
    month_to: String,
}

/// The SQL the hand-written pipeline is written in: the same statements,
/// but for the few functions each engine names its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Sqlite,
    // Each engine's benchmark is built behind its feature.
    #[allow(dead_code)]
    Postgres,
    #[allow(dead_code)]
    Spark,
}

impl Flavor {
    /// Starts the one transaction a step runs in, taking the write lock
    /// at once on SQLite.
    fn begin(self) -> &'static str {
        match self {
            Flavor::Sqlite => "BEGIN IMMEDIATE",
            // Spark has no transaction: its steps are written as statements
            // of their own (`layer_statements`).
            Flavor::Postgres | Flavor::Spark => "BEGIN",
        }
    }
}

/// Writes `bpl.toml` and the `.bpl` file to `dir` (and creates `target/`).
pub fn write_project(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(dir.join("bpl.toml"), BPL_TOML)?;
    std::fs::write(dir.join("pipeline.bpl"), SPEC)?;
    std::fs::create_dir_all(dir.join("target"))
}

// ---------------------------------------------------------------------------
//  Data
// ---------------------------------------------------------------------------

/// What was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    /// Rows in `raw_events` before the late batch.
    pub rows: i64,
    /// Rows of the late batch (`raw_events_late`), loaded before the rerun.
    pub late: i64,
    /// Deliveries of an event already delivered.
    pub redeliveries: i64,
    /// Deliveries a row rule rejects.
    pub invalid: i64,
    /// Events whose latest delivery is invalid but an earlier one valid:
    /// kept (the valid delivery) only when the rules run before the dedupe.
    pub order_sensitive: i64,
}

/// SplitMix64 of `(x, salt)`, non-negative: SQLite integers are signed.
fn mix(x: i64, salt: i64) -> i64 {
    let mut z = (x as u64) ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Creates and fills `raw_events`, `raw_events_late` and `unit_regions`
/// (with the indexes a warehouse would have) on an empty database.
pub fn generate(c: &Connection, spec: Spec) -> rusqlite::Result<Generated> {
    c.create_scalar_function(
        "bench_mix",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(mix(ctx.get(0)?, ctx.get(1)?)),
    )?;
    c.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE raw_events (event_id INTEGER, unit_id TEXT, customer_id INTEGER,
             kind TEXT, amount REAL, event_time TEXT, event_date TEXT, ingested_at TEXT);
         CREATE TABLE unit_regions (unit_id TEXT, region TEXT, valid_from TEXT, valid_to TEXT);",
    )?;
    let first = spec.first().to_string();
    // Delivery i: every 50th is a redelivery of the event 7 deliveries
    // earlier (2%), ingested one to three hours after it with the amount
    // corrected; every 500th is an invalid redelivery (a negative amount)
    // when `invalid_redeliveries`. Invalid first deliveries: a null unit
    // (e % 200 = 13, never redelivered) and a negative amount (e % 400 =
    // 42), corrected by the redelivery every such event has (delivery
    // e + 7, since e % 50 = 42). One event in twenty arrives one to two
    // days late.
    let invalid_redelivery = if spec.invalid_redeliveries {
        "i % 500 = 499"
    } else {
        "0"
    };
    c.execute(
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1),
             d AS (SELECT i, e, bench_mix(e, 1) AS a, bench_mix(e, 2) AS b,
                          bench_mix(e, 3) AS c, bench_mix(i, 4) AS r
                   FROM (SELECT i, CASE WHEN i % 50 = 49 THEN i - 7 ELSE i END AS e FROM n)),
             t AS (SELECT *, e * ?2 / ?1 AS day, a % 86400 AS second,
                          100 + b / 1000 % 49900 AS cents,
                          CASE WHEN a / 86400 % 20 = 0 THEN 86400 + c % 86400
                               ELSE 60 + c % 7200 END
                          + CASE WHEN i <> e THEN 3600 + r % 7200 ELSE 0 END AS lag
                   FROM d)
             INSERT INTO raw_events
             SELECT e,
                    CASE WHEN e % 200 = 13 THEN NULL ELSE printf('u%04d', b % {UNITS}) END,
                    c % {CUSTOMERS},
                    CASE c / {CUSTOMERS} % 10 WHEN 0 THEN 'buy' WHEN 1 THEN 'click'
                         WHEN 2 THEN 'click' ELSE 'view' END,
                    CASE WHEN i = e AND e % 400 = 42 THEN -cents
                         WHEN i <> e AND {invalid_redelivery} THEN -cents
                         WHEN i <> e THEN cents + 100
                         ELSE cents END / 100.0,
                    datetime(?3, '+' || (day * 86400 + second) || ' seconds'),
                    date(?3, '+' || day || ' days'),
                    datetime(?3, '+' || (day * 86400 + second + lag) || ' seconds')
             FROM t"
        ),
        params![spec.rows as i64, spec.days(), first],
    )?;
    // Units: 8 regions; one unit in ten moves to the next region on a day
    // (and at an hour) of its own inside the data's range.
    c.execute(
        &format!(
            "WITH RECURSIVE u(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM u WHERE k + 1 < {UNITS}),
             m AS (SELECT k, printf('u%04d', k) AS unit, 'region_' || (k % {REGIONS}) AS region,
                          'region_' || ((k + 1) % {REGIONS}) AS moved_to,
                          datetime(?1, '+' || (bench_mix(k, 5) % (?2 * 86400)) || ' seconds') AS moved
                   FROM u)
             INSERT INTO unit_regions
             SELECT unit, region, '2020-01-01 00:00:00', CASE WHEN k % 10 = 3 THEN moved END
             FROM m
             UNION ALL
             SELECT unit, moved_to, moved, NULL FROM m WHERE k % 10 = 3"
        ),
        params![first, spec.days()],
    )?;
    c.execute_batch(&format!(
        "CREATE INDEX raw_events_ingested ON raw_events (ingested_at);
         CREATE TABLE raw_events_late AS SELECT * FROM raw_events WHERE ingested_at > '{BUILD_CUTOFF}';
         DELETE FROM raw_events WHERE ingested_at > '{BUILD_CUTOFF}';
         CREATE INDEX raw_events_partition ON raw_events (event_date, ingested_at);
         CREATE INDEX unit_regions_unit ON unit_regions (unit_id, valid_from);
         ANALYZE;"
    ))?;
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
    let all = "(SELECT * FROM raw_events UNION ALL SELECT * FROM raw_events_late)";
    Ok(Generated {
        rows: count("SELECT count(*) FROM raw_events")?,
        late: count("SELECT count(*) FROM raw_events_late")?,
        redeliveries: count(&format!(
            "SELECT count(*) - count(DISTINCT event_id) FROM {all}"
        ))?,
        invalid: count(&format!("SELECT count(*) FROM {all} WHERE NOT ({VALID})"))?,
        order_sensitive: count(&format!(
            "SELECT count(*) FROM ({})",
            order_sensitive_ids(all)
        ))?,
    })
}

/// Loads the late batch: what arrived after the full build.
pub fn load_late(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("INSERT INTO raw_events SELECT * FROM raw_events_late")
}

/// The row rules of `staged_events`, in SQL.
const VALID: &str = "unit_id IS NOT NULL AND amount >= 0";

/// The event ids of `rows` whose latest delivery is invalid while an
/// earlier one is valid.
fn order_sensitive_ids(rows: &str) -> String {
    format!(
        "SELECT event_id FROM (SELECT event_id, coalesce({VALID}, 0) AS ok,
                row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS rn
             FROM {rows})
         GROUP BY event_id HAVING max(CASE WHEN rn = 1 THEN ok END) = 0 AND max(ok) = 1"
    )
}

// ---------------------------------------------------------------------------
//  The pipeline by hand
// ---------------------------------------------------------------------------

/// Each layer's rows for a scope, as a `SELECT`: `CREATE TABLE ... AS` of
/// it is the full build, `DELETE` + `INSERT` of it the rerun. The row rules
/// run first, then the dedupe of the accepted rows (the contract's order:
/// a redelivery that fails a rule never displaces a valid delivery).
fn layers(s: &Scope, sql: Flavor) -> [(&'static str, &'static str, String); 5] {
    let (falsy, month_of, rolling_days) = match sql {
        Flavor::Sqlite => (
            "0",
            "substr(event_date, 1, 7)",
            format!(
                "(WITH RECURSIVE days(day) AS (SELECT '{}' UNION ALL
                     SELECT date(day, '+1 day') FROM days WHERE day < '{}')
                  SELECT day, date(day, '-{} days') AS since FROM days)",
                s.from,
                s.rolling_to,
                WINDOW_DAYS - 1
            ),
        ),
        // The source's dates are `date`s there, as a warehouse keeps them.
        Flavor::Postgres => (
            "false",
            "to_char(event_date, 'YYYY-MM')",
            format!(
                "(SELECT CAST(d AS date) AS day, CAST(d - interval '{} days' AS date) AS since
                  FROM generate_series(date '{}', date '{}', interval '1 day') AS d)",
                WINDOW_DAYS - 1,
                s.from,
                s.rolling_to
            ),
        ),
        // Dates are `DATE`s there too.
        Flavor::Spark => (
            "false",
            "date_format(event_date, 'yyyy-MM')",
            format!(
                "(SELECT day, date_sub(day, {}) AS since
                  FROM (SELECT explode(sequence(DATE'{}', DATE'{}', INTERVAL 1 DAY)) AS day) AS d)",
                WINDOW_DAYS - 1,
                s.from,
                s.rolling_to
            ),
        ),
    };
    [
        (
            "raw_events_rejected",
            "event_date",
            format!(
                "SELECT *, CASE WHEN unit_id IS NULL THEN 'unit_known'
                                ELSE 'amount_not_negative' END AS rule
                 FROM raw_events
                 WHERE event_date BETWEEN '{}' AND '{}' AND NOT coalesce({VALID}, {falsy})",
                s.from, s.to
            ),
        ),
        (
            "staged_events",
            "event_date",
            format!(
                "SELECT event_id, unit_id, customer_id, kind, amount, event_time, event_date
                 FROM (SELECT *, row_number() OVER (PARTITION BY event_id
                                                    ORDER BY ingested_at DESC) AS rn
                       FROM raw_events
                       WHERE event_date BETWEEN '{}' AND '{}' AND {VALID}) AS latest
                 WHERE rn = 1",
                s.from, s.to
            ),
        ),
        (
            "region_daily",
            "event_date",
            format!(
                "SELECT s.event_date, u.region, count(*) AS events,
                        count(CASE WHEN s.kind = 'buy' THEN 1 END) AS buys,
                        sum(s.amount) AS amount, count(DISTINCT s.customer_id) AS customers
                 FROM staged_events AS s
                 JOIN unit_regions AS u ON u.unit_id = s.unit_id
                  AND u.valid_from <= s.event_time
                  AND (u.valid_to IS NULL OR s.event_time < u.valid_to)
                 WHERE s.event_date BETWEEN '{}' AND '{}'
                 GROUP BY s.event_date, u.region",
                s.from, s.to
            ),
        ),
        (
            "region_rolling_30d",
            "event_date",
            format!(
                "SELECT days.day AS event_date, d.region, sum(d.events) AS events,
                        sum(d.buys) AS buys, sum(d.amount) AS amount,
                        count(DISTINCT d.event_date) AS days
                 FROM {rolling_days} AS days JOIN region_daily AS d
                   ON d.event_date BETWEEN days.since AND days.day
                 GROUP BY days.day, d.region"
            ),
        ),
        (
            "region_monthly",
            "event_month",
            format!(
                "SELECT {month_of} AS event_month, region, sum(events) AS events,
                        sum(buys) AS buys, sum(amount) AS amount,
                        count(DISTINCT event_date) AS days
                 FROM region_daily WHERE event_date BETWEEN '{}' AND '{}'
                 GROUP BY {month_of}, region",
                s.month_from, s.month_to
            ),
        ),
    ]
}

/// The bounds of a layer's partitions in a scope, for its `DELETE`.
fn bounds(table: &str, s: &Scope) -> (String, String) {
    match table {
        "region_rolling_30d" => (s.from.clone(), s.rolling_to.clone()),
        "region_monthly" => (s.month_from[..7].to_string(), s.month_to[..7].to_string()),
        _ => (s.from.clone(), s.to.clone()),
    }
}

/// Each layer's table, its partition column and its rows (a `SELECT`)
/// for the full build or the rerun, for an engine whose statements the
/// caller writes itself (Spark: no transaction, no `DELETE` on Parquet).
#[allow(dead_code)]
pub fn layer_statements(
    spec: Spec,
    rerun: bool,
    sql: Flavor,
) -> Vec<(&'static str, &'static str, String)> {
    let scope = if rerun {
        Spec::scope(spec.rerun_first(), spec.last())
    } else {
        Spec::scope(spec.first(), spec.last())
    };
    layers(&scope, sql).into()
}

/// The full build by hand: `CREATE TABLE ... AS SELECT` for every layer,
/// in one transaction, plus the index the rerun's `DELETE`s use.
pub fn full_build_sql(spec: Spec, sql: Flavor) -> String {
    let scope = Spec::scope(spec.first(), spec.last());
    let mut out = format!("{};\n", sql.begin());
    for (table, column, select) in layers(&scope, sql) {
        out += &format!("CREATE TABLE {table} AS {select};\n");
        if matches!(table, "staged_events" | "region_daily") {
            out += &format!("CREATE INDEX {table}_{column} ON {table} ({column});\n");
        }
    }
    out + "COMMIT;"
}

/// The rerun of the last [`RERUN_DAYS`] days by hand: each layer's affected
/// partitions deleted and inserted again, in one transaction, no ledger.
pub fn rerun_sql(spec: Spec, sql: Flavor) -> String {
    let scope = Spec::scope(spec.rerun_first(), spec.last());
    let mut out = format!("{};\n", sql.begin());
    for (table, column, select) in layers(&scope, sql) {
        let (lo, hi) = bounds(table, &scope);
        out += &format!(
            "DELETE FROM {table} WHERE {column} BETWEEN '{lo}' AND '{hi}';\n\
             INSERT INTO {table} {select};\n"
        );
    }
    out + "COMMIT;"
}

pub fn full_build(c: &Connection, spec: Spec) -> rusqlite::Result<()> {
    c.execute_batch(&full_build_sql(spec, Flavor::Sqlite))
}

pub fn rerun(c: &Connection, spec: Spec) -> rusqlite::Result<()> {
    c.execute_batch(&rerun_sql(spec, Flavor::Sqlite))
}

// ---------------------------------------------------------------------------
//  Comparing what bplc published with the hand-written tables
// ---------------------------------------------------------------------------

/// One dataset's published rows against the hand-written table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDiff {
    pub table: &'static str,
    pub bplc_rows: i64,
    pub hand_rows: i64,
    /// Rows (with multiplicity ignored) only `bplc` published.
    pub only_bplc: i64,
    /// Rows only the hand-written table holds.
    pub only_hand: i64,
}

impl TableDiff {
    pub fn equal(&self) -> bool {
        self.only_bplc == 0 && self.only_hand == 0 && self.bplc_rows == self.hand_rows
    }
}

/// A column as compared: decimals to the cent, since the two sides add
/// floating-point amounts in different orders.
fn normalized(column: &str) -> String {
    format!("CASE typeof({column}) WHEN 'real' THEN printf('%.2f', {column}) ELSE {column} END")
}

/// Compares each dataset's view in `bplc`'s warehouse (`main`) with the
/// hand-written table of the same name in the database attached as `hand`.
pub fn compare(c: &Connection) -> rusqlite::Result<Vec<TableDiff>> {
    let mut out = Vec::new();
    for (table, columns) in TABLES {
        let cols = columns
            .iter()
            .map(|c| normalized(c))
            .collect::<Vec<_>>()
            .join(", ");
        let count = |sql: String| c.query_row(&sql, [], |r| r.get::<_, i64>(0));
        out.push(TableDiff {
            table,
            bplc_rows: count(format!("SELECT count(*) FROM main.{table}"))?,
            hand_rows: count(format!("SELECT count(*) FROM hand.{table}"))?,
            only_bplc: count(format!(
                "SELECT count(*) FROM (SELECT {cols} FROM main.{table} \
                 EXCEPT SELECT {cols} FROM hand.{table})"
            ))?,
            only_hand: count(format!(
                "SELECT count(*) FROM (SELECT {cols} FROM hand.{table} \
                 EXCEPT SELECT {cols} FROM main.{table})"
            ))?,
        });
    }
    Ok(out)
}

/// Of the hand-written staged rows `bplc` did not publish, how many are
/// events whose outcome depends on the order of row rules and dedupe.
pub fn missing_order_sensitive(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row(
        &format!(
            "SELECT count(*) FROM hand.staged_events
             WHERE event_id NOT IN (SELECT event_id FROM main.staged_events)
               AND event_id IN ({})",
            order_sensitive_ids("hand.raw_events")
        ),
        [],
        |r| r.get(0),
    )
}
