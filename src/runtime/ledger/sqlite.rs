//! The ledger in its own SQLite file. Writers take SQLite's write lock
//! at once (`BEGIN IMMEDIATE`), so a write transaction reads nothing
//! another process changes before it commits; the version is SQLite's
//! `user_version`.

use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use super::store::{Store, Val};
use crate::runtime::engine::sqlite::identity as sqlite_identity;
use crate::runtime::engine::Identity;
use crate::runtime::RuntimeError;

/// Migrations, in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: runs, transitions, leases, quarantine
    "CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        dataset TEXT NOT NULL,
        status TEXT NOT NULL,
        manifest TEXT NOT NULL
     );
     CREATE INDEX runs_dataset ON runs (dataset, seq);
     CREATE TABLE transitions (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (run_id, seq)
     );
     CREATE TABLE leases (
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (dataset, partition)
     );
     CREATE TABLE quarantine (
        run_id TEXT NOT NULL,
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        record TEXT NOT NULL
     );
     CREATE INDEX quarantine_run ON quarantine (run_id);",
    // 2: backfills and the runs each made
    "CREATE TABLE backfills (
        backfill_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        report TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE backfill_runs (
        backfill_id TEXT NOT NULL REFERENCES backfills (backfill_id),
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        run_id TEXT,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL
     );
     CREATE INDEX backfill_runs_by ON backfill_runs (backfill_id, dataset, partition);",
    // 3: the project's identity (see `identity`), and the run number new
    // run ids continue after (`run_floor`)
    "CREATE TABLE IF NOT EXISTS _bpl_project (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // 4: the ingestion ledger (`runtime::ingest_ledger`): landing files
    // read and their malformed lines. A ledger of an earlier bplc may have
    // them already, created outside the migrations.
    "CREATE TABLE IF NOT EXISTS ingested_files (
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
     CREATE INDEX IF NOT EXISTS ingest_bad_rows_file ON ingest_bad_rows (file_id);",
];

pub(crate) struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The open transaction was begun relaxed (see `begin_relaxed`).
    relaxed: std::cell::Cell<bool>,
}

impl SqliteStore {
    /// Back to the connection's `synchronous = FULL` after a relaxed
    /// transaction; outside any transaction, where the setting applies.
    fn durable_again(&self) {
        if self.relaxed.replace(false) {
            let _ = self.conn.execute_batch("PRAGMA synchronous = FULL");
        }
    }
}

impl SqliteStore {
    /// Opens (creating) the file at `path`; its directory must exist.
    pub fn open(path: &Path) -> Result<SqliteStore, RuntimeError> {
        let conn = Connection::open(path).map_err(|e| RuntimeError::ledger(path, e))?;
        crate::runtime::engine::sqlite::apply_settings(&conn)
            .map_err(|e| RuntimeError::ledger(path, e))?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            relaxed: std::cell::Cell::new(false),
        })
    }
}

/// A statement's `$1` parameters as SQLite's `?1`: the same numbered
/// parameter, which `$1` would not be (SQLite reads `$1` as a name).
fn numbered(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for (i, c) in sql.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        }
        let param = !quoted && c == '$' && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        out.push(if param { '?' } else { c });
    }
    out
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

fn read(v: ValueRef<'_>) -> Val {
    match v {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(f) => Val::Text(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn migrations(&self) -> &'static [&'static str] {
        MIGRATIONS
    }

    fn version(&self) -> Result<i64, RuntimeError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    fn set_version(&self, version: i64) -> Result<(), RuntimeError> {
        self.batch(&format!("PRAGMA user_version = {version}"))
    }

    fn batch(&self, sql: &str) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    fn begin(&self) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(RuntimeError::sql)
    }

    /// In WAL mode a commit with `synchronous = NORMAL` is written to the
    /// log but not synced: a crash of the process loses nothing, and a
    /// power cut loses at most the commits since the last synced one. The
    /// log is appended in order, so the next `FULL` commit syncs it too.
    fn begin_relaxed(&self) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(RuntimeError::sql)?;
        self.relaxed.set(true);
        self.begin().inspect_err(|_| self.durable_again())
    }

    fn commit(&self) -> Result<(), RuntimeError> {
        let done = self.conn.execute_batch("COMMIT").map_err(RuntimeError::sql);
        self.durable_again();
        done
    }

    fn rollback(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
        self.durable_again();
    }

    fn execute(&self, sql: &str, params: &[Val]) -> Result<usize, RuntimeError> {
        self.conn
            .prepare_cached(&numbered(sql))
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
            .map_err(RuntimeError::sql)
    }

    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(sql))
            .map_err(RuntimeError::sql)?;
        let n = stmt.column_count();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                (0..n).map(|i| r.get_ref(i).map(read)).collect()
            })
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }

    fn insertion_order(&self) -> &'static str {
        "rowid"
    }

    fn identity(&self) -> Result<Option<Identity>, RuntimeError> {
        sqlite_identity::read(&self.conn).map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    fn claim_identity(&self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        sqlite_identity::claim(&self.conn, candidate)
            .map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    fn rename_project(&self, name: &str) -> Result<(), RuntimeError> {
        sqlite_identity::rename(&self.conn, name).map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    /// An exclusive transaction on the file `<ledger>.<what>.lock` beside
    /// the ledger, which another process waits for; the operating system
    /// ends it with the process.
    fn exclusive(&self, what: &str) -> Result<Box<dyn Send>, RuntimeError> {
        let path = format!("{}.{what}.lock", self.path.display());
        let lock = Connection::open(&path).map_err(RuntimeError::sql)?;
        lock.busy_timeout(crate::runtime::lock_timeout())
            .and_then(|()| lock.execute_batch("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)"))
            .and_then(|()| lock.execute_batch("BEGIN EXCLUSIVE"))
            .map_err(|e| {
                if crate::runtime::gave_up_waiting(&e) {
                    RuntimeError::locked(&format!("the {what} lock `{path}`"))
                } else {
                    RuntimeError::Io(format!("cannot take the {what} lock `{path}`: {e}"))
                }
            })?;
        Ok(Box::new(lock))
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::Store;

    fn synchronous(s: &super::SqliteStore) -> i64 {
        s.conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    /// A relaxed transaction commits with `synchronous = NORMAL` (1), and
    /// the ones after it are durable again (`FULL`, 2), however it ends.
    #[test]
    fn relaxed_commits_do_not_outlast_their_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let s = super::SqliteStore::open(&dir.path().join("ledger.sqlite")).unwrap();
        assert_eq!(synchronous(&s), 2);
        s.begin_relaxed().unwrap();
        assert_eq!(synchronous(&s), 1);
        s.batch("CREATE TABLE t (x)").unwrap();
        s.commit().unwrap();
        assert_eq!(synchronous(&s), 2);
        s.begin_relaxed().unwrap();
        s.rollback();
        assert_eq!(synchronous(&s), 2);
        s.begin().unwrap();
        assert_eq!(synchronous(&s), 2);
        s.commit().unwrap();
    }

    #[test]
    fn numbered_parameters_outside_quotes() {
        assert_eq!(
            super::numbered("SELECT $1, '$2', $10 WHERE a = $2"),
            "SELECT ?1, '$2', ?10 WHERE a = ?2"
        );
    }
}
