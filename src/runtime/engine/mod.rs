//! The engine layer: the one trait the runtime talks to the data through,
//! and the types it speaks. The lifecycle, backfill, recovery and rollback
//! decide; an engine stages, measures, publishes and inspects. Each engine
//! lives in a folder of its own (`sqlite`, `postgres`, `spark`) holding its connection, its
//! storage layout and its SQL dialect (an implementation of
//! [`crate::sql::dialect::Dialect`]); what every dialect shares is written
//! once in [`crate::sql`]. An engine is chosen in one place,
//! [`Warehouse::of`], from `bpl.toml`.

pub mod batch;
pub mod bindings;
pub mod counts;
pub mod intake;
pub mod materialized;
pub mod measure;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "spark"))]
pub mod prefetch;
pub mod reads;
#[cfg(feature = "spark")]
pub mod spark;
pub mod sqlite;
pub mod value;

use std::path::PathBuf;

pub use value::Value;

use super::diff::Diff;
use super::manifest::{Binding, Counters, InputLock};
use super::RuntimeError;
use crate::plan::JobPlan;
use crate::semantic::T;
use crate::sql::lower::Gate;

/// One partition a run computes, with every value its statements bind.
#[derive(Debug, Clone)]
pub struct PartitionRun {
    /// The partition's id: its key values joined by `/`.
    pub partition: String,
    /// The time key's value (`2026-06-15`, `2026-06`), or the id.
    pub p: String,
    pub keys: Vec<(String, String)>,
    pub version: i64,
    /// A dataset input's window in its own partitions: `(alias, lo, hi)`.
    pub windows: Vec<(String, String, String)>,
    pub report_close: String,
}

/// What a run shares across its partitions.
#[derive(Debug, Clone)]
pub struct RunScope {
    pub run_id: String,
    pub as_of: String,
    pub lock: Vec<InputLock>,
}

/// One quarantined row: which rules it failed, why, and the row itself.
#[derive(Debug, Clone, Default)]
pub struct Quarantined {
    pub rule: String,
    pub reason: String,
    /// The row as a JSON object of `alias.column` to value.
    pub record: String,
}

/// The rows of one source input that failed the typed input boundary in
/// one partition: how many, and the first one's problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BadRows {
    pub alias: String,
    pub rows: i64,
    pub first: String,
}

/// What staging one partition measured.
#[derive(Debug, Clone, Default)]
pub struct Staged {
    pub counters: Counters,
    /// Rows failing each row rule, by rule name.
    pub row_rule_failures: Vec<(String, i64)>,
    pub rows: Vec<(String, i64)>,
    pub partition_counts: Vec<(String, i64)>,
    /// Aggregates over input columns the gates read, by counter name.
    pub input_aggregates: Vec<(String, Value)>,
    /// Rows routed to quarantine, for the ledger.
    pub quarantine: Vec<Quarantined>,
    /// Accepted rows whose join found no match, by alias (`unmatched(b)`).
    pub unmatched: Vec<(String, i64)>,
    /// Rows of each source input that failed the typed input boundary
    /// (the driving source's and each joined source's), where there were any.
    pub bad_rows: Vec<BadRows>,
    /// The staged version's row count, checksum and size, where the engine
    /// took them as it wrote the rows; `None`: measured by reading them.
    pub stored: Option<StoredRows>,
}

/// A staged version's rows as measured: what the checksum statement of
/// `sql::lower` gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRows {
    pub rows: i64,
    pub checksum: String,
    pub bytes: i64,
}

/// A gate as evaluated: `Some(passed)`, or `None` when it had no value.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub gate: Gate,
    pub passed: Option<bool>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub expectations: Vec<Evaluated>,
    pub reconciliations: Vec<Evaluated>,
    pub key_duplicates: Option<i64>,
    pub out_of_partition: Option<i64>,
    /// Staged rows that are not of the output's declared types, and the
    /// first problem found (see `sql::boundary`).
    pub typed_output: (i64, String),
    pub rows: i64,
    pub checksum: String,
    /// Bytes of the staged values: text bytes, 8 per number.
    pub bytes: i64,
}

/// What durable state says about a run, for recovery.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// The commit marker is present: the publish transaction committed.
    pub committed: bool,
    /// Staged rows of the run that no pointer points at.
    pub staged_rows: i64,
    /// Partitions whose active version this run wrote.
    pub active: Vec<(String, i64)>,
}

/// A partition to publish.
#[derive(Debug, Clone)]
pub struct Publication {
    pub partition: String,
    pub version: i64,
    pub how: Publish,
}

/// Where a staged version goes when it passes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Publish {
    /// The active version; with `publish replace`, the one it replaces goes.
    Active,
    /// A closed partition: version N+1 becomes active as RESTATED, the
    /// prior one stays readable as SUBMITTED.
    Restate { reason: String, summary: String },
    /// Shadow tables only: readers of the dataset see nothing new; a
    /// backfill's later steps and `compare-only` read it by `scope`.
    Shadow { scope: String },
}

/// The status a partition's prior version takes when a new one is
/// published with `status` (`ACTIVE` or `RESTATED`): a version that was
/// ever a reported figure of a closed period (`SUBMITTED`, `RESTATED`)
/// stays readable as it was; restating makes the reported one
/// `SUBMITTED`; otherwise it is `SUPERSEDED`. The same on every engine.
pub fn prior_becomes<'a>(status: &str, prior_was: &'a str) -> &'a str {
    let evidence = matches!(prior_was, "SUBMITTED" | "RESTATED");
    match (status, evidence) {
        ("RESTATED", false) => "SUBMITTED",
        (_, true) => prior_was,
        _ => "SUPERSEDED",
    }
}

/// How a dataset's stored schema differs from its declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `(column, stored type, declared type)`.
    pub retyped: Vec<(String, String, String)>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[String]| {
            v.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("adds {}", names(&self.added)));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removes {}", names(&self.removed)));
        }
        for (c, from, to) in &self.retyped {
            parts.push(format!("retypes `{c}` from {from} to {to}"));
        }
        f.write_str(&parts.join(", "))
    }
}

/// The identity a warehouse or ledger carries (see `runtime::identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub name: String,
}

/// What a rollback needs to know of a partition before it moves the pointer.
#[derive(Debug, Clone, Default)]
pub struct RollbackTarget {
    /// The active version, if the partition was ever published.
    pub active: Option<i64>,
    /// The run that wrote the asked version, if that version is kept with
    /// its rows.
    pub writer: Option<String>,
}

pub trait Engine {
    /// Creates the job's storage and checks every input exists as declared.
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError>;
    /// Creates a job's storage without checking its inputs: for commands
    /// that only read what was published.
    fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError>;
    /// Rebuilds the dataset's storage in its declared schema, keeping every
    /// stored version; says what changed.
    fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError>;
    /// Records where each input stands now: the run reads up to here. A
    /// dataset input's shadow versions of `overlay` take the place of its
    /// published ones (a shadow backfill reads its own upstream results).
    fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError>;
    /// Resolves each binding to a version and a checksum of its rows:
    /// once per run, and once more for each other version a partition of
    /// the batch reads (as of report close).
    fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError>;
    /// The version a new write of a partition gets.
    fn next_version(&mut self, plan: &JobPlan, partition: &str) -> Result<i64, RuntimeError>;
    /// [`Engine::next_version`] of each of a run's partitions, in order:
    /// an engine whose statements cost a round trip each asks them at once.
    fn next_versions(
        &mut self,
        plan: &JobPlan,
        partitions: &[&str],
    ) -> Result<Vec<i64>, RuntimeError> {
        partitions
            .iter()
            .map(|p| self.next_version(plan, p))
            .collect()
    }
    /// Computes a batch of partitions into unpublished versions, all or
    /// none, with set-based statements over the whole batch; measures each
    /// partition's counters in the same pass and routes quarantined rows.
    fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError>;
    /// Evaluates the gates over a staged partition.
    fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError>;
    /// Makes the staged versions active, all or none, with a commit marker.
    fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError>;
    /// Removes a run's staged, unpublished rows.
    fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError>;
    /// Removes the staged rows of these `(partition, version)`s of a run:
    /// the partitions a published run held back. Each is an index lookup,
    /// where [`Engine::discard`] looks at every row the run staged.
    fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError>;
    fn inspect(&mut self, plan: &JobPlan, run_id: &str) -> Result<Inspection, RuntimeError>;
    /// Compares two stored versions of a partition; `from: None` is the
    /// active version (nothing, if the partition was never published).
    fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError>;
    /// The values a dimension key takes in the inputs that pass it through:
    /// the partitions a run computes when it is not given one.
    fn dimension_values(&mut self, plan: &JobPlan, key: &str) -> Result<Vec<String>, RuntimeError>;
    /// Removes a shadow scope's versions of a dataset (a dry run's).
    fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError>;
    /// Removes every shadow version of these partitions: a run that will
    /// publish them makes the previews obsolete, and takes the next numbers.
    fn clear_shadows(&mut self, plan: &JobPlan, partitions: &[String]) -> Result<(), RuntimeError>;
    /// The active version of a partition, and the one `scope` shadows it with.
    fn versions(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        scope: Option<&str>,
    ) -> Result<(Option<i64>, Option<i64>), RuntimeError>;
    /// The active version of a partition, and who wrote version `to`.
    fn rollback_target(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
    ) -> Result<RollbackTarget, RuntimeError>;
    /// Moves a partition's pointer to version `to` (written by run
    /// `writer`), with the rollback run's commit marker, in one transaction.
    fn move_pointer(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
        writer: &str,
        run_id: &str,
    ) -> Result<(), RuntimeError>;
    /// The project identity the warehouse carries, if any.
    fn identity(&mut self) -> Result<Option<Identity>, RuntimeError>;
    /// Writes `candidate` into a warehouse that carries no identity;
    /// returns the one it carries.
    fn claim_identity(&mut self, candidate: &Identity) -> Result<Identity, RuntimeError>;
    /// Records the project's new name.
    fn rename_project(&mut self, name: &str) -> Result<(), RuntimeError>;
    /// The highest run number the warehouse holds a commit marker or a
    /// shadow version of (0 for none).
    fn highest_run(&mut self) -> Result<i64, RuntimeError>;
    /// Whether two processes must never write this warehouse at once, so
    /// that commands that write take turns on the ledger's lock for their
    /// whole length. Only where the engine cannot keep concurrent writers
    /// apart itself (Spark: file tables, no transactions).
    fn writers_take_turns(&self) -> bool {
        false
    }
}

/// Writes whole tables into a warehouse: the demo data generator's way in.
/// Everything written between [`Warehouse::loader`] and [`Loader::commit`]
/// is one transaction.
pub trait Loader {
    /// (Re)creates a table with these columns; rows go to it from now on.
    fn table(&mut self, name: &str, columns: &[(String, T)]) -> Result<(), RuntimeError>;
    /// Appends one row to the current table, a value for each column.
    fn row(&mut self, values: &[value::Cell<'_>]) -> Result<(), RuntimeError>;
    fn commit(self: Box<Self>) -> Result<(), RuntimeError>;
}

/// Where a project's data lives, as `bpl.toml` says.
#[derive(Debug, Clone)]
pub enum Warehouse {
    /// A SQLite file, with other SQLite files attached read-only as
    /// sources: `(alias, path)`.
    Sqlite {
        path: PathBuf,
        attach: Vec<(String, PathBuf)>,
    },
    /// A schema of a PostgreSQL database, reached by the URL in the
    /// environment variable `url_env`; sources are tables of the schema.
    Postgres { url_env: String, schema: String },
    /// A database of a Spark catalog, reached through the Spark Connect
    /// URL in the environment variable `url_env`; sources are its tables.
    /// `retry_seconds`: bpl.toml's wait for a server that stopped answering;
    /// `cache`: where a batch's counting points are kept.
    Spark {
        url_env: String,
        database: String,
        retry_seconds: Option<u64>,
        cache: crate::project::SparkCache,
    },
}

impl Warehouse {
    /// Where the data lives, for messages: the file's path as `shown`, or
    /// the server's schema or database and the variable naming the server.
    pub fn describe(&self, shown: &str) -> String {
        match self {
            Warehouse::Sqlite { .. } => shown.to_string(),
            Warehouse::Postgres { url_env, schema } => {
                format!("PostgreSQL schema `{schema}` (server in ${url_env})")
            }
            Warehouse::Spark {
                url_env, database, ..
            } => {
                format!("Spark database `{database}` (endpoint in ${url_env})")
            }
        }
    }

    /// The warehouse of the engine `bpl.toml` chooses: the one place an
    /// engine is chosen.
    pub fn of(
        engine: &crate::project::EngineSettings,
        path: PathBuf,
        attach: Vec<(String, PathBuf)>,
    ) -> Warehouse {
        match engine {
            crate::project::EngineSettings::Sqlite => Warehouse::Sqlite { path, attach },
            crate::project::EngineSettings::Postgres { url_env, schema } => Warehouse::Postgres {
                url_env: url_env.clone(),
                schema: schema.clone(),
            },
            crate::project::EngineSettings::Spark {
                url_env,
                database,
                retry_seconds,
                cache,
            } => Warehouse::Spark {
                url_env: url_env.clone(),
                database: database.clone(),
                retry_seconds: *retry_seconds,
                cache: *cache,
            },
        }
    }

    /// Opens the warehouse for a command that runs or reads jobs.
    pub fn open(&self) -> Result<Box<dyn Engine>, RuntimeError> {
        match self {
            Warehouse::Sqlite { path, attach } => {
                let mut engine = sqlite::SqliteEngine::open(path)?;
                engine.attach(attach)?;
                Ok(Box::new(engine))
            }
            #[cfg(feature = "postgres")]
            Warehouse::Postgres { url_env, schema } => {
                Ok(Box::new(postgres::PostgresEngine::open(url_env, schema)?))
            }
            #[cfg(not(feature = "postgres"))]
            Warehouse::Postgres { .. } => Err(without_postgres()),
            #[cfg(feature = "spark")]
            Warehouse::Spark {
                url_env,
                database,
                retry_seconds,
                cache,
            } => Ok(Box::new(spark::SparkEngine::open(
                url_env,
                database,
                *retry_seconds,
                *cache,
            )?)),
            #[cfg(not(feature = "spark"))]
            Warehouse::Spark { .. } => Err(without_spark()),
        }
    }

    /// Whether the warehouse exists (a run reads its sources there).
    pub fn exists(&self) -> bool {
        match self {
            Warehouse::Sqlite { path, .. } => path.is_file(),
            // A server: whether it can be reached, opening says, with the
            // setting to fix.
            Warehouse::Postgres { .. } | Warehouse::Spark { .. } => true,
        }
    }

    /// The identity the warehouse carries, read without writing anything;
    /// `None` where it carries none or cannot be read.
    pub fn peek_identity(&self) -> Option<Identity> {
        match self {
            Warehouse::Sqlite { path, .. } => sqlite::identity::peek(path),
            #[cfg(feature = "postgres")]
            Warehouse::Postgres { url_env, schema } => postgres::identity::peek(url_env, schema),
            #[cfg(not(feature = "postgres"))]
            Warehouse::Postgres { .. } => None,
            #[cfg(feature = "spark")]
            Warehouse::Spark {
                url_env,
                database,
                retry_seconds,
                ..
            } => spark::identity::peek(url_env, database, *retry_seconds),
            #[cfg(not(feature = "spark"))]
            Warehouse::Spark { .. } => None,
        }
    }

    /// Opens the warehouse for ingestion: landing files and seeds.
    pub fn intake(&self) -> Result<Box<dyn intake::Intake>, RuntimeError> {
        match self {
            Warehouse::Sqlite { path, .. } => {
                Ok(Box::new(sqlite::intake::SqliteIntake::open(path)?))
            }
            #[cfg(feature = "postgres")]
            Warehouse::Postgres { url_env, schema } => Ok(Box::new(
                postgres::intake::PostgresIntake::open(url_env, schema)?,
            )),
            #[cfg(not(feature = "postgres"))]
            Warehouse::Postgres { .. } => Err(without_postgres()),
            Warehouse::Spark { database, .. } => Err(RuntimeError::Server {
                code: crate::diagnostic::codes::E0391,
                message: format!(
                    "landing folders and seeds are not ingested into a Spark warehouse (database `{database}`)"
                ),
                help: "load the source and reference tables into the project's Spark database with your own jobs (or `bplc demo-data`), and declare them with `table \"...\"`; or run the project on SQLite or PostgreSQL".into(),
            }),
        }
    }

    /// Opens the warehouse to write whole tables in one transaction.
    pub fn loader(&self) -> Result<Box<dyn Loader>, RuntimeError> {
        match self {
            Warehouse::Sqlite { path, .. } => Ok(Box::new(sqlite::load::SqliteLoader::open(path)?)),
            #[cfg(feature = "postgres")]
            Warehouse::Postgres { url_env, schema } => Ok(Box::new(
                postgres::load::PostgresLoader::open(url_env, schema)?,
            )),
            #[cfg(not(feature = "postgres"))]
            Warehouse::Postgres { .. } => Err(without_postgres()),
            #[cfg(feature = "spark")]
            Warehouse::Spark {
                url_env,
                database,
                retry_seconds,
                ..
            } => Ok(Box::new(spark::load::SparkLoader::open(
                url_env,
                database,
                *retry_seconds,
            )?)),
            #[cfg(not(feature = "spark"))]
            Warehouse::Spark { .. } => Err(without_spark()),
        }
    }
}

/// `engine = "spark"` in a bplc built without the engine.
#[cfg(not(feature = "spark"))]
fn without_spark() -> RuntimeError {
    RuntimeError::Server {
        code: crate::diagnostic::codes::E0375,
        message: "bpl.toml says `engine = \"spark\"`, but this bplc was built without the Spark engine".into(),
        help: "build bplc with it (`cargo install bplc --features spark`; building it needs `protoc`), or set `engine = \"sqlite\"`".into(),
    }
}

/// `engine = "postgres"` in a bplc built without the engine.
#[cfg(not(feature = "postgres"))]
fn without_postgres() -> RuntimeError {
    RuntimeError::Server {
        code: crate::diagnostic::codes::E0365,
        message: "bpl.toml says `engine = \"postgres\"`, but this bplc was built without the PostgreSQL engine".into(),
        help: "build bplc with it (`cargo install bplc --features postgres`), or set `engine = \"sqlite\"`".into(),
    }
}
