//! The ingestion ledger: which landing files each file source has read,
//! kept in the ledger file beside the run manifests. One row per version
//! of a file: its path (relative to the project), size, modification time,
//! content hash, when it was first seen (its `file_arrival` time), how many
//! rows it loaded and how many lines were malformed. The number of the row
//! (`file_id`) is what the file's rows carry in the warehouse
//! (`_bpl_file`), so a run's input lock, the highest file number it read,
//! names exactly the files it read.
//!
//! A load is recorded `loading` before its rows are written and `ingested`
//! after they are committed; a `loading` row left by a crash is abandoned
//! (its rows removed) and the file read again under a new number, so a
//! number a run has locked never gains rows.
//!
//! The tables are created here, outside the ledger's numbered migrations:
//! a ledger without them is simply one that has ingested nothing.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::RuntimeError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ingested_files (
    file_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified TEXT NOT NULL,
    hash TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    replaces INTEGER
);
CREATE INDEX IF NOT EXISTS ingested_files_path ON ingested_files (source, path);
CREATE TABLE IF NOT EXISTS ingest_bad_rows (
    file_id INTEGER NOT NULL,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_bad_rows_file ON ingest_bad_rows (file_id);";

/// How many malformed lines of one file are kept with their text; all
/// are counted.
pub const BAD_ROWS_KEPT: usize = 1000;

/// One version of a landing file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    pub file_id: i64,
    pub source: String,
    pub path: String,
    pub size: i64,
    pub modified: String,
    pub hash: String,
    pub first_seen: String,
    pub rows: i64,
    pub bad_rows: i64,
    /// `loading`, `ingested`, `replaced` (a later version holds its rows)
    /// or `abandoned` (a load that did not finish).
    pub status: String,
    /// The file id of the version this one replaced.
    pub replaces: Option<i64>,
}

/// A malformed line of a landing file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
    pub text: String,
}

/// The facts of a file about to be loaded.
#[derive(Debug, Clone)]
pub struct NewFile<'a> {
    pub source: &'a str,
    pub path: &'a str,
    pub size: i64,
    pub modified: &'a str,
    pub hash: &'a str,
    pub first_seen: &'a str,
    pub replaces: Option<i64>,
}

pub struct IngestLedger<'a> {
    conn: &'a Connection,
}

const COLUMNS: &str =
    "file_id, source, path, size, modified, hash, first_seen, rows, bad_rows, status, replaces";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    Ok(FileRecord {
        file_id: r.get(0)?,
        source: r.get(1)?,
        path: r.get(2)?,
        size: r.get(3)?,
        modified: r.get(4)?,
        hash: r.get(5)?,
        first_seen: r.get(6)?,
        rows: r.get(7)?,
        bad_rows: r.get(8)?,
        status: r.get(9)?,
        replaces: r.get(10)?,
    })
}

impl<'a> IngestLedger<'a> {
    /// The ingestion tables of a ledger, created if missing.
    pub fn open(conn: &'a Connection) -> Result<IngestLedger<'a>, RuntimeError> {
        conn.execute_batch(SCHEMA).map_err(RuntimeError::sql)?;
        Ok(IngestLedger { conn })
    }

    /// The ingestion tables if the ledger has them, without writing.
    pub fn read(conn: &'a Connection) -> Result<Option<IngestLedger<'a>>, RuntimeError> {
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ingested_files')",
                [],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        Ok(exists.then_some(IngestLedger { conn }))
    }

    /// Every recorded version of a source's files (all sources: `None`),
    /// in the order they were read.
    pub fn files(&self, source: Option<&str>) -> Result<Vec<FileRecord>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM ingested_files WHERE ?1 IS NULL OR source = ?1 ORDER BY file_id"
            ))
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map(params![source], record)
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }

    /// The files a run locked at file number `locked` read from `source`:
    /// those ingested up to it, less the versions a file up to it replaced.
    pub fn read_by_lock(&self, source: &str, locked: i64) -> Result<Vec<FileRecord>, RuntimeError> {
        let all = self.files(Some(source))?;
        let replaced: Vec<i64> = all
            .iter()
            .filter(|f| f.file_id <= locked)
            .filter_map(|f| f.replaces)
            .collect();
        Ok(all
            .into_iter()
            .filter(|f| f.file_id <= locked && matches!(f.status.as_str(), "ingested" | "replaced"))
            .filter(|f| !replaced.contains(&f.file_id))
            .collect())
    }

    /// The version of a file that holds its rows now: the last one
    /// ingested, or a load left unfinished.
    pub fn current(&self, source: &str, path: &str) -> Result<Option<FileRecord>, RuntimeError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM ingested_files WHERE source = ?1 AND path = ?2
                     AND status IN ('ingested', 'loading') ORDER BY file_id DESC LIMIT 1"
                ),
                params![source, path],
                record,
            )
            .optional()
            .map_err(RuntimeError::sql)
    }

    /// An ingested file of a source with this content, under any path.
    pub fn same_content(
        &self,
        source: &str,
        hash: &str,
    ) -> Result<Option<FileRecord>, RuntimeError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM ingested_files WHERE source = ?1 AND hash = ?2
                     AND status = 'ingested' ORDER BY file_id LIMIT 1"
                ),
                params![source, hash],
                record,
            )
            .optional()
            .map_err(RuntimeError::sql)
    }

    /// Loads a crash left unfinished, for the caller to undo.
    pub fn unfinished(&self, source: &str) -> Result<Vec<FileRecord>, RuntimeError> {
        Ok(self
            .files(Some(source))?
            .into_iter()
            .filter(|f| f.status == "loading")
            .collect())
    }

    /// Records a file as being loaded, and returns its number.
    pub fn begin(&self, f: &NewFile<'_>) -> Result<i64, RuntimeError> {
        self.conn
            .execute(
                "INSERT INTO ingested_files (source, path, size, modified, hash, first_seen,
                   ingested_at, status, replaces)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'loading', ?8)",
                params![
                    f.source,
                    f.path,
                    f.size,
                    f.modified,
                    f.hash,
                    f.first_seen,
                    super::now(),
                    f.replaces
                ],
            )
            .map_err(RuntimeError::sql)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a load whose rows are committed: its counts, its malformed
    /// lines (the first [`BAD_ROWS_KEPT`]), and the version it replaced.
    pub fn finish(
        &self,
        file_id: i64,
        rows: i64,
        bad_rows: i64,
        bad: &[BadLine],
    ) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        tx.execute(
            "UPDATE ingested_files SET status = 'ingested', rows = ?2, bad_rows = ?3 WHERE file_id = ?1",
            params![file_id, rows, bad_rows],
        )
        .map_err(RuntimeError::sql)?;
        tx.execute(
            "UPDATE ingested_files SET status = 'replaced' WHERE file_id =
               (SELECT replaces FROM ingested_files WHERE file_id = ?1)",
            params![file_id],
        )
        .map_err(RuntimeError::sql)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO ingest_bad_rows (file_id, line, reason, text) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(RuntimeError::sql)?;
            for b in bad {
                stmt.execute(params![file_id, b.line as i64, b.reason, b.text])
                    .map_err(RuntimeError::sql)?;
            }
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    /// Marks a load that did not finish: its rows are gone or never were.
    pub fn abandon(&self, file_id: i64) -> Result<(), RuntimeError> {
        self.conn
            .execute(
                "UPDATE ingested_files SET status = 'abandoned' WHERE file_id = ?1",
                params![file_id],
            )
            .map(|_| ())
            .map_err(RuntimeError::sql)
    }

    /// The malformed lines kept for a file.
    pub fn bad_lines(&self, file_id: i64) -> Result<Vec<BadLine>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT line, reason, text FROM ingest_bad_rows WHERE file_id = ?1 ORDER BY line",
            )
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map(params![file_id], |r| {
                Ok(BadLine {
                    line: r.get::<_, i64>(0)? as u64,
                    reason: r.get(1)?,
                    text: r.get(2)?,
                })
            })
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }
}
