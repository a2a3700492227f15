//! The runtime commands: `run`, `runs`, `show`, `recover`, `approve`,
//! `reject` and `rollback`. Each opens the project's warehouse and ledger
//! (paths from `bpl.toml`, relative to the project) and reports in text or
//! JSON. Exit codes: 0 the run published (or the command did what it was
//! asked), 1 the run failed or is held, 2 usage or I/O error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::run_args::{dimensions, refuse, run_dates};
use super::{accept_format, clean_project, usage_error, Cli, Format, Needs, EXIT_NOT_OK};
use crate::diagnostic::codes;
use crate::plan::JobPlan;
use crate::runtime::engine::SqliteEngine;
use crate::runtime::ledger::Ledger;
use crate::runtime::lifecycle::{Request, Runner};
use crate::runtime::manifest::{Manifest, Status};
use crate::runtime::RuntimeError;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The dataset to run.
    pub dataset: Option<String>,
    /// The run date: the run computes this partition and its lookback.
    #[arg(long, conflicts_with = "range")]
    pub date: Option<String>,
    /// A range of run dates, inclusive: `2026-07-01..2026-07-04`.
    #[arg(long)]
    pub range: Option<String>,
    /// Compute exactly the dates given, as a backfill step does: no
    /// lookback before them.
    #[arg(long, conflicts_with = "retry")]
    pub no_lookback: bool,
    /// The processing time (`2026-07-05T01:00:00Z`): what bindings as of
    /// processing time see, and what output rows are stamped with. Default:
    /// now, recorded in the manifest so a retry uses the same.
    #[arg(long)]
    pub as_of: Option<String>,
    /// A dimension key's value: `--dim tenant_id=acme`.
    #[arg(long = "dim", value_name = "KEY=VALUE")]
    pub dims: Vec<String>,
    /// Run a FAILED run again from its recorded input lock.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["dataset", "date", "range"])]
    pub retry: Option<String>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Show each step of the run.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only runs of this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RunIdArgs {
    /// A run id, as `bplc runs` lists them (`run-000042`).
    pub run: String,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    pub dataset: String,
    /// The partition, as written in the ledger (`2026-06`, `acme/2026-06-15`).
    #[arg(long)]
    pub partition: String,
    /// The version to make active again.
    #[arg(long)]
    pub to_version: i64,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// The project's checked program, warehouse and ledger.
pub(crate) struct Opened {
    pub program: crate::semantic::hir::Program,
    pub warehouse: PathBuf,
    pub ledger: PathBuf,
}

pub(crate) fn open(cli: &Cli, project: &Path, what: &str, needs: Needs) -> Result<Opened, u8> {
    let (checked, program) = clean_project(cli, project, what, needs)?;
    let root = &checked.project.root;
    crate::runtime::set_lock_timeout(checked.project.config.lock_timeout);
    Ok(Opened {
        program,
        warehouse: root.join(&checked.project.config.warehouse),
        ledger: root.join(&checked.project.config.ledger),
    })
}

impl Opened {
    /// For a command that writes: the warehouse and the ledger, where they
    /// exist, can be opened for writing (E0324, naming the file). SQLite
    /// would otherwise say only "attempt to write a readonly database",
    /// of either file, in the middle of the run.
    pub(crate) fn writable(&self) -> Result<(), u8> {
        for (what, path) in [("warehouse", &self.warehouse), ("ledger", &self.ledger)] {
            writable(what, path)?;
        }
        Ok(())
    }
}

/// `path`, if it exists, can be opened for writing (nothing is written).
pub(crate) fn writable(what: &str, path: &Path) -> Result<(), u8> {
    if !path.exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(refuse(
            codes::E0324,
            format!("the {what} `{}` cannot be written: {e}", path.display()),
            format!(
                "make it writable for the user running bplc (`chmod u+w {}`), or point `{what}` in bpl.toml elsewhere",
                path.display()
            ),
        )),
    }
}

pub(crate) fn runtime_error(e: RuntimeError) -> u8 {
    let exit = match e {
        RuntimeError::Io(_) | RuntimeError::LedgerTooNew { .. } | RuntimeError::Corrupt { .. } => {
            super::EXIT_USAGE
        }
        _ => EXIT_NOT_OK,
    };
    super::fail(
        super::Failure {
            code: Some(e.code().to_string()),
            message: e.to_string(),
            help: Some(e.help()),
            ..Default::default()
        },
        exit,
    )
}

pub(crate) fn plan_of(o: &Opened, dataset: &str) -> Result<JobPlan, u8> {
    JobPlan::build(&o.program, dataset).map_err(usage_error)
}

/// `2026-07-04`, or `YYYY-MM-DD HH:MM:SS` UTC from an RFC 3339 time.
pub(crate) fn as_of(text: Option<&str>) -> Result<String, u8> {
    match text {
        None => Ok(chrono::Utc::now()
            .format(crate::sql::types::TIMESTAMP_FORMAT)
            .to_string()),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| {
                d.with_timezone(&chrono::Utc)
                    .format(crate::sql::types::TIMESTAMP_FORMAT)
                    .to_string()
            })
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| format!("{d} 00:00:00"))
            })
            .map_err(|_| {
                usage_error(format!(
                    "`--as-of {t}` is not a time: write `2026-07-05T01:00:00Z` or `2026-07-05`"
                ))
            }),
    }
}

/// Progress on stderr: a spinner with the current step on a terminal,
/// one line per step with `-v`, nothing otherwise (so JSON stays clean).
fn progress(cli: &Cli, verbose: bool) -> impl FnMut(&str) {
    if verbose {
        // `-v` also shows the runtime's tracing spans: each step, each statement.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("BPLC_LOG")
                    .unwrap_or_else(|_| "bplc=debug".into()),
            )
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .without_time()
            .try_init();
    }
    let bar = (!verbose && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let _ = cli;
    move |line: &str| match &bar {
        Some(bar)
            if line.contains(" PUBLISHED")
                || line.contains(" FAILED")
                || line.contains(" HELD") =>
        {
            bar.finish_and_clear()
        }
        Some(bar) => bar.set_message(line.to_string()),
        None if verbose => errln!("  {line}"),
        None => {}
    }
}

pub fn run(cli: &Cli, args: &RunArgs) -> u8 {
    if let Err(code) = accept_format(cli, "run") {
        return code;
    }
    let o = match open(cli, &args.project, "runs are only made", Needs::Jobs)
        .and_then(|o| o.writable().map(|()| o))
    {
        Ok(o) => o,
        Err(c) => return c,
    };
    // A new run's dataset and arguments are checked before the ledger or
    // the warehouse is opened; a retry names its dataset in the ledger.
    let fresh = match (&args.retry, &args.dataset) {
        (Some(_), _) => None,
        (None, Some(d)) => match plan_of(&o, d).and_then(|p| request(&p, args).map(|r| (p, r))) {
            Ok(checked) => Some(checked),
            Err(c) => return c,
        },
        (None, None) => {
            return usage_error("name the dataset to run: `bplc run DATASET --date 2026-07-04`")
        }
    };
    let ledger_path = o.ledger.clone();
    let mut ledger = match Ledger::open(&ledger_path) {
        Ok(l) => l,
        Err(e) => return runtime_error(e),
    };
    let (plan, req) = match fresh {
        Some((plan, req)) => (plan, Some(req)),
        None => {
            let dataset = match args.retry.as_deref().map(|r| ledger.manifest(r)) {
                Some(Ok(m)) => m.dataset,
                Some(Err(e)) => return runtime_error(e),
                None => return usage_error("name the dataset to run"),
            };
            match plan_of(&o, &dataset) {
                Ok(p) => (p, None),
                Err(c) => return c,
            }
        }
    };
    let mut engine = match SqliteEngine::open(&o.warehouse) {
        Ok(e) => e,
        Err(e) => return runtime_error(e),
    };
    let mut say = progress(cli, args.verbose);
    let mut runner = Runner {
        plan: &plan,
        engine: &mut engine,
        ledger: &mut ledger,
        progress: &mut say,
    };
    // `req` is `None` exactly for a retry.
    let result = match (req, &args.retry) {
        (Some(req), _) => runner.run(&req),
        (None, Some(r)) => runner.retry(r),
        (None, None) => return usage_error("name the dataset to run"),
    };
    match result {
        Ok(m) => report(cli, &m),
        Err(e) => runtime_error(e),
    }
}

fn request(plan: &JobPlan, args: &RunArgs) -> Result<Request, u8> {
    let dates = match (&args.date, &args.range) {
        (Some(d), _) => d.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) if plan.grain().is_none() => String::new(),
        (None, None) => {
            return Err(usage_error(format!(
                "`{}` is partitioned by date: give `--date 2026-07-04` or `--range 2026-07-01..2026-07-04` (bplc never assumes \"yesterday\")",
                plan.dataset
            )))
        }
    };
    let (from, to) = run_dates(plan, args, &dates)?;
    let dimensions = dimensions(plan, &args.dims)?;
    Ok(Request {
        from,
        to,
        dates,
        as_of: as_of(args.as_of.as_deref())?,
        dimensions,
        lookback: !args.no_lookback,
        target: crate::runtime::manifest::Target::Publish,
        backfill: None,
    })
}

/// Prints a run's outcome; the exit code says whether it published.
fn report(cli: &Cli, m: &Manifest) -> u8 {
    if cli.format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(m).expect("manifest serialises")
        );
    } else {
        out!("{}", super::show::manifest_text(m));
    }
    match m.status {
        Status::Published => 0,
        _ => EXIT_NOT_OK,
    }
}

pub fn runs(cli: &Cli, args: &RunsArgs) -> u8 {
    if let Err(code) = accept_format(cli, "runs") {
        return code;
    }
    let o = match open(cli, &args.project, "the ledger is only read", Needs::Graph) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let ledger = match Ledger::open(&o.ledger) {
        Ok(l) => l,
        Err(e) => return runtime_error(e),
    };
    match ledger.runs(args.dataset.as_deref()) {
        Ok(runs) if cli.format == Format::Json => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&runs).expect("serialises")
            );
            0
        }
        Ok(runs) => {
            if runs.is_empty() {
                outln!("no runs yet");
            }
            for r in runs {
                let parts = match r.partitions.as_slice() {
                    [] => String::new(),
                    [one] => one.clone(),
                    [first, .., last] => format!("{first}..{last} ({})", r.partitions.len()),
                };
                outln!(
                    "{:<12} {:<13} {:<28} {:<24} {}",
                    r.run_id,
                    r.status.name(),
                    r.dataset,
                    parts,
                    r.planned_at
                );
            }
            0
        }
        Err(e) => runtime_error(e),
    }
}

pub fn show(cli: &Cli, args: &RunIdArgs) -> u8 {
    if let Err(code) = accept_format(cli, "show") {
        return code;
    }
    let o = match open(cli, &args.project, "the ledger is only read", Needs::Graph) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let ledger = match Ledger::open(&o.ledger) {
        Ok(l) => l,
        Err(e) => return runtime_error(e),
    };
    let (m, transitions) = match ledger
        .manifest(&args.run)
        .and_then(|m| ledger.transitions(&args.run).map(|t| (m, t)))
    {
        Ok(x) => x,
        Err(e) => return runtime_error(e),
    };
    if cli.format == Format::Json {
        let mut v = serde_json::to_value(&m).expect("serialises");
        v["transitions"] = transitions
            .iter()
            .map(|(s, at, d)| serde_json::json!({"status": s, "at": at, "detail": d}))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
    } else {
        out!("{}", super::show::manifest_text(&m));
        outln!("transitions:");
        for (s, at, d) in transitions {
            outln!("  {at}  {s:<13} {d}");
        }
    }
    0
}

/// `recover`, `approve` and `reject`: a command on one existing run.
pub fn on_run(cli: &Cli, args: &RunIdArgs, command: &str) -> u8 {
    if let Err(code) = accept_format(cli, command) {
        return code;
    }
    let o = match open(cli, &args.project, "runs are only resolved", Needs::Jobs)
        .and_then(|o| o.writable().map(|()| o))
    {
        Ok(o) => o,
        Err(c) => return c,
    };
    let mut ledger = match Ledger::open(&o.ledger) {
        Ok(l) => l,
        Err(e) => return runtime_error(e),
    };
    let dataset = match ledger.manifest(&args.run) {
        Ok(m) => m.dataset,
        Err(e) => return runtime_error(e),
    };
    let plan = match plan_of(&o, &dataset) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let mut engine = match SqliteEngine::open(&o.warehouse) {
        Ok(e) => e,
        Err(e) => return runtime_error(e),
    };
    if command == "recover" {
        return match crate::runtime::recover::recover(&plan, &mut engine, &mut ledger, &args.run) {
            Ok((decision, m)) => {
                if cli.format == Format::Json {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "run_id": m.run_id, "decision": decision, "status": m.status
                        }))
                        .expect("serialises")
                    );
                } else {
                    outln!(
                        "{}: {} (now {})",
                        m.run_id,
                        decision.name(),
                        m.status.name()
                    );
                }
                match decision {
                    crate::runtime::recover::Recovery::ManualReviewRequired => EXIT_NOT_OK,
                    _ => 0,
                }
            }
            Err(e) => runtime_error(e),
        };
    }
    let mut say = progress(cli, false);
    let mut runner = Runner {
        plan: &plan,
        engine: &mut engine,
        ledger: &mut ledger,
        progress: &mut say,
    };
    let result = if command == "approve" {
        runner.approve(&args.run)
    } else {
        runner.reject(&args.run)
    };
    match result {
        Ok(m) if command == "reject" => {
            if cli.format == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&m).expect("serialises"));
            } else {
                outln!("{}: rejected; nothing was published", m.run_id);
            }
            0
        }
        Ok(m) => report(cli, &m),
        Err(e) => runtime_error(e),
    }
}

pub fn rollback(cli: &Cli, args: &RollbackArgs) -> u8 {
    if let Err(code) = accept_format(cli, "rollback") {
        return code;
    }
    let o = match open(cli, &args.project, "rollback is only done", Needs::Jobs)
        .and_then(|o| o.writable().map(|()| o))
    {
        Ok(o) => o,
        Err(c) => return c,
    };
    let plan = match plan_of(&o, &args.dataset) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let engine = match SqliteEngine::open(&o.warehouse) {
        Ok(e) => e,
        Err(e) => return runtime_error(e),
    };
    match crate::runtime::rollback::rollback(&engine, &plan, &args.partition, args.to_version) {
        Ok(from) => {
            if cli.format == Format::Json {
                outln!(
                    "{}",
                    serde_json::json!({"dataset": plan.dataset, "partition": args.partition, "from_version": from, "to_version": args.to_version})
                );
            } else {
                outln!(
                    "{} {}: active version {} -> {}",
                    plan.dataset,
                    args.partition,
                    from,
                    args.to_version
                );
            }
            0
        }
        Err(e) => runtime_error(e),
    }
}
