//! The project identity a Spark database carries: a `_bpl_project` table
//! of `key` and `value`, as a SQLite warehouse carries it (see
//! `runtime::identity` for what the runtime decides from it).

use super::client::{literal, not_found, Session};
use crate::runtime::engine::{Identity, Value};
use crate::runtime::RuntimeError;

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _bpl_project (key STRING, value STRING) USING parquet";

/// The identity of the project's database, read without writing anything;
/// `None` where it carries none or the server cannot be reached.
pub fn peek(url_env: &str, database: &str, retry_seconds: Option<u64>) -> Option<Identity> {
    let mut session = super::client::connect(url_env, database, retry_seconds).ok()?;
    read(&mut session).ok().flatten()
}

/// Every `key`, `value` pair; none where the table is not there.
fn pairs(session: &mut Session) -> Result<Vec<(String, String)>, RuntimeError> {
    match session.query("SELECT key, value FROM _bpl_project") {
        Ok(rows) => Ok(rows
            .into_iter()
            .filter_map(|r| match (r.first(), r.get(1)) {
                (Some(Value::Text(k)), Some(Value::Text(v))) => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect()),
        Err(e) if not_found(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn identity_of(pairs: &[(String, String)]) -> Option<Identity> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    Some(Identity {
        id: get("project_id")?,
        name: get("project_name")?,
    })
}

/// The identity the database carries, if any.
pub fn read(session: &mut Session) -> Result<Option<Identity>, RuntimeError> {
    Ok(identity_of(&pairs(session)?))
}

/// Rewrites the table with these pairs (one statement).
fn write(session: &mut Session, pairs: &[(String, String)]) -> Result<(), RuntimeError> {
    session.run(TABLE)?;
    let rows: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "({}, {})",
                literal(&Value::Text(k.clone())),
                literal(&Value::Text(v.clone()))
            )
        })
        .collect();
    session.run(&format!(
        "INSERT OVERWRITE TABLE _bpl_project VALUES {}",
        rows.join(", ")
    ))
}

/// Writes `identity` into a database that has none; returns the one it
/// has.
pub fn claim(session: &mut Session, identity: &Identity) -> Result<Identity, RuntimeError> {
    let found = pairs(session)?;
    if let Some(id) = identity_of(&found) {
        return Ok(id);
    }
    write(
        session,
        &[
            ("project_id".into(), identity.id.clone()),
            ("project_name".into(), identity.name.clone()),
            ("created_at".into(), crate::runtime::now()),
        ],
    )?;
    Ok(identity.clone())
}

pub fn rename(session: &mut Session, name: &str) -> Result<(), RuntimeError> {
    let mut found = pairs(session)?;
    for (k, v) in found.iter_mut() {
        if k == "project_name" {
            *v = name.to_string();
        }
    }
    write(session, &found)
}

/// The highest run number the database holds a commit marker or a shadow
/// version of (0 for none).
pub fn highest_run(session: &mut Session) -> Result<i64, RuntimeError> {
    let rows = session.query(
        "SELECT CAST(coalesce(max(n), 0) AS BIGINT) FROM (
           SELECT CAST(substr(run_id, 5) AS BIGINT) AS n FROM _bpl_commits
             WHERE run_id RLIKE '^run-[0-9]{1,18}$'
           UNION ALL
           SELECT CAST(substr(run_id, 5) AS BIGINT) FROM _bpl_shadow
             WHERE run_id RLIKE '^run-[0-9]{1,18}$') AS runs",
    )?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Value::Integer(n)) => *n,
        _ => 0,
    })
}
