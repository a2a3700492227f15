//! Job plans: everything one run of a dataset needs, gathered from the
//! checked program into plain data — the tables it reads and how each is
//! bounded and locked, the bindings and their temporal policies, the
//! pipeline, the gates — so that the SQL backends and the runtime never
//! look anything up in the program again.

use serde::Serialize;

use crate::graph::calendar;
use crate::semantic::hir::{
    self, BindPolicyKind, CloseRule, DeclId, Grain, Job, Lock, Mapping, PartitionKind, Program,
    TimeMapping,
};
use crate::semantic::T;
use crate::syntax::ast::{DeclKind, PublishMode, RestatePolicy, Severity};

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(serialize_with = "ser_t")]
    pub ty: T,
    pub nullable: bool,
}

fn ser_t<S: serde::Serializer>(t: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

/// A table a job reads: an input or a binding.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub alias: String,
    /// The declaration's name.
    pub decl: String,
    pub kind: DeclKind,
    /// The physical table (for datasets, the view of active versions).
    pub table: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputPlan {
    #[serde(flatten)]
    pub table: Table,
    pub boundary: Boundary,
    /// Static dimensions passed through: `(output key, input column)`.
    pub dimensions: Vec<(String, String)>,
    /// Sources: how the run locks what it reads.
    pub lock: Option<Lock>,
    /// Datasets: the keys that split a partition besides time, in the
    /// order they appear in a partition id (`tenant/2026-06-15`).
    pub dimension_keys: Vec<String>,
    /// The input's declared key: its columns may not be null.
    pub key: Vec<String>,
    /// A source's rows that fail the typed input boundary: quarantined
    /// (the default), or they fail the partition or the run.
    pub bad_rows: Severity,
}

/// Which rows of an input feed output partition `p`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// A dataset input: its partitions `[p + lo, p + hi]` (output grain),
    /// read at its own grain through its partition column.
    Partitions {
        column: String,
        input_grain: Grain,
        lo: i64,
        hi: i64,
    },
    /// A condition over the input's columns and `p`.
    Filter(hir::Expr),
    /// Everything: `all history`, or an input without partitions.
    All,
}

#[derive(Debug, Clone, Serialize)]
pub struct BindPlan {
    #[serde(flatten)]
    pub table: Table,
    pub policy: BindPolicyKind,
    /// `as of <expr>` for a binding as of event time.
    pub as_of: Option<hir::Expr>,
    pub validity: Option<(String, String)>,
    pub versioned_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobPlan {
    pub dataset: String,
    pub version: u32,
    /// The view consumers read; rows live in `<table>__data`.
    pub table: String,
    pub publish: PublishMode,
    /// The time key: the unit a run computes, publishes and reconciles.
    pub time_key: Option<(String, Grain)>,
    /// Every partition key, time key included.
    pub partition: Vec<hir::PartitionKey>,
    pub key: Vec<String>,
    pub columns: Vec<Column>,
    pub inputs: Vec<InputPlan>,
    pub binds: Vec<BindPlan>,
    pub job: Job,
    /// Partitions of the time grain a run date recomputes before it.
    pub lookback: i64,
    pub closed_after: Option<CloseRule>,
    pub restate: Option<RestatePolicy>,
}

/// Why a dataset cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn table(program: &Program, alias: &str, id: DeclId) -> Table {
    let d = program.get(id);
    Table {
        alias: alias.to_string(),
        decl: d.name.clone(),
        kind: d.kind,
        table: d.table.clone(),
        columns: columns(d),
    }
}

fn columns(d: &hir::Decl) -> Vec<Column> {
    d.columns
        .iter()
        .map(|c| Column {
            name: c.name.clone(),
            ty: c.ty.t.clone(),
            nullable: c.ty.nullable,
        })
        .collect()
}

impl JobPlan {
    pub fn build(program: &Program, dataset: &str) -> Result<JobPlan, PlanError> {
        let d = program
            .lookup(dataset)
            .ok_or_else(|| PlanError(format!("no declaration is called `{dataset}`")))?;
        if d.kind != DeclKind::Dataset {
            return Err(PlanError(format!(
                "`{dataset}` is a {}; only datasets run",
                d.kind.keyword()
            )));
        }
        let job = d.job.clone().ok_or_else(|| {
            PlanError(format!(
                "`{dataset}` was checked without lowering its job: compile the project with `driver::compile`"
            ))
        })?;
        let time_key = d.partition.iter().find_map(|k| match k.kind {
            PartitionKind::Time(g) => Some((k.name.clone(), g)),
            _ => None,
        });
        let mut inputs = Vec::new();
        for i in &d.inputs {
            let target = program.get(i.target);
            let filter = job
                .boundaries
                .iter()
                .find(|(a, _)| *a == i.alias)
                .and_then(|(_, e)| e.clone());
            let boundary = match (target.kind, target.grain(), &i.mapping) {
                (
                    DeclKind::Dataset,
                    Some(g),
                    Mapping {
                        time: TimeMapping::Window { lo, hi },
                        ..
                    },
                ) => Boundary::Partitions {
                    column: time_column(target).unwrap_or_default(),
                    input_grain: g,
                    lo: *lo,
                    hi: *hi,
                },
                (
                    _,
                    _,
                    Mapping {
                        time: TimeMapping::All,
                        ..
                    },
                ) if filter.is_none() => Boundary::All,
                _ => match filter {
                    Some(f) => Boundary::Filter(f),
                    None => Boundary::All,
                },
            };
            inputs.push(InputPlan {
                table: table(program, &i.alias, i.target),
                boundary,
                dimensions: i.mapping.dimensions.clone(),
                lock: target.access.lock.clone(),
                dimension_keys: target
                    .partition
                    .iter()
                    .filter(|k| {
                        matches!(
                            k.kind,
                            PartitionKind::Dimension | PartitionKind::Hash { .. }
                        )
                    })
                    .map(|k| k.name.clone())
                    .collect(),
                key: target.key.clone(),
                bad_rows: target.access.bad_rows.unwrap_or(Severity::Quarantine),
            });
        }
        let binds = d
            .binds
            .iter()
            .map(|b| {
                let target = program.get(b.target);
                BindPlan {
                    table: table(program, &b.alias, b.target),
                    policy: b.policy.clone(),
                    as_of: job
                        .as_of
                        .iter()
                        .find(|(a, _)| *a == b.alias)
                        .map(|(_, e)| e.clone()),
                    validity: target.access.validity.clone(),
                    versioned_by: target.access.versioned_by.clone(),
                }
            })
            .collect();
        Ok(JobPlan {
            dataset: d.name.clone(),
            version: d.version,
            table: d.table.clone(),
            publish: d.publish.unwrap_or(PublishMode::Replace),
            time_key,
            partition: d.partition.clone(),
            key: d.key.clone(),
            columns: columns(d),
            inputs,
            binds,
            job,
            lookback: d.schedule.as_ref().map_or(0, |s| s.lookback),
            closed_after: d.closed_after,
            restate: d.restate,
        })
    }

    /// The keys that split a partition besides time, in order: static
    /// dimensions and hash buckets.
    pub fn dimension_keys(&self) -> Vec<&str> {
        self.partition
            .iter()
            .filter(|k| {
                matches!(
                    k.kind,
                    PartitionKind::Dimension | PartitionKind::Hash { .. }
                )
            })
            .map(|k| k.name.as_str())
            .collect()
    }

    /// The hash key, if the partition has one: `(key, column, buckets)`.
    pub fn hash_key(&self) -> Option<(&str, &str, u32)> {
        self.partition.iter().find_map(|k| match &k.kind {
            PartitionKind::Hash { column, buckets } => {
                Some((k.name.as_str(), column.as_str(), *buckets))
            }
            _ => None,
        })
    }

    /// The time grain of the partition, if it has one.
    pub fn grain(&self) -> Option<Grain> {
        self.time_key.as_ref().map(|(_, g)| *g)
    }

    /// The columns that identify an output row, for diffs: the declared
    /// key, else the grouping keys, else every column.
    pub fn identity(&self) -> Vec<String> {
        if !self.key.is_empty() {
            return self.key.clone();
        }
        for step in &self.job.steps {
            if let hir::Step::Group { keys, .. } = step {
                return keys.iter().map(|k| k.name.clone()).collect();
            }
        }
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The first and last value of the time key among these partition ids
    /// (which join their key values with `/`, in key order): what
    /// `--range` takes to name them. `None` without a time key.
    pub fn time_range<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Option<(String, String)> {
        let (key, _) = self.time_key.as_ref()?;
        let at = self.partition.iter().position(|p| p.name == *key)?;
        let values: Vec<&str> = ids
            .into_iter()
            .filter_map(|id| id.split('/').nth(at))
            .collect();
        Some((
            values.iter().min()?.to_string(),
            values.iter().max()?.to_string(),
        ))
    }

    /// The last day a partition is open, if the dataset has a close rule
    /// (closed from the next day on; see [`crate::graph::closing`]).
    pub fn closes_on(&self, partition: i64) -> Option<i64> {
        let (rule, grain) = (self.closed_after?, self.grain()?);
        Some(crate::graph::closing::open_through(rule, grain, partition))
    }
}

fn time_column(d: &hir::Decl) -> Option<String> {
    d.partition.iter().find_map(|k| match k.kind {
        PartitionKind::Time(_) => Some(k.name.clone()),
        _ => None,
    })
}

/// The input partitions (in the input's grain, inclusive) that output
/// partition `p` reads through a window `[p + lo, p + hi]`.
pub fn input_range(p: i64, out: Grain, input: Grain, lo: i64, hi: i64) -> (i64, i64) {
    let first = calendar::first_day_of(p + lo, out);
    let last = calendar::last_day_of(p + hi, out);
    (
        calendar::of_day(first, input),
        calendar::of_day(last, input),
    )
}
