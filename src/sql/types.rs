//! How the language's types are stored in SQLite. Dates, months and
//! timestamps are text in a sortable form, so comparing them compares time:
//! `2026-06-15`, `2026-06`, and `2026-06-15 08:30:00` (UTC, no offset).

use crate::semantic::T;

/// The SQLite column type for a language type.
pub fn sqlite_type(t: &T) -> &'static str {
    match t {
        T::Bool | T::Int => "INTEGER",
        T::Float | T::Decimal | T::DecimalLit | T::Duration => "REAL",
        _ => "TEXT",
    }
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
