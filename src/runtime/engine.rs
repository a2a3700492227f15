//! The one trait the lifecycle talks to the data through, and its first
//! implementation on SQLite. The lifecycle decides; an engine stages,
//! measures, publishes and inspects. PostgreSQL or a distributed engine is
//! another implementation of [`Engine`], with the lifecycle untouched.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Statement};

use super::diff::{Diff, MetricDelta, RowChange};
use super::manifest::{Binding, Counters, InputLock};
use super::RuntimeError;
use crate::plan::JobPlan;
use crate::semantic::hir::{BindPolicyKind, Lock};
use crate::sql::range::RangeStage;
use crate::sql::sqlite::{Gate, LoweredJob};
use crate::sql::types::{ident, sqlite_type, table_ref};
use crate::syntax::ast::DeclKind;

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
    pub quarantine: Vec<super::tally::Quarantined>,
    /// Accepted rows whose join found no match, by alias (`unmatched(b)`).
    pub unmatched: Vec<(String, i64)>,
    /// Rows of each source input that failed the typed input boundary
    /// (the driving source's and each joined source's), where there were any.
    pub bad_rows: Vec<super::tally::BadRows>,
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

pub trait Engine {
    /// Creates the job's storage and checks every input exists as declared.
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError>;
    /// Rebuilds the dataset's storage in its declared schema, keeping every
    /// stored version (see [`super::schema`]); says what changed.
    fn migrate(&mut self, plan: &JobPlan) -> Result<super::schema::Drift, RuntimeError>;
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
    conn: Connection,
    /// The aliases of the databases attached read-only as sources.
    attached: Vec<String>,
    lowered: Option<(String, LoweredJob)>,
    tally: super::tally::Tally,
}

/// Settings of every connection to a warehouse or ledger file. WAL lets
/// readers go on while a run writes and makes a commit one append to the
/// log; `synchronous = FULL` still syncs that log on every commit, so a
/// published partition survives a power cut as it did with the rollback
/// journal. The page cache saves reading pages again; it is a cache, never
/// the data. No memory map: its pages count in the resident set, and a
/// 10M-row build went past the memory target with one.
pub const CONNECTION_SETTINGS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA cache_size = -32768;";

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
        conn.busy_timeout(super::lock_timeout())
            .map_err(RuntimeError::sql)?;
        conn.execute_batch(CONNECTION_SETTINGS)
            .map_err(RuntimeError::sql)?;
        super::functions::register(&conn).map_err(RuntimeError::sql)?;
        super::cancel::watch(&conn);
        let tally = super::tally::Tally::default();
        tally.register(&conn).map_err(RuntimeError::sql)?;
        conn.execute_batch(SYSTEM_TABLES)
            .map_err(RuntimeError::sql)?;
        Ok(SqliteEngine {
            conn,
            attached: Vec::new(),
            lowered: None,
            tally,
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
        super::schema::upgrade_layout(&self.conn, plan, &lowered)?;
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

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn lowered(&mut self, plan: &JobPlan) -> Result<LoweredJob, RuntimeError> {
        if let Some((name, l)) = &self.lowered {
            if *name == plan.dataset {
                return Ok(l.clone());
            }
        }
        let l = crate::sql::sqlite::lower(plan).map_err(|u| RuntimeError::Unsupported(u.0))?;
        self.lowered = Some((plan.dataset.clone(), l.clone()));
        Ok(l)
    }

    fn columns_of(&self, table: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        super::schema::columns(&self.conn, table)
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

    /// `SELECT count(*), bpl_checksum(..)`: a row count and a content checksum.
    fn rows_and_checksum(
        &self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<(i64, String), RuntimeError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        let mut rows = stmt.raw_query();
        Ok(match rows.next().map_err(RuntimeError::sql)? {
            Some(r) => (
                r.get::<_, i64>(0).map_err(RuntimeError::sql)?,
                r.get::<_, Option<String>>(1)
                    .map_err(RuntimeError::sql)?
                    .unwrap_or_default(),
            ),
            None => (0, String::new()),
        })
    }

    fn execute(&self, sql: &str, values: &[(String, Value)]) -> Result<usize, RuntimeError> {
        tracing::debug!(sql, "execute");
        let mut stmt = self.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        stmt.raw_execute().map_err(RuntimeError::sql)
    }

    /// Fills the batch table and each dataset input's window table.
    fn fill_batch(
        &self,
        plan: &JobPlan,
        stage: &RangeStage,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<(), RuntimeError> {
        let mut sql = format!("DELETE FROM {};", crate::sql::range::PARTS);
        for (_, table) in &stage.windows {
            sql.push_str(&format!("DELETE FROM {table};"));
        }
        self.conn.execute_batch(&sql).map_err(RuntimeError::sql)?;
        let mut insert = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO {} VALUES (?1, ?2, ?3, ?4{})",
                crate::sql::range::PARTS,
                (0..stage.keys.len())
                    .map(|k| format!(", ?{}", k + 5))
                    .collect::<String>()
            ))
            .map_err(RuntimeError::sql)?;
        for (no, part) in parts.iter().enumerate() {
            let mut row: Vec<Value> = vec![
                Value::Integer(no as i64),
                Value::Text(part.partition.clone()),
                Value::Text(part.p.clone()),
                Value::Integer(part.version),
            ];
            for k in &stage.keys {
                row.push(
                    part.keys
                        .iter()
                        .find(|(n, _)| n == k)
                        .map_or(Value::Null, |(_, v)| Value::Text(v.clone())),
                );
            }
            insert
                .execute(rusqlite::params_from_iter(row))
                .map_err(RuntimeError::sql)?;
        }
        for (alias, table) in &stage.windows {
            let Some(input) = plan.inputs.iter().find(|i| i.table.alias == *alias) else {
                continue;
            };
            let Some(lock) = run.lock.iter().find(|l| l.alias == *alias) else {
                continue;
            };
            let mut insert = self
                .conn
                .prepare_cached(&format!("INSERT INTO {table} VALUES (?1, ?2, ?3)"))
                .map_err(RuntimeError::sql)?;
            for part in parts {
                for (input_partition, version) in window_pairs(input, lock, part) {
                    insert
                        .execute(params![part.partition, input_partition, version])
                        .map_err(RuntimeError::sql)?;
                }
            }
        }
        Ok(())
    }

    /// Stages one batch with the job's range statement; counters come from
    /// the tally the statement keeps as it runs.
    fn stage_batch(
        &self,
        plan: &JobPlan,
        l: &LoweredJob,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let Some(first) = parts.first() else {
            return Ok(Vec::new());
        };
        if let Some(bad) = parts
            .iter()
            .find(|p| super::fault::fails(&plan.dataset, &p.partition))
        {
            return Err(RuntimeError::Engine(format!(
                "fault injected: {}:{}",
                plan.dataset, bad.partition
            )));
        }
        let stage = &l.batch;
        self.fill_batch(plan, stage, run, parts)?;
        // A batch of one binds its partition's values (`:p`, report close).
        let v = values(plan, run, first);
        self.tally.reset(
            &stage.rules,
            &stage.points,
            stage.unmatched.len(),
            parts.len(),
        );
        self.execute(&stage.stage, &v)?;
        let mut tallies = self.tally.take();
        let mut bad_rows = super::tally::driving_bad_rows(plan, &tallies);
        self.record_joined_bad_rows(stage, &v, &mut tallies, &mut bad_rows)?;
        // Grouped statements answer by the partition's place in the batch.
        let grouped = |q: &str| -> Result<Vec<(i64, Value)>, RuntimeError> {
            let mut stmt = self.conn.prepare_cached(q).map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                out.push((
                    r.get::<_, i64>(0).map_err(RuntimeError::sql)?,
                    r.get::<_, Value>(1).map_err(RuntimeError::sql)?,
                ));
            }
            Ok(out)
        };
        let per_partition = |queries: &[(String, String)]| {
            queries
                .iter()
                .map(|(name, q)| grouped(q).map(|rows| (name.clone(), rows)))
                .collect::<Result<Vec<_>, _>>()
        };
        if let Some(q) = &stage.input_count {
            for (no, n) in grouped(q)? {
                if let (Some(t), Value::Integer(n)) = (tallies.get_mut(no as usize), n) {
                    t.input = n;
                }
            }
        }
        let rows = per_partition(&stage.rows)?;
        let partition_counts = per_partition(&stage.partition_counts)?;
        let aggregates = per_partition(&stage.input_aggregates)?;
        // An aggregate over no rows, for partitions without accepted rows.
        let empty = stage
            .input_aggregates_empty
            .iter()
            .map(|q| self.scalar(q, &v))
            .collect::<Result<Vec<_>, _>>()?;
        let of = |measured: &[(String, Vec<(i64, Value)>)], no: usize| {
            measured
                .iter()
                .map(|(name, rows)| {
                    let value = rows
                        .iter()
                        .find(|(p, _)| *p == no as i64)
                        .map(|(_, x)| x.clone());
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        };
        let count = |v: Option<Value>| match v {
            Some(Value::Integer(n)) => n,
            _ => 0,
        };
        Ok(parts
            .iter()
            .enumerate()
            .map(|(no, _)| {
                let t = std::mem::take(&mut tallies[no]);
                Staged {
                    counters: Counters {
                        input: t.input,
                        duplicates: t.duplicates,
                        quarantined: t.quarantined,
                        accepted: t.accepted,
                        output: 0,
                    },
                    row_rule_failures: stage
                        .rules
                        .iter()
                        .enumerate()
                        .map(|(k, r)| (r.name.clone(), t.failures.get(k).copied().unwrap_or(0)))
                        .collect(),
                    rows: of(&rows, no)
                        .into_iter()
                        .map(|(a, v)| (a, count(v)))
                        .collect(),
                    partition_counts: of(&partition_counts, no)
                        .into_iter()
                        .map(|(a, v)| (a, count(v)))
                        .collect(),
                    // No row for the partition: the aggregate over no rows.
                    input_aggregates: of(&aggregates, no)
                        .into_iter()
                        .zip(&empty)
                        .map(|((a, v), e)| (a, v.unwrap_or_else(|| e.clone())))
                        .collect(),
                    unmatched: stage
                        .unmatched
                        .iter()
                        .cloned()
                        .zip(t.unmatched.iter().copied().chain(std::iter::repeat(0)))
                        .collect(),
                    quarantine: t.records,
                    bad_rows: std::mem::take(&mut bad_rows[no]),
                }
            })
            .collect())
    }

    /// Records the rows of each joined source that failed the typed input
    /// boundary: quarantined with their source named, and counted.
    fn record_joined_bad_rows(
        &self,
        stage: &RangeStage,
        v: &[(String, Value)],
        tallies: &mut [super::tally::PartitionTally],
        bad_rows: &mut [Vec<super::tally::BadRows>],
    ) -> Result<(), RuntimeError> {
        for (alias, q) in &stage.joined_bad {
            let mut stmt = self.conn.prepare_cached(q).map_err(RuntimeError::sql)?;
            bind(&mut stmt, v)?;
            let mut rows = stmt.raw_query();
            while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                let no: i64 = r.get(0).map_err(RuntimeError::sql)?;
                let problems: String = r.get(1).map_err(RuntimeError::sql)?;
                let record: String = r.get(2).map_err(RuntimeError::sql)?;
                let Some(k) = usize::try_from(no).ok().filter(|k| *k < tallies.len()) else {
                    continue;
                };
                super::tally::count_bad_row(&mut bad_rows[k], alias, &problems);
                tallies[k].records.push(super::tally::Quarantined {
                    rule: "typed_input".into(),
                    reason: format!("{alias}: {problems}"),
                    record,
                });
            }
        }
        Ok(())
    }
}

/// The locked partitions of a dataset input that output partition `part`
/// reads: those inside its window and of its dimension values, or all of
/// them when the boundary is not a window.
fn window_pairs<'a>(
    input: &crate::plan::InputPlan,
    lock: &'a InputLock,
    part: &PartitionRun,
) -> Vec<(&'a str, i64)> {
    let window = part
        .windows
        .iter()
        .find(|(a, ..)| *a == input.table.alias)
        .map(|(_, lo, hi)| (lo.as_str(), hi.as_str()));
    let dims: Vec<(usize, &str)> = input
        .dimensions
        .iter()
        .filter_map(|(out, col)| {
            let at = input.dimension_keys.iter().position(|k| k == col)?;
            let value = part.keys.iter().find(|(k, _)| k == out)?;
            Some((at, value.1.as_str()))
        })
        .collect();
    lock.versions
        .iter()
        .filter(|(id, _)| {
            let segments: Vec<&str> = id.split('/').collect();
            let time_ok = match window {
                Some((lo, hi)) => segments.last().is_some_and(|t| lo <= *t && *t <= hi),
                None => true,
            };
            time_ok
                && dims
                    .iter()
                    .all(|(at, v)| segments.get(*at).is_some_and(|s| s == v))
        })
        .map(|(id, v)| (id.as_str(), *v))
        .collect()
}

/// Every value a job's statements may name; each is bound where present.
pub fn values(plan: &JobPlan, run: &RunScope, part: &PartitionRun) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = vec![
        (":p".into(), Value::Text(part.p.clone())),
        (":partition".into(), Value::Text(part.partition.clone())),
        (":version".into(), Value::Integer(part.version)),
        (":run_id".into(), Value::Text(run.run_id.clone())),
        (":as_of".into(), Value::Text(run.as_of.clone())),
        (
            ":report_close".into(),
            Value::Text(part.report_close.clone()),
        ),
    ];
    for (k, value) in &part.keys {
        v.push((format!(":p_{k}"), Value::Text(value.clone())));
    }
    for (alias, lo, hi) in &part.windows {
        v.push((format!(":lo_{alias}"), Value::Text(lo.clone())));
        v.push((format!(":hi_{alias}"), Value::Text(hi.clone())));
    }
    for lock in &run.lock {
        let Some(hwm) = &lock.high_water_mark else {
            continue;
        };
        let single = plan
            .inputs
            .iter()
            .find(|i| i.table.alias == lock.alias)
            .is_none_or(|i| !matches!(i.lock, Some(Lock::Cursor(_))));
        for (k, value) in hwm.iter().enumerate() {
            let name = if single {
                format!(":hwm_{}", lock.alias)
            } else {
                format!(":hwm_{}_{k}", lock.alias)
            };
            v.push((name, from_json(value)));
        }
    }
    v
}

fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(*b as i64),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
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

fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Integer(i) => Some(*i != 0),
        Value::Real(f) => Some(*f != 0.0),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        _ => None,
    }
}

impl Engine for SqliteEngine {
    fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let tables = plan
            .inputs
            .iter()
            .map(|i| &i.table)
            .chain(plan.binds.iter().map(|b| &b.table));
        for t in tables {
            if t.kind == DeclKind::Dataset {
                let data = format!("{}__data", t.table);
                if self.columns_of(&data)?.is_empty() {
                    return Err(RuntimeError::MissingInput(format!(
                        "input `{}` ({}) has never been published: run `bplc run {}` first",
                        t.alias, t.decl, t.decl
                    )));
                }
                continue;
            }
            if let Some((db, _)) = t.table.split_once('.') {
                if !self.attached.iter().any(|a| a == db) {
                    return Err(RuntimeError::Attachment {
                        alias: db.to_string(),
                        path: None,
                        problem: format!(
                            "the {} `{}` reads `{}`, but bpl.toml attaches no database `{db}`",
                            t.kind.keyword(),
                            t.decl,
                            t.table
                        ),
                    });
                }
            }
            let found = self.columns_of(&t.table)?;
            if found.is_empty() {
                return Err(RuntimeError::MissingInput(format!(
                    "the {} `{}` reads the table `{}`, which is not in the warehouse",
                    t.kind.keyword(),
                    t.decl,
                    t.table
                )));
            }
            for c in &t.columns {
                match found.iter().find(|(n, _)| *n == c.name) {
                    None => {
                        return Err(RuntimeError::MissingInput(format!(
                            "the table `{}` of `{}` has no column `{}`",
                            t.table, t.decl, c.name
                        )))
                    }
                    Some((_, ty)) => {
                        let want = sqlite_type(&c.ty);
                        let ty = ty.to_ascii_uppercase();
                        // A decimal is read by its digits from a number
                        // or a text of any column type (the typed input
                        // boundary converts it).
                        let fits = ty.is_empty()
                            || c.ty.decimal_scale().is_some()
                            || ty.contains(want)
                            || (want == "REAL"
                                && (ty.contains("NUMERIC") || ty.contains("DECIMAL")))
                            || (want == "INTEGER" && ty.contains("INT"));
                        if !fits {
                            return Err(RuntimeError::MissingInput(format!(
                                "column `{}` of the table `{}` is {ty}; `{}` declares it {} (stored as {want})",
                                c.name, t.table, t.decl, c.ty
                            )));
                        }
                    }
                }
            }
        }
        self.check_owned(plan)?;
        let lowered = self.lowered(plan)?;
        super::schema::upgrade_layout(&self.conn, plan, &lowered)?;
        // Storage of an older schema: rebuilt at once while nothing of it
        // is published; afterwards only by a migration backfill, which
        // publishes every partition again in the new schema.
        let drift = super::schema::drift(&self.conn, plan, &lowered)?;
        if !drift.is_empty() {
            let (published, range) = super::schema::published(&self.conn, plan)?;
            if published > 0 {
                return Err(RuntimeError::SchemaDrift {
                    dataset: plan.dataset.clone(),
                    drift: drift.to_string(),
                    published,
                    range,
                });
            }
            super::schema::migrate(&self.conn, plan, &lowered)?;
        }
        self.conn
            .execute_batch(&format!(
                "{}; {};",
                lowered.create_data, lowered.create_view
            ))
            .map_err(RuntimeError::sql)
    }

    fn migrate(&mut self, plan: &JobPlan) -> Result<super::schema::Drift, RuntimeError> {
        self.check_owned(plan)?;
        let lowered = self.lowered(plan)?;
        super::schema::migrate(&self.conn, plan, &lowered)
    }

    fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError> {
        let mut locks = Vec::new();
        for i in &plan.inputs {
            let t = &i.table;
            let mut lock = InputLock {
                alias: t.alias.clone(),
                input: t.decl.clone(),
                high_water_mark: None,
                versions: Vec::new(),
            };
            if t.kind == DeclKind::Dataset {
                let mut stmt = self
                    .conn
                    .prepare(
                        "SELECT partition, version FROM _bpl_shadow WHERE scope = ?2 AND dataset = ?1
                         UNION ALL
                         SELECT partition, version FROM _bpl_pointer p WHERE dataset = ?1
                           AND NOT EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = ?2
                             AND s.dataset = ?1 AND s.partition = p.partition)
                         ORDER BY 1",
                    )
                    .map_err(RuntimeError::sql)?;
                lock.versions = stmt
                    .query_map(params![t.decl, overlay.unwrap_or("")], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(RuntimeError::sql)?
                    .collect::<Result<_, _>>()
                    .map_err(RuntimeError::sql)?;
            } else {
                let cols: Vec<String> = match &i.lock {
                    Some(Lock::Snapshot(c)) => vec![c.clone()],
                    Some(Lock::Cursor(cs)) => cs.clone(),
                    None => vec!["rowid".into()],
                };
                let quoted: Vec<String> = cols
                    .iter()
                    .map(|c| if c == "rowid" { c.clone() } else { ident(c) })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {} LIMIT 1",
                    quoted.join(", "),
                    table_ref(&t.table),
                    quoted
                        .iter()
                        .map(|c| format!("{c} DESC"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let row: Option<Vec<Value>> = self
                    .conn
                    .query_row(&sql, [], |r| {
                        (0..cols.len()).map(|k| r.get::<_, Value>(k)).collect()
                    })
                    .optional()
                    .map_err(RuntimeError::sql)?;
                // An empty table locks at nothing: the run reads no rows.
                lock.high_water_mark = Some(
                    row.unwrap_or_else(|| vec![Value::Null; cols.len()])
                        .into_iter()
                        .map(super::functions::to_json)
                        .collect(),
                );
            }
            locks.push(lock);
        }
        Ok(locks)
    }

    fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        let lowered = self.lowered(plan)?;
        let mut out: Vec<Binding> = Vec::new();
        for (b, (_, query)) in plan.binds.iter().zip(&lowered.bindings) {
            for part in parts {
                let (policy, version) = match &b.policy {
                    BindPolicyKind::Pinned(v) => ("pinned".to_string(), v.clone()),
                    BindPolicyKind::AsOfEventTime => (
                        "as of event time".into(),
                        "effective-dated rows, matched per row".into(),
                    ),
                    BindPolicyKind::AsOfProcessingTime => {
                        ("as of processing time".into(), run.as_of.clone())
                    }
                    BindPolicyKind::AsOfReportClose => {
                        ("as of report close".into(), part.report_close.clone())
                    }
                    BindPolicyKind::Latest { .. } => ("latest".into(), "current rows".into()),
                };
                // The same version reads the same rows: counted once.
                if out
                    .iter()
                    .any(|x| x.alias == b.table.alias && x.version == version)
                {
                    continue;
                }
                let (n, checksum) = self.rows_and_checksum(query, &values(plan, run, part))?;
                out.push(Binding {
                    alias: b.table.alias.clone(),
                    reference: b.table.decl.clone(),
                    policy,
                    version,
                    rows: n,
                    checksum,
                });
            }
        }
        Ok(out)
    }

    fn next_version(&mut self, plan: &JobPlan, partition: &str) -> Result<i64, RuntimeError> {
        let lowered = self.lowered(plan)?;
        let a = self.count(
            "SELECT coalesce(max(version), 0) FROM _bpl_versions WHERE dataset = :d AND partition = :p",
            &[
                (":d".into(), Value::Text(plan.dataset.clone())),
                (":p".into(), Value::Text(partition.into())),
            ],
        )?;
        let b = self.count(
            &format!(
                "SELECT coalesce(max(_bpl_version), 0) FROM {} WHERE _bpl_partition = :p",
                ident(&lowered.data_table)
            ),
            &[(":p".into(), Value::Text(partition.into()))],
        )?;
        Ok(a.max(b) + 1)
    }

    fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let l = self.lowered(plan)?;
        self.conn
            .execute_batch(&crate::sql::range::batch_tables(&l.batch))
            .map_err(RuntimeError::sql)?;
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(RuntimeError::sql)?;
        let result = (|| -> Result<Vec<Staged>, RuntimeError> {
            let mut staged = Vec::new();
            if l.batch.single {
                for part in parts {
                    staged.extend(self.stage_batch(plan, &l, run, std::slice::from_ref(part))?);
                }
            } else {
                staged = self.stage_batch(plan, &l, run, parts)?;
            }
            // Which run staged each version, and as of when: kept once per
            // version here, not on every row, and what discarding a failed
            // run finds its rows by. Same transaction as the rows.
            let mut record = self
                .conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO _bpl_staged (dataset, partition, version, run_id, as_of)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(RuntimeError::sql)?;
            for part in parts {
                record
                    .execute(params![
                        plan.dataset,
                        part.partition,
                        part.version,
                        run.run_id,
                        run.as_of
                    ])
                    .map_err(RuntimeError::sql)?;
            }
            drop(record);
            // Inside the batch transaction: SQLite rolls it all back.
            super::fault::point("in-staging");
            super::cancel::check()?;
            Ok(staged)
        })();
        match result {
            Ok(staged) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(RuntimeError::sql)?;
                Ok(staged)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        let l = self.lowered(plan)?;
        let mut v = values(plan, run, part);
        // `output` is what was staged, counted on the staged version.
        let (rows_n, checksum, bytes) = {
            let mut stmt = self
                .conn
                .prepare_cached(&l.checksum)
                .map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            match rows.next().map_err(RuntimeError::sql)? {
                Some(r) => (
                    r.get::<_, i64>(0).map_err(RuntimeError::sql)?,
                    r.get::<_, Option<String>>(1)
                        .map_err(RuntimeError::sql)?
                        .unwrap_or_default(),
                    r.get::<_, i64>(2).map_err(RuntimeError::sql)?,
                ),
                None => (0, String::new(), 0),
            }
        };
        let c = &staged.counters;
        for (name, n) in [
            ("input", c.input),
            ("accepted", c.accepted),
            ("quarantined", c.quarantined),
            ("duplicates", c.duplicates),
            ("output", rows_n),
        ] {
            v.push((format!(":counter_{name}"), Value::Integer(n)));
        }
        for (alias, n) in &staged.rows {
            v.push((format!(":rows_{alias}"), Value::Integer(*n)));
        }
        for (alias, n) in &staged.partition_counts {
            v.push((format!(":partition_count_{alias}"), Value::Integer(*n)));
        }
        for (alias, n) in &staged.unmatched {
            v.push((format!(":unmatched_{alias}"), Value::Integer(*n)));
        }
        for (name, x) in &staged.input_aggregates {
            v.push((format!(":counter_{name}"), x.clone()));
        }
        if !l.drifts.is_empty() {
            // The previous partition of the time key, for `drift`.
            let prev = plan.grain().and_then(|g| {
                Some(crate::graph::calendar::format(
                    crate::graph::calendar::parse(&part.p, g)? - 1,
                    g,
                ))
            });
            v.push((":p_prev".into(), prev.map_or(Value::Null, Value::Text)));
            for (name, q) in &l.drifts {
                let x = self.scalar(q, &v)?;
                v.push((format!(":counter_{name}"), x));
            }
        }
        // Why a gate has no value: say which, truly. It fails (see `judge`).
        let no_value = if rows_n == 0 {
            "no value: the partition has no rows, and a check without a value fails"
        } else {
            "no value: the expression is null on this partition's rows, and a check without a value fails"
        };
        let evaluate = |gates: &[Gate]| -> Result<Vec<Evaluated>, RuntimeError> {
            gates
                .iter()
                .map(|g| {
                    let (passed, detail) = match &g.sides {
                        Some((left, right)) => {
                            let (a, b) = (self.scalar(left, &v)?, self.scalar(right, &v)?);
                            let tolerance = plan
                                .job
                                .reconcile
                                .iter()
                                .find(|r| r.name == g.name)
                                .and_then(|r| r.tolerance);
                            match (number(&a), number(&b)) {
                                (Some(x), Some(y)) => {
                                    let allowed = match tolerance {
                                        Some(crate::semantic::hir::Tolerance::Absolute(t)) => t,
                                        Some(crate::semantic::hir::Tolerance::Relative(r)) => {
                                            r * x.abs().max(y.abs())
                                        }
                                        None => 0.0,
                                    };
                                    (
                                        Some((x - y).abs() <= allowed),
                                        Some(format!("left = {x}, right = {y}, allowed difference = {allowed}")),
                                    )
                                }
                                _ => (None, Some(no_value.into())),
                            }
                        }
                        None => {
                            let value = self.scalar(&g.sql, &v)?;
                            let passed = truthy(&value);
                            let detail = match (&g.operands, passed) {
                                (_, None) => Some(no_value.to_string()),
                                (Some(sides), Some(false)) => {
                                    let mut shown = Vec::new();
                                    for (text, q) in sides {
                                        if q.starts_with("SELECT") && !q.contains(" FROM ") {
                                            continue;
                                        }
                                        let x = super::functions::to_json(self.scalar(q, &v)?);
                                        shown.push(format!("{text} = {x}"));
                                    }
                                    Some(shown.join(", "))
                                }
                                _ => None,
                            };
                            (passed, detail)
                        }
                    };
                    Ok(Evaluated {
                        gate: g.clone(),
                        passed,
                        detail,
                    })
                })
                .collect()
        };
        let expectations = evaluate(&l.expectations)?;
        let reconciliations = evaluate(&l.reconciliations)?;
        let key_duplicates = match &l.key_duplicates {
            Some(q) => Some(self.count(q, &v)?),
            None => None,
        };
        let out_of_partition = match &l.out_of_partition {
            Some(q) => Some(self.count(q, &v)?),
            None => None,
        };
        let typed_output = self.rows_and_checksum(&l.typed_output, &v)?;
        Ok(Measured {
            expectations,
            reconciliations,
            key_duplicates,
            out_of_partition,
            typed_output,
            rows: rows_n,
            bytes,
            checksum,
        })
    }

    fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let replace = plan.publish == crate::syntax::ast::PublishMode::Replace;
        let now = super::now();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        for p in what {
            if let Publish::Shadow { scope } = &p.how {
                tx.execute(
                    "INSERT INTO _bpl_shadow (scope, dataset, partition, version, run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, dataset, partition) DO UPDATE SET
                       version = excluded.version, run_id = excluded.run_id",
                    params![scope, plan.dataset, p.partition, p.version, run_id],
                )
                .map_err(RuntimeError::sql)?;
                continue;
            }
            let prior: Option<(i64, String)> = tx
                .query_row(
                    "SELECT p.version, coalesce(v.status, 'ACTIVE') FROM _bpl_pointer p
                     LEFT JOIN _bpl_versions v ON v.dataset = p.dataset
                       AND v.partition = p.partition AND v.version = p.version
                     WHERE p.dataset = ?1 AND p.partition = ?2",
                    params![plan.dataset, p.partition],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(RuntimeError::sql)?;
            tx.execute(
                "INSERT INTO _bpl_pointer (dataset, partition, version, run_id, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (dataset, partition) DO UPDATE SET version = excluded.version,
                   run_id = excluded.run_id, published_at = excluded.published_at",
                params![plan.dataset, p.partition, p.version, run_id, now],
            )
            .map_err(RuntimeError::sql)?;
            let (status, reason, summary) = match &p.how {
                Publish::Restate { reason, summary } => {
                    ("RESTATED", Some(reason.as_str()), Some(summary.as_str()))
                }
                _ => ("ACTIVE", None, None),
            };
            if let Some((prior, prior_was)) = &prior {
                // A version that was ever a reported figure of a closed
                // period stays readable: restating keeps it as SUBMITTED.
                let evidence = matches!(prior_was.as_str(), "SUBMITTED" | "RESTATED");
                let becomes = match (status, evidence) {
                    ("RESTATED", false) => "SUBMITTED",
                    (_, true) => prior_was.as_str(),
                    _ => "SUPERSEDED",
                };
                tx.execute(
                    "UPDATE _bpl_versions SET status = ?4 WHERE dataset = ?1 AND partition = ?2 AND version = ?3",
                    params![plan.dataset, p.partition, prior, becomes],
                )
                .map_err(RuntimeError::sql)?;
                if replace && becomes == "SUPERSEDED" {
                    tx.execute(
                        &format!(
                            "DELETE FROM {} WHERE _bpl_partition = ?1 AND _bpl_version = ?2",
                            ident(&l.data_table)
                        ),
                        params![p.partition, prior],
                    )
                    .map_err(RuntimeError::sql)?;
                }
            }
            tx.execute(
                "INSERT INTO _bpl_versions (dataset, partition, version, run_id, status, prior_version, reason, summary, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    plan.dataset,
                    p.partition,
                    p.version,
                    run_id,
                    status,
                    prior.as_ref().map(|x| x.0),
                    reason,
                    summary,
                    now
                ],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.execute(
            "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES (?1, ?2, ?3)",
            params![run_id, plan.dataset, now],
        )
        .map_err(RuntimeError::sql)?;
        super::fault::point("mid-commit");
        tx.commit().map_err(RuntimeError::sql)
    }

    fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = [(":run_id".to_string(), Value::Text(run_id.into()))];
        let n = self.execute(&l.discard, &rid)?;
        // Then the record of what it staged: were this left behind alone,
        // a later discard would find nothing to remove.
        self.execute(
            &format!(
                "DELETE FROM _bpl_staged WHERE dataset = {} AND (partition, version) IN ({})",
                crate::sql::types::string(&plan.dataset),
                crate::sql::sqlite::unkept_versions(&plan.dataset)
            ),
            &rid,
        )?;
        Ok(n as i64)
    }

    fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        // A version number belongs to the one run that staged it.
        let rows = format!(
            "DELETE FROM {} WHERE _bpl_partition = :partition AND _bpl_version = :version",
            ident(&l.data_table)
        );
        let record = "DELETE FROM _bpl_staged WHERE dataset = :dataset AND partition = :partition \
                      AND version = :version AND run_id = :run_id";
        let mut n = 0;
        for (partition, version) in partitions {
            let v = [
                (":dataset".to_string(), Value::Text(plan.dataset.clone())),
                (":partition".into(), Value::Text(partition.clone())),
                (":version".into(), Value::Integer(*version)),
                (":run_id".into(), Value::Text(run_id.into())),
            ];
            n += self.execute(&rows, &v[1..3])? as i64;
            self.execute(record, &v)?;
        }
        Ok(n)
    }

    fn inspect(&mut self, plan: &JobPlan, run_id: &str) -> Result<Inspection, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = || vec![(":run_id".to_string(), Value::Text(run_id.into()))];
        let committed = self.count(
            "SELECT count(*) FROM _bpl_commits WHERE run_id = :run_id",
            &rid(),
        )? > 0;
        let staged_rows = if self.columns_of(&l.data_table)?.is_empty() {
            0
        } else {
            self.count(
                &l.discard.replacen("DELETE FROM", "SELECT count(*) FROM", 1),
                &rid(),
            )?
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT partition, version FROM _bpl_pointer WHERE dataset = ?1 AND run_id = ?2
                 UNION SELECT partition, version FROM _bpl_shadow WHERE dataset = ?1 AND run_id = ?2
                 ORDER BY 1",
            )
            .map_err(RuntimeError::sql)?;
        let active = stmt
            .query_map(params![plan.dataset, run_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(RuntimeError::sql)?
            .collect::<Result<_, _>>()
            .map_err(RuntimeError::sql)?;
        Ok(Inspection {
            committed,
            staged_rows,
            active,
        })
    }

    fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError> {
        let from = match from {
            Some(v) => Some(v),
            None => self.versions(plan, partition, None)?.0,
        };
        let q = crate::sql::diff::diff(plan);
        let v = vec![
            (":partition".to_string(), Value::Text(partition.into())),
            (":from".to_string(), Value::Integer(from.unwrap_or(-1))),
            (":to".to_string(), Value::Integer(to)),
        ];
        let mut d = Diff {
            dataset: plan.dataset.clone(),
            partition: partition.into(),
            from_version: from,
            to_version: to,
            ..Diff::default()
        };
        let mut stmt = self.conn.prepare(&q.counts).map_err(RuntimeError::sql)?;
        bind(&mut stmt, &v)?;
        let mut rows = stmt.raw_query();
        if let Some(r) = rows.next().map_err(RuntimeError::sql)? {
            let n = |i: usize| r.get::<_, i64>(i).map_err(RuntimeError::sql);
            (d.added, d.removed, d.changed, d.unchanged) = (n(0)?, n(1)?, n(2)?, n(3)?);
        }
        drop(rows);
        for (column, sql) in &q.metrics {
            let mut stmt = self.conn.prepare(sql).map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            if let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                let (a, b): (f64, f64) = (
                    r.get(0).map_err(RuntimeError::sql)?,
                    r.get(1).map_err(RuntimeError::sql)?,
                );
                d.metrics.push(MetricDelta {
                    column: column.clone(),
                    from: a,
                    to: b,
                    delta: b - a,
                });
            }
        }
        let mut stmt = self.conn.prepare(&q.sample).map_err(RuntimeError::sql)?;
        bind(&mut stmt, &v)?;
        let mut rows = stmt.raw_query();
        let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
        while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
            d.rows.push(RowChange {
                change: r.get(0).map_err(RuntimeError::sql)?,
                key: json(r.get(1).map_err(RuntimeError::sql)?).unwrap_or_default(),
                before: json(r.get(2).map_err(RuntimeError::sql)?),
                after: json(r.get(3).map_err(RuntimeError::sql)?),
            });
        }
        Ok(d)
    }

    fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        tx.execute(
            &format!(
                "DELETE FROM {d} WHERE EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = ?1 AND s.dataset = ?2
                   AND s.partition = {d}._bpl_partition AND s.version = {d}._bpl_version)",
                d = ident(&l.data_table)
            ),
            params![scope, plan.dataset],
        )
        .map_err(RuntimeError::sql)?;
        tx.execute(
            "DELETE FROM _bpl_shadow WHERE scope = ?1 AND dataset = ?2",
            params![scope, plan.dataset],
        )
        .map_err(RuntimeError::sql)?;
        tx.commit().map_err(RuntimeError::sql)
    }

    fn clear_shadows(&mut self, plan: &JobPlan, partitions: &[String]) -> Result<(), RuntimeError> {
        // Most datasets have no shadows: one indexed look, no transaction.
        let any: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM _bpl_shadow WHERE dataset = ?1)",
                params![plan.dataset],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        if !any {
            return Ok(());
        }
        let l = self.lowered(plan)?;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        for partition in partitions {
            tx.execute(
                &format!(
                    "DELETE FROM {d} WHERE _bpl_partition = ?2 AND EXISTS (SELECT 1 FROM _bpl_shadow s
                       WHERE s.dataset = ?1 AND s.partition = ?2 AND s.version = {d}._bpl_version)",
                    d = ident(&l.data_table)
                ),
                params![plan.dataset, partition],
            )
            .map_err(RuntimeError::sql)?;
            tx.execute(
                "DELETE FROM _bpl_shadow WHERE dataset = ?1 AND partition = ?2",
                params![plan.dataset, partition],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    fn dimension_values(&mut self, plan: &JobPlan, key: &str) -> Result<Vec<String>, RuntimeError> {
        let mut values = std::collections::BTreeSet::new();
        for i in &plan.inputs {
            for (out, col) in &i.dimensions {
                if out != key {
                    continue;
                }
                let sql = format!(
                    "SELECT DISTINCT CAST({c} AS TEXT) FROM {t} WHERE {c} IS NOT NULL",
                    c = ident(col),
                    t = table_ref(&i.table.table)
                );
                let mut stmt = self.conn.prepare(&sql).map_err(RuntimeError::sql)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(RuntimeError::sql)?;
                for v in rows {
                    values.insert(v.map_err(RuntimeError::sql)?);
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    fn versions(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        scope: Option<&str>,
    ) -> Result<(Option<i64>, Option<i64>), RuntimeError> {
        let active = self
            .conn
            .query_row(
                "SELECT version FROM _bpl_pointer WHERE dataset = ?1 AND partition = ?2",
                params![plan.dataset, partition],
                |r| r.get(0),
            )
            .optional()
            .map_err(RuntimeError::sql)?;
        let shadow = match scope {
            Some(scope) => self
                .conn
                .query_row(
                    "SELECT version FROM _bpl_shadow WHERE scope = ?1 AND dataset = ?2 AND partition = ?3",
                    params![scope, plan.dataset, partition],
                    |r| r.get(0),
                )
                .optional()
                .map_err(RuntimeError::sql)?,
            None => None,
        };
        Ok((active, shadow))
    }
}
