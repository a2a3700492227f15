//! The embedded default engine: one SQLite file holding sources,
//! references, every dataset's rows (all versions) and the partition
//! pointers. This folder holds everything SQLite-specific: the connection
//! and its settings (here), the `bpl_*` functions and the tally the
//! dialect's statements call ([`functions`], [`tally`]), the storage layout
//! ([`layout`]), the dialect ([`dialect`]), and each part of the
//! [`Engine`] trait: inputs and bindings (`inputs`), staging (`stage`),
//! gates (`measure`), publishing (`publish`) and inspection (`inspect`);
//! the write-ahead log's checkpoints run on a thread of their own
//! (`checkpoint`).

mod checkpoint;
pub mod decimal;
pub mod dialect;
pub mod functions;
pub mod identity;
mod inputs;
pub mod inserted;
mod inspect;
pub mod intake;
mod judge;
pub mod layout;
pub mod load;
mod measure;
mod publish;
mod settings;
mod stage;
pub mod tally;

use std::path::Path;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Statement};

use super::{
    Drift, Engine, Identity, Inspection, Measured, PartitionRun, Publication, RollbackTarget,
    RunScope, Staged, Value,
};
use crate::plan::JobPlan;
use crate::runtime::diff::Diff;
use crate::runtime::manifest::{Binding, InputLock};
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use crate::sql::types::ident;

pub use dialect::SQLITE;
pub use settings::{apply_settings, configure_process};

/// A job lowered to the SQLite dialect.
pub fn lower(plan: &JobPlan) -> Result<LoweredJob, crate::sql::expr::Unsupported> {
    crate::sql::lower::lower(plan, &SQLITE)
}

/// Turns off SQLite's memory statistics for this process: with them on,
/// every allocation SQLite makes (one per text value a statement copies)
/// takes a global mutex, a tenth of a large staging statement's time.
/// bplc never reads the statistics. Call it first thing in `main`, before
/// any thread opens a database; once SQLite is initialised the call is
/// refused and changes nothing.
pub fn quiet_sqlite_statistics() {
    // SAFETY: `sqlite3_config` must not race with other SQLite calls; it
    // runs at the start of `main`, before any thread exists, and with
    // SQLITE_CONFIG_MEMSTATUS takes exactly one int argument.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
}

/// The embedded default: a SQLite file holding sources, references, every
/// dataset's rows (all versions) and the partition pointers.
pub struct SqliteEngine {
    /// SQLite's automatic checkpoint, on a thread of its own. Declared
    /// before `conn`, so it stops first and the run's connection is the
    /// last to close (which makes the final checkpoint); `Drop` removes
    /// its hook from `conn` before either goes.
    checkpoints: checkpoint::Checkpointer,
    conn: Connection,
    /// The aliases of the databases attached read-only as sources.
    attached: Vec<String>,
    lowered: Option<(String, LoweredJob)>,
    tally: tally::Tally,
    inserted: inserted::Inserted,
}

impl Drop for SqliteEngine {
    fn drop(&mut self) {
        self.checkpoints.uninstall(&self.conn);
    }
}

/// The diagnostic switch giving SQLite's sorter that many helper threads
/// (`PRAGMA threads`) on the warehouse connection; none by default.
pub const THREADS_VAR: &str = "BPLC_SQLITE_THREADS";

const SYSTEM_TABLES: &str = "
CREATE TABLE IF NOT EXISTS _bpl_pointer (
    dataset TEXT NOT NULL, partition TEXT NOT NULL, version INTEGER NOT NULL,
    run_id TEXT NOT NULL, published_at TEXT NOT NULL,
    PRIMARY KEY (dataset, partition));
CREATE TABLE IF NOT EXISTS _bpl_versions (
    dataset TEXT NOT NULL, partition TEXT NOT NULL, version INTEGER NOT NULL,
    run_id TEXT NOT NULL, status TEXT NOT NULL, prior_version INTEGER,
    reason TEXT, summary TEXT, published_at TEXT NOT NULL,
    PRIMARY KEY (dataset, partition, version));
CREATE TABLE IF NOT EXISTS _bpl_commits (
    run_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, committed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _bpl_staged (
    dataset TEXT NOT NULL, partition TEXT NOT NULL, version INTEGER NOT NULL,
    run_id TEXT NOT NULL, as_of TEXT NOT NULL,
    PRIMARY KEY (dataset, partition, version));
CREATE TABLE IF NOT EXISTS _bpl_shadow (
    scope TEXT NOT NULL, dataset TEXT NOT NULL, partition TEXT NOT NULL,
    version INTEGER NOT NULL, run_id TEXT NOT NULL,
    PRIMARY KEY (scope, dataset, partition));
";

impl SqliteEngine {
    /// Opens the warehouse. The ledger is not attached: quarantined rows
    /// go to the ledger through its own connection, so a commit here never
    /// spans two files and a failed transaction here never blocks the
    /// ledger from recording the failure.
    /// The file must exist (`identity::Stores` checks it first): a run
    /// reads its sources there.
    pub fn open(warehouse: &Path) -> Result<SqliteEngine, RuntimeError> {
        let conn = Connection::open(warehouse).map_err(RuntimeError::sql)?;
        apply_settings(&conn).map_err(RuntimeError::sql)?;
        // SQLite's sorter can sort and merge a large sort's spilled runs
        // on helper threads. Off unless asked (see `THREADS_VAR`): at 1M
        // rows it took no CPU time off a build and added a quarter to its
        // peak memory (each helper sorts in a buffer of its own).
        if let Some(helpers) = std::env::var(THREADS_VAR)
            .ok()
            .and_then(|v| v.parse::<u8>().ok())
        {
            conn.execute_batch(&format!("PRAGMA threads = {}", helpers.min(8)))
                .map_err(RuntimeError::sql)?;
        }
        functions::register(&conn).map_err(RuntimeError::sql)?;
        let interrupt = conn.get_interrupt_handle();
        crate::runtime::cancel::watch(Box::new(move || interrupt.interrupt()));
        let tally = tally::Tally::default();
        tally.register(&conn).map_err(RuntimeError::sql)?;
        let inserted = inserted::Inserted::default();
        inserted.register(&conn).map_err(RuntimeError::sql)?;
        conn.execute_batch(SYSTEM_TABLES)
            .map_err(RuntimeError::sql)?;
        let checkpoints = checkpoint::Checkpointer::install(&conn, warehouse);
        Ok(SqliteEngine {
            checkpoints,
            conn,
            attached: Vec::new(),
            lowered: None,
            tally,
            inserted,
        })
    }

    /// Attaches other SQLite databases, read-only, under their aliases:
    /// sources and references name their tables `alias.table`. SQLite
    /// refuses every write through a read-only attachment, so bplc can
    /// never change a database it only reads.
    pub fn attach(
        &mut self,
        databases: &[(String, std::path::PathBuf)],
    ) -> Result<(), RuntimeError> {
        for (alias, path) in databases {
            let missing = |problem: String| RuntimeError::Attachment {
                alias: alias.clone(),
                path: Some(path.display().to_string()),
                problem,
            };
            if !path.is_file() {
                return Err(missing(format!(
                    "the database attached as `{alias}`, `{}`, does not exist",
                    path.display()
                )));
            }
            let absolute = std::fs::canonicalize(path).map_err(|e| missing(e.to_string()))?;
            // A URI, so the attachment can be read-only; `%`, `?` and `#`
            // would otherwise end the path.
            let uri = format!(
                "file:{}?mode=ro",
                absolute
                    .to_string_lossy()
                    .replace('%', "%25")
                    .replace('?', "%3f")
                    .replace('#', "%23")
            );
            self.conn
                .execute(&format!("ATTACH DATABASE ?1 AS {}", ident(alias)), [uri])
                .map_err(|e| missing(e.to_string()))?;
            self.attached.push(alias.clone());
        }
        Ok(())
    }

    /// Creates a job's storage without checking its inputs: for commands
    /// that only read what was published.
    pub fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        self.check_owned(plan)?;
        let lowered = self.lowered(plan)?;
        layout::upgrade_layout(&self.conn, plan, &lowered)?;
        self.conn
            .execute_batch(&format!(
                "{}; {};",
                lowered.create_data, lowered.create_view
            ))
            .map_err(RuntimeError::sql)
    }

    /// Refuses an output name that something other than bplc created: the
    /// view would not be created (it exists), and readers would go on
    /// reading the other table while the run said PUBLISHED. bplc's own
    /// view reads the dataset's data table through the pointer.
    fn check_owned(&self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let found: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT type, sql FROM sqlite_master WHERE name = ?1 COLLATE NOCASE
                   AND type IN ('table', 'view')",
                params![plan.table],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(RuntimeError::sql)?;
        let Some((kind, sql)) = found else {
            return Ok(());
        };
        let data = ident(&format!("{}__data", plan.table));
        let ours =
            kind == "view" && sql.is_some_and(|s| s.contains(&data) && s.contains("_bpl_pointer"));
        if ours {
            return Ok(());
        }
        Err(RuntimeError::NotOwned {
            dataset: plan.dataset.clone(),
            name: plan.table.clone(),
            kind,
        })
    }

    fn lowered(&mut self, plan: &JobPlan) -> Result<LoweredJob, RuntimeError> {
        if let Some((name, l)) = &self.lowered {
            if *name == plan.dataset {
                return Ok(l.clone());
            }
        }
        let l = super::sqlite::lower(plan).map_err(|u| RuntimeError::Unsupported(u.0))?;
        self.lowered = Some((plan.dataset.clone(), l.clone()));
        Ok(l)
    }

    fn columns_of(&self, table: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        layout::columns(&self.conn, table)
    }

    fn scalar(&self, sql: &str, values: &[(String, Value)]) -> Result<Value, RuntimeError> {
        tracing::debug!(sql, "query");
        let mut stmt = self.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        let mut rows = stmt.raw_query();
        match rows.next().map_err(RuntimeError::sql)? {
            Some(row) => row.get::<_, Value>(0).map_err(RuntimeError::sql),
            None => Ok(Value::Null),
        }
    }

    fn count(&self, sql: &str, values: &[(String, Value)]) -> Result<i64, RuntimeError> {
        Ok(match self.scalar(sql, values)? {
            Value::Integer(i) => i,
            _ => 0,
        })
    }

    fn execute(&self, sql: &str, values: &[(String, Value)]) -> Result<usize, RuntimeError> {
        // Logged when done, with its time: a staging statement is most of
        // a run, and `-v` is how to see which one.
        let started = std::time::Instant::now();
        let mut stmt = self.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        let done = stmt.raw_execute().map_err(RuntimeError::sql);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(sql, ms, ok = done.is_ok(), "execute");
        done
    }
}

fn bind(stmt: &mut Statement<'_>, values: &[(String, Value)]) -> Result<(), RuntimeError> {
    for (name, value) in values {
        if let Some(i) = stmt.parameter_index(name).map_err(RuntimeError::sql)? {
            stmt.raw_bind_parameter(i, value)
                .map_err(RuntimeError::sql)?;
        }
    }
    Ok(())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl FromSql for Value {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Value> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

/// Every part of the trait is written in the submodule named for it; the
/// trait forwards to those inherent methods.
impl Engine for SqliteEngine {
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        SqliteEngine::prepare(self, plan)
    }

    fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        SqliteEngine::prepare_storage(self, plan)
    }

    fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError> {
        SqliteEngine::migrate(self, plan)
    }

    fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError> {
        SqliteEngine::lock_inputs(self, plan, overlay)
    }

    fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        SqliteEngine::bindings(self, plan, run, parts)
    }

    fn next_version(&mut self, plan: &JobPlan, partition: &str) -> Result<i64, RuntimeError> {
        SqliteEngine::next_version(self, plan, partition)
    }

    fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        SqliteEngine::stage(self, plan, run, parts)
    }

    fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        SqliteEngine::measure(self, plan, run, part, staged)
    }

    fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        SqliteEngine::publish(self, plan, run_id, what)
    }

    fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        SqliteEngine::discard(self, plan, run_id)
    }

    fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        SqliteEngine::discard_partitions(self, plan, run_id, partitions)
    }

    fn inspect(&mut self, plan: &JobPlan, run_id: &str) -> Result<Inspection, RuntimeError> {
        SqliteEngine::inspect(self, plan, run_id)
    }

    fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError> {
        SqliteEngine::diff(self, plan, partition, from, to)
    }

    fn dimension_values(&mut self, plan: &JobPlan, key: &str) -> Result<Vec<String>, RuntimeError> {
        SqliteEngine::dimension_values(self, plan, key)
    }

    fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        SqliteEngine::drop_shadow(self, plan, scope)
    }

    fn clear_shadows(&mut self, plan: &JobPlan, partitions: &[String]) -> Result<(), RuntimeError> {
        SqliteEngine::clear_shadows(self, plan, partitions)
    }

    fn versions(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        scope: Option<&str>,
    ) -> Result<(Option<i64>, Option<i64>), RuntimeError> {
        SqliteEngine::versions(self, plan, partition, scope)
    }

    fn rollback_target(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
    ) -> Result<RollbackTarget, RuntimeError> {
        SqliteEngine::rollback_target(self, plan, partition, to)
    }

    fn move_pointer(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
        writer: &str,
        run_id: &str,
    ) -> Result<(), RuntimeError> {
        SqliteEngine::move_pointer(self, plan, partition, to, writer, run_id)
    }

    fn identity(&mut self) -> Result<Option<Identity>, RuntimeError> {
        identity::read(&self.conn).map_err(RuntimeError::sql)
    }

    fn claim_identity(&mut self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        identity::claim(&self.conn, candidate).map_err(RuntimeError::sql)
    }

    fn rename_project(&mut self, name: &str) -> Result<(), RuntimeError> {
        identity::rename(&self.conn, name).map_err(RuntimeError::sql)
    }

    fn highest_run(&mut self) -> Result<i64, RuntimeError> {
        identity::highest_run(&self.conn)
    }
}
