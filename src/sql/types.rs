//! How values are written in every dialect: the text forms of dates and
//! timestamps (sortable, so comparing them compares time: `2026-06-15`,
//! `2026-06`, `2026-06-15 08:30:00` in UTC), and standard SQL quoting of
//! identifiers and strings. Column types are each dialect's
//! ([`super::dialect::Dialect::column_type`]).
//!
//! A `decimal(p, s)` is stored on every engine as the integer
//! `value * 10^s` (`12.50` at scale 2 is `1250`), so it is stored, summed,
//! compared and checksummed exactly and alike everywhere; every expression
//! of a decimal type is lowered to its scaled integer (see `expr`), and a
//! value leaves SQL for a person (the consumer view, a gate's sides, a
//! diff) divided back by [`natural`]. The precision and scale travel in
//! the type ([`crate::semantic::Dec`]) for a dialect to use.

use crate::semantic::T;

/// The text form of a timestamp: UTC, seconds, no offset.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// The text form of a date.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

/// Quotes an identifier (standard SQL).
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

/// Quotes a string literal (standard SQL).
pub fn string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `10^k` as an SQL integer literal.
pub fn power_of_ten(k: u8) -> String {
    format!("1{}", "0".repeat(usize::from(k)))
}

/// A stored value of type `t` in the units a person reads: a decimal's
/// scaled integer divided back (a float, the nearest to the exact value);
/// anything else as it is.
pub fn natural(sql: &str, t: &T) -> String {
    match t.decimal_scale() {
        Some(0) | None => sql.to_string(),
        Some(s) => format!("(({sql}) / {}.0)", power_of_ten(s)),
    }
}
