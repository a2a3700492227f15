//! `bplc run-due`: runs what the schedules say is due at `--as-of`, and what
//! became stale upstream, dataset by dataset in dependency order, through
//! the same [`Runner`] as `bplc run`. Held, failed, running and closed
//! partitions are skipped with the reason. A lock next to the ledger keeps
//! two callers apart (E0352). Exit codes: 0 every run published (or nothing
//! was due), 1 a run failed or is held, 2 usage or I/O error.

use std::path::PathBuf;

use serde::Serialize;

use super::run::{open, plan_of, progress, runtime_error};
use super::run_args::refuse;
use super::status::{as_of_instant, report_of};
use super::{accept_format, usage_error, Cli, Format, Needs, EXIT_NOT_OK};
use crate::diagnostic::codes;
use crate::graph::{calendar, DepGraph};
use crate::ops::due::{work_of, Skip, Work};
use crate::ops::lock::{LockError, RunDueLock};
use crate::ops::status::State;
use crate::runtime::ledger::ServerLock;
use crate::runtime::lifecycle::{Request, Runner};
use crate::runtime::manifest::{Status, Target};

#[derive(clap::Args, Debug)]
pub struct RunDueArgs {
    /// The processing time to judge the schedules at and stamp the runs
    /// with (`2026-07-05T03:00:00Z`); default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Say what would run; run nothing, take no lock.
    #[arg(long)]
    pub dry_run: bool,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Show each step of each run.
    #[arg(short, long)]
    pub verbose: bool,
}

/// One run `run-due` made (or, with `--dry-run`, would make).
#[derive(Debug, Serialize)]
struct Started {
    dataset: String,
    /// `2026-07-03..2026-07-04`, or empty for a dataset without dates.
    dates: String,
    /// The partitions it is for, and why each: `due`, `late` or `stale`.
    partitions: Vec<(String, State)>,
    run_id: Option<String>,
    /// The run's final status; `null` with `--dry-run`.
    status: Option<Status>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    format: &'static str,
    version: u32,
    as_of: String,
    dry_run: bool,
    runs: Vec<Started>,
    skipped: Vec<Skip>,
}

pub fn run(cli: &Cli, args: &RunDueArgs) -> u8 {
    if let Err(code) = accept_format(cli, "run-due") {
        return code;
    }
    let as_of = match as_of_instant(args.as_of.as_deref()) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let processing = as_of
        .format(crate::sql::types::TIMESTAMP_FORMAT)
        .to_string();
    let o = match open(
        cli,
        &args.project,
        "scheduled runs are only made",
        Needs::Jobs,
    ) {
        Ok(o) => o,
        Err(c) => return c,
    };
    if !args.dry_run {
        if let Err(c) = super::ingest::create_warehouse(&o) {
            return c;
        }
    }
    if let Err(e) = o.stores().check_paths() {
        return runtime_error(e);
    }
    // The lock comes before the ledger is read: what is due is judged by
    // the one caller that will run it. A ledger on a server is locked
    // there, for callers on every machine; a ledger file beside it.
    let held = |lock: String| {
        refuse(
            codes::E0352,
            format!(
                "another `bplc run-due` is running for the ledger `{}` ({lock})",
                o.ledger_location()
            ),
            "let it finish; the next call runs whatever is still due (a scheduler that starts run-due again on a timer needs no retry of its own)".into(),
        )
    };
    let server_lock = match (!args.dry_run)
        .then(|| o.ledger_location().server_lock("run-due"))
        .flatten()
    {
        None => None,
        Some(Ok(ServerLock::Taken(l))) => Some(l),
        Some(Ok(ServerLock::Busy)) => return held("an advisory lock on its server".into()),
        Some(Err(e)) => return runtime_error(e),
    };
    let _lock =
        match (!args.dry_run && server_lock.is_none()).then(|| RunDueLock::acquire(&o.ledger)) {
            None => None,
            Some(Ok(l)) => Some(l),
            Some(Err(LockError::Held(path))) => return held(format!("lock `{}`", path.display())),
            Some(Err(LockError::Io(path, e))) => {
                return usage_error(format!("cannot take the lock `{}`: {e}", path.display()))
            }
        };
    let (mut engine, mut ledger) = if args.dry_run {
        match o.stores().read_ledger() {
            Ok(l) => (None, l),
            Err(e) => return runtime_error(e),
        }
    } else {
        if let Err(c) = o
            .writable()
            .and_then(|()| super::metrics::check_configured(&o))
        {
            return c;
        }
        match o.stores().open() {
            Ok((e, l)) => (Some(e), Some(l)),
            Err(e) => return runtime_error(e),
        }
    };
    let order: Vec<String> = {
        let graph = DepGraph::build(&o.program);
        let ids = graph.topological().unwrap_or_default();
        ids.into_iter()
            .map(|id| o.program.get(id))
            .filter(|d| d.kind == crate::syntax::ast::DeclKind::Dataset)
            .map(|d| d.name.clone())
            .collect()
    };
    let mut report = Report {
        format: "bplc-run-due",
        version: 1,
        as_of: as_of.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        dry_run: args.dry_run,
        runs: Vec::new(),
        skipped: Vec::new(),
    };
    // On a terminal, one bar over the datasets in order, its message the
    // current run's step; with `-v`, a line per step instead.
    let bar = (!args.verbose
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
        && !order.is_empty())
    .then(|| {
        let bar = indicatif::ProgressBar::new(order.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:24} {pos}/{len} datasets  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut lines = bar.is_none().then(|| progress(cli, args.verbose));
    let mut say = |line: &str| match (&bar, &mut lines) {
        (Some(bar), _) => bar.set_message(line.to_string()),
        (None, Some(lines)) => lines(line),
        (None, None) => {}
    };
    for name in order {
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(name.clone());
        }
        // Judged again for each dataset: what ran upstream in this call
        // makes its readers stale.
        let runs = match ledger.as_ref().map(crate::ops::manifests) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return runtime_error(e),
            None => Vec::new(),
        };
        let status = match report_of(&o, &runs, std::slice::from_ref(&name), as_of) {
            Ok(r) => r,
            Err(c) => return c,
        };
        let Some(d) = status.datasets.first() else {
            continue;
        };
        let (work, skips) = work_of(d, d.window);
        report.skipped.extend(skips);
        let Some(work) = work else {
            continue;
        };
        let plan = match plan_of(&o, &name) {
            Ok(p) => p,
            Err(c) => return c,
        };
        for (dates, from, to) in dates_of(&work, plan.grain()) {
            let partitions = partitions_in(&work, from, to, plan.grain());
            let mut started = Started {
                dataset: name.clone(),
                dates: dates.clone(),
                partitions,
                run_id: None,
                status: None,
                error: None,
            };
            if let (Some(engine), Some(ledger)) = (engine.as_mut(), ledger.as_mut()) {
                let req = Request {
                    from,
                    to,
                    dates,
                    as_of: processing.clone(),
                    dimensions: Vec::new(),
                    // The due partitions include the lookback already.
                    lookback: false,
                    target: Target::Publish,
                    backfill: None,
                };
                // New landing files and changed seeds, before the lock.
                if let Err(e) = super::ingest::before_run(&o, &plan, ledger, &processing, &mut say)
                {
                    started.error = Some(format!("error[{}]: {e}", e.code()));
                    report.runs.push(started);
                    continue;
                }
                let mut runner = Runner {
                    plan: &plan,
                    engine: engine.as_mut(),
                    ledger,
                    progress: &mut say,
                };
                match runner.run(&req) {
                    Ok(m) => {
                        started.run_id = Some(m.run_id.clone());
                        started.status = Some(m.status);
                        started.error = m.error.clone();
                    }
                    Err(e) => started.error = Some(format!("error[{}]: {e}", e.code())),
                }
            }
            report.runs.push(started);
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    print(cli, &report);
    let failed = report
        .runs
        .iter()
        .any(|r| !args.dry_run && r.status != Some(Status::Published));
    let code = if failed { EXIT_NOT_OK } else { 0 };
    if args.dry_run {
        code
    } else {
        super::metrics::after_runs(&o, code)
    }
}

/// The `--date`/`--range` text and ordinals of each run of `work`.
fn dates_of(work: &Work, grain: Option<crate::semantic::hir::Grain>) -> Vec<(String, i64, i64)> {
    let Some(g) = grain.filter(|_| !work.ranges.is_empty()) else {
        return vec![(String::new(), 0, 0)];
    };
    work.ranges
        .iter()
        .map(|&(a, b)| {
            let (x, y) = (calendar::format(a, g), calendar::format(b, g));
            let text = if a == b { x } else { format!("{x}..{y}") };
            (text, a, b)
        })
        .collect()
}

/// The partitions of `work` a run of ordinals `from..=to` computes.
fn partitions_in(
    work: &Work,
    from: i64,
    to: i64,
    grain: Option<crate::semantic::hir::Grain>,
) -> Vec<(String, State)> {
    work.partitions
        .iter()
        .filter(|(p, _)| match grain {
            Some(g) => calendar::parse(p.rsplit('/').next().unwrap_or(p), g)
                .is_some_and(|o| (from..=to).contains(&o)),
            None => true,
        })
        .cloned()
        .collect()
}

fn print(cli: &Cli, r: &Report) {
    if cli.format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(r).expect("a run-due report serialises")
        );
        return;
    }
    let verb = if r.dry_run { "would run" } else { "ran" };
    outln!(
        "run-due as of {}{}",
        r.as_of,
        if r.dry_run { " (dry run)" } else { "" }
    );
    if r.runs.is_empty() {
        outln!("  nothing is due or stale");
    }
    let width = r.runs.iter().map(|x| x.dataset.len()).max().unwrap_or(0);
    for x in &r.runs {
        let why: Vec<&str> = {
            let mut w: Vec<&str> = x.partitions.iter().map(|(_, s)| s.name()).collect();
            w.sort_unstable();
            w.dedup();
            w
        };
        let dates = if x.dates.is_empty() { "all" } else { &x.dates };
        let outcome = match (&x.run_id, x.status) {
            (Some(id), Some(s)) => format!("{id} {}", s.name()),
            _ if r.dry_run => String::new(),
            _ => "not started".into(),
        };
        let line = format!(
            "  {:<width$}  {dates}  ({})  {outcome}",
            x.dataset,
            why.join(", ")
        );
        outln!("{}", line.trim_end());
        if let Some(e) = &x.error {
            outln!("  {:<width$}  {e}", "");
        }
    }
    if !r.skipped.is_empty() {
        outln!("skipped");
        // Consecutive partitions skipped for one reason share a line.
        let mut i = 0;
        while i < r.skipped.len() {
            let s = &r.skipped[i];
            let n = r.skipped[i..]
                .iter()
                .take_while(|x| {
                    (&x.dataset, x.state, &x.reason) == (&s.dataset, s.state, &s.reason)
                })
                .count();
            let last = &r.skipped[i + n - 1];
            let partitions = match n {
                1 => s.partition.clone(),
                _ => format!("{}..{} ({n})", s.partition, last.partition),
            };
            let state = s.state.name();
            let reason = s
                .reason
                .strip_prefix(&format!("{state}: "))
                .unwrap_or(&s.reason);
            outln!("  {}  {partitions}  {state}: {reason}", s.dataset);
            i += n;
        }
    }
    let published = r
        .runs
        .iter()
        .filter(|x| x.status == Some(Status::Published))
        .count();
    if r.dry_run {
        outln!("{} run(s) {verb}", r.runs.len());
    } else {
        outln!("{} run(s), {published} published", r.runs.len());
    }
}
