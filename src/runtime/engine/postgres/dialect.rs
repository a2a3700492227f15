//! The PostgreSQL dialect. Dates, months and timestamps are stored as the
//! same sortable text SQLite stores (`2026-06-15`, `2026-06`,
//! `2026-06-15 08:30:00` in UTC), so every comparison, partition id and
//! checksum is the same on both engines; the calendar arithmetic casts to
//! `date`/`timestamp` and back. What PostgreSQL lacks is a `_bpl_*`
//! function the engine creates in the project's schema ([`FUNCTIONS`]),
//! with no dependence on the server's time zone or locale (the connection
//! sets `TimeZone = UTC`).

use crate::plan::Column;
use crate::semantic::hir::DurationUnit;
use crate::semantic::{Dec, T};
use crate::sql::dialect::Dialect;
use crate::sql::types::{ident, power_of_ten, string};

/// The PostgreSQL dialect.
pub struct Postgres;

/// The one PostgreSQL dialect value, for lowering.
pub static POSTGRES: Postgres = Postgres;

/// The PostgreSQL column type for a language type.
pub fn postgres_type(t: &T) -> &'static str {
    match t {
        T::Bool => "boolean",
        T::Int => "bigint",
        // A decimal is its integer scaled by 10^scale, as on SQLite (see
        // `sql::types`): the shared lowering computes on those integers.
        T::Decimal(_) | T::DecimalLit(_) => "bigint",
        T::Float | T::Duration => "double precision",
        _ => "text",
    }
}

/// The first day a date, month or timestamp text names, as a `date`.
fn first_day(x: &str) -> String {
    format!("CAST(CASE WHEN length({x}) = 7 THEN {x} || '-01' ELSE substr({x}, 1, 10) END AS date)")
}

fn day_text(x: &str) -> String {
    format!("to_char({x}, 'YYYY-MM-DD')")
}

/// The functions the dialect's statements call, created in the project's
/// schema when the engine opens it. `_bpl_as_*` bring a source's value to
/// its stored form, NULL when it is not a value of the type: the slow path
/// of the typed input boundary, as SQLite's `bpl_as`.
pub const FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION _bpl_as_int(t text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN RETURN CAST(trim(t) AS bigint);
EXCEPTION WHEN others THEN
  BEGIN
    IF CAST(trim(t) AS double precision) = trunc(CAST(trim(t) AS double precision))
       AND abs(CAST(trim(t) AS double precision)) < 9.0e15 AND trim(t) ~ '^[-+]?[0-9]+\.0*$' THEN
      RETURN CAST(CAST(trim(t) AS double precision) AS bigint);
    END IF;
    RETURN NULL;
  EXCEPTION WHEN others THEN RETURN NULL;
  END;
END $f$;
CREATE OR REPLACE FUNCTION _bpl_as_number(t text) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE v double precision;
BEGIN v := CAST(trim(t) AS double precision);
  IF v IN ('NaN', 'Infinity', '-Infinity') THEN RETURN NULL; END IF;
  RETURN v;
EXCEPTION WHEN others THEN RETURN NULL;
END $f$;
-- `bucket` of hash partitioning: FNV-1a (64 bits) over the value's typed
-- bytes, as the SQLite engine's `bpl_bucket` hashes it, so a row lands in
-- the same bucket on both engines.
CREATE OR REPLACE FUNCTION _bpl_fnv(bytes bytea) RETURNS numeric LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE h numeric := 14695981039346656037; low integer;
BEGIN
  FOR i IN 0 .. length(bytes) - 1 LOOP
    low := CAST(h % 256 AS integer);
    h := h - low + (low # get_byte(bytes, i));
    h := (h * 1099511628211) % 18446744073709551616;
  END LOOP;
  RETURN h;
END $f$;
CREATE OR REPLACE FUNCTION _bpl_le8(n numeric) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$f$ SELECT decode(string_agg(lpad(to_hex(CAST(trunc(((n + 18446744073709551616) % 18446744073709551616) / (256::numeric ^ k)) % 256 AS integer)), 2, '0'), '' ORDER BY k), 'hex') FROM generate_series(0, 7) AS k $f$;
CREATE OR REPLACE FUNCTION _bpl_bucket(x text, n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$f$ SELECT CASE WHEN n > 0 THEN CAST(_bpl_fnv(CASE WHEN x IS NULL THEN '\x00'::bytea
  ELSE '\x03'::bytea || _bpl_le8(octet_length(x)) || convert_to(x, 'UTF8') END) % n AS bigint) END $f$;
CREATE OR REPLACE FUNCTION _bpl_bucket(x bigint, n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$f$ SELECT CASE WHEN n > 0 THEN CAST(_bpl_fnv(CASE WHEN x IS NULL THEN '\x00'::bytea
  ELSE '\x01'::bytea || _bpl_le8(x) END) % n AS bigint) END $f$;
CREATE OR REPLACE FUNCTION _bpl_as_bool(t text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE trim(t) WHEN 'true' THEN true WHEN 'TRUE' THEN true WHEN '1' THEN true
  WHEN 'false' THEN false WHEN 'FALSE' THEN false WHEN '0' THEN false END
$f$;
CREATE OR REPLACE FUNCTION _bpl_as_date(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF trim(t) !~ '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$' THEN RETURN NULL; END IF;
  RETURN to_char(CAST(trim(t) AS date), 'YYYY-MM-DD');
EXCEPTION WHEN others THEN RETURN NULL;
END $f$;
CREATE OR REPLACE FUNCTION _bpl_as_timestamp(t text) RETURNS text LANGUAGE plpgsql STABLE AS $f$
BEGIN
  IF trim(t) !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' THEN
    RETURN NULL;
  END IF;
  RETURN to_char(CAST(trim(t) AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS');
EXCEPTION WHEN others THEN RETURN NULL;
END $f$;
CREATE OR REPLACE FUNCTION _bpl_as_month(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE WHEN trim(t) ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN trim(t) END
$f$;
-- The zone is a literal the checker knows (an unknown one is an error
-- here, where SQLite gives no value): looking it up per row would read
-- the zone files each time.
CREATE OR REPLACE FUNCTION _bpl_to_date(ts text, tz text) RETURNS text LANGUAGE sql STABLE AS $f$
SELECT CASE WHEN ts ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}$'
  THEN to_char((CAST(replace(ts, 'T', ' ') AS timestamp) AT TIME ZONE 'UTC') AT TIME ZONE tz, 'YYYY-MM-DD') END
$f$;
"#;

/// The `_bpl_as_*` kind of a type, the SQL test for a value of column `x`
/// already in the stored shape, and the stored type.
fn kind(t: &T, x: &str) -> (&'static str, String) {
    let of = |types: &[&str]| {
        format!(
            "pg_typeof({x}) IN ({})",
            types
                .iter()
                .map(|t| format!("'{t}'::regtype"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let ints = ["smallint", "integer", "bigint"];
    match t {
        T::Int => ("int", of(&ints)),
        T::Decimal(d) | T::DecimalLit(d) => ("decimal", decimal_digits(x, d)),
        T::Float | T::Duration => (
            "number",
            of(&["smallint", "integer", "bigint", "real", "double precision", "numeric"]),
        ),
        T::Bool => ("bool", of(&["boolean"])),
        T::String => ("string", "true".into()),
        T::Date => (
            "date",
            format!("CAST({x} AS text) ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"),
        ),
        T::Timestamp => (
            "timestamp",
            format!("CAST({x} AS text) ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$'"),
        ),
        T::Month => ("month", format!("length(CAST({x} AS text)) = 7")),
        T::Enum(_) => ("enum", "true".into()),
        _ => ("any", "true".into()),
    }
}

/// Whether a non-null value of column `c` (as `x`) is one of its type.
/// Whether `x` is written as a decimal of `d`: at most its whole digits
/// before the point and its scale after it. Nothing is rounded: a value
/// with more digits is a bad row, as on SQLite.
fn decimal_digits(x: &str, d: &Dec) -> String {
    let whole = d.precision.saturating_sub(d.scale).max(1);
    format!(
        "trim(CAST({x} AS text)) ~ '^[+-]?[0-9]{{1,{whole}}}(\\.[0-9]{{0,{}}})?$'",
        d.scale
    )
}

/// A decimal column's value as its integer scaled by 10^scale, exact for
/// a value [`decimal_digits`] accepts.
fn scaled(x: &str, d: &Dec) -> String {
    format!(
        "CAST(CAST(trim(CAST({x} AS text)) AS numeric) * {} AS bigint)",
        power_of_ten(d.scale)
    )
}

/// Columns as stored: a decimal is its scaled integer there.
fn as_stored(columns: &[Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| match c.ty {
            T::Decimal(_) | T::DecimalLit(_) => Column {
                ty: T::Int,
                ..c.clone()
            },
            _ => c.clone(),
        })
        .collect()
}

fn fits(c: &Column, x: &str) -> String {
    match (&c.ty, kind(&c.ty, x)) {
        (_, ("decimal", digits)) => digits,
        (T::Enum(v), _) => format!(
            "CAST({x} AS text) IN ({})",
            v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
        ),
        (_, ("string" | "any", _)) => "true".into(),
        (_, (k, fast)) => format!("({fast} OR _bpl_as_{k}(CAST({x} AS text)) IS NOT NULL)"),
    }
}

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn column_type(&self, t: &T) -> String {
        postgres_type(t).to_string()
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value {
            "TRUE"
        } else {
            "FALSE"
        }
    }

    fn temp_table(&self, name: &str) -> String {
        format!("pg_temp.{name}")
    }

    fn temp_index(&self, index: &str, table: &str, columns: &str) -> String {
        format!("CREATE INDEX IF NOT EXISTS {index} ON {table} ({columns})")
    }

    fn same(&self, a: &str, b: &str) -> String {
        format!("{a} IS NOT DISTINCT FROM {b}")
    }

    /// An equality, as a full join needs; a null key matches a null key
    /// (chr(1) stands for it: no text a key holds).
    fn join_same(&self, a: &str, b: &str) -> String {
        format!("coalesce(CAST({a} AS text), chr(1)) = coalesce(CAST({b} AS text), chr(1))")
    }

    fn ordered_join(&self, table: &str, on: &str) -> String {
        match on {
            "" => format!(" CROSS JOIN {table}"),
            on => format!(" JOIN {table} ON {on}"),
        }
    }

    fn flag(&self, condition: &str) -> String {
        format!("CASE WHEN {condition} THEN 1 ELSE 0 END")
    }

    fn differs(&self, a: &str, b: &str) -> String {
        format!("{a} IS DISTINCT FROM {b}")
    }

    /// `OFFSET 0`: PostgreSQL never pulls a subquery with an offset up
    /// into the query around it.
    fn unflattened(&self, select: &str) -> String {
        format!("{select} OFFSET 0")
    }

    /// The system column of the row's physical place grows as rows are
    /// appended to a table that is only inserted into (a source).
    fn row_order(&self) -> &'static str {
        "ctid"
    }

    fn total(&self, x: &str) -> String {
        format!("coalesce(CAST(sum({x}) AS double precision), 0.0)")
    }

    fn create_view(&self, name: &str, select: &str) -> String {
        format!("CREATE OR REPLACE VIEW {name} AS {select}")
    }

    fn json_object(&self, args: &str) -> String {
        format!("CAST(json_build_object({args}) AS text)")
    }

    fn checksum(&self, columns: &[String]) -> String {
        crate::sql::checksum::postgres(columns)
    }

    fn shift(&self, x: &str, ty: &T, n: i64, unit: DurationUnit) -> String {
        let interval = match unit {
            DurationUnit::Seconds => format!("interval '{n} seconds'"),
            DurationUnit::Days => format!("interval '{n} days'"),
            DurationUnit::Months => format!("interval '{n} months'"),
        };
        match ty {
            T::Timestamp => {
                format!("to_char(CAST({x} AS timestamp) + {interval}, 'YYYY-MM-DD HH24:MI:SS')")
            }
            T::Month => format!("to_char(CAST({x} || '-01' AS date) + {interval}, 'YYYY-MM')"),
            _ => day_text(&format!("CAST({x} AS date) + {interval}")),
        }
    }

    fn days_between(&self, from: &str, to: &str) -> String {
        format!("(CAST({to} AS date) - CAST({from} AS date))")
    }

    /// A float, so `/ 3600.0` divides floats as SQLite does (a `numeric`
    /// division rounds its last digit differently).
    fn seconds_between(&self, from: &str, to: &str) -> String {
        format!(
            "CAST(extract(epoch FROM CAST({to} AS timestamp) - CAST({from} AS timestamp)) AS double precision)"
        )
    }

    fn calendar(&self, grain: &str, x: &str) -> String {
        match grain {
            "month" => format!("substr({x}, 1, 7)"),
            "year" => format!("substr({x}, 1, 4)"),
            "week" => format!("to_char({}, 'IYYY-\"W\"IW')", first_day(x)),
            _ => format!("to_char({}, 'YYYY-\"Q\"Q')", first_day(x)),
        }
    }

    fn month_start(&self, x: &str) -> String {
        format!("(substr({x}, 1, 7) || '-01')")
    }

    /// PostgreSQL rounds only `numeric` to places: the float's exact
    /// decimal value is rounded, half away from zero, as SQLite does.
    fn round(&self, x: &str, digits: &str) -> String {
        format!("CAST(round(CAST({x} AS numeric), CAST({digits} AS integer)) AS double precision)")
    }

    fn to_float(&self, x: &str) -> String {
        format!("CAST({x} AS double precision)")
    }

    fn typed_value(&self, q: &str, c: &Column) -> String {
        let x = format!("{q}.{}", ident(&c.name));
        match (kind(&c.ty, &x), &c.ty) {
            (_, T::Decimal(d) | T::DecimalLit(d)) => {
                format!(
                    "CASE WHEN {} THEN {} END",
                    decimal_digits(&x, d),
                    scaled(&x, d)
                )
            }
            (k, _) => match k {
                ("enum" | "any", _) => x,
                ("string", _) => format!("CAST({x} AS text)"),
                (k, fast) => format!(
                    "CASE WHEN {fast} THEN CAST({x} AS {}) ELSE _bpl_as_{k}(CAST({x} AS text)) END",
                    postgres_type(&c.ty)
                ),
            },
        }
    }

    fn stored_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        self.row_problems(q, &as_stored(columns), required)
    }

    fn stored_misfit(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        self.misfit(q, &as_stored(columns), required)
    }

    /// A reference's decimal, scaled; rounded at its scale where it has
    /// more digits (SQLite stops the statement instead: not yet here).
    fn reference_value(&self, q: &str, c: &Column) -> String {
        let x = format!("{q}.{}", ident(&c.name));
        match &c.ty {
            T::Decimal(d) | T::DecimalLit(d) => format!(
                "CAST(round(CAST(CAST({x} AS text) AS numeric) * {}) AS bigint)",
                power_of_ten(d.scale)
            ),
            _ => x,
        }
    }

    fn row_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        if columns.is_empty() {
            return "CAST(NULL AS text)".into();
        }
        let each: Vec<String> = columns
            .iter()
            .map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                let null = if required(c) {
                    string(&format!(
                        "{}: null in a column that may not be null",
                        c.name
                    ))
                } else {
                    "NULL".into()
                };
                let shown = format!(
                    "CASE WHEN pg_typeof({x}) IN ('text'::regtype, 'character varying'::regtype) \
                     THEN quote_literal({x}) ELSE CAST({x} AS text) END"
                );
                format!(
                    "CASE WHEN {x} IS NULL THEN {null} WHEN NOT {} THEN {} || {shown} || {} END",
                    fits(c, &x),
                    string(&format!("{}: ", c.name)),
                    string(&format!(" is not a valid {}", c.ty)),
                )
            })
            .collect();
        format!("NULLIF(concat_ws('; ', {}), '')", each.join(", "))
    }

    fn misfit(&self, q: &str, columns: &[Column], required: &dyn Fn(&Column) -> bool) -> String {
        let tests: Vec<String> = columns
            .iter()
            .filter_map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                let shape = match (&c.ty, kind(&c.ty, &x)) {
                    (T::Enum(v), _) => format!(
                        "CAST({x} AS text) IN ({})",
                        v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
                    ),
                    (_, ("any" | "string", _)) => {
                        return required(c).then(|| format!("{x} IS NULL"))
                    }
                    (_, (_, fast)) => fast,
                };
                Some(if required(c) {
                    format!("NOT coalesce({shape}, false)")
                } else {
                    format!("({x} IS NOT NULL AND NOT ({shape}))")
                })
            })
            .collect();
        if tests.is_empty() {
            "false".into()
        } else {
            tests.join(" OR ")
        }
    }

    fn function(&self, name: &str, args: &[String]) -> String {
        let a = |i: usize| args.get(i).cloned().unwrap_or_else(|| "NULL".into());
        let d = first_day(&a(0));
        match name {
            "to_date" => format!("_bpl_to_date({}, {})", a(0), a(1)),
            "percentile" => format!(
                "percentile_cont(CAST({} AS double precision)) WITHIN GROUP (ORDER BY {})",
                a(1),
                a(0)
            ),
            "lower" | "upper" => format!("{name}({})", a(0)),
            "month_end" => day_text(&format!(
                "date_trunc('month', {d}) + interval '1 month' - interval '1 day'"
            )),
            "week_start" => day_text(&format!("date_trunc('week', {d})")),
            "week_end" => day_text(&format!("date_trunc('week', {d}) + interval '6 days'")),
            "quarter_end" => day_text(&format!(
                "date_trunc('quarter', {d}) + interval '3 months' - interval '1 day'"
            )),
            "year_end" => format!("(to_char({d}, 'YYYY') || '-12-31')"),
            "days_in_month" => format!(
                "CAST(extract(day FROM date_trunc('month', {d}) + interval '1 month' - interval '1 day') AS bigint)"
            ),
            // An argument may itself be a list of columns: `concat_ws`
            // takes any number, of any type.
            "stable_id" => format!("md5(concat_ws(chr(31), {}))", args.join(", ")),
            // Decimals are integers scaled by 10^scale; PostgreSQL's
            // `round` of a numeric is half away from zero, as SQLite's
            // `bpl_dec_*` round.
            "dec_div" => format!(
                "CAST(round(CAST({} AS numeric) * power(10::numeric, {}) / NULLIF({}, 0)) AS bigint)",
                a(0),
                a(2),
                a(1)
            ),
            "dec_round" => format!(
                "CAST(round(CAST({} AS numeric) / power(10::numeric, {})) AS bigint)",
                a(0),
                a(1)
            ),
            "dec_of_float" => format!(
                "CAST(round(CAST({} AS numeric) * power(10::numeric, {})) AS bigint)",
                a(0),
                a(1)
            ),
            "bucket" => format!("_bpl_bucket({}, CAST({} AS bigint))", a(0), a(1)),
            // The tally counts rows in a Rust function as they pass: a
            // PostgreSQL statement cannot call one (see `stage`).
            other => format!("_bpl_{other}({})", args.join(", ")),
        }
    }
}
