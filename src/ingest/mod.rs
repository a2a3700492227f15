//! Landing-folder sources: a source that says `files "landing/*.csv" as
//! csv` has its files discovered, each read exactly once, and its rows
//! loaded into the source's table in the warehouse, where runs read them
//! like any table (through the typed input boundary). Every file read is
//! recorded in the ingestion ledger (`runtime::ingest_ledger`); a run's
//! input lock is the highest file number it read (`Lock::Files`), so a
//! retry reads the same files.
//!
//! A file is recognised by its path. One whose size or modification time
//! changed is hashed again; a different content hash is a changed file,
//! which fails the ingestion (E0383) unless the source says `changed
//! files replace`. Malformed lines (a ragged CSV row, text that is not
//! UTF-8, a line that is not a JSON object) are quarantined in the
//! ingestion ledger with the file and line number, unless the source's bad
//! rows fail the partition or the run: then the file is refused (E0385).

pub mod discover;
pub mod read;
pub mod seed;
pub mod table;

#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(not(feature = "parquet"))]
#[path = "no_parquet.rs"]
pub mod parquet;

use std::io::Read;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::Connection;
use serde::Serialize;
use sha2::Digest;

use crate::diagnostic::codes;
use crate::runtime::ingest_ledger::{BadLine, IngestLedger, NewFile, BAD_ROWS_KEPT};
use crate::runtime::RuntimeError;
use crate::semantic::hir::{Decl, FileSource, Program};
use crate::syntax::ast::Severity;

/// What happened to one landing file.
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: String,
    /// `new`, `replaced` (a changed file's new version), `unchanged`, or
    /// `duplicate` (the content of a file already read, under a new name:
    /// not loaded).
    pub outcome: &'static str,
    /// The number its rows carry; `None` for an unchanged file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<i64>,
    pub rows: i64,
    pub bad_rows: i64,
    /// The first malformed line, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<BadLine>,
    /// For a duplicate: the file already read with the same content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

/// What one ingestion of a source did.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    pub table: String,
    pub pattern: String,
    pub files: Vec<FileOutcome>,
}

/// What a progress display is told.
pub enum Progress<'a> {
    /// A file is about to be read: its path and size in bytes.
    File(&'a str, u64),
    /// Bytes of the current file read so far.
    Bytes(u64),
}

/// Ingests landing files into the warehouse, recording them in the ledger.
pub struct Ingest<'a> {
    /// The project's root: patterns are relative to it.
    pub root: &'a Path,
    pub warehouse: &'a Connection,
    pub ledger: &'a Connection,
    /// The time files found now were first seen: the `file_arrival` clock.
    pub seen_at: String,
    pub progress: &'a mut dyn FnMut(Progress<'_>),
}

/// A connection to the warehouse for ingestion to write through. Landing
/// files and seeds are loaded by SQL of their own (`table`, `seed`), on
/// the SQLite engine: another engine is another arm here.
pub fn open_warehouse(w: &crate::runtime::engine::Warehouse) -> Result<Connection, RuntimeError> {
    match w {
        crate::runtime::engine::Warehouse::Sqlite { path, .. } => {
            let conn = Connection::open(path).map_err(RuntimeError::sql)?;
            conn.busy_timeout(crate::runtime::lock_timeout())
                .map_err(RuntimeError::sql)?;
            Ok(conn)
        }
        crate::runtime::engine::Warehouse::Postgres { .. } => Err(RuntimeError::Engine(
            "landing files and seeds are loaded into a SQLite warehouse; on PostgreSQL, load the source tables with your own tools (COPY)".into(),
        )),
        crate::runtime::engine::Warehouse::Spark { .. } => Err(RuntimeError::Engine(
            "landing files and seeds are loaded into a SQLite warehouse; on Spark, load the source tables with your own jobs into the project's database".into(),
        )),
    }
}

/// The sources of a program that read landing files.
pub fn file_sources(program: &Program) -> impl Iterator<Item = &Decl> {
    program.decls.iter().filter(|d| d.access.files.is_some())
}

fn coded(code: crate::diagnostic::codes::Code, message: String, help: String) -> RuntimeError {
    RuntimeError::Coded {
        code,
        message,
        help,
    }
}

impl Ingest<'_> {
    /// Ingests the files of each named source that reads files; other
    /// names are passed over.
    pub fn sources(
        &mut self,
        program: &Program,
        names: &[String],
    ) -> Result<Vec<SourceReport>, RuntimeError> {
        let mut out = Vec::new();
        for d in file_sources(program).filter(|d| names.contains(&d.name)) {
            out.push(self.source(d)?);
        }
        Ok(out)
    }

    /// Ingests the new and changed files of one file source.
    pub fn source(&mut self, d: &Decl) -> Result<SourceReport, RuntimeError> {
        let files = d.access.files.as_ref().expect("a file source");
        let found = discover::discover(self.root, &files.glob)?;
        self.discovered(d, &found)
    }

    /// Ingests the files discovery found for a source: those still there
    /// when they are read.
    pub fn discovered(
        &mut self,
        d: &Decl,
        found: &discover::Discovery,
    ) -> Result<SourceReport, RuntimeError> {
        let files = d.access.files.as_ref().expect("a file source");
        let _one_at_a_time = exclusive(self.ledger)?;
        let ledger = IngestLedger::open(self.ledger)?;
        let all: Vec<String> = d.columns.iter().map(|c| c.name.clone()).collect();
        table::prepare(self.warehouse, &d.name, &d.table, &all)?;
        for f in ledger.unfinished(&d.name)? {
            table::remove(self.warehouse, &d.table, f.file_id)?;
            ledger.abandon(f.file_id)?;
        }
        let mut report = SourceReport {
            source: d.name.clone(),
            table: d.table.clone(),
            pattern: files.glob.clone(),
            files: Vec::new(),
        };
        if found.matched.is_empty() && ledger.files(Some(&d.name))?.is_empty() {
            return Err(nothing_found(d, files, found));
        }
        for f in &found.matched {
            report.files.push(self.file(d, files, &ledger, f)?);
        }
        Ok(report)
    }

    fn file(
        &mut self,
        d: &Decl,
        files: &FileSource,
        ledger: &IngestLedger<'_>,
        f: &discover::Found,
    ) -> Result<FileOutcome, RuntimeError> {
        let unchanged = |path: &str| FileOutcome {
            path: path.to_string(),
            outcome: "unchanged",
            file_id: None,
            rows: 0,
            bad_rows: 0,
            first_bad: None,
            duplicate_of: None,
        };
        let current = ledger.current(&d.name, &f.path)?;
        if let Some(c) = &current {
            if c.size == f.size && c.modified == f.modified {
                return Ok(unchanged(&f.path));
            }
        }
        let hash = hash(&f.abs).map_err(|e| unreadable(d, f, e))?;
        if let Some(c) = &current {
            if c.hash == hash {
                return Ok(unchanged(&f.path));
            }
            if !files.replace_changed {
                return Err(coded(
                    codes::E0383,
                    format!(
                        "the file `{}` of `{}` changed after it was ingested (file {}, {} rows): its content hash is now {}",
                        f.path, d.name, c.file_id, c.rows, &hash[..12]
                    ),
                    format!(
                        "a landing file is read once; deliver a correction as a new file, restore the old content, or declare `changed files replace` on `{}` to let a changed file replace its rows",
                        d.name
                    ),
                ));
            }
        }
        // A new name for content already read (a file delivered twice, or
        // renamed) would only load the same rows again.
        if current.is_none() {
            if let Some(same) = ledger.same_content(&d.name, &hash)? {
                return Ok(FileOutcome {
                    outcome: "duplicate",
                    duplicate_of: Some(same.path),
                    ..unchanged(&f.path)
                });
            }
        }
        let replaces = current.as_ref().map(|c| c.file_id);
        let file_id = ledger.begin(&NewFile {
            source: &d.name,
            path: &f.path,
            size: f.size,
            modified: &f.modified,
            hash: &hash,
            first_seen: &self.seen_at,
            replaces,
        })?;
        (self.progress)(Progress::File(&f.path, f.size as u64));
        let loaded = self.load(d, files, f, file_id, replaces);
        let (rows, bad, kept) = match loaded {
            Ok(x) => x,
            Err(e) => {
                ledger.abandon(file_id)?;
                return Err(e);
            }
        };
        ledger.finish(file_id, rows, bad, &kept)?;
        Ok(FileOutcome {
            duplicate_of: None,
            path: f.path.clone(),
            outcome: if replaces.is_some() {
                "replaced"
            } else {
                "new"
            },
            file_id: Some(file_id),
            rows,
            bad_rows: bad,
            first_bad: kept.into_iter().next(),
        })
    }

    /// Reads one file into the source's table: `(rows, bad rows, the
    /// malformed lines kept)`.
    fn load(
        &mut self,
        d: &Decl,
        files: &FileSource,
        f: &discover::Found,
        file_id: i64,
        replaces: Option<i64>,
    ) -> Result<(i64, i64, Vec<BadLine>), RuntimeError> {
        let arrival = files.arrival_column.as_deref();
        let read_columns: Vec<crate::plan::Column> = d
            .columns
            .iter()
            .filter(|c| Some(c.name.as_str()) != arrival)
            .map(|c| crate::plan::Column {
                name: c.name.clone(),
                ty: c.ty.t.clone(),
                nullable: c.ty.nullable,
            })
            .collect();
        let kinds: Vec<&'static str> = read_columns
            .iter()
            .map(|c| crate::sql::boundary::kind_name(&c.ty))
            .collect();
        let mut names: Vec<String> = read_columns.iter().map(|c| c.name.clone()).collect();
        names.extend(arrival.map(str::to_string));
        let seen = Value::Text(self.seen_at.clone());
        let fails = matches!(
            d.access.bad_rows,
            Some(Severity::FailPartition | Severity::FailRun)
        );
        let progress = &mut *self.progress;
        table::load(
            self.warehouse,
            &d.table,
            &names,
            file_id,
            replaces,
            |push| {
                let (mut rows, mut bad) = (0i64, 0i64);
                let mut kept = Vec::new();
                let mut each = |line: read::Line| {
                    match line {
                        Ok(mut values) => {
                            stored(&mut values, &kinds);
                            if arrival.is_some() {
                                values.push(seen.clone());
                            }
                            rows += 1;
                            push(values)?;
                        }
                        Err(b) if fails => return Err(refused(d, f, &b)),
                        Err(b) => {
                            bad += 1;
                            if kept.len() < BAD_ROWS_KEPT {
                                kept.push(b);
                            }
                        }
                    }
                    Ok(())
                };
                let mut bytes = |n: u64| progress(Progress::Bytes(n));
                read::read(&f.abs, &files.format, &read_columns, &mut each, &mut bytes)
                    .map_err(|e| read_error(d, files, f, e))?;
                Ok((rows, bad, kept))
            },
        )
    }
}

/// Held while one process ingests: two runs that read the same landing
/// folder at once would otherwise both see a new file and load it twice.
/// An exclusive transaction on a small file beside the ledger, which the
/// other waits for (the `lock_timeout` of `bpl.toml`); the operating system
/// releases it however the process ends. A ledger in memory (tests) has
/// no neighbour to lock.
fn exclusive(ledger: &Connection) -> Result<Option<Connection>, RuntimeError> {
    let Some(path) = ledger.path().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let lock = Connection::open(format!("{path}.ingest.lock")).map_err(RuntimeError::sql)?;
    lock.busy_timeout(crate::runtime::lock_timeout())
        .and_then(|()| lock.execute_batch("CREATE TABLE IF NOT EXISTS ingest (pid INTEGER)"))
        .and_then(|()| lock.execute_batch("BEGIN EXCLUSIVE"))
        .map_err(|e| {
            RuntimeError::Io(format!(
                "cannot take the ingestion lock `{path}.ingest.lock`: {e}"
            ))
        })?;
    Ok(Some(lock))
}

/// Values in the form the warehouse stores their declared types, where
/// they convert (`42` an integer, `2026-06-01T10:00:00Z` a UTC timestamp
/// `2026-06-01 10:00:00`): a run's typed input boundary then takes them
/// as they are. A value that does not convert is kept as written, for the
/// boundary to report as a bad row with its reason.
fn stored(values: &mut [Value], kinds: &[&'static str]) {
    for (v, kind) in values.iter_mut().zip(kinds) {
        let Value::Text(text) = v else { continue };
        // Already in the shape the boundary takes as stored (its own test,
        // `sql::boundary`), or a kind kept as text: nothing to convert.
        let shaped = match *kind {
            "timestamp" => text.len() == 19 && text.as_bytes()[10] == b' ',
            "date" => text.len() == 10,
            "month" => text.len() == 7,
            "int" | "number" | "bool" | "decimal" => false,
            _ => true,
        };
        if shaped {
            continue;
        }
        let converted = crate::runtime::engine::sqlite::functions::convert(
            rusqlite::types::ValueRef::Text(text.as_bytes()),
            kind,
        );
        if let Some(c) = converted {
            *v = c;
        }
    }
}

/// The SHA-256 of a file's content, read in blocks.
fn hash(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn nothing_found(d: &Decl, files: &FileSource, found: &discover::Discovery) -> RuntimeError {
    let folder = found.folder.display();
    if !found.exists {
        return coded(
            codes::E0381,
            format!(
                "the landing folder `{folder}` of `{}` does not exist",
                d.name
            ),
            format!(
                "create it and deliver files into it, or fix the pattern `{}` (it is relative to the project)",
                files.glob
            ),
        );
    }
    if found.unmatched == 0 {
        return coded(
            codes::E0381,
            format!(
                "the landing folder `{folder}` of `{}` is empty: no file has ever been ingested from it",
                d.name
            ),
            "deliver the source's files into the folder, then run again".into(),
        );
    }
    coded(
        codes::E0382,
        format!(
            "the pattern `{}` of `{}` matches none of the {} file(s) in `{folder}`",
            files.glob, d.name, found.unmatched
        ),
        "check the pattern against the files' names: `*` matches within one folder, `**` across folders, and the extension must match (`*.csv` is not `*.CSV`)".into(),
    )
}

fn unreadable(d: &Decl, f: &discover::Found, e: std::io::Error) -> RuntimeError {
    let (what, help) = if e.kind() == std::io::ErrorKind::NotFound {
        (
            "was deleted between discovery and read".to_string(),
            "nothing of it was loaded; ingest again: a file that is gone is not read, one that is back is".to_string(),
        )
    } else {
        (
            format!("cannot be read: {e}"),
            "make the file readable by the user running bplc; nothing of it was loaded".to_string(),
        )
    };
    coded(
        codes::E0384,
        format!("the file `{}` of `{}` {what}", f.path, d.name),
        help,
    )
}

fn refused(d: &Decl, f: &discover::Found, b: &BadLine) -> RuntimeError {
    coded(
        codes::E0385,
        format!(
            "line {} of `{}` is malformed ({}), and the bad rows of `{}` fail {}: the file was not loaded",
            b.line,
            f.path,
            b.reason,
            d.name,
            match d.access.bad_rows {
                Some(Severity::FailPartition) => "the partition",
                _ => "the run",
            }
        ),
        format!(
            "fix or remove the line and deliver the file again, or let `{}` quarantine malformed lines (`bad rows quarantine`, the default)",
            d.name
        ),
    )
}

fn read_error(
    d: &Decl,
    files: &FileSource,
    f: &discover::Found,
    e: read::ReadError,
) -> RuntimeError {
    match e {
        read::ReadError::Stopped(e) => e,
        read::ReadError::Io(e) => unreadable(d, f, e),
        read::ReadError::Missing { column, found } => coded(
            codes::E0380,
            format!(
                "the file `{}` of `{}` has no column `{column}`; its {} names {}",
                f.path,
                d.name,
                if matches!(files.format, crate::semantic::hir::FileFormat::Parquet) {
                    "schema"
                } else {
                    "header"
                },
                if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            format!(
                "nothing of the file was loaded; deliver it with a `{column}` column, or declare the source's columns as the files hold them"
            ),
        ),
        read::ReadError::Mistyped {
            column,
            found,
            declared,
        } => coded(
            codes::E0386,
            format!(
                "the file `{}` of `{}` holds `{column}` as {found}, which cannot be the declared {declared}",
                f.path, d.name
            ),
            "nothing of the file was loaded; declare the column's type as the files hold it, or deliver the file with the declared type".into(),
        ),
    }
}
