//! The Apache Spark engine (`engine = "spark"` in bpl.toml), reached
//! through Spark Connect: one database of the catalog holds the project's
//! sources, references, each dataset's data table (Parquet, partitioned by
//! the partition id and the version, so every run writes partitions of
//! its own that nobody reads yet), a consumer view per dataset, and the
//! publish log that says which version of each partition is active
//! ([`log`]). This folder holds everything Spark-specific: the session and
//! its errors ([`client`]), the dialect ([`dialect`]), the storage
//! (`storage`), staging (`stage`), publishing (`publish`), reading durable
//! state (`inspect`), the identity ([`identity`]) and the demo data loader
//! ([`load`]).
//!
//! Guarantees: a run's partitions are published with its commit marker in
//! one append to the publish log, which is one metastore operation (all
//! or none); a consumer view reads only the versions the log points at,
//! so a reader sees the old or the new version of a partition, never a
//! mix. A crash before the append leaves only unread partitions, which
//! discarding or recovering the run drops.

pub mod client;
pub mod dialect;
pub mod identity;
mod inspect;
pub mod load;
pub mod log;
mod publish;
mod stage;
mod storage;

use super::reads::pairs;
use super::{
    Drift, Engine, Identity, Inspection, Measured, PartitionRun, Publication, RollbackTarget,
    RunScope, Staged, Value,
};
use crate::plan::JobPlan;
use crate::runtime::diff::Diff;
use crate::runtime::manifest::{Binding, InputLock};
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use client::{inline, Session};

pub use dialect::SPARK;

/// A job lowered to the Spark dialect `d` (`SPARK`, or bpl.toml's).
pub fn lower(
    plan: &JobPlan,
    d: &dialect::Spark,
) -> Result<LoweredJob, crate::sql::expr::Unsupported> {
    crate::sql::lower::lower(plan, d)
}

/// Opens a session on the project's database with bplc's log and views
/// in place (`retry_seconds`: see [`client::connect`]).
pub(crate) fn open_database(
    url_env: &str,
    database: &str,
    retry_seconds: Option<u64>,
) -> Result<Session, RuntimeError> {
    let mut session = client::connect(url_env, database, retry_seconds)?;
    for ddl in log::SYSTEM {
        session.run(ddl)?;
    }
    Ok(session)
}

pub struct SparkEngine {
    session: Session,
    lowered: Option<(String, LoweredJob)>,
    /// The batch staged last, measured with few statements (`prefetch`).
    prefetch: super::prefetch::Prefetch,
    /// Each partition's highest version of a dataset, fetched for a run's
    /// `next_version`s; forgotten at every write (`execute`, `log`,
    /// dropping versions), so it never outlives what it read.
    highest: Option<(String, std::collections::HashMap<String, i64>)>,
    /// The dialect jobs are lowered to: bpl.toml's `cache_storage_level`.
    dialect: dialect::Spark,
}

impl SparkEngine {
    pub fn open(
        url_env: &str,
        database: &str,
        retry_seconds: Option<u64>,
        cache: crate::project::SparkCache,
    ) -> Result<SparkEngine, RuntimeError> {
        Ok(SparkEngine {
            session: open_database(url_env, database, retry_seconds)?,
            lowered: None,
            prefetch: Default::default(),
            highest: None,
            dialect: dialect::Spark { cache },
        })
    }

    fn lowered(&mut self, plan: &JobPlan) -> Result<LoweredJob, RuntimeError> {
        if let Some((name, l)) = &self.lowered {
            if *name == plan.dataset {
                return Ok(l.clone());
            }
        }
        let d = &self.dialect;
        let l = super::spark::lower(plan, d).map_err(|u| RuntimeError::Unsupported(u.0))?;
        self.lowered = Some((plan.dataset.clone(), l.clone()));
        Ok(l)
    }

    /// Every row of a statement (standard SQL with `:name` values).
    fn rows(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.session.query(&inline(sql, values))
    }

    /// The first row of a statement, if any.
    fn row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        Ok(self.rows(sql, values)?.into_iter().next())
    }

    fn execute(&mut self, sql: &str, values: &[(String, Value)]) -> Result<(), RuntimeError> {
        self.highest = None;
        self.session.run(&inline(sql, values))
    }

    /// Appends entries to the publish log, as one change.
    fn log(&mut self, entries: &[log::Entry]) -> Result<(), RuntimeError> {
        self.highest = None;
        log::append(&mut self.session, entries)
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

/// A batch's measuring statements, fetched ahead (`engine::prefetch`): a
/// statement is a job of its own on Spark (some 150 ms even on few rows),
/// so one per statement and chunk instead of one per partition. Fifty
/// partitions keep a statement's text (the checksum's is the longest)
/// near a hundred kilobytes.
impl super::prefetch::Prefetching for SparkEngine {
    const CHUNK: usize = 50;

    fn inline(sql: &str, values: &[(String, Value)]) -> String {
        inline(sql, values)
    }

    fn rows_inlined(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.session.query(sql)
    }

    fn prefetch(&mut self) -> &mut super::prefetch::Prefetch {
        &mut self.prefetch
    }
}

/// Every part of the trait is written in the submodule named for it.
impl Engine for SparkEngine {
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        SparkEngine::prepare(self, plan)
    }

    fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        SparkEngine::prepare_storage(self, plan)
    }

    fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError> {
        SparkEngine::migrate(self, plan)
    }

    fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError> {
        super::reads::lock_inputs(self, plan, &SPARK, overlay, "DESC NULLS LAST")
    }

    fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        let l = self.lowered(plan)?;
        // Seeds are loaded into SQLite warehouses only (`bplc seed`).
        crate::runtime::engine::bindings::bindings(self, plan, &l, run, parts, &[])
    }

    fn next_version(&mut self, plan: &JobPlan, partition: &str) -> Result<i64, RuntimeError> {
        SparkEngine::next_version(self, plan, partition)
    }

    fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        SparkEngine::stage(self, plan, run, parts)
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
        SparkEngine::publish(self, plan, run_id, what)
    }

    fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        SparkEngine::discard(self, plan, run_id)
    }

    fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        SparkEngine::discard_partitions(self, plan, run_id, partitions)
    }

    fn inspect(&mut self, plan: &JobPlan, run_id: &str) -> Result<Inspection, RuntimeError> {
        SparkEngine::inspect(self, plan, run_id)
    }

    fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError> {
        super::reads::diff(self, plan, &SPARK, partition, from, to)
    }

    fn dimension_values(&mut self, plan: &JobPlan, key: &str) -> Result<Vec<String>, RuntimeError> {
        super::reads::dimension_values(self, plan, &SPARK, key)
    }

    fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        SparkEngine::drop_shadow(self, plan, scope)
    }

    fn clear_shadows(&mut self, plan: &JobPlan, partitions: &[String]) -> Result<(), RuntimeError> {
        SparkEngine::clear_shadows(self, plan, partitions)
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
        SparkEngine::move_pointer(self, plan, partition, to, writer, run_id)
    }

    fn identity(&mut self) -> Result<Option<Identity>, RuntimeError> {
        identity::read(&mut self.session)
    }

    fn claim_identity(&mut self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        identity::claim(&mut self.session, candidate)
    }

    fn rename_project(&mut self, name: &str) -> Result<(), RuntimeError> {
        identity::rename(&mut self.session, name)
    }

    /// Two writers of one Spark database at once break it: both read the
    /// same next sequence number of the publish log and the second's
    /// `INSERT OVERWRITE` replaces the first's entries; and two jobs
    /// writing into one table's directory share its `_temporary` folder,
    /// which the first to finish deletes under the other.
    fn writers_take_turns(&self) -> bool {
        true
    }

    fn highest_run(&mut self) -> Result<i64, RuntimeError> {
        identity::highest_run(&mut self.session)
    }
}
