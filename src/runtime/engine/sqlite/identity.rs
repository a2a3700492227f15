//! The project identity a SQLite warehouse or ledger carries: a
//! `_bpl_project` table of `project_id` and `project_name` (see
//! `runtime::identity` for what the runtime decides from it).

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::runtime::engine::Identity;
use crate::runtime::RuntimeError;

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _bpl_project (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// The identity of the file at `path`, read without writing anything.
pub fn peek(path: &Path) -> Option<Identity> {
    if !path.is_file() {
        return None;
    }
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()
        .and_then(|c| read(&c).ok().flatten())
}

/// The identity a file carries, if any.
pub fn read(conn: &Connection) -> Result<Option<Identity>, rusqlite::Error> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_bpl_project')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    let get = |key: &str| -> Result<Option<String>, rusqlite::Error> {
        conn.query_row(
            "SELECT value FROM _bpl_project WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()
    };
    Ok(match (get("project_id")?, get("project_name")?) {
        (Some(id), Some(name)) => Some(Identity { id, name }),
        _ => None,
    })
}

/// Writes `identity` into a file that has none; returns the one it has.
pub fn claim(conn: &Connection, identity: &Identity) -> Result<Identity, rusqlite::Error> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    tx.execute_batch(TABLE)?;
    if let Some(found) = read(&tx)? {
        tx.commit()?;
        return Ok(found);
    }
    for (key, value) in [
        ("project_id", identity.id.as_str()),
        ("project_name", identity.name.as_str()),
        ("created_at", crate::runtime::now().as_str()),
    ] {
        tx.execute(
            "INSERT INTO _bpl_project (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
    }
    tx.commit()?;
    Ok(identity.clone())
}

pub fn rename(conn: &Connection, name: &str) -> Result<(), rusqlite::Error> {
    conn.execute(
        "UPDATE _bpl_project SET value = ?1 WHERE key = 'project_name'",
        params![name],
    )
    .map(drop)
}

/// The highest run number the warehouse holds a commit marker or a shadow
/// version of (0 for none).
pub fn highest_run(conn: &Connection) -> Result<i64, RuntimeError> {
    conn.query_row(
        "SELECT coalesce(max(n), 0) FROM (
           SELECT CAST(substr(run_id, 5) AS INTEGER) AS n FROM _bpl_commits WHERE run_id LIKE 'run-%'
           UNION ALL
           SELECT CAST(substr(run_id, 5) AS INTEGER) FROM _bpl_shadow WHERE run_id LIKE 'run-%')",
        [],
        |r| r.get(0),
    )
    .map_err(RuntimeError::sql)
}
