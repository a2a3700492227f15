//! The runtime: runs a job plan against an [`engine::Engine`] under the
//! lifecycle of DESIGN.md section 3 — PLANNED, INPUT_LOCKED, RUNNING,
//! VALIDATING, COMMITTING, PUBLISHED (or FAILED, HELD, UNKNOWN) — recording
//! every transition in the [`ledger::Ledger`] before taking the next step.

pub mod backfill;
pub mod cancel;
pub mod diff;
pub mod engine;
pub mod fault;
pub mod identity;
pub mod ingest_ledger;
pub mod ledger;
pub mod lifecycle;
pub mod manifest;
pub mod recover;
pub mod rollback;

use std::path::Path;

use crate::diagnostic::codes::{self, Code};

/// Seconds a connection waits for another writer, unless `bpl.toml` says
/// otherwise (`lock_timeout`).
pub const DEFAULT_LOCK_TIMEOUT: u64 = 10;

static LOCK_TIMEOUT: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(DEFAULT_LOCK_TIMEOUT);

/// Sets how long every warehouse and ledger connection opened from now on
/// waits for another writer.
pub fn set_lock_timeout(seconds: u64) {
    LOCK_TIMEOUT.store(seconds, std::sync::atomic::Ordering::Relaxed);
}

/// How long a connection waits for another writer.
pub fn lock_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(LOCK_TIMEOUT.load(std::sync::atomic::Ordering::Relaxed))
}

/// The wall-clock time, for the record only (when a step happened); never
/// to decide what a run computes.
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Whether SQLite gave up waiting for another connection's lock (or, for
/// a step it never waits at, refused at once).
pub(crate) fn gave_up_waiting(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// Why a runtime command could not do what was asked.
#[derive(Debug)]
pub enum RuntimeError {
    Leased {
        dataset: String,
        partition: String,
        holder: String,
        /// The holder is HELD for review (not running, not crashed).
        held: bool,
    },
    MissingInput(String),
    LedgerTooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    Corrupt {
        what: String,
        detail: String,
    },
    NoSuchRun(String),
    WrongState {
        run_id: String,
        status: &'static str,
        wanted: &'static str,
    },
    /// What the engine cannot translate: only for what another engine
    /// could run (its help says so).
    Unsupported(String),
    /// A rollback to a version the warehouse does not hold (`version`
    /// `None`: the partition was never published).
    VersionNotKept {
        dataset: String,
        partition: String,
        version: Option<i64>,
        /// A `publish replace` dataset keeps only its active version.
        replace: bool,
    },
    /// A dimension value that cannot name a partition: empty, or with a
    /// `/` (partition ids join key values with `/`).
    BadDimensionValue {
        dataset: String,
        key: String,
        value: String,
    },
    /// A restatement the dataset's contract does not allow as asked:
    /// `restate never`, or no reason given.
    RestatementRefused {
        dataset: String,
        never: bool,
    },
    /// A step of a saved plan that names no partitions the dataset has
    /// (an unbounded range, a partition of another grain).
    PlanStep(String),
    /// Replacing a closed partition: only a restatement may change it.
    Closed {
        dataset: String,
        partitions: Vec<String>,
        /// The closed partitions' time key range, for `--range`.
        range: Option<(String, String)>,
    },
    /// The stored schema of a dataset with published partitions differs
    /// from its declaration: `backfill --mode migration` rebuilds it.
    SchemaDrift {
        dataset: String,
        drift: String,
        /// How many partitions are published, and the range of their
        /// time key (none without one).
        published: i64,
        range: Option<(String, String)>,
    },
    /// A database attached as a source that cannot be used: missing,
    /// unreadable, or an alias `bpl.toml` does not declare.
    Attachment {
        alias: String,
        path: Option<String>,
        problem: String,
    },
    /// A `${NAME}` in `bpl.toml` names an unset environment variable.
    UnsetVariable {
        key: String,
        variable: String,
    },
    /// The dataset's output name is a table or view bplc did not create.
    NotOwned {
        dataset: String,
        name: String,
        kind: String,
    },
    /// SIGINT or SIGTERM stopped the run before it published.
    Interrupted,
    /// A warehouse and a ledger that carry different project ids.
    Foreign {
        warehouse: String,
        ledger: String,
    },
    /// A warehouse or ledger, opened alone, that names another project.
    OtherProject {
        what: &'static str,
        /// As messages show it: a file's path in backticks, a server's
        /// schema or database by name.
        path: String,
        found: String,
        project: String,
        /// The other file of this project, which carries no identity yet.
        partner: String,
    },
    /// A ledger that does not exist, next to a warehouse holding runs
    /// recorded in another one (`highest` is the last of them).
    NewLedger {
        ledger: String,
        warehouse: String,
        highest: String,
        /// What starts an empty ledger there on purpose (`touch FILE`).
        create: String,
    },
    /// The warehouse, or the ledger's directory, does not exist.
    NoSuchPath {
        what: &'static str,
        path: String,
        file: String,
    },
    /// Rolling back a closed period needs a reason.
    ReasonRequired {
        dataset: String,
        partition: String,
    },
    /// A database server that cannot be used as configured (the
    /// PostgreSQL engine's E0360–E0379): the code, what happened, and the
    /// setting or grant that fixes it.
    Server {
        code: Code,
        message: String,
        help: String,
    },
    /// A sum or product beyond what a 64-bit integer holds: an `int`, or
    /// a decimal's 18 digits (see `sql::types`). Never rounded into a
    /// float: the statement stops.
    Overflow(String),
    Engine(String),
    Io(String),
    /// An error that carries its own code and help: landing files and
    /// seeds (`crate::ingest`).
    Coded {
        code: Code,
        message: String,
        help: String,
    },
}

impl RuntimeError {
    pub fn sql(e: rusqlite::Error) -> RuntimeError {
        if gave_up_waiting(&e) {
            return RuntimeError::locked("a warehouse or ledger file");
        }
        let text = e.to_string();
        // SQLite's for a sum of integers, and the decimal functions'.
        if text == "integer overflow" || text.contains("does not fit a decimal") {
            return RuntimeError::Overflow(text);
        }
        RuntimeError::Engine(text)
    }

    pub fn io(path: &Path, e: std::io::Error) -> RuntimeError {
        RuntimeError::Io(format!("{}: {e}", path.display()))
    }

    /// An error opening or migrating the ledger: it is not a ledger we can read.
    pub fn ledger(path: &Path, e: rusqlite::Error) -> RuntimeError {
        if gave_up_waiting(&e) {
            return RuntimeError::locked(&format!("the ledger `{}`", path.display()));
        }
        RuntimeError::Corrupt {
            what: format!("the ledger `{}`", path.display()),
            detail: e.to_string(),
        }
    }

    /// `what` stayed locked by another connection for the whole lock
    /// timeout. Not damage: the other command is still writing.
    pub fn locked(what: &str) -> RuntimeError {
        let seconds = lock_timeout().as_secs();
        RuntimeError::Coded {
            code: codes::E0337,
            message: format!(
                "{what} stayed locked by another process for longer than the lock timeout ({seconds} s)"
            ),
            help: "another bplc command is writing it; this step changed nothing: run it again when that command has finished, or let commands wait longer with `lock_timeout = SECONDS` in bpl.toml".into(),
        }
    }

    pub fn code(&self) -> Code {
        match self {
            RuntimeError::Leased { .. } => codes::E0301,
            RuntimeError::MissingInput(_) => codes::E0302,
            RuntimeError::LedgerTooNew { .. } | RuntimeError::Corrupt { .. } => codes::E0303,
            RuntimeError::NoSuchRun(_) | RuntimeError::WrongState { .. } => codes::E0304,
            RuntimeError::Unsupported(_) => codes::E0305,
            RuntimeError::VersionNotKept { .. } => codes::E0322,
            RuntimeError::BadDimensionValue { .. } => codes::E0321,
            RuntimeError::Closed { .. } => codes::E0307,
            RuntimeError::NotOwned { .. } => codes::E0308,
            RuntimeError::SchemaDrift { .. } => codes::E0312,
            RuntimeError::UnsetVariable { .. } => codes::E0313,
            RuntimeError::Attachment { .. } => codes::E0314,
            RuntimeError::RestatementRefused { .. } => codes::E0310,
            RuntimeError::PlanStep(_) => codes::E0320,
            RuntimeError::Interrupted => codes::E0309,
            RuntimeError::Foreign { .. } => codes::E0330,
            RuntimeError::OtherProject { .. } => codes::E0331,
            RuntimeError::NewLedger { .. } => codes::E0332,
            RuntimeError::NoSuchPath { .. } => codes::E0333,
            RuntimeError::ReasonRequired { .. } => codes::E0335,
            RuntimeError::Server { code, .. } => *code,
            RuntimeError::Overflow(_) => codes::E0345,
            RuntimeError::Engine(_) | RuntimeError::Io(_) => codes::E0306,
            RuntimeError::Coded { code, .. } => *code,
        }
    }

    pub fn help(&self) -> String {
        match self {
            RuntimeError::Leased { holder, held: true, .. } => format!(
                "review it: `bplc approve {holder}` publishes it, `bplc reject {holder}` discards it (see `bplc show {holder}`)"
            ),
            RuntimeError::Leased { holder, .. } => format!(
                "wait for {holder} to finish, or resolve it with `bplc recover {holder}` if it crashed"
            ),
            RuntimeError::MissingInput(_) => "load the table (for a demo: `bplc demo-data`), or fix the declaration to match the table".into(),
            RuntimeError::LedgerTooNew { .. } => "use the bplc release that wrote this ledger, or a newer one".into(),
            RuntimeError::Corrupt { .. } => "restore the ledger from a backup; bplc does not guess at a damaged ledger".into(),
            RuntimeError::NoSuchRun(_) => "list runs with `bplc runs`".into(),
            RuntimeError::WrongState { .. } => "see the run with `bplc show RUN`".into(),
            RuntimeError::Unsupported(_) => "rewrite the step, or run the dataset on an engine that supports it".into(),
            RuntimeError::VersionNotKept { replace: true, .. } => "a `publish replace` dataset keeps only its active version, so there is none to go back to; declare it `publish versioned` to keep earlier ones, or run the partition again".into(),
            RuntimeError::VersionNotKept { dataset, partition, version: Some(_), .. } => format!("the runs of `{dataset}` in `bplc runs --dataset {dataset}` show which versions of {partition} were published"),
            RuntimeError::VersionNotKept { dataset, partition, .. } => format!("publish it first: `bplc run {dataset} --date {partition}`"),
            RuntimeError::BadDimensionValue { key, .. } => format!("partition ids join key values with `/` (`acme/2026-06-15`), so a value of `{key}` cannot be empty or hold a `/`; clean the values, or partition by another column"),
            RuntimeError::Closed { dataset, range, .. } => format!(
                "restate it instead: `bplc backfill --from {dataset}{} --mode restatement --reason \"...\"`",
                range.as_ref().map(|(a, b)| format!(" --range {a}..{b}")).unwrap_or_default()
            ),
            RuntimeError::SchemaDrift { dataset, range, .. } => format!(
                "rebuild its published partitions in the new schema: `bplc backfill --from {dataset}{} --mode migration`; every stored version stays, for rollback",
                range.as_ref().map(|(a, b)| format!(" --range {a}..{b}")).unwrap_or_default()
            ),
            RuntimeError::Attachment { alias, path: None, .. } => format!(
                "declare it in bpl.toml: `[attach]` then `{alias} = \"path/to/{alias}.sqlite\"`; or name a table of the warehouse"
            ),
            RuntimeError::Attachment { alias, .. } => format!(
                "point `{alias}` under `[attach]` in bpl.toml at an existing SQLite file bplc can read"
            ),
            RuntimeError::UnsetVariable { variable, key } => format!(
                "set it in the environment of the command (`export {variable}=...`), or write the `{key}` path in bpl.toml without it"
            ),
            RuntimeError::NotOwned { dataset, name, .. } => format!(
                "give `{dataset}` another `table` name, or move the existing `{name}` out of the warehouse if it is no longer read"
            ),
            RuntimeError::RestatementRefused { never: true, .. } => "the closed partitions of this dataset are final; to change a figure, declare `restate with reason` in its contract (a reviewed change), or publish the correction in a later open period".into(),
            RuntimeError::RestatementRefused { never: false, dataset } => format!(
                "say why the figures change: `bplc backfill --from {dataset} ... --mode restatement --reason \"...\"`; the reason is kept with the new version"
            ),
            RuntimeError::Server { help, .. } => help.clone(),
            RuntimeError::PlanStep(_) => "plan again with `bplc plan-backfill ... --range A..B` and run that plan".into(),
            RuntimeError::Foreign { .. } => "point `warehouse` and `ledger` in bpl.toml at the two files of one project; bplc never records one project's runs beside another's data".into(),
            RuntimeError::OtherProject { what, found, .. } => format!(
                "point `{what}` in bpl.toml at this project's own {what}; if this project was renamed from `{found}`, open it once with both of its files in place (they record the new name together)"
            ),
            RuntimeError::NewLedger { create, highest, .. } => format!(
                "point `ledger` in bpl.toml at the ledger those runs were recorded in, or restore it from a backup; to start a new ledger for this warehouse anyway (the old runs' manifests stay lost), create it empty first: `{create}` (new run ids continue after {highest})"
            ),
            RuntimeError::NoSuchPath { what: "warehouse", .. } => "load the sources into the warehouse first (for a demo: `bplc demo-data`), or point `warehouse` in bpl.toml at the existing file".into(),
            RuntimeError::NoSuchPath { what, path, .. } => format!(
                "create the directory (`mkdir -p {path}`), or point `{what}` in bpl.toml elsewhere"
            ),
            RuntimeError::ReasonRequired { dataset, partition } => format!(
                "say why the reported figures change: `bplc rollback {dataset} --partition {partition} --to-version N --reason \"...\"`; the reason and who gave it are kept in the ledger"
            ),
            RuntimeError::Interrupted => "nothing was published; run it again with `bplc run --retry RUN` (it reads exactly the rows it locked), or repeat the backfill to resume it".into(),
            RuntimeError::Overflow(_) => "nothing was published by this step; a decimal holds 18 digits, its scale of them after the point: declare fewer digits after the point where they are not needed, or round before summing or multiplying (`bplc explain E0345`)".into(),
            RuntimeError::Engine(_) | RuntimeError::Io(_) => "nothing was published by this step; fix the cause and retry".into(),
            RuntimeError::Coded { help, .. } => help.clone(),
        }
    }
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::Leased {
                dataset,
                partition,
                holder,
                held: true,
            } => write!(
                f,
                "partition {partition} of `{dataset}` is owned by run {holder}, HELD for review"
            ),
            RuntimeError::Leased {
                dataset,
                partition,
                holder,
                ..
            } => write!(
                f,
                "partition {partition} of `{dataset}` is owned by the unfinished run {holder}"
            ),
            RuntimeError::MissingInput(m) => f.write_str(m),
            RuntimeError::LedgerTooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "the ledger `{path}` has schema version {found}; this bplc reads up to {supported}"
            ),
            RuntimeError::Corrupt { what, detail } => write!(f, "cannot read {what}: {detail}"),
            RuntimeError::NoSuchRun(r) => write!(f, "no run is called `{r}`"),
            RuntimeError::WrongState {
                run_id,
                status,
                wanted,
            } => write!(
                f,
                "run {run_id} is {status}; this needs a run that is {wanted}"
            ),
            RuntimeError::Unsupported(m) => f.write_str(m),
            RuntimeError::VersionNotKept {
                dataset,
                partition,
                version: Some(v),
                ..
            } => write!(
                f,
                "version {v} of partition {partition} of `{dataset}` is not kept"
            ),
            RuntimeError::VersionNotKept {
                dataset, partition, ..
            } => write!(
                f,
                "partition {partition} of `{dataset}` has never been published"
            ),
            RuntimeError::BadDimensionValue {
                dataset,
                key,
                value,
            } => write!(
                f,
                "`{dataset}` partitions by `{key}`, whose value {value:?} cannot name a partition"
            ),
            RuntimeError::Closed {
                dataset,
                partitions,
                ..
            } => write!(
                f,
                "{} of `{dataset}` {} closed; a closed partition is never replaced",
                partitions.join(", "),
                if partitions.len() == 1 { "is" } else { "are" }
            ),
            RuntimeError::SchemaDrift {
                dataset,
                drift,
                published,
                ..
            } => write!(
                f,
                "the declaration of `{dataset}` {drift}, but its {published} published partition(s) are stored in the old schema"
            ),
            RuntimeError::Attachment { problem, .. } => f.write_str(problem),
            RuntimeError::UnsetVariable { key, variable } => write!(
                f,
                "`{key}` in bpl.toml reads the environment variable `{variable}`, which is not set"
            ),
            RuntimeError::NotOwned {
                dataset,
                name,
                kind,
            } => write!(
                f,
                "the warehouse already has a {kind} `{name}` that bplc did not create; `{dataset}` would publish where its readers never look"
            ),
            RuntimeError::Interrupted => f.write_str("the run was stopped by a signal"),
            RuntimeError::Foreign { warehouse, ledger } => write!(
                f,
                "the warehouse {warehouse} and the ledger {ledger} belong to different projects"
            ),
            RuntimeError::OtherProject {
                what,
                path,
                found,
                project,
                partner,
            } => write!(
                f,
                "the {what} {path} belongs to project `{found}`; this project is `{project}` (bpl.toml), whose {} is {partner}",
                if *what == "ledger" { "warehouse" } else { "ledger" }
            ),
            RuntimeError::NewLedger {
                ledger,
                warehouse,
                highest,
                ..
            } => write!(
                f,
                "the ledger `{ledger}` does not exist, but the warehouse {warehouse} holds runs up to {highest} recorded in another ledger"
            ),
            RuntimeError::NoSuchPath { what, path, file } if path == file => {
                write!(f, "the {what} `{path}` does not exist")
            }
            RuntimeError::NoSuchPath { what, path, file } => write!(
                f,
                "the directory `{path}` of the {what} `{file}` does not exist"
            ),
            RuntimeError::ReasonRequired { dataset, partition } => write!(
                f,
                "partition {partition} of `{dataset}` is closed: rolling it back changes reported figures, and needs a reason"
            ),
            RuntimeError::RestatementRefused {
                dataset,
                never: true,
            } => write!(f, "`{dataset}` says `restate never`: its closed partitions are final"),
            RuntimeError::RestatementRefused {
                dataset,
                never: false,
            } => write!(f, "a restatement of `{dataset}` needs a reason"),
            RuntimeError::PlanStep(m) => f.write_str(m),
            RuntimeError::Server { message, .. } => f.write_str(message),
            RuntimeError::Overflow(m) => write!(
                f,
                "a sum or product has more digits than an int or a decimal holds ({m})"
            ),
            RuntimeError::Engine(m) => write!(f, "the engine failed: {m}"),
            RuntimeError::Io(m) => f.write_str(m),
            RuntimeError::Coded { message, .. } => f.write_str(message),
        }
    }
}

impl From<crate::project::UnsetVariable> for RuntimeError {
    fn from(e: crate::project::UnsetVariable) -> RuntimeError {
        RuntimeError::UnsetVariable {
            key: e.key.to_string(),
            variable: e.variable,
        }
    }
}
