//! Ingestion's way into the warehouse, on every engine: the rows of
//! landing files appended to a file source's table, and seeds replacing a
//! reference's table. What is ingested, and when, is decided in
//! `crate::ingest`; an engine only stores it, in one transaction per file
//! or seed.
//!
//! A file source's table holds the declared columns (values as the file
//! wrote them, or converted to their declared type where they convert: the
//! typed input boundary judges them when a run reads them), and bplc's
//! own: `_bpl_file` (the number of the file in the ingestion ledger),
//! `_bpl_until` (the number of the file that replaced it, [`CURRENT`]
//! while none has), `_bpl_line` (the row's line in its file) and
//! `_bpl_malformed` (why the line could not be read as a row, NULL for a
//! well-formed one). `_bpl_files` maps each file number to its path, so a
//! run's bad rows name their file and line.

use super::{RuntimeError, Value};
use crate::semantic::T;

/// `_bpl_until` of a row no file has replaced.
pub const CURRENT: i64 = i64::MAX;

/// The columns bplc adds to a file source's table, after the declared ones.
pub const FILE_COLUMNS: [&str; 4] = ["_bpl_file", "_bpl_until", "_bpl_line", "_bpl_malformed"];

/// One file's rows to append.
#[derive(Debug, Clone)]
pub struct FileLoad<'a> {
    pub source: &'a str,
    pub table: &'a str,
    /// The declared columns each row gives values for, in order.
    pub columns: &'a [String],
    pub file_id: i64,
    /// The file's path, relative to the project.
    pub path: &'a str,
    /// The earlier version of the file whose rows this one replaces.
    pub replaces: Option<i64>,
}

/// One row of a file: the declared columns' values, its line, and why it
/// is malformed (then its values are those that could be read, NULL for
/// the rest).
#[derive(Debug, Clone)]
pub struct FileRow {
    pub values: Vec<Value>,
    pub line: u64,
    pub malformed: Option<String>,
}

/// A seed to store: the reference's table replaced by `rows`.
#[derive(Debug, Clone)]
pub struct SeedLoad<'a> {
    pub reference: &'a str,
    pub table: &'a str,
    pub columns: &'a [(String, T)],
    pub path: &'a str,
    pub hash: &'a str,
    pub loaded_at: &'a str,
}

/// Appends rows, one call each, until the source is exhausted.
pub type Fill<'f> =
    dyn FnMut(&mut dyn FnMut(FileRow) -> Result<(), RuntimeError>) -> Result<(), RuntimeError> + 'f;

pub trait Intake {
    /// The columns of a table of the warehouse, empty if there is none.
    fn columns(&mut self, table: &str) -> Result<Vec<String>, RuntimeError>;
    /// Creates a file source's table: the declared columns, untyped where
    /// the engine allows it (text otherwise), and bplc's [`FILE_COLUMNS`].
    fn create_file_table(&mut self, table: &str, columns: &[String]) -> Result<(), RuntimeError>;
    /// Creates `_bpl_files` if missing: runs read it for their bad rows'
    /// origins, from warehouses filled before it was kept too.
    fn create_files_table(&mut self) -> Result<(), RuntimeError>;
    /// Adds a column to a file source's table (a declaration that gained
    /// one, or a table made before bplc kept lines).
    fn add_column(&mut self, table: &str, column: &str) -> Result<(), RuntimeError>;
    /// Appends one file's rows in one transaction: all of them, or none if
    /// `fill` fails; a replacing file marks the old version's rows in the
    /// same transaction.
    fn load_file(&mut self, file: &FileLoad<'_>, fill: &mut Fill<'_>) -> Result<(), RuntimeError>;
    /// Removes the rows of a load that did not finish.
    fn remove_file(&mut self, table: &str, file_id: i64) -> Result<(), RuntimeError>;
    /// The content hash a seed reference was last loaded with.
    fn seed_hash(&mut self, reference: &str) -> Result<Option<String>, RuntimeError>;
    /// The number of rows of a table.
    fn count(&mut self, table: &str) -> Result<i64, RuntimeError>;
    /// Replaces a seed's table with `rows` and records its hash, in one
    /// transaction.
    fn replace_seed(
        &mut self,
        seed: &SeedLoad<'_>,
        rows: &[Vec<Value>],
    ) -> Result<(), RuntimeError>;
}

/// The statements creating a file source's table and its index: the
/// declared columns of type `declared` (none: untyped), bplc's columns of
/// the engine's `int` and `text` types.
pub fn file_table_sql(
    table: &str,
    columns: &[String],
    declared: &str,
    int: &str,
    text: &str,
) -> String {
    use crate::sql::types::{ident, table_ref};
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {declared}", ident(c)).trim_end().to_string())
        .collect();
    format!(
        "CREATE TABLE {t} ({cols}, _bpl_file {int} NOT NULL, _bpl_until {int} NOT NULL DEFAULT {CURRENT},
           _bpl_line {int}, _bpl_malformed {text});
         CREATE INDEX {i} ON {t} (_bpl_file);",
        t = table_ref(table),
        cols = cols.join(", "),
        i = ident(&format!("{table}__bpl_file")),
    )
}

/// The bookkeeping tables of ingestion in the warehouse, in SQL both
/// engines take.
pub const SEEDS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _bpl_seeds (
    reference TEXT PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL,
    rows BIGINT NOT NULL, loaded_at TEXT NOT NULL)";

pub const FILES_TABLE: &str = "CREATE TABLE IF NOT EXISTS _bpl_files (
    file_id BIGINT PRIMARY KEY, source TEXT NOT NULL, path TEXT NOT NULL)";
