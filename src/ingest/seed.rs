//! Seeds: small references kept in the project as CSV files with a header
//! (`seed "seeds/regions.csv"`). A seed's version is its content hash
//! (SHA-256). `bplc seed`, and a run that binds a seed, load each seed
//! whose hash differs from the one loaded last: the reference's table is
//! replaced by the file's rows and the hash recorded with it in the
//! warehouse (`_bpl_seeds`), in one transaction. Values are brought to
//! their declared types as they are loaded; a seed is part of the project,
//! so a value that is not of its type is an error (E0317), never a bad row.
//! A binding `pinned "3f2a9c1b"` on a seed without a version column pins
//! its content: a run refuses a seed whose hash does not start so (E0318).

use std::path::Path;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::Digest;

use crate::diagnostic::codes;
use crate::runtime::RuntimeError;
use crate::semantic::hir::Decl;
use crate::semantic::T;
use crate::sql::types::{ident, table_ref};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS _bpl_seeds (
    reference TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    rows INTEGER NOT NULL,
    loaded_at TEXT NOT NULL
)";

/// What loading one seed did.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    pub reference: String,
    pub path: String,
    /// SHA-256 of the file: the seed's version.
    pub hash: String,
    /// `loaded` (first time), `changed` (a new version replaced the old
    /// one) or `unchanged`.
    pub outcome: &'static str,
    pub rows: i64,
    /// The version it replaced, for a changed seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

fn error(message: String, help: String) -> RuntimeError {
    RuntimeError::Coded {
        code: codes::E0317,
        message,
        help,
    }
}

/// The hash last loaded for a seed reference, if any.
pub fn loaded_hash(conn: &Connection, reference: &str) -> Result<Option<String>, RuntimeError> {
    conn.execute_batch(SCHEMA).map_err(RuntimeError::sql)?;
    conn.query_row(
        "SELECT hash FROM _bpl_seeds WHERE reference = ?1",
        [reference],
        |r| r.get(0),
    )
    .optional()
    .map_err(RuntimeError::sql)
}

/// The version a run records for a reference loaded from a seed:
/// `sha256:` and the first 12 digits of its content hash. `None` for a
/// reference that is not a loaded seed.
pub fn version(conn: &Connection, reference: &str) -> Result<Option<String>, RuntimeError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_bpl_seeds')",
            [],
            |r| r.get(0),
        )
        .map_err(RuntimeError::sql)?;
    if !exists {
        return Ok(None);
    }
    Ok(loaded_hash(conn, reference)?.map(|h| format!("sha256:{}", &h[..h.len().min(12)])))
}

/// Loads a seed reference's file if its content changed since last loaded.
pub fn load(root: &Path, conn: &Connection, d: &Decl) -> Result<SeedReport, RuntimeError> {
    let path = d.access.seed.as_deref().expect("a seed reference");
    let bytes = std::fs::read(root.join(path)).map_err(|e| {
        error(
            format!("the seed `{path}` of `{}` cannot be read: {e}", d.name),
            "seeds are files of the project, relative to its root; check the path".into(),
        )
    })?;
    let hash = format!("{:x}", sha2::Sha256::digest(&bytes));
    let previous = loaded_hash(conn, &d.name)?;
    let mut report = SeedReport {
        reference: d.name.clone(),
        path: path.to_string(),
        hash: hash.clone(),
        outcome: "unchanged",
        rows: 0,
        previous: None,
    };
    if previous.as_deref() == Some(hash.as_str()) {
        report.rows = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", table_ref(&d.table)),
                [],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        return Ok(report);
    }
    let rows = parse(path, &bytes, d)?;
    let taken: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)",
            [&d.table],
            |r| r.get(0),
        )
        .map_err(RuntimeError::sql)?;
    if taken && previous.is_none() {
        return Err(error(
            format!(
                "the seed `{path}` of `{}` would replace the table `{}`, which bplc did not load from it",
                d.name, d.table
            ),
            format!("name another table for the seed (`table \"{}_seed\"`), or drop the existing one", d.table),
        ));
    }
    let tx = conn.unchecked_transaction().map_err(RuntimeError::sql)?;
    let t = table_ref(&d.table);
    let names: Vec<String> = d.columns.iter().map(|c| ident(&c.name)).collect();
    tx.execute_batch(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({});",
        d.columns
            .iter()
            .map(|c| format!(
                "{} {}",
                ident(&c.name),
                crate::runtime::engine::sqlite::dialect::sqlite_type(&c.ty.t)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .map_err(RuntimeError::sql)?;
    {
        let marks: Vec<String> = (1..=names.len()).map(|k| format!("?{k}")).collect();
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {t} ({}) VALUES ({})",
                names.join(", "),
                marks.join(", ")
            ))
            .map_err(RuntimeError::sql)?;
        for row in &rows {
            insert
                .execute(rusqlite::params_from_iter(row.iter()))
                .map_err(RuntimeError::sql)?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO _bpl_seeds (reference, path, hash, rows, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![d.name, path, hash, rows.len() as i64, crate::runtime::now()],
    )
    .map_err(RuntimeError::sql)?;
    tx.commit().map_err(RuntimeError::sql)?;
    report.outcome = if previous.is_some() {
        "changed"
    } else {
        "loaded"
    };
    report.rows = rows.len() as i64;
    report.previous = previous;
    Ok(report)
}

/// The seed's rows, each value of its declared type.
fn parse(path: &str, bytes: &[u8], d: &Decl) -> Result<Vec<Vec<Value>>, RuntimeError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            error(
                format!("the seed `{path}` is not CSV: {e}"),
                "save it as UTF-8 CSV with a header".into(),
            )
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut at = Vec::new();
    for c in &d.columns {
        match header.iter().position(|h| *h == c.name) {
            Some(k) => at.push(k),
            None => {
                return Err(error(
                    format!("the seed `{path}` of `{}` has no column `{}`", d.name, c.name),
                    format!("add a `{}` column to the seed's header, or declare the reference as the seed holds it", c.name),
                ))
            }
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            error(
                format!("the seed `{path}` is not CSV: {e}"),
                "save it as UTF-8 CSV with a header".into(),
            )
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(error(
                format!(
                    "line {line} of the seed `{path}` has {} field(s), its header {}",
                    record.len(),
                    header.len()
                ),
                "every line of a seed has one field per column of its header".into(),
            ));
        }
        let mut row = Vec::with_capacity(at.len());
        for (c, &k) in d.columns.iter().zip(&at) {
            let text = &record[k];
            let value = if text.is_empty() {
                (c.ty.nullable).then_some(Value::Null)
            } else {
                typed(&c.ty.t, text)
            };
            match value {
                Some(v) => row.push(v),
                None => {
                    return Err(error(
                        format!(
                            "line {line} of the seed `{path}`: {}: {text:?} is not a valid {}{}",
                            c.name,
                            c.ty.t,
                            if text.is_empty() {
                                " (and the column may not be null)"
                            } else {
                                ""
                            }
                        ),
                        "a seed is part of the project: fix the value in the file".into(),
                    ))
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn typed(t: &T, text: &str) -> Option<Value> {
    match (crate::sql::boundary::kind_name(t), t) {
        ("enum", T::Enum(variants)) => variants
            .iter()
            .any(|v| v == text)
            .then(|| Value::Text(text.to_string())),
        ("enum" | "any", _) => Some(Value::Text(text.to_string())),
        (kind, _) => crate::runtime::engine::sqlite::functions::convert(
            ValueRef::Text(text.as_bytes()),
            kind,
        ),
    }
}

/// A run's pinned seed bindings hold the pinned content: the hash of the
/// loaded seed starts with the pinned version.
pub fn check_pin(
    conn: &Connection,
    d: &Decl,
    pinned: &str,
    alias: &str,
) -> Result<(), RuntimeError> {
    let hash = loaded_hash(conn, &d.name)?.unwrap_or_default();
    if !pinned.is_empty() && hash.starts_with(pinned) {
        return Ok(());
    }
    Err(RuntimeError::Coded {
        code: codes::E0318,
        message: format!(
            "`{alias}` pins the seed `{}` at \"{pinned}\", but the seed `{}` is now version {}",
            d.name,
            d.access.seed.as_deref().unwrap_or_default(),
            &hash[..hash.len().min(12)]
        ),
        help: format!(
            "restore the seed's pinned content, or pin the new version (`pinned \"{}\"`) after planning its impact with `bplc plan-backfill --from {}`",
            &hash[..hash.len().min(12)],
            d.name
        ),
    })
}
