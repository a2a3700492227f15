//! The PostgreSQL dialect. Statements compute on dates, months and
//! timestamps as the same sortable text SQLite keeps them in
//! (`2026-06-15`, `2026-06`, `2026-06-15 08:30:00` in UTC), so every
//! comparison, partition id and checksum is the same on both engines; the
//! calendar arithmetic casts to `date`/`timestamp` and back. A data table
//! stores dates as `date` and timestamps as `timestamptz` ([`stored_type`]),
//! converted where rows are written into it and read from it. What PostgreSQL lacks is a `_bpl_*`
//! function the engine creates in the project's schema ([`FUNCTIONS`]),
//! with no dependence on the server's time zone or locale (the connection
//! sets `TimeZone = UTC`).

use crate::plan::Column;
use crate::semantic::hir::DurationUnit;
use crate::semantic::{Dec, T};
use crate::sql::dialect::{Dialect, Staging, BATCH_FIRST, BATCH_LAST};
use crate::sql::types::{ident, string};

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

/// The column type a data table stores a value of type `t` in: dates and
/// timestamps in the server's own types (a timestamp in UTC), so readers
/// of the consumer views get them typed; the rest as [`postgres_type`].
/// The lowering computes on their canonical text ([`Postgres::stored_value`]
/// and [`Postgres::computed_value`] convert at the data table).
pub fn stored_type(t: &T) -> &'static str {
    match t {
        T::Date => "date",
        // As information_schema names it, so the stored schema compares.
        T::Timestamp => "timestamp with time zone",
        _ => postgres_type(t),
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

/// The functions of the typed input boundary that PostgreSQL picks by a
/// source column's own type when it plans a statement (one overload per
/// type): `_bpl_typed_K(x)` is `x` in its stored form, NULL when it is
/// not a value of kind K. Each is a one-expression SQL function, which
/// the planner inlines: for a column already of the stored type the test
/// folds away, so a typed table pays nothing per row; text is tested by a
/// pattern, and only what that does not settle reaches `_bpl_as_K`.
/// `STABLE`, as the casts of dates and timestamps to text they inline are.
pub const TYPED: &str = r#"
CREATE OR REPLACE FUNCTION _bpl_typed_int(x bigint) RETURNS bigint LANGUAGE sql STABLE AS $f$ SELECT x $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_int(x integer) RETURNS bigint LANGUAGE sql STABLE AS $f$ SELECT CAST(x AS bigint) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_int(x smallint) RETURNS bigint LANGUAGE sql STABLE AS $f$ SELECT CAST(x AS bigint) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_int(x text) RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x ~ '^-?[0-9]{1,18}$' THEN CAST(x AS bigint) ELSE _bpl_as_int(x) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_int(x anyelement) RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_int(CAST(x AS text)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x double precision) RETURNS double precision LANGUAGE sql STABLE AS $f$ SELECT x $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x real) RETURNS double precision LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_number(CAST(x AS double precision)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x numeric) RETURNS double precision LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_number(CAST(x AS double precision)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x bigint) RETURNS double precision LANGUAGE sql STABLE AS $f$ SELECT CAST(x AS double precision) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x integer) RETURNS double precision LANGUAGE sql STABLE AS $f$ SELECT CAST(x AS double precision) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x smallint) RETURNS double precision LANGUAGE sql STABLE AS $f$ SELECT CAST(x AS double precision) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_number(x anyelement) RETURNS double precision LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_number(CAST(x AS text)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_bool(x boolean) RETURNS boolean LANGUAGE sql STABLE AS $f$ SELECT x $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_bool(x anyelement) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_bool(CAST(x AS text)) $f$;
-- A date's and a timestamp's text is ISO in bplc's sessions (DateStyle).
CREATE OR REPLACE FUNCTION _bpl_typed_date(x date) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN isfinite(x) THEN CAST(x AS text) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_date(x text) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN x ELSE _bpl_as_date(x) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_date(x anyelement) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_date(CAST(x AS text)) $f$;
-- Whether a timestamp is in whole seconds. A cast to no fractional
-- digits rounds, so it changes a value exactly when it has a fraction; it
-- is arithmetic on the stored microseconds, where `date_trunc` takes the
-- value apart in the session's zone (about twenty times the cost, paid
-- twice a column on every source row). Near the last representable
-- second, where rounding up could overflow, `date_trunc` answers.
CREATE OR REPLACE FUNCTION _bpl_whole_seconds(x timestamptz) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x < '294276-12-30 00:00:00+00' THEN x = CAST(x AS timestamptz(0))
  ELSE x = date_trunc('second', x) END $f$;
CREATE OR REPLACE FUNCTION _bpl_whole_seconds(x timestamp) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x < '294276-12-30 00:00:00' THEN x = CAST(x AS timestamp(0))
  ELSE x = date_trunc('second', x) END $f$;
-- A timestamp with a fraction of a second is not one of the language's
-- (whole seconds, as on SQLite): no value.
CREATE OR REPLACE FUNCTION _bpl_typed_timestamp(x timestamptz) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN isfinite(x) AND _bpl_whole_seconds(x)
  THEN CAST(x AT TIME ZONE 'UTC' AS text) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_timestamp(x timestamp) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN isfinite(x) AND _bpl_whole_seconds(x) THEN CAST(x AS text) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_timestamp(x text) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' THEN x
  ELSE _bpl_as_timestamp(x) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_timestamp(x anyelement) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_timestamp(CAST(x AS text)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_month(x anyelement) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_month(CAST(x AS text)) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_month(x text) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT _bpl_as_month(x) $f$;
-- A data table's date or timestamp as the canonical text statements
-- compute on: from `date` and `timestamptz`, and from the text an earlier
-- bplc stored them as (a table not yet converted reads the same).
CREATE OR REPLACE FUNCTION _bpl_text(x date) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CAST(x AS text) $f$;
CREATE OR REPLACE FUNCTION _bpl_text(x timestamptz) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CAST(x AT TIME ZONE 'UTC' AS text) $f$;
CREATE OR REPLACE FUNCTION _bpl_text(x text) RETURNS text LANGUAGE sql STABLE AS $f$ SELECT x $f$;
-- A text (a partition's first day) as a value of a source column's own
-- type, to compare with it where its index is. The canonical forms are
-- built from their digits by functions the planner computes once, so a
-- batch's bounds stay constants; a cast from text depends on session
-- settings, and a scan filtering by it converts it again for each row.
-- Any other text is cast as before.
CREATE OR REPLACE FUNCTION _bpl_stamp(t text) RETURNS timestamp LANGUAGE sql IMMUTABLE AS
$f$ SELECT make_timestamp(CAST(substr(t, 1, 4) AS integer), CAST(substr(t, 6, 2) AS integer),
  CAST(substr(t, 9, 2) AS integer), CAST(coalesce(nullif(substr(t, 12, 2), ''), '0') AS integer),
  CAST(coalesce(nullif(substr(t, 15, 2), ''), '0') AS integer),
  CAST(coalesce(nullif(substr(t, 18, 2), ''), '0') AS double precision)) $f$;
CREATE OR REPLACE FUNCTION _bpl_like(x text, t text) RETURNS text LANGUAGE sql STABLE AS $f$ SELECT t $f$;
CREATE OR REPLACE FUNCTION _bpl_like(x date, t text) RETURNS date LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN CAST(_bpl_stamp(t) AS date)
  ELSE CAST(t AS date) END $f$;
CREATE OR REPLACE FUNCTION _bpl_like(x timestamp, t text) RETURNS timestamp LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?$'
  THEN _bpl_stamp(t) ELSE CAST(t AS timestamp) END $f$;
CREATE OR REPLACE FUNCTION _bpl_like(x timestamptz, t text) RETURNS timestamptz LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?$'
  THEN _bpl_stamp(t) AT TIME ZONE 'UTC' ELSE CAST(t AS timestamptz) END $f$;
-- A decimal as its integer scaled by 10^scale, NULL unless it has at most
-- `whole` digits before the point and `scale` after it (`pattern` says
-- so of its text): nothing is rounded, a value with more digits is a bad
-- row, as on SQLite. A `numeric` is tested by its value: one shown with
-- no more digits after the point than `scale` (every value of a column
-- declared `numeric(p, scale)`) has no more, which is cheap to know;
-- another (`1.50000`) is compared with its truncation.
CREATE OR REPLACE FUNCTION _bpl_decimal_fits(x numeric, scale integer, whole integer)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT (pg_catalog.scale(x) <= scale OR x = trunc(x, scale)) AND abs(x) < power(10::numeric, whole) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_decimal(x numeric, scale integer, whole integer, pattern text)
RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN _bpl_decimal_fits(x, scale, whole)
  THEN CAST(x * power(10::numeric, scale) AS bigint) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_decimal(x bigint, scale integer, whole integer, pattern text)
RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_decimal(CAST(x AS numeric), scale, whole, pattern) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_decimal(x integer, scale integer, whole integer, pattern text)
RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_decimal(CAST(x AS numeric), scale, whole, pattern) $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_decimal(x text, scale integer, whole integer, pattern text)
RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN trim(x) ~ pattern THEN CAST(CAST(trim(x) AS numeric) * power(10::numeric, scale) AS bigint) END $f$;
CREATE OR REPLACE FUNCTION _bpl_typed_decimal(x anyelement, scale integer, whole integer, pattern text)
RETURNS bigint LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_decimal(CAST(x AS text), scale, whole, pattern) $f$;
-- `_bpl_fits_K(x)`: whether a non-null `x` is a value of kind K, i.e.
-- `_bpl_typed_K(x) IS NOT NULL`, with the same overloads; for a column
-- already of its type without computing the stored form (the boundary's
-- problems test every value, whose stored form is computed apart).
CREATE OR REPLACE FUNCTION _bpl_fits_int(x bigint) RETURNS boolean LANGUAGE sql STABLE AS $f$ SELECT x IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_int(x integer) RETURNS boolean LANGUAGE sql STABLE AS $f$ SELECT x IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_int(x smallint) RETURNS boolean LANGUAGE sql STABLE AS $f$ SELECT x IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_int(x text) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_int(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_int(x anyelement) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_int(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_date(x date) RETURNS boolean LANGUAGE sql STABLE AS $f$ SELECT isfinite(x) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_date(x text) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_date(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_date(x anyelement) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_date(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_timestamp(x timestamptz) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT isfinite(x) AND _bpl_whole_seconds(x) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_timestamp(x timestamp) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT isfinite(x) AND _bpl_whole_seconds(x) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_timestamp(x text) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_timestamp(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_timestamp(x anyelement) RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_timestamp(x) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_decimal(x numeric, scale integer, whole integer, pattern text)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_decimal_fits(x, scale, whole) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_decimal(x bigint, scale integer, whole integer, pattern text)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_fits_decimal(CAST(x AS numeric), scale, whole, pattern) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_decimal(x integer, scale integer, whole integer, pattern text)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_fits_decimal(CAST(x AS numeric), scale, whole, pattern) $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_decimal(x text, scale integer, whole integer, pattern text)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_decimal(x, scale, whole, pattern) IS NOT NULL $f$;
CREATE OR REPLACE FUNCTION _bpl_fits_decimal(x anyelement, scale integer, whole integer, pattern text)
RETURNS boolean LANGUAGE sql STABLE AS
$f$ SELECT _bpl_typed_decimal(x, scale, whole, pattern) IS NOT NULL $f$;
-- A reference's decimal as its scaled integer, or an error saying why it
-- is not one (a lookup value is never rounded or dropped).
CREATE OR REPLACE FUNCTION _bpl_dec_exact(x anyelement, col text, prec integer, scale integer,
  whole integer, pattern text) RETURNS bigint LANGUAGE plpgsql STABLE AS $f$
DECLARE v bigint;
BEGIN
  IF x IS NULL THEN RETURN NULL; END IF;
  v := _bpl_typed_decimal(x, scale, whole, pattern);
  IF v IS NULL THEN
    RAISE EXCEPTION 'a reference''s column `%`: % is not a valid decimal(%, %) (more digits than it keeps, or not a number)',
      col, x, prec, scale;
  END IF;
  RETURN v;
END $f$;
"#;

/// The `_bpl_typed_*` kind of a type, if the boundary converts it.
fn kind(t: &T) -> Option<&'static str> {
    Some(match t {
        T::Int => "int",
        T::Decimal(_) | T::DecimalLit(_) => "decimal",
        T::Float | T::Duration => "number",
        T::Bool => "bool",
        T::Date => "date",
        T::Timestamp => "timestamp",
        T::Month => "month",
        _ => return None,
    })
}

/// The digits a decimal keeps before the point (at least one).
fn whole_digits(d: &Dec) -> u8 {
    d.precision.saturating_sub(d.scale).max(1)
}

/// The text of a decimal of `d`: at most its whole digits before the
/// point and its scale after it.
fn decimal_pattern(d: &Dec) -> String {
    format!(
        "^[+-]?[0-9]{{1,{}}}(\\.[0-9]{{0,{}}})?$",
        whole_digits(d),
        d.scale
    )
}

/// Column `x` of type `t` in its stored form, NULL when it is not a value
/// of the type; `None` for a type taken as it is (text, an enum).
fn typed(t: &T, x: &str) -> Option<String> {
    match (t, kind(t)?) {
        (T::Decimal(d) | T::DecimalLit(d), _) => Some(format!(
            "_bpl_typed_decimal({x}, {}, {}, {})",
            d.scale,
            whole_digits(d),
            string(&decimal_pattern(d))
        )),
        (_, k) => Some(format!("_bpl_typed_{k}({x})")),
    }
}

/// Whether a non-null value of column `c` (as `x`) is one of its type.
fn fits(c: &Column, x: &str) -> String {
    match (&c.ty, typed(&c.ty, x)) {
        (T::Enum(v), _) => format!(
            "CAST({x} AS text) IN ({})",
            v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
        ),
        // Kinds with a `_bpl_fits_K`: the test without the stored form.
        (T::Int | T::Date | T::Timestamp | T::Decimal(_) | T::DecimalLit(_), Some(value)) => {
            value.replacen("_bpl_typed_", "_bpl_fits_", 1)
        }
        (_, Some(value)) => format!("{value} IS NOT NULL"),
        (_, None) => "true".into(),
    }
}

/// `BPLC_POSTGRES_STAGING=materialized` stages through a session table per
/// counting point, as before chained staging: the same counts, slower.
pub const STAGING_VAR: &str = "BPLC_POSTGRES_STAGING";

impl Dialect for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn column_type(&self, t: &T) -> String {
        stored_type(t).to_string()
    }

    /// The value as its language type is stored (`_bpl_canon` encodes by
    /// the SQL type): a `sum` of integers, a `numeric` here, is encoded as
    /// the integer SQLite gives; a decimal (a literal too) as its scaled
    /// integer; a null literal as a text's null. A duration is left as
    /// it is: SQLite's is an integer where it is a literal (`1d`) and a
    /// float where it is computed, as here.
    fn stable_id_arg(&self, x: &str, t: &T) -> String {
        match t {
            T::Duration => x.to_string(),
            _ => format!("CAST({x} AS {})", postgres_type(t)),
        }
    }

    /// The canonical text as the native type; a timestamp's text is UTC.
    fn stored_value(&self, x: &str, t: &T) -> String {
        match t {
            T::Date => format!("CAST({x} AS date)"),
            T::Timestamp => format!("(CAST({x} AS timestamp) AT TIME ZONE 'UTC')"),
            _ => x.to_string(),
        }
    }

    /// The native type as its canonical text (`_bpl_text`, picked by the
    /// column's type when the statement is planned, and inlined).
    fn computed_value(&self, x: &str, t: &T) -> Option<String> {
        match t {
            T::Date | T::Timestamp => Some(format!("_bpl_text({x})")),
            _ => None,
        }
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

    /// The staging `INSERT`'s join of each output row with its partition's
    /// row of the batch table (`_bpl_no` is its place, 0, 1, ...) is two
    /// array lookups: the planner, which cannot estimate the rows a
    /// counting point keeps, would look the batch table's index up once
    /// per output row.
    fn ordered_join(&self, table: &str, on: &str) -> String {
        match (on, table.strip_suffix(" AS parts")) {
            ("", _) => format!(" CROSS JOIN {table}"),
            ("parts._bpl_no = o._bpl_no", Some(batch)) => {
                let place = |column: &str| {
                    format!(
                        "(SELECT array_agg({column} ORDER BY _bpl_no) FROM {batch})[o._bpl_no + 1] \
                         AS {column}"
                    )
                };
                format!(
                    " CROSS JOIN LATERAL (SELECT {}, {}) AS parts",
                    place("_bpl_partition"),
                    place("_bpl_version")
                )
            }
            (on, _) => format!(" JOIN {table} ON {on}"),
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

    /// One statement per batch (see `stage`): no session table per point;
    /// a table per point when [`STAGING_VAR`] asks for them (to compare).
    fn staging(&self) -> Staging {
        match std::env::var(STAGING_VAR).as_deref() {
            Ok("materialized") => Staging::Materialized,
            _ => Staging::Chained,
        }
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

    /// A batch's rows are inserted by partition: the data table's index on
    /// it then takes each partition's entries in one place, about twice as
    /// fast as in hash order.
    fn insert_order(&self, key: &str) -> String {
        format!(" ORDER BY {key}")
    }

    /// Written in as literals: with the batch's bounds in subqueries the
    /// planner guessed a two-hundredth of the source (5,000 rows of a
    /// million), and chose for that every sort and grouping after it.
    fn batch_bounds(&self, _batch_table: &str) -> (String, String) {
        (BATCH_FIRST.to_string(), BATCH_LAST.to_string())
    }

    fn like_column(&self, column: &str, value: &str) -> String {
        format!("_bpl_like({column}, {value})")
    }

    fn count_and_checksum(&self, columns: &[String], more: &str, rows: &str) -> String {
        crate::sql::checksum::postgres_count(columns, more, rows)
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
        match (&c.ty, typed(&c.ty, &x)) {
            (_, Some(value)) => value,
            (T::String, None) => format!("CAST({x} AS text)"),
            (_, None) => x,
        }
    }

    /// A date or timestamp is stored in the server's own type, a value by
    /// construction (only a missing one is a problem): checked as text.
    fn stored_columns(&self, columns: &[Column]) -> Vec<Column> {
        crate::sql::dialect::as_stored(columns)
            .into_iter()
            .map(|c| match c.ty {
                T::Date | T::Timestamp => Column { ty: T::String, ..c },
                _ => c,
            })
            .collect()
    }

    /// A reference's decimal, scaled; one with more digits than its type
    /// keeps, or no number, stops the statement with the reason, as on
    /// SQLite: a lookup value is never rounded.
    fn reference_value(&self, q: &str, c: &Column) -> String {
        let x = format!("{q}.{}", ident(&c.name));
        match &c.ty {
            T::Decimal(d) | T::DecimalLit(d) => format!(
                "_bpl_dec_exact({x}, {}, {}, {}, {}, {})",
                string(&c.name),
                d.precision,
                d.scale,
                whole_digits(d),
                string(&decimal_pattern(d))
            ),
            _ => x,
        }
    }

    /// Dates, months and timestamps as the text the engine keeps them in,
    /// whatever type the reference's table gives them.
    fn reference_converted(&self, q: &str, c: &Column) -> Option<String> {
        match c.ty {
            T::Date | T::Month | T::Timestamp => typed(&c.ty, &format!("{q}.{}", ident(&c.name))),
            _ => None,
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
        // Nearly every row is fine: one test of every column first, and
        // the messages built only for a row that fails it (building them
        // for each row, to find them all empty, cost a fifth of reading
        // the source). A test that answers NULL takes the long way too.
        let fine: Vec<String> = columns
            .iter()
            .filter_map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                match (required(c), fits(c, &x)) {
                    (true, f) => Some(format!("{x} IS NOT NULL AND {f}")),
                    (false, f) if f == "true" => None,
                    (false, f) => Some(format!("({x} IS NULL OR {f})")),
                }
            })
            .collect();
        let all = format!("NULLIF(concat_ws('; ', {}), '')", each.join(", "));
        if fine.is_empty() {
            return all;
        }
        format!("CASE WHEN {} THEN NULL ELSE {all} END", fine.join(" AND "))
    }

    fn misfit(&self, q: &str, columns: &[Column], required: &dyn Fn(&Column) -> bool) -> String {
        let tests: Vec<String> = columns
            .iter()
            .filter_map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                let shape = match (&c.ty, typed(&c.ty, &x)) {
                    // Dates and timestamps in exactly their stored text.
                    (T::Date, _) => {
                        format!("CAST({x} AS text) ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'")
                    }
                    (T::Timestamp, _) => format!(
                        "CAST({x} AS text) ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$'"
                    ),
                    (T::Month, _) => format!("length(CAST({x} AS text)) = 7"),
                    (T::Enum(_), _) => fits(c, &x),
                    (_, Some(value)) => format!("{value} IS NOT NULL"),
                    (_, None) => return required(c).then(|| format!("{x} IS NULL")),
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
            // The same definition as every engine's (`checksum::stable_id`).
            "stable_id" => crate::sql::checksum::postgres_stable_id(args),
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

/// The name and type of each column of the table or view `name` in
/// `schema` (SQL expressions), in order, as `information_schema.columns`
/// gives them (`column_name`, `data_type`): the same relations, the
/// same columns (those the role owns or holds a privilege on) and the
/// same type names. Read from the catalogs directly: the view joins a
/// dozen of them, and planning it took about 2 ms a query, several
/// queries per dataset run.
pub fn columns_sql(schema: &str, name: &str) -> String {
    format!(
        "SELECT CAST(a.attname AS text),
                CAST(CASE WHEN t.typtype = 'd' THEN
                       (SELECT CASE WHEN bt.typelem <> 0 AND bt.typlen = -1 THEN 'ARRAY'
                                    WHEN bt.typnamespace = 'pg_catalog'::regnamespace
                                      THEN format_type(t.typbasetype, NULL)
                                    ELSE 'USER-DEFINED' END
                        FROM pg_catalog.pg_type bt WHERE bt.oid = t.typbasetype)
                     WHEN t.typelem <> 0 AND t.typlen = -1 THEN 'ARRAY'
                     WHEN t.typnamespace = 'pg_catalog'::regnamespace
                       THEN format_type(a.atttypid, NULL)
                     ELSE 'USER-DEFINED' END AS text)
         FROM pg_catalog.pg_namespace n
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE n.nspname = {schema} AND c.relname = {name}
           AND a.attnum > 0 AND NOT a.attisdropped AND NOT pg_is_other_temp_schema(n.oid)
           AND c.relkind IN ('r', 'v', 'f', 'p')
           AND (pg_has_role(c.relowner, 'USAGE')
                OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))
         ORDER BY a.attnum"
    )
}
