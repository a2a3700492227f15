//! How the language's types are stored in SQLite. Dates, months and
//! timestamps are text in a sortable form, so comparing them compares time:
//! `2026-06-15`, `2026-06`, and `2026-06-15 08:30:00` (UTC, no offset).
//! A `decimal(p, s)` is the integer `value * 10^s` (`12.50` at scale 2 is
//! `1250`), so it is stored, summed and compared exactly; every expression
//! of a decimal type is lowered to its scaled integer (see `expr`), and a
//! value leaves SQL for a person (a gate's sides, a diff) divided back.

use crate::semantic::T;

/// The SQLite column type for a language type.
pub fn sqlite_type(t: &T) -> &'static str {
    match t {
        // A decimal is its value times 10^scale, exact (see `scale_of`).
        T::Bool | T::Int | T::Decimal(_) | T::DecimalLit(_) => "INTEGER",
        T::Float | T::Duration => "REAL",
        _ => "TEXT",
    }
}

/// The declared type of a stored column: [`sqlite_type`], and for a
/// decimal its scale too (`INTEGER SCALE(2)`, integer affinity), so a
/// change of scale is a schema change the migration sees, and a reader of
/// the warehouse sees what the integers mean.
pub fn storage_type(t: &T) -> String {
    match scale_of(t) {
        Some(s) => format!("INTEGER SCALE({s})"),
        None => sqlite_type(t).to_string(),
    }
}

/// The scale a stored column's declared type says its integers have:
/// `INTEGER SCALE(2)` is 2; a column of any other type holds values as
/// they are (`None`).
pub fn stored_scale(declared: &str) -> Option<u8> {
    let upper = declared.to_ascii_uppercase();
    let rest = upper.strip_prefix("INTEGER SCALE(")?;
    rest.strip_suffix(')')?.trim().parse().ok()
}

/// The text form of a timestamp: UTC, seconds, no offset.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// The text form of a date.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// Quotes an identifier for SQLite.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes the table a source or reference names: `raw.events` is the table
/// `events` of the database attached as `raw` (see `[attach]` in
/// `bpl.toml`), any other name a table of the warehouse.
pub fn table_ref(name: &str) -> String {
    match name.split_once('.') {
        Some((db, table)) => format!("{}.{}", ident(db), ident(table)),
        None => ident(name),
    }
}

/// Quotes a string literal for SQLite.
pub fn string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The scale a value of this type is stored at, if it is a decimal.
pub fn scale_of(t: &T) -> Option<u8> {
    t.decimal_scale()
}

/// `10^k` as an SQL integer literal.
pub fn power_of_ten(k: u8) -> String {
    format!("1{}", "0".repeat(usize::from(k)))
}

/// A stored value of type `t` in the units a person reads: a decimal's
/// scaled integer divided back (a float, the nearest to the exact value);
/// anything else as it is.
pub fn natural(sql: &str, t: &T) -> String {
    match scale_of(t) {
        Some(0) | None => sql.to_string(),
        Some(s) => format!("(({sql}) / {}.0)", power_of_ten(s)),
    }
}
