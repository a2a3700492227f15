//! The PostgreSQL engine (`engine = "postgres"` in bpl.toml): one schema
//! of a database holds the project's sources, references, every dataset's
//! rows (all versions) and the partition pointers, in the same layout as
//! the SQLite engine's file. This folder holds everything
//! PostgreSQL-specific: the connection and its errors ([`client`]), the
//! dialect and the functions it creates in the schema ([`dialect`]), the
//! storage (`storage`), publishing (`publish`), reading durable state
//! (`inspect`), staging (`stage`), the identity ([`identity`]) and the demo data loader
//! ([`load`]).
//!
//! Guarantees: a run's partitions are published in one transaction with
//! the run's commit marker (all or none, durable once the server says
//! COMMIT); readers of the consumer views see a version only once it is
//! committed (PostgreSQL's READ COMMITTED isolation).

pub mod client;
pub mod dialect;
pub mod identity;
mod inspect;
pub mod intake;
pub mod load;
pub mod measured;
mod other_schema;
mod publish;
mod stage;
mod storage;

use postgres::Client;

use super::{
    Drift, Engine, Identity, Inspection, Measured, PartitionRun, Publication, RollbackTarget,
    RunScope, Staged, Value,
};
use crate::plan::JobPlan;
use crate::runtime::diff::Diff;
use crate::runtime::manifest::{Binding, InputLock};
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use client::{inline, query_error, Cell};

pub use dialect::POSTGRES;

/// A job lowered to the PostgreSQL dialect.
pub fn lower(plan: &JobPlan) -> Result<LoweredJob, crate::sql::expr::Unsupported> {
    crate::sql::lower::lower(plan, &POSTGRES)
}

/// bplc's own tables, as on SQLite (see `engine::sqlite`).
const SYSTEM_TABLES: &str = "
CREATE TABLE IF NOT EXISTS _bpl_pointer (
    dataset text NOT NULL, partition text NOT NULL, version bigint NOT NULL,
    run_id text NOT NULL, published_at text NOT NULL,
    PRIMARY KEY (dataset, partition));
CREATE TABLE IF NOT EXISTS _bpl_versions (
    dataset text NOT NULL, partition text NOT NULL, version bigint NOT NULL,
    run_id text NOT NULL, status text NOT NULL, prior_version bigint,
    reason text, summary text, published_at text NOT NULL,
    PRIMARY KEY (dataset, partition, version));
CREATE TABLE IF NOT EXISTS _bpl_commits (
    run_id text PRIMARY KEY, dataset text NOT NULL, committed_at text NOT NULL);
CREATE TABLE IF NOT EXISTS _bpl_staged (
    dataset text NOT NULL, partition text NOT NULL, version bigint NOT NULL,
    run_id text NOT NULL, as_of text NOT NULL,
    PRIMARY KEY (dataset, partition, version));
CREATE TABLE IF NOT EXISTS _bpl_shadow (
    scope text NOT NULL, dataset text NOT NULL, partition text NOT NULL,
    version bigint NOT NULL, run_id text NOT NULL,
    PRIMARY KEY (scope, dataset, partition));
";

/// Settings of every connection: results that depend on neither the
/// server's nor the host's time zone, date style or float output; and
/// memory for a batch's sorts and hashes (a `dedupe` over a whole
/// backfill sorts every row of it), which the server's default of a few
/// megabytes would spill to disk: 256 MB unless the server gives more (at
/// a million rows a batch's dedupe sorts 125 MB, and its insert 90 MB,
/// which 64 MB sorted on disk).
/// Staging keeps a batch's rows in temporary tables: their buffers
/// (`temp_buffers`, settable only before the session's first one) hold
/// them in memory up to 256 MB, where the default 8 MB writes them out.
/// No JIT compilation: the server compiles a statement whose estimated
/// cost passes a threshold, and bplc's statements read session tables
/// without statistics, so their estimates are guesses. At a million rows
/// the guesses chose JIT for a count of three partitions' rows (140 ms
/// compiling a 4 ms statement) and never for the staging statement that
/// does the work; off, a three-day rerun took 0.57 s instead of 0.70 s.
const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET extra_float_digits = 3; SET temp_buffers = '256MB'; SET jit = off; \
     SELECT set_config('work_mem', '262144kB', false) FROM pg_settings \
       WHERE name = 'work_mem' AND CAST(setting AS bigint) < 262144";

pub struct PostgresEngine {
    client: Client,
    /// The project's schema, for its DDL lock ([`schema_lock`]).
    schema: String,
    lowered: Option<(String, LoweredJob)>,
    /// Data tables known to exist (see `next_version`); forgotten whenever
    /// storage is prepared or migrated.
    data_tables: std::collections::HashSet<String>,
    /// The batch staged last, measured with few statements (`prefetch`).
    prefetch: super::prefetch::Prefetch,
}

/// The statement that takes the schema's DDL lock for the rest of the
/// transaction. PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe
/// against a concurrent creator: two sessions can both find a table
/// missing, and the second then fails on the catalog's unique index
/// (`pg_type_typname_nsp_index`). So everything that creates or changes
/// bplc's objects in a schema (the functions and system tables, a
/// dataset's data table, index and view, a migration, the identity table)
/// takes turns on this lock, and checks what exists only once it holds it.
pub(crate) fn schema_lock(schema: &str) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtext({}))",
        crate::sql::types::string(schema)
    )
}

/// Opens a connection to the project's schema with the session settings
/// and bplc's functions and tables in place. Two processes opening one
/// schema at once take turns (an advisory lock), so neither sees the
/// other's half-created functions. A schema set up by this build carries
/// a marker function named for a hash of the setup, so later connections
/// skip creating some sixty functions again (tens of milliseconds each
/// time `bplc` starts).
pub(crate) fn open_schema(url_env: &str, schema: &str) -> Result<Client, RuntimeError> {
    use sha2::{Digest, Sha256};
    let mut client = client::connect(url_env, schema)?;
    // The process id tells one `bplc`'s connections from another's in
    // `pg_stat_activity` (as the ledger's `bplc ledger PID`).
    let session = format!(
        "{SESSION}; SET application_name = 'bplc {}'",
        std::process::id()
    );
    client
        .batch_execute(&session)
        .map_err(|e| query_error(&e))?;
    let setup = format!(
        "{} {} {} {}",
        dialect::FUNCTIONS,
        dialect::TYPED,
        crate::sql::checksum::POSTGRES_CANON,
        SYSTEM_TABLES
    );
    let marker: String = Sha256::digest(setup.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let marker = format!("_bpl_setup_{marker}");
    let done: bool = client
        .query_one(
            &format!("SELECT to_regprocedure('{marker}()') IS NOT NULL"),
            &[],
        )
        .map_err(|e| query_error(&e))?
        .get(0);
    if done {
        return Ok(client);
    }
    let setup = format!(
        "BEGIN; {}; {setup} \
         CREATE OR REPLACE FUNCTION {marker}() RETURNS void LANGUAGE sql AS ''; COMMIT;",
        schema_lock(schema),
    );
    if let Err(e) = client.batch_execute(&setup) {
        let _ = client.batch_execute("ROLLBACK");
        return Err(query_error(&e));
    }
    Ok(client)
}

impl PostgresEngine {
    pub fn open(url_env: &str, schema: &str) -> Result<PostgresEngine, RuntimeError> {
        Ok(PostgresEngine {
            client: open_schema(url_env, schema)?,
            schema: schema.to_string(),
            lowered: None,
            data_tables: Default::default(),
            prefetch: Default::default(),
        })
    }

    fn lowered(&mut self, plan: &JobPlan) -> Result<LoweredJob, RuntimeError> {
        if let Some((name, l)) = &self.lowered {
            if *name == plan.dataset {
                return Ok(l.clone());
            }
        }
        let l = super::postgres::lower(plan).map_err(|u| RuntimeError::Unsupported(u.0))?;
        self.lowered = Some((plan.dataset.clone(), l.clone()));
        Ok(l)
    }

    /// Every row of a statement, each as its values.
    fn rows(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Vec<Vec<Value>>, RuntimeError> {
        let sql = inline(sql, values);
        tracing::debug!(sql, "query");
        // Values are written in: sent unprepared, one round trip (a
        // prepared statement costs two more: prepare, then close).
        let rows = self
            .client
            .query_typed(&sql, &[])
            .map_err(|e| query_error(&e))?;
        Ok(rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<_, Cell>(i).0)
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// The first row of a statement, if any.
    fn row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        Ok(self.rows(sql, values)?.into_iter().next())
    }

    fn execute(&mut self, sql: &str, values: &[(String, Value)]) -> Result<u64, RuntimeError> {
        let sql = inline(sql, values);
        tracing::debug!(sql, "execute");
        // One round trip (the simple protocol), the rows it changed from
        // its command tag.
        let done = self
            .client
            .simple_query(&sql)
            .map_err(|e| query_error(&e))?;
        Ok(done
            .iter()
            .rev()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Statements separated by `;`, in one round trip.
    fn batch(&mut self, sql: &str) -> Result<(), RuntimeError> {
        tracing::debug!(sql, "batch");
        self.client.batch_execute(sql).map_err(|e| query_error(&e))
    }

    /// Runs `f` in a transaction holding the schema's DDL lock
    /// ([`schema_lock`]).
    fn schema_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut PostgresEngine) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let lock = schema_lock(&self.schema);
        self.transaction(|e| {
            e.batch(&lock)?;
            f(e)
        })
    }

    /// Runs `f` in a transaction: committed when it succeeds, rolled back
    /// when it fails.
    fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut PostgresEngine) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        self.batch("BEGIN")?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

fn text(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}

fn int(v: i64) -> Value {
    Value::Integer(v)
}

/// `:name`-value pairs.
fn named(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

/// A batch's measuring statements, fetched ahead (`engine::prefetch`).
impl super::prefetch::Prefetching for PostgresEngine {
    const CHUNK: usize = 100;

    fn inline(sql: &str, values: &[(String, Value)]) -> String {
        inline(sql, values)
    }

    fn rows_inlined(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.rows(sql, &[])
    }

    /// Read as every first row is (`row`).
    fn first_row_inlined(&mut self, sql: &str) -> Result<Option<Vec<Value>>, RuntimeError> {
        self.row(sql, &[])
    }

    fn prefetch(&mut self) -> &mut super::prefetch::Prefetch {
        &mut self.prefetch
    }
}

/// Every part of the trait is written in the submodule named for it.
impl Engine for PostgresEngine {
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        self.data_tables.clear();
        PostgresEngine::prepare(self, plan)
    }

    fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        self.data_tables.clear();
        PostgresEngine::prepare_storage(self, plan)
    }

    fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError> {
        self.data_tables.clear();
        PostgresEngine::migrate(self, plan)
    }

    fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError> {
        super::reads::lock_inputs(self, plan, &POSTGRES, overlay, "DESC")
    }

    fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        PostgresEngine::bindings(self, plan, run, parts)
    }

    fn next_version(&mut self, plan: &JobPlan, partition: &str) -> Result<i64, RuntimeError> {
        PostgresEngine::next_version(self, plan, partition)
    }

    fn next_versions(
        &mut self,
        plan: &JobPlan,
        partitions: &[&str],
    ) -> Result<Vec<i64>, RuntimeError> {
        PostgresEngine::next_versions(self, plan, partitions)
    }

    fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        PostgresEngine::stage(self, plan, run, parts)
    }

    fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        let l = self.lowered(plan)?;
        super::prefetch::measure(self, plan, &l, run, part, staged)
    }

    fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        PostgresEngine::publish(self, plan, run_id, what)
    }

    fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        PostgresEngine::discard(self, plan, run_id)
    }

    fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        PostgresEngine::discard_partitions(self, plan, run_id, partitions)
    }

    fn inspect(&mut self, plan: &JobPlan, run_id: &str) -> Result<Inspection, RuntimeError> {
        PostgresEngine::inspect(self, plan, run_id)
    }

    fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError> {
        super::reads::diff(self, plan, &POSTGRES, partition, from, to)
    }

    fn dimension_values(&mut self, plan: &JobPlan, key: &str) -> Result<Vec<String>, RuntimeError> {
        super::reads::dimension_values(self, plan, &POSTGRES, key)
    }

    fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        PostgresEngine::drop_shadow(self, plan, scope)
    }

    fn clear_shadows(&mut self, plan: &JobPlan, partitions: &[String]) -> Result<(), RuntimeError> {
        PostgresEngine::clear_shadows(self, plan, partitions)
    }

    fn versions(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        scope: Option<&str>,
    ) -> Result<(Option<i64>, Option<i64>), RuntimeError> {
        super::reads::versions(self, plan, partition, scope)
    }

    fn rollback_target(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
    ) -> Result<RollbackTarget, RuntimeError> {
        super::reads::rollback_target(self, plan, partition, to)
    }

    fn move_pointer(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
        writer: &str,
        run_id: &str,
    ) -> Result<(), RuntimeError> {
        PostgresEngine::move_pointer(self, plan, partition, to, writer, run_id)
    }

    fn identity(&mut self) -> Result<Option<Identity>, RuntimeError> {
        identity::read(&mut self.client)
    }

    fn claim_identity(&mut self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        identity::claim(&mut self.client, &self.schema, candidate)
    }

    fn rename_project(&mut self, name: &str) -> Result<(), RuntimeError> {
        identity::rename(&mut self.client, name)
    }

    fn highest_run(&mut self) -> Result<i64, RuntimeError> {
        identity::highest_run(&mut self.client)
    }
}
