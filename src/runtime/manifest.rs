//! The run manifest: everything a run decided and observed, written to the
//! ledger at every transition. `bplc show RUN` prints it whole; its JSON
//! shape is documented in the book (cli/run.md).

use serde::{Deserialize, Serialize};

/// A run's place in the lifecycle. Every transition is durable before the
/// next step starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Planned,
    InputLocked,
    Running,
    Validating,
    Committing,
    Published,
    Failed,
    /// Waiting for `bplc approve` or `bplc reject`.
    Held,
    /// Computed, validated and written to shadow tables only (a shadow,
    /// compare-only or dry-run backfill); readers see nothing new.
    Shadowed,
    /// A crash left the run mid-way; `bplc recover` decides what happened.
    Unknown,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Planned => "PLANNED",
            Status::InputLocked => "INPUT_LOCKED",
            Status::Running => "RUNNING",
            Status::Validating => "VALIDATING",
            Status::Committing => "COMMITTING",
            Status::Published => "PUBLISHED",
            Status::Failed => "FAILED",
            Status::Held => "HELD",
            Status::Shadowed => "SHADOWED",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// Whether the run is over and its leases released.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Published | Status::Failed | Status::Shadowed)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Times {
    pub planned: Option<String>,
    pub locked: Option<String>,
    pub started: Option<String>,
    pub finished: Option<String>,
}

/// What a run was asked to do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parameters {
    /// The run date or range as given (`2026-07-04`, `2026-07-01..2026-07-04`).
    pub dates: String,
    /// The processing time bindings and output rows are stamped with.
    pub as_of: String,
    /// Values for the partition's dimension keys (`tenant_id=acme`).
    pub dimensions: Vec<(String, String)>,
}

/// How one input was locked at run start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputLock {
    pub alias: String,
    pub input: String,
    /// Sources: the high-water mark (a snapshot value, a cursor tuple, or
    /// the last rowid) — a retry reads up to it and no further.
    pub high_water_mark: Option<Vec<serde_json::Value>>,
    /// Datasets: the active version of each partition read.
    pub versions: Vec<(String, i64)>,
}

/// A reference binding as the run resolved it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binding {
    pub alias: String,
    pub reference: String,
    pub policy: String,
    pub version: String,
    pub rows: i64,
    pub checksum: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub input: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    pub accepted: i64,
    pub output: i64,
}

/// One quality rule or reconciliation, evaluated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub text: String,
    pub severity: String,
    pub passed: bool,
    /// Row rules: rows that failed.
    pub failing_rows: Option<i64>,
    /// What was measured, for reports (`left = 10, right = 10`).
    pub detail: Option<String>,
}

/// What happens to one partition the run computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Publish,
    /// `fail partition`: this partition is held back; the others publish.
    HoldPartition,
}

/// Where a run's passing partitions go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The active version (closed partitions are refused).
    #[default]
    Publish,
    /// Closed partitions, as restated versions with a reason.
    Restate { reason: String },
    /// Shadow tables of a backfill `scope` only.
    Shadow { scope: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    pub partition: String,
    pub version: i64,
    pub rows: i64,
    pub checksum: String,
    pub counters: Counters,
    pub quality: Vec<Check>,
    pub reconciliation: Vec<Check>,
    pub decision: Decision,
    pub published: bool,
    /// For a restatement: what changed against the prior version.
    #[serde(default)]
    pub change: Option<serde_json::Value>,
    /// The first version of a closed partition that was never published:
    /// an initial load, not a restatement (nothing reported changes).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initial_load: bool,
    /// The size of the partition's values in bytes (text bytes, 8 per number):
    /// what makes a partition too small to be worth its own overhead (see
    /// `bplc metrics`). Absent in manifests written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
}

/// A person's decision about a run, kept for the audit trail: an approval
/// or rejection of a held run, or a rollback (a run of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// `approved`, `rejected` or `rolled back`.
    pub decision: String,
    /// Who decided: `--by`, or the OS user.
    pub by: String,
    pub reason: Option<String>,
    pub at: String,
    /// A rollback: the version that was active, and the one made active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_version: Option<i64>,
}

impl Review {
    /// `approved by ann: "checked with finance"`, as text reports say it.
    pub fn line(&self) -> String {
        let versions = match (self.from_version, self.to_version) {
            (Some(a), Some(b)) => format!(" v{a} -> v{b}"),
            _ => String::new(),
        };
        let reason = self
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(": {r:?}"));
        format!("{}{versions} by {}{reason}", self.decision, self.by)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub dataset: String,
    pub job_version: u32,
    /// `run`, or `retry` for a later attempt of the same run, or
    /// `backfill` for a step of a backfill.
    pub mode: String,
    #[serde(default)]
    pub target: Target,
    /// The backfill this run is a step of.
    #[serde(default)]
    pub backfill: Option<String>,
    pub attempt: u32,
    pub parameters: Parameters,
    pub status: Status,
    /// Output partitions the run owns.
    pub partitions: Vec<String>,
    pub input_lock: Vec<InputLock>,
    pub bindings: Vec<Binding>,
    pub times: Times,
    pub outputs: Vec<Output>,
    /// Why the run failed or is held.
    pub error: Option<String>,
    /// `bplc recover`'s decision, once made.
    pub recovery: Option<String>,
    /// Who approved, rejected or rolled back, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

impl Manifest {
    /// A new run of `plan`'s job, PLANNED now; the ledger gives it its id
    /// when it begins.
    pub fn planned(
        plan: &crate::plan::JobPlan,
        mode: &str,
        target: Target,
        parameters: Parameters,
        partitions: Vec<String>,
    ) -> Manifest {
        Manifest {
            run_id: String::new(),
            dataset: plan.dataset.clone(),
            job_version: plan.version,
            mode: mode.into(),
            target,
            backfill: None,
            attempt: 1,
            parameters,
            status: Status::Planned,
            partitions,
            input_lock: Vec::new(),
            bindings: Vec::new(),
            times: Times {
                planned: Some(super::now()),
                ..Times::default()
            },
            outputs: Vec::new(),
            error: None,
            recovery: None,
            review: None,
        }
    }
}
