//! The ingestion ledger: which landing files each file source has read,
//! kept in the ledger beside the run manifests (its file, or its schema on
//! PostgreSQL). One row per version of a file: its path (relative to the
//! project), size, modification time, content hash, when it was first seen
//! (its `file_arrival` time), how many rows it loaded and how many lines
//! were malformed. The number of the row (`file_id`) is what the file's
//! rows carry in the warehouse (`_bpl_file`), so a run's input lock, the
//! highest file number it read, names exactly the files it read.
//!
//! A load is recorded `loading` before its rows are written and `ingested`
//! after they are committed; a `loading` row left by a crash is abandoned
//! (its rows removed) and the file read again under a new number, so a
//! number a run has locked never gains rows.
//!
//! The tables are the ledger's fourth migration on both backends; their
//! statements are written once, like the rest of the ledger's, against
//! its `Store` (`runtime::ledger::store`).

use serde::Serialize;

use super::ledger::{Ledger, Val};
use super::RuntimeError;

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

/// The ingestion tables of an open (so migrated) ledger.
pub struct IngestLedger<'a> {
    ledger: &'a Ledger,
}

const COLUMNS: &str =
    "file_id, source, path, size, modified, hash, first_seen, rows, bad_rows, status, replaces";

/// A row the ledger holds that is not what its schema says.
fn corrupt(detail: String) -> RuntimeError {
    RuntimeError::Corrupt {
        what: "the ingestion ledger".into(),
        detail,
    }
}

fn int(v: &Val, column: &str) -> Result<i64, RuntimeError> {
    v.int()
        .ok_or_else(|| corrupt(format!("`{column}` is {v:?}, not a number")))
}

fn record(row: Vec<Val>) -> Result<FileRecord, RuntimeError> {
    let [file_id, source, path, size, modified, hash, first_seen, rows, bad_rows, status, replaces]: [Val; 11] =
        row.try_into()
            .map_err(|r: Vec<Val>| corrupt(format!("a file's row has {} columns", r.len())))?;
    Ok(FileRecord {
        file_id: int(&file_id, "file_id")?,
        source: source.into_text(),
        path: path.into_text(),
        size: int(&size, "size")?,
        modified: modified.into_text(),
        hash: hash.into_text(),
        first_seen: first_seen.into_text(),
        rows: int(&rows, "rows")?,
        bad_rows: int(&bad_rows, "bad_rows")?,
        status: status.into_text(),
        replaces: replaces.int(),
    })
}

fn records(rows: Vec<Vec<Val>>) -> Result<Vec<FileRecord>, RuntimeError> {
    rows.into_iter().map(record).collect()
}

impl<'a> IngestLedger<'a> {
    /// The ingestion tables of a ledger.
    pub fn of(ledger: &'a Ledger) -> IngestLedger<'a> {
        IngestLedger { ledger }
    }

    /// Every recorded version of a source's files (all sources: `None`),
    /// in the order they were read.
    pub fn files(&self, source: Option<&str>) -> Result<Vec<FileRecord>, RuntimeError> {
        records(self.ledger.store().query(
            &format!(
                "SELECT {COLUMNS} FROM ingested_files
                 WHERE CAST($1 AS TEXT) IS NULL OR source = $1 ORDER BY file_id"
            ),
            &[source.into()],
        )?)
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

    /// The first file the statement `sql` finds, with its parameters.
    fn first(&self, sql: &str, params: &[Val]) -> Result<Option<FileRecord>, RuntimeError> {
        let rows = self.ledger.store().query(sql, params)?;
        rows.into_iter().next().map(record).transpose()
    }

    /// The version of a file that holds its rows now: the last one
    /// ingested, or a load left unfinished.
    pub fn current(&self, source: &str, path: &str) -> Result<Option<FileRecord>, RuntimeError> {
        self.first(
            &format!(
                "SELECT {COLUMNS} FROM ingested_files WHERE source = $1 AND path = $2
                 AND status IN ('ingested', 'loading') ORDER BY file_id DESC LIMIT 1"
            ),
            &[source.into(), path.into()],
        )
    }

    /// An ingested file of a source with this content, under any path.
    pub fn same_content(
        &self,
        source: &str,
        hash: &str,
    ) -> Result<Option<FileRecord>, RuntimeError> {
        self.first(
            &format!(
                "SELECT {COLUMNS} FROM ingested_files WHERE source = $1 AND hash = $2
                 AND status = 'ingested' ORDER BY file_id LIMIT 1"
            ),
            &[source.into(), hash.into()],
        )
    }

    /// Loads a crash left unfinished, for the caller to undo.
    pub fn unfinished(&self, source: &str) -> Result<Vec<FileRecord>, RuntimeError> {
        Ok(self
            .files(Some(source))?
            .into_iter()
            .filter(|f| f.status == "loading")
            .collect())
    }

    /// Records a file as being loaded, and returns its number: the next
    /// one (the row's `INTEGER PRIMARY KEY` on SQLite, its identity on
    /// PostgreSQL).
    pub fn begin(&self, f: &NewFile<'_>) -> Result<i64, RuntimeError> {
        let rows = self.ledger.store().query(
            "INSERT INTO ingested_files (source, path, size, modified, hash, first_seen,
               ingested_at, status, replaces)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'loading', $8) RETURNING file_id",
            &[
                f.source.into(),
                f.path.into(),
                f.size.into(),
                f.modified.into(),
                f.hash.into(),
                f.first_seen.into(),
                super::now().into(),
                f.replaces.map_or(Val::Null, Val::Int),
            ],
        )?;
        let id = rows.first().and_then(|r| r.first());
        id.and_then(Val::int)
            .ok_or_else(|| corrupt(format!("a new file's number is {id:?}")))
    }

    /// Records a load whose rows are committed: its counts, its malformed
    /// lines (the first [`BAD_ROWS_KEPT`]), and the version it replaced,
    /// in one transaction.
    pub fn finish(
        &self,
        file_id: i64,
        rows: i64,
        bad_rows: i64,
        bad: &[BadLine],
    ) -> Result<(), RuntimeError> {
        self.ledger.write(|s| {
            s.execute(
                "UPDATE ingested_files SET status = 'ingested', rows = $2, bad_rows = $3
                 WHERE file_id = $1",
                &[file_id.into(), rows.into(), bad_rows.into()],
            )?;
            s.execute(
                "UPDATE ingested_files SET status = 'replaced' WHERE file_id =
                   (SELECT replaces FROM ingested_files WHERE file_id = $1)",
                &[file_id.into()],
            )?;
            for b in bad {
                s.execute(
                    "INSERT INTO ingest_bad_rows (file_id, line, reason, text) VALUES ($1, $2, $3, $4)",
                    &[
                        file_id.into(),
                        (b.line as i64).into(),
                        b.reason.as_str().into(),
                        b.text.as_str().into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// Marks a load that did not finish: its rows are gone or never were.
    pub fn abandon(&self, file_id: i64) -> Result<(), RuntimeError> {
        self.ledger
            .store()
            .execute(
                "UPDATE ingested_files SET status = 'abandoned' WHERE file_id = $1",
                &[file_id.into()],
            )
            .map(drop)
    }

    /// The malformed lines kept for a file.
    pub fn bad_lines(&self, file_id: i64) -> Result<Vec<BadLine>, RuntimeError> {
        let rows = self.ledger.store().query(
            "SELECT line, reason, text FROM ingest_bad_rows WHERE file_id = $1 ORDER BY line",
            &[file_id.into()],
        )?;
        rows.into_iter()
            .map(|r| {
                let [line, reason, text]: [Val; 3] = r.try_into().map_err(|r: Vec<Val>| {
                    corrupt(format!("a bad line has {} columns", r.len()))
                })?;
                Ok(BadLine {
                    line: int(&line, "line")? as u64,
                    reason: reason.into_text(),
                    text: text.into_text(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger file of a bplc that created the ingestion tables outside
    /// the migrations (schema version 3) keeps its records when migrated.
    #[test]
    fn a_ledger_file_with_the_tables_already_keeps_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite");
        let ledger = Ledger::open(&path).unwrap();
        let file = NewFile {
            source: "events",
            path: "landing/a.csv",
            size: 10,
            modified: "2026-06-01 10:00:00",
            hash: "abc",
            first_seen: "2026-06-01 11:00:00",
            replaces: None,
        };
        let id = IngestLedger::of(&ledger).begin(&file).unwrap();
        let bad = BadLine {
            line: 3,
            reason: "ragged".into(),
            text: "x,y".into(),
        };
        IngestLedger::of(&ledger)
            .finish(id, 2, 1, std::slice::from_ref(&bad))
            .unwrap();
        ledger.store().batch("PRAGMA user_version = 3").unwrap();
        drop(ledger);

        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.store().version().unwrap(), 4);
        let ingest = IngestLedger::of(&ledger);
        let files = ingest.files(Some("events")).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].file_id, files[0].rows, files[0].bad_rows),
            (id, 2, 1)
        );
        assert_eq!(files[0].status, "ingested");
        assert_eq!(ingest.bad_lines(id).unwrap(), [bad]);
        let next = ingest
            .begin(&NewFile {
                replaces: Some(id),
                ..file
            })
            .unwrap();
        assert!(next > id);
    }
}
