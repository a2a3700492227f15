//! Seeds: small references kept in the project as CSV files
//! (`seed "seeds/regions.csv"`, with the CSV options of a landing folder:
//! `delimiter ";" quote "'" null "NA" encoding "latin1" no header`), read
//! by the same reader as landing files. A seed's version is its content hash
//! (SHA-256). `bplc seed`, and a run that binds a seed, load each seed
//! whose hash differs from the one loaded last: the reference's table is
//! replaced by the file's rows and the hash recorded with it in the
//! warehouse (`_bpl_seeds`), in one transaction. Values are brought to
//! their declared types as they are loaded; a seed is part of the project,
//! so a value that is not of its type is an error (E0317), never a bad row.
//! A binding `pinned "3f2a9c1b"` on a seed without a version column pins
//! its content: a run refuses a seed whose hash does not start so (E0318).

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::Digest;

use crate::diagnostic::codes;
use crate::runtime::engine::intake::{Intake, SeedLoad};
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;
use crate::semantic::hir::Decl;
use crate::semantic::T;

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
    let hash: Option<String> = conn
        .query_row(
            "SELECT hash FROM _bpl_seeds WHERE reference = ?1",
            [reference],
            |r| r.get(0),
        )
        .optional()
        .map_err(RuntimeError::sql)?;
    Ok(hash.map(|h| format!("sha256:{}", &h[..h.len().min(12)])))
}

/// The version each seed's file in the project holds now, as runs record
/// it (`sha256:` and 12 digits): what `status` compares with the versions
/// runs read. A seed that cannot be read is left out (loading it says why).
pub fn versions_now(root: &Path, program: &crate::semantic::hir::Program) -> Vec<(String, String)> {
    program
        .decls
        .iter()
        .filter_map(|d| {
            let bytes = std::fs::read(root.join(d.access.seed.as_deref()?)).ok()?;
            let hash = format!("{:x}", sha2::Sha256::digest(&bytes));
            Some((d.name.clone(), format!("sha256:{}", &hash[..12])))
        })
        .collect()
}

/// Loads a seed reference's file if its content changed since last loaded.
pub fn load(root: &Path, w: &mut dyn Intake, d: &Decl) -> Result<SeedReport, RuntimeError> {
    let path = d.access.seed.as_deref().expect("a seed reference");
    if let Some((other, _)) = d.table.split_once('.') {
        return Err(error(
            format!(
                "the seed `{path}` of `{}` would be loaded into `{}`, a table of `{other}`, which bplc reads and never writes",
                d.name, d.table
            ),
            "remove the `table` clause, or name a table of the warehouse's own: a seed is loaded there".into(),
        ));
    }
    let bytes = std::fs::read(root.join(path)).map_err(|e| {
        error(
            format!("the seed `{path}` of `{}` cannot be read: {e}", d.name),
            "seeds are files of the project, relative to its root; check the path".into(),
        )
    })?;
    let hash = format!("{:x}", sha2::Sha256::digest(&bytes));
    let previous = w.seed_hash(&d.name)?;
    let mut report = SeedReport {
        reference: d.name.clone(),
        path: path.to_string(),
        hash: hash.clone(),
        outcome: "unchanged",
        rows: 0,
        previous: None,
    };
    if previous.as_deref() == Some(hash.as_str()) {
        report.rows = w.count(&d.table)?;
        return Ok(report);
    }
    let rows = parse(path, &bytes, d)?;
    let taken = !w.columns(&d.table)?.is_empty();
    if taken && previous.is_none() {
        return Err(error(
            format!(
                "the seed `{path}` of `{}` would replace the table `{}`, which bplc did not load from it",
                d.name, d.table
            ),
            format!("name another table for the seed (`table \"{}_seed\"`), or drop the existing one", d.table),
        ));
    }
    let columns: Vec<(String, T)> = d
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.t.clone()))
        .collect();
    w.replace_seed(
        &SeedLoad {
            reference: &d.name,
            table: &d.table,
            columns: &columns,
            path,
            hash: &hash,
            loaded_at: &crate::runtime::now(),
        },
        &rows,
    )?;
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
    use crate::ingest::read::{self, ReadError};
    let default = crate::semantic::hir::FileFormat::Csv {
        delimiter: b',',
        quote: b'"',
        null: String::new(),
        latin1: false,
        header: true,
    };
    let format = d.access.seed_format.as_ref().unwrap_or(&default);
    let columns: Vec<crate::plan::Column> = d
        .columns
        .iter()
        .map(|c| crate::plan::Column {
            name: c.name.clone(),
            ty: c.ty.t.clone(),
            nullable: c.ty.nullable,
        })
        .collect();
    let fix = || "a seed is part of the project: fix the line in the file".to_string();
    let mut rows = Vec::new();
    let mut each = |line: read::Line| {
        if let Some(b) = line.bad {
            return Err(error(
                format!("line {} of the seed `{path}`: {}", b.line, b.reason),
                fix(),
            ));
        }
        let mut row = Vec::with_capacity(columns.len());
        for (c, v) in d.columns.iter().zip(line.values) {
            let text = match v {
                rusqlite::types::Value::Text(t) => Some(t),
                _ => None,
            };
            let value = match &text {
                None => c.ty.nullable.then_some(Value::Null),
                Some(t) => typed(&c.ty.t, t),
            };
            let Some(value) = value else {
                return Err(error(
                    format!(
                        "line {} of the seed `{path}`: {}: {} is not a valid {}{}",
                        line.number,
                        c.name,
                        text.as_deref()
                            .map_or("null".to_string(), |t| format!("{t:?}")),
                        c.ty.t,
                        if text.is_none() {
                            " (and the column may not be null)"
                        } else {
                            ""
                        }
                    ),
                    fix(),
                ));
            };
            row.push(value);
        }
        rows.push(row);
        Ok(())
    };
    read::text(bytes, format, &columns, &mut each).map_err(|e| match e {
        ReadError::Stopped(e) => e,
        ReadError::Missing { column, .. } => error(
            format!("the seed `{path}` of `{}` has no column `{column}`", d.name),
            format!("add a `{column}` column to the seed's header, or declare the reference as the seed holds it"),
        ),
        ReadError::Mistyped { column, .. } => error(
            format!("the seed `{path}` holds `{column}` in another type than declared"),
            fix(),
        ),
        ReadError::Io(e) => error(
            format!("the seed `{path}` is not CSV: {e}"),
            "save it as CSV, in the options its `seed` clause states (`delimiter`, `quote`, `null`, `encoding`, `no header`)".into(),
        ),
    })?;
    Ok(rows)
}

fn typed(t: &T, text: &str) -> Option<Value> {
    use rusqlite::types::Value as V;
    match (crate::sql::boundary::kind_name(t), t) {
        ("enum", T::Enum(variants)) => variants
            .iter()
            .any(|v| v == text)
            .then(|| Value::Text(text.to_string())),
        ("enum" | "any", _) => Some(Value::Text(text.to_string())),
        (kind, _) => crate::runtime::engine::sqlite::functions::convert(
            ValueRef::Text(text.as_bytes()),
            kind,
        )
        .map(|v| match v {
            V::Null => Value::Null,
            V::Integer(i) => Value::Integer(i),
            V::Real(f) => Value::Real(f),
            V::Text(t) => Value::Text(t),
            V::Blob(b) => Value::Blob(b),
        }),
    }
}

/// A run's pinned seed bindings hold the pinned content: the hash of the
/// loaded seed starts with the pinned version.
pub fn check_pin(
    w: &mut dyn Intake,
    d: &Decl,
    pinned: &str,
    alias: &str,
) -> Result<(), RuntimeError> {
    let hash = w.seed_hash(&d.name)?.unwrap_or_default();
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
