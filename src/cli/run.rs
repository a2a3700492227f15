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
use crate::runtime::engine::Engine;
use crate::runtime::identity::Stores;
use crate::runtime::ledger::Ledger;
use crate::runtime::lifecycle::{Request, Runner};
use crate::runtime::manifest::{Manifest, Review, Status};
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

/// Who makes a decision the audit trail keeps (approve, reject, rollback),
/// and why.
#[derive(clap::Args, Debug)]
pub struct Decider {
    /// Why: kept in the ledger, shown by `bplc show` and `bplc runs`
    /// (required to roll back a closed period).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who decides (default: the OS user, from `$USER` or `$LOGNAME`).
    #[arg(long)]
    pub by: Option<String>,
}

/// `approve` and `reject`: a held run, and who decides why.
#[derive(clap::Args, Debug)]
pub struct ReviewArgs {
    /// A run id, as `bplc runs` lists them (`run-000042`).
    pub run: String,
    #[command(flatten)]
    pub decider: Decider,
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
    #[command(flatten)]
    pub decider: Decider,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// The project's checked program, warehouse and ledger.
pub(crate) struct Opened {
    pub program: crate::semantic::hir::Program,
    /// The project's root: landing-file patterns are relative to it.
    pub root: PathBuf,
    /// The project's name in `bpl.toml`: the identity its files carry.
    pub name: String,
    /// The engine `bpl.toml` chooses.
    pub engine: crate::project::EngineSettings,
    /// The project's files, for contract hashes.
    pub sources: crate::syntax::span::SourceMap,
    pub warehouse: PathBuf,
    /// The ledger's file on SQLite (with `ledger = "postgres"`, not used).
    pub ledger: PathBuf,
    /// Where `bpl.toml` keeps the ledger.
    pub ledger_settings: crate::project::LedgerSettings,
    /// Databases attached read-only as sources.
    pub attach: Vec<(String, PathBuf)>,
    /// `time_zone` in bpl.toml: a schedule's zone when it names none.
    pub time_zone: Option<String>,
    /// `metrics` in bpl.toml: the textfile rewritten after runs.
    pub metrics: Option<PathBuf>,
}

pub(crate) fn open(cli: &Cli, project: &Path, what: &str, needs: Needs) -> Result<Opened, u8> {
    let (checked, program) = clean_project(cli, project, what, needs)?;
    let root = &checked.project.root;
    crate::runtime::set_lock_timeout(checked.project.config.lock_timeout);
    let config = &checked.project.config;
    let (warehouse, ledger, attach) = match (config.store_paths(), config.attachments()) {
        (Ok((w, l)), Ok(a)) => (
            root.join(w),
            root.join(l),
            a.into_iter()
                .map(|(alias, p)| (alias, root.join(p)))
                .collect(),
        ),
        (Err(e), _) | (_, Err(e)) => return Err(runtime_error(e.into())),
    };
    Ok(Opened {
        program,
        root: root.clone(),
        name: checked.project.config.name.clone(),
        engine: checked.project.config.engine_settings(),
        sources: checked.project.sources,
        warehouse,
        ledger,
        ledger_settings: checked.project.config.ledger_settings(),
        attach,
        time_zone: checked.project.config.time_zone.clone(),
        metrics: checked
            .project
            .config
            .metrics
            .as_ref()
            .map(|m| root.join(m)),
    })
}

impl Opened {
    /// The warehouse and ledger, to open after checking their paths and
    /// identity.
    pub(crate) fn stores(&self) -> Stores {
        Stores {
            project: self.name.clone(),
            engine: self.engine.clone(),
            warehouse: self.warehouse.clone(),
            ledger: self.ledger_location(),
            attach: self.attach.clone(),
        }
    }

    /// Where the ledger is kept: its file, or a PostgreSQL schema.
    pub(crate) fn ledger_location(&self) -> crate::runtime::ledger::Location {
        crate::runtime::ledger::Location::of(&self.ledger_settings, self.ledger.clone())
    }

    /// For a command that writes: the warehouse and the ledger, where they
    /// exist, can be opened for writing (E0324, naming the file). SQLite
    /// would otherwise say only "attempt to write a readonly database",
    /// of either file, in the middle of the run.
    pub(crate) fn writable(&self) -> Result<(), u8> {
        writable("warehouse", &self.warehouse)?;
        if let crate::runtime::ledger::Location::Sqlite(ledger) = self.ledger_location() {
            writable("ledger", &ledger)?;
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
        RuntimeError::Io(_)
        | RuntimeError::LedgerTooNew { .. }
        | RuntimeError::Corrupt { .. }
        | RuntimeError::Foreign { .. }
        | RuntimeError::OtherProject { .. }
        | RuntimeError::NewLedger { .. }
        | RuntimeError::NoSuchPath { .. }
        | RuntimeError::UnsetVariable { .. }
        | RuntimeError::ReasonRequired { .. } => super::EXIT_USAGE,
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

/// `-v`: the runtime's tracing spans on stderr, each step and each
/// statement with its time (`BPLC_LOG` filters them).
pub(crate) fn show_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BPLC_LOG")
                .unwrap_or_else(|_| "bplc=debug".into()),
        )
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        // Seconds since the start, not the wall clock: the gaps between
        // lines are what a reader wants. (`without_time` would also drop
        // each closed span's `time.busy`.)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .try_init();
}

/// Progress on stderr: a spinner with the current step on a terminal,
/// one line per step with `-v`, nothing otherwise (so JSON stays clean).
pub(crate) fn progress(cli: &Cli, verbose: bool) -> impl FnMut(&str) {
    if verbose {
        show_tracing();
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
        .and_then(|o| super::metrics::check_configured(&o).map(|()| o))
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
    if let Err(c) = super::ingest::create_warehouse(&o) {
        return c;
    }
    let (mut engine, mut ledger) = match o.stores().open() {
        Ok(x) => x,
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
    let mut say = progress(cli, args.verbose);
    // A new run first ingests the new files of the landing folders it
    // reads; a retry reads the files its first attempt locked.
    let loaded = match &req {
        Some(req) => super::ingest::before_run(&o, &plan, &ledger, &req.as_of, &mut say),
        None => super::ingest::before_retry(&o, &plan),
    };
    if let Err(e) = loaded {
        return runtime_error(e);
    }
    let mut runner = Runner {
        plan: &plan,
        engine: engine.as_mut(),
        ledger: &mut ledger,
        progress: &mut say,
    };
    // `req` is `None` exactly for a retry.
    let result = match (req, &args.retry) {
        (Some(req), _) => runner.run(&req),
        (None, Some(r)) => runner.retry(r),
        (None, None) => return usage_error("name the dataset to run"),
    };
    let code = match result {
        Ok(m) => report(cli, &m),
        Err(e) => runtime_error(e),
    };
    super::metrics::after_runs(&o, code)
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
    // No ledger yet: no runs, and nothing is created.
    let runs = match o.stores().read_ledger() {
        Ok(Some(l)) => l.runs(args.dataset.as_deref()),
        Ok(None) => Ok(Vec::new()),
        Err(e) => return runtime_error(e),
    };
    match runs {
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
                let review = r
                    .review
                    .as_ref()
                    .map_or(String::new(), |x| format!("  {}", x.line()));
                outln!(
                    "{:<12} {:<13} {:<28} {:<24} {}{review}",
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
    let ledger = match o.stores().read_ledger() {
        Ok(Some(l)) => l,
        Ok(None) => return runtime_error(RuntimeError::NoSuchRun(args.run.clone())),
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

/// Who decides: `--by`, else the OS user (`$USER`, `$LOGNAME`).
fn who(by: Option<&str>) -> String {
    by.map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn review(decision: &str, d: &Decider) -> Review {
    Review {
        decision: decision.into(),
        by: who(d.by.as_deref()),
        reason: d.reason.clone().filter(|r| !r.trim().is_empty()),
        at: crate::runtime::now(),
        from_version: None,
        to_version: None,
    }
}

/// The project's stores and the plan of the dataset of an existing run,
/// for `recover`, `approve` and `reject`.
/// The project, the job of `run`'s dataset, the warehouse and the ledger.
type ForRun = (Opened, JobPlan, Box<dyn Engine>, Ledger);

fn for_run(cli: &Cli, project: &Path, run: &str) -> Result<ForRun, u8> {
    let o = open(cli, project, "runs are only resolved", Needs::Jobs)
        .and_then(|o| o.writable().map(|()| o))
        .and_then(|o| super::metrics::check_configured(&o).map(|()| o))?;
    let (engine, ledger) = o.stores().open().map_err(runtime_error)?;
    let dataset = ledger.manifest(run).map_err(runtime_error)?.dataset;
    let plan = plan_of(&o, &dataset)?;
    Ok((o, plan, engine, ledger))
}

/// `recover`: resolves a run a crash left mid-way.
pub fn recover(cli: &Cli, args: &RunIdArgs) -> u8 {
    if let Err(code) = accept_format(cli, "recover") {
        return code;
    }
    let (o, plan, mut engine, mut ledger) = match for_run(cli, &args.project, &args.run) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let code =
        match crate::runtime::recover::recover(&plan, engine.as_mut(), &mut ledger, &args.run) {
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
    super::metrics::after_runs(&o, code)
}

/// `approve` and `reject`: a decision on a held run, recorded with who
/// made it and why.
pub fn on_held(cli: &Cli, args: &ReviewArgs, command: &str) -> u8 {
    if let Err(code) = accept_format(cli, command) {
        return code;
    }
    let (o, plan, mut engine, mut ledger) = match for_run(cli, &args.project, &args.run) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let mut say = progress(cli, false);
    let mut runner = Runner {
        plan: &plan,
        engine: engine.as_mut(),
        ledger: &mut ledger,
        progress: &mut say,
    };
    let result = if command == "approve" {
        runner.approve(&args.run, review("approved", &args.decider))
    } else {
        runner.reject(&args.run, review("rejected", &args.decider))
    };
    let code = match result {
        Ok(m) if command == "reject" => {
            if cli.format == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&m).expect("serialises"));
            } else {
                outln!(
                    "{}: {}; nothing was published",
                    m.run_id,
                    m.review.as_ref().map(Review::line).unwrap_or_default()
                );
            }
            0
        }
        Ok(m) => report(cli, &m),
        Err(e) => runtime_error(e),
    };
    super::metrics::after_runs(&o, code)
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
    let (mut engine, mut ledger) = match o.stores().open() {
        Ok(x) => x,
        Err(e) => return runtime_error(e),
    };
    let ask = crate::runtime::rollback::Rollback {
        partition: args.partition.clone(),
        to_version: args.to_version,
        review: review("rolled back", &args.decider),
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
    };
    match crate::runtime::rollback::rollback(engine.as_mut(), &mut ledger, &plan, ask) {
        Ok(m) => {
            let r = m
                .review
                .clone()
                .unwrap_or_else(|| review("rolled back", &args.decider));
            if cli.format == Format::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "run_id": m.run_id,
                        "dataset": plan.dataset,
                        "partition": args.partition,
                        "from_version": r.from_version,
                        "to_version": args.to_version,
                        "by": r.by,
                        "reason": r.reason,
                    }))
                    .expect("serialises")
                );
            } else {
                outln!(
                    "{} {} {}: active version {} -> {} (by {}{})",
                    m.run_id,
                    plan.dataset,
                    args.partition,
                    r.from_version.unwrap_or_default(),
                    args.to_version,
                    r.by,
                    r.reason
                        .as_ref()
                        .map_or(String::new(), |x| format!(": {x:?}"))
                );
            }
            0
        }
        Err(e) => runtime_error(e),
    }
}
