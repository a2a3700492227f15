//! The project identity a PostgreSQL schema carries: a `_bpl_project`
//! table of `key` and `value`, as a SQLite warehouse carries it (see
//! `runtime::identity` for what the runtime decides from it).

use postgres::Client;

use super::client::query_error;
use crate::runtime::engine::Identity;
use crate::runtime::RuntimeError;

const TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _bpl_project (key text PRIMARY KEY, value text NOT NULL)";

/// The identity of the project's schema, read without writing anything;
/// `None` where it carries none or the server cannot be reached.
pub fn peek(url_env: &str, schema: &str) -> Option<Identity> {
    let mut client = super::client::connect(url_env, schema).ok()?;
    read(&mut client).ok().flatten()
}

/// The identity the schema carries, if any.
pub fn read(client: &mut Client) -> Result<Option<Identity>, RuntimeError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('_bpl_project') IS NOT NULL", &[])
        .map_err(|e| query_error(&e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let mut get = |key: &str| -> Result<Option<String>, RuntimeError> {
        Ok(client
            .query_opt("SELECT value FROM _bpl_project WHERE key = $1", &[&key])
            .map_err(|e| query_error(&e))?
            .map(|r| r.get(0)))
    };
    Ok(match (get("project_id")?, get("project_name")?) {
        (Some(id), Some(name)) => Some(Identity { id, name }),
        _ => None,
    })
}

/// Writes `identity` into a schema that has none; returns the one it has.
/// The schema's DDL lock is taken first (see `schema_lock`): two processes
/// claiming at once neither race to create the table nor write two
/// identities; the second finds the first's.
pub fn claim(
    client: &mut Client,
    schema: &str,
    identity: &Identity,
) -> Result<Identity, RuntimeError> {
    let mut tx = client.transaction().map_err(|e| query_error(&e))?;
    tx.batch_execute(&format!("{}; {TABLE}", super::schema_lock(schema)))
        .map_err(|e| query_error(&e))?;
    let found = tx
        .query(
            "SELECT key, value FROM _bpl_project WHERE key IN ('project_id', 'project_name')",
            &[],
        )
        .map_err(|e| query_error(&e))?;
    let get = |k: &str| {
        found
            .iter()
            .find(|r| r.get::<_, String>(0) == k)
            .map(|r| r.get::<_, String>(1))
    };
    if let (Some(id), Some(name)) = (get("project_id"), get("project_name")) {
        tx.commit().map_err(|e| query_error(&e))?;
        return Ok(Identity { id, name });
    }
    let now = crate::runtime::now();
    for (key, value) in [
        ("project_id", identity.id.as_str()),
        ("project_name", identity.name.as_str()),
        ("created_at", now.as_str()),
    ] {
        tx.execute(
            "INSERT INTO _bpl_project (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .map_err(|e| query_error(&e))?;
    }
    tx.commit().map_err(|e| query_error(&e))?;
    Ok(identity.clone())
}

pub fn rename(client: &mut Client, name: &str) -> Result<(), RuntimeError> {
    client
        .execute(
            "UPDATE _bpl_project SET value = $1 WHERE key = 'project_name'",
            &[&name],
        )
        .map(drop)
        .map_err(|e| query_error(&e))
}

/// The highest run number the schema holds a commit marker or a shadow
/// version of (0 for none).
pub fn highest_run(client: &mut Client) -> Result<i64, RuntimeError> {
    client
        .query_one(
            "SELECT CAST(coalesce(max(n), 0) AS bigint) FROM (
               SELECT CAST(substr(run_id, 5) AS bigint) AS n FROM _bpl_commits
                 WHERE run_id ~ '^run-[0-9]{1,18}$'
               UNION ALL
               SELECT CAST(substr(run_id, 5) AS bigint) FROM _bpl_shadow
                 WHERE run_id ~ '^run-[0-9]{1,18}$') AS runs",
            &[],
        )
        .map(|r| r.get(0))
        .map_err(|e| query_error(&e))
}
