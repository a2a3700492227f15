//! The ledger in a schema of a PostgreSQL database (`ledger = "postgres"`),
//! the same database as the warehouse or another. Every write transaction
//! first takes a transaction-scoped advisory lock keyed by the schema, so
//! writers of one ledger take turns as SQLite's `BEGIN IMMEDIATE` makes
//! them: two `bplc` processes on two machines never both find a partition
//! free and lease it. The lock ends with the transaction (commit, rollback
//! or a dropped connection), so a crashed process never leaves it held.
//! The schema version is a row of `_bpl_ledger`.

use std::cell::RefCell;

use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls};

use super::store::{Store, Val};
use crate::diagnostic::codes;
use crate::runtime::engine::postgres::client::query_error as engine_query_error;
use crate::runtime::engine::postgres::identity as pg_identity;
use crate::runtime::engine::Identity;
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

/// Migrations, numbered as SQLite's: the same tables in PostgreSQL's
/// types, with an `id` giving quarantined rows their order.
const MIGRATIONS: &[&str] = &[
    // 1: runs, transitions, leases, quarantine; the version row
    "CREATE TABLE _bpl_ledger (version bigint NOT NULL);
     INSERT INTO _bpl_ledger VALUES (0);
     CREATE TABLE runs (
        run_id text PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        dataset text NOT NULL,
        status text NOT NULL,
        manifest text NOT NULL
     );
     CREATE INDEX runs_dataset ON runs (dataset, seq);
     CREATE TABLE transitions (
        run_id text NOT NULL REFERENCES runs (run_id),
        seq bigint NOT NULL,
        status text NOT NULL,
        at text NOT NULL,
        detail text,
        PRIMARY KEY (run_id, seq)
     );
     CREATE TABLE leases (
        dataset text NOT NULL,
        partition text NOT NULL,
        run_id text NOT NULL,
        PRIMARY KEY (dataset, partition)
     );
     CREATE TABLE quarantine (
        id bigserial PRIMARY KEY,
        run_id text NOT NULL,
        dataset text NOT NULL,
        partition text NOT NULL,
        rule text NOT NULL,
        reason text NOT NULL,
        record text NOT NULL
     );
     CREATE INDEX quarantine_run ON quarantine (run_id);",
    // 2: backfills and the runs each made
    "CREATE TABLE backfills (
        backfill_id text PRIMARY KEY,
        spec text NOT NULL,
        status text NOT NULL,
        report text,
        created_at text NOT NULL,
        updated_at text NOT NULL
     );
     CREATE TABLE backfill_runs (
        backfill_id text NOT NULL REFERENCES backfills (backfill_id),
        dataset text NOT NULL,
        partition text NOT NULL,
        run_id text,
        outcome text NOT NULL,
        at text NOT NULL
     );
     CREATE INDEX backfill_runs_by ON backfill_runs (backfill_id, dataset, partition);",
    // 3: the project's identity, and the run number new run ids continue after
    "CREATE TABLE IF NOT EXISTS _bpl_project (key text PRIMARY KEY, value text NOT NULL);",
    // 4: the ingestion ledger: landing files read (numbered by an
    // identity, as SQLite numbers them by their row id) and their
    // malformed lines
    "CREATE TABLE ingested_files (
        file_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source text NOT NULL,
        path text NOT NULL,
        size bigint NOT NULL,
        modified text NOT NULL,
        hash text NOT NULL,
        first_seen text NOT NULL,
        ingested_at text NOT NULL,
        rows bigint NOT NULL DEFAULT 0,
        bad_rows bigint NOT NULL DEFAULT 0,
        status text NOT NULL,
        replaces bigint
     );
     CREATE INDEX ingested_files_path ON ingested_files (source, path);
     CREATE TABLE ingest_bad_rows (
        file_id bigint NOT NULL,
        line bigint NOT NULL,
        reason text NOT NULL,
        text text NOT NULL
     );
     CREATE INDEX ingest_bad_rows_file ON ingest_bad_rows (file_id);",
];

/// The advisory lock's first key, `bplc` in ASCII: the second is the
/// schema's hash, so the ledgers of two projects never wait for each other.
const LOCK_CLASS: i32 = 0x62706c63;

pub(crate) struct PostgresStore {
    client: RefCell<Client>,
    url_env: String,
    schema: String,
}

impl PostgresStore {
    /// Connects to the ledger, creating its schema where there is none.
    pub fn open(url_env: &str, schema: &str) -> Result<PostgresStore, RuntimeError> {
        Self::connect(url_env, schema, true)?.ok_or_else(|| {
            refused(
                schema,
                "bplc",
                format!("the ledger's schema `{schema}` was not created"),
            )
        })
    }

    /// Connects to the ledger's server; `create` makes its schema where
    /// there is none (a command that only reads creates nothing).
    pub fn connect(
        url_env: &str,
        schema: &str,
        create: bool,
    ) -> Result<Option<PostgresStore>, RuntimeError> {
        let mut client = connect(url_env)?;
        let store_of = |client| PostgresStore {
            client: RefCell::new(client),
            url_env: url_env.to_string(),
            schema: schema.to_string(),
        };
        let found = client
            .query_opt(
                "SELECT has_schema_privilege(current_user, oid, 'USAGE'),
                        has_schema_privilege(current_user, oid, 'CREATE')
                 FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .map_err(|e| query_error(&e))?;
        let user: String = client
            .query_one("SELECT current_user::text", &[])
            .map_err(|e| query_error(&e))?
            .get(0);
        let store = match found {
            None if !create => return Ok(None),
            None => {
                let store = store_of(client);
                store.create_schema(&user)?;
                store
            }
            Some(row) => {
                let (usage, create): (bool, bool) = (row.get(0), row.get(1));
                if !usage || !create {
                    return Err(refused(
                        schema,
                        &user,
                        format!(
                            "the role `{user}` may not {} the ledger's schema `{schema}`",
                            if usage { "create tables in" } else { "use" }
                        ),
                    ));
                }
                store_of(client)
            }
        };
        let timeout = crate::runtime::lock_timeout().as_millis();
        // The process id in the application name tells an operator (and a
        // test) which bplc process a ledger connection in
        // `pg_stat_activity` belongs to.
        let process = std::process::id();
        store.batch(&format!(
            "SET search_path TO {}; SET lock_timeout = {timeout}; SET application_name = 'bplc ledger {process}'",
            ident(schema)
        ))?;
        Ok(Some(store))
    }

    /// Creates the schema, under the ledger's lock: two processes creating
    /// one ledger at once do not both try.
    fn create_schema(&self, user: &str) -> Result<(), RuntimeError> {
        let mut client = self.client.borrow_mut();
        let created = client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext({})); CREATE SCHEMA IF NOT EXISTS {}; COMMIT",
                crate::sql::types::string(&self.schema),
                ident(&self.schema)
            ));
        if let Err(e) = created {
            let _ = client.batch_execute("ROLLBACK");
            let why = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            return Err(refused(
                &self.schema,
                user,
                format!(
                    "the ledger's schema `{}` does not exist, and the role `{user}` cannot create it: {why}",
                    self.schema
                ),
            ));
        }
        Ok(())
    }
}

/// A connection holding the session advisory lock `what` of the ledger in
/// `schema`, or `None` when another session holds it still after `wait`
/// (zero: not waiting): the lock ends with the connection.
pub fn session_lock(
    url_env: &str,
    schema: &str,
    what: &str,
    wait: std::time::Duration,
) -> Result<Option<Client>, RuntimeError> {
    let mut client = connect(url_env)?;
    let key = format!("{schema} {what}");
    let taken = if wait.is_zero() {
        client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&LOCK_CLASS, &key],
            )
            .map_err(|e| query_error(&e))?
            .get(0)
    } else {
        // The server's `lock_timeout` bounds the wait for an advisory lock
        // as for any other.
        let waited = client
            .batch_execute(&format!("SET lock_timeout = {}", wait.as_millis()))
            .and_then(|()| {
                client.execute(
                    "SELECT pg_advisory_lock($1, hashtext($2))",
                    &[&LOCK_CLASS, &key],
                )
            });
        match waited {
            Ok(_) => true,
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => false,
            Err(e) => return Err(query_error(&e)),
        }
    };
    Ok(taken.then_some(client))
}

/// Opens a connection from the URL in `url_env`: each failure E0366,
/// naming the setting to fix.
fn connect(url_env: &str) -> Result<Client, RuntimeError> {
    let unreachable = |message: String, help: String| RuntimeError::Server {
        code: codes::E0366,
        message,
        help,
    };
    let url = match std::env::var(url_env) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            return Err(unreachable(
                format!("bpl.toml keeps the ledger on PostgreSQL (`ledger = \"postgres\"`), whose connection URL is read from the environment variable `{url_env}`, which is not set"),
                format!("export {url_env}=postgresql://USER@HOST/DATABASE (a password goes in ~/.pgpass or PGPASSWORD, never in bpl.toml); `ledger_url_env` under `[postgres]` in bpl.toml names another variable"),
            ))
        }
    };
    let config: postgres::Config = url.parse().map_err(|e| {
        unreachable(
            format!("`{url_env}`, the ledger's connection URL, is not a PostgreSQL URL: {e}"),
            format!("set {url_env} to a URL like postgresql://USER@HOST:5432/DATABASE"),
        )
    })?;
    config.connect(NoTls).map_err(|e| {
        let detail = e.as_db_error().map_or_else(
            || {
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string())
            },
            |d| d.message().to_string(),
        );
        let refused = e.code().is_some() || e.to_string().contains("password");
        if refused {
            unreachable(
                format!("the ledger's PostgreSQL server refused the connection of `{url_env}`: {detail}"),
                format!("check the user and database in {url_env} and its password (in ~/.pgpass or PGPASSWORD), and that pg_hba.conf lets it connect"),
            )
        } else {
            unreachable(
                format!("cannot reach the ledger's PostgreSQL server (`{url_env}`): {detail}"),
                format!("start the server, or fix the host and port in {url_env}; no run starts without its ledger"),
            )
        }
    })
}

/// A schema the role cannot use or create (E0367).
fn refused(schema: &str, user: &str, message: String) -> RuntimeError {
    RuntimeError::Server {
        code: codes::E0367,
        message,
        help: format!(
            "create it as its owner: `CREATE SCHEMA {s} AUTHORIZATION {u};`, or grant it: `GRANT USAGE, CREATE ON SCHEMA {s} TO {u};`; or name another one with `ledger_schema` under `[postgres]` in bpl.toml",
            s = ident(schema),
            u = ident(user)
        ),
    }
}

/// An error of a ledger statement: a lost connection (E0368) and a
/// missing privilege (E0367) are coded; anything else is the server's
/// message. The engine's classification, with the ledger's codes.
fn query_error(e: &postgres::Error) -> RuntimeError {
    as_ledger(engine_query_error(e))
}

/// The engine's errors (of its classification, and of the identity
/// functions the ledger shares with the warehouse) with the ledger's codes
/// and help.
fn as_ledger(e: RuntimeError) -> RuntimeError {
    match e {
        RuntimeError::Server { code, message, .. } if code == codes::E0364 => {
            RuntimeError::Server {
                code: codes::E0368,
                message: format!("while writing to the ledger, {message}"),
                help: "the ledger keeps every step committed before the loss, and nothing of the one in flight; once the server is back, `bplc recover RUN` settles an unfinished run from durable state".into(),
            }
        }
        RuntimeError::Server { code, message, .. } if code == codes::E0363 => {
            RuntimeError::Server {
                code: codes::E0367,
                message: format!("on the ledger's schema, {message}"),
                help: "grant the role USAGE and CREATE on the ledger's schema, and all privileges on the tables bplc created there (see the book's Engines page)".into(),
            }
        }
        RuntimeError::Engine(m) => RuntimeError::Engine(format!("the ledger: {m}")),
        e => e,
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Val::Int(i) if *ty == Type::TEXT || *ty == Type::VARCHAR => {
                i.to_string().to_sql(ty, out)
            }
            Val::Int(i) => i.to_sql(ty, out),
            Val::Text(t) => t.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Val {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Val, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)? as i64),
            Type::INT2 => Val::Int(i16::from_sql(ty, raw)? as i64),
            Type::BOOL => Val::Int(bool::from_sql(ty, raw)? as i64),
            _ => Val::Text(String::from_utf8_lossy(raw).into_owned()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Val, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Val::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn bound(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Store for PostgresStore {
    fn describe(&self) -> String {
        format!("schema {} of ${}", self.schema, self.url_env)
    }

    fn migrations(&self) -> &'static [&'static str] {
        MIGRATIONS
    }

    fn version(&self) -> Result<i64, RuntimeError> {
        // Before the first migration there is no version table. Looked up
        // in pg_class by a query, not by name (`to_regclass`): the scan sees
        // the statement's snapshot, so a writer that waited for the lock
        // sees the tables another created meanwhile, where a name lookup
        // can answer from the session's cache of names not found.
        let exists = self.query(
            "SELECT count(*) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = '_bpl_ledger'",
            &[Val::Text(self.schema.clone())],
        )?;
        if exists.first().and_then(|r| r.first()) != Some(&Val::Int(1)) {
            return Ok(0);
        }
        let rows = self.query("SELECT version FROM _bpl_ledger", &[])?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Val::int)
            .unwrap_or(0))
    }

    fn set_version(&self, version: i64) -> Result<(), RuntimeError> {
        self.execute("UPDATE _bpl_ledger SET version = $1", &[Val::Int(version)])
            .map(drop)
    }

    fn batch(&self, sql: &str) -> Result<(), RuntimeError> {
        self.client
            .borrow_mut()
            .batch_execute(sql)
            .map_err(|e| query_error(&e))
    }

    fn begin(&self) -> Result<(), RuntimeError> {
        self.batch("BEGIN")?;
        let locked = self.execute(
            &format!("SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext($1))"),
            &[Val::Text(self.schema.clone())],
        );
        if locked.is_err() {
            self.rollback();
        }
        locked.map(drop)
    }

    fn commit(&self) -> Result<(), RuntimeError> {
        self.batch("COMMIT")
    }

    fn rollback(&self) {
        let _ = self.client.borrow_mut().batch_execute("ROLLBACK");
    }

    fn execute(&self, sql: &str, params: &[Val]) -> Result<usize, RuntimeError> {
        self.client
            .borrow_mut()
            .execute(sql, &bound(params))
            .map(|n| n as usize)
            .map_err(|e| query_error(&e))
    }

    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, RuntimeError> {
        let rows = self
            .client
            .borrow_mut()
            .query(sql, &bound(params))
            .map_err(|e| query_error(&e))?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Val>(i).map_err(|e| query_error(&e)))
                    .collect()
            })
            .collect()
    }

    fn insertion_order(&self) -> &'static str {
        "id"
    }

    fn identity(&self) -> Result<Option<Identity>, RuntimeError> {
        pg_identity::read(&mut self.client.borrow_mut()).map_err(as_ledger)
    }

    fn claim_identity(&self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        pg_identity::claim(&mut self.client.borrow_mut(), &self.schema, candidate)
            .map_err(as_ledger)
    }

    fn rename_project(&self, name: &str) -> Result<(), RuntimeError> {
        pg_identity::rename(&mut self.client.borrow_mut(), name).map_err(as_ledger)
    }

    /// A session advisory lock on the ledger's server, on a connection of
    /// its own held while the returned value lives.
    fn exclusive(&self, what: &str) -> Result<Box<dyn Send>, RuntimeError> {
        let wait = crate::runtime::lock_timeout();
        match session_lock(&self.url_env, &self.schema, what, wait)? {
            Some(client) => Ok(Box::new(client)),
            None => Err(RuntimeError::locked(&format!(
                "the {what} lock of the ledger ({}, an advisory lock on its server)",
                self.describe()
            ))),
        }
    }
}
