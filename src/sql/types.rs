//! How values are written in every dialect: the text forms of dates and
//! timestamps (sortable, so comparing them compares time: `2026-06-15`,
//! `2026-06`, `2026-06-15 08:30:00` in UTC), and standard SQL quoting of
//! identifiers and strings. Column types are each dialect's
//! ([`super::dialect::Dialect::column_type`]).

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
