//! `bplc plan-backfill`: which downstream partitions a change touches,
//! wave by wave, read like a release plan.

use std::io::Write;

use chrono::NaiveDate;

use super::{usage_error, Cli, Format};
use crate::graph::plan::{self, show_range, Action, Mode, Plan, Request};
use crate::graph::DepGraph;

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The source, reference or dataset that changed.
    #[arg(long)]
    pub from: Option<String>,
    /// The changed partitions, inclusive: `2026-06-15..2026-06-30` or
    /// `2026-06..2026-07`. Without it, the whole history.
    #[arg(long)]
    pub range: Option<String>,
    /// What the backfill will do with the partitions it recomputes.
    #[arg(long, value_enum, default_value_t = ModeArg::DryRun)]
    pub mode: ModeArg,
    /// Why the backfill runs; required to restate closed partitions.
    #[arg(long)]
    pub reason: Option<String>,
    /// The date closed periods are judged at (default: today, UTC). Pin it
    /// for a reproducible plan.
    #[arg(long)]
    pub as_of: Option<String>,
    /// A job version bump of this dataset: all its partitions are stale.
    #[arg(long, value_name = "DATASET", conflicts_with = "from")]
    pub changed_version: Option<String>,
    /// Say, for every planned range, which input and path brought it in.
    #[arg(long)]
    pub explain: bool,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: std::path::PathBuf,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    DryRun,
    Shadow,
    CompareOnly,
    Replace,
    Restatement,
    Migration,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::DryRun => Mode::DryRun,
            ModeArg::Shadow => Mode::Shadow,
            ModeArg::CompareOnly => Mode::CompareOnly,
            ModeArg::Replace => Mode::Replace,
            ModeArg::Restatement => Mode::Restatement,
            ModeArg::Migration => Mode::Migration,
        }
    }
}

pub fn run(cli: &Cli, args: &PlanArgs) -> u8 {
    if let Err(code) = super::accept_format(cli, "plan-backfill") {
        return code;
    }
    let (from, changed_version) = match (&args.from, &args.changed_version) {
        (Some(f), None) => (f.clone(), false),
        (None, Some(d)) => (d.clone(), true),
        _ => return usage_error("say what changed: `--from NAME` or `--changed-version DATASET`"),
    };
    let range = match &args.range {
        None => None,
        Some(r) => match r.split_once("..") {
            Some((a, b)) => Some((a.to_string(), b.to_string())),
            None => Some((r.clone(), r.clone())),
        },
    };
    let as_of = match &args.as_of {
        Some(t) => match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                return usage_error(format!("`--as-of {t}` is not a date: write `2026-07-20`"))
            }
        },
        None => chrono::Utc::now().date_naive(),
    };
    let (checked, program) = match super::clean_project(
        cli,
        &args.project,
        "a plan is only made",
        super::Needs::Graph,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let graph = DepGraph::build(&program);
    let req = Request {
        from,
        range,
        mode: args.mode.into(),
        reason: args.reason.clone(),
        as_of,
        changed_version,
        explain: args.explain,
    };
    let mut plan = match plan::plan(&graph, &req) {
        Ok(p) => p,
        Err(e) => return super::plan_error(e),
    };
    record_contracts(&mut plan, &checked.project.sources, &program);
    // The process ends right after planning, as `check`'s does: freeing
    // every tree of a large project one by one would only delay the exit.
    // Keeping them costs the plan's own few megabytes on top of what the
    // check needed (see book/src/performance-planning.md).
    std::mem::forget(checked);
    // Streamed: a 10,000-dataset plan is megabytes of JSON, never held as
    // one string.
    let mut out = std::io::BufWriter::new(super::output::stdout());
    let written = match cli.format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &plan)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out)),
        _ => write!(out, "{}", text(&plan, args.range.as_deref())),
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        return usage_error(format!("cannot write output: {e}"));
    }
    std::mem::forget((plan, graph));
    std::mem::forget(program);
    0
}

/// Each planned job's contract hash, so `backfill --plan` can tell the job
/// it runs is the job that was reviewed (E0334).
pub(crate) fn record_contracts(
    plan: &mut Plan,
    sources: &crate::syntax::span::SourceMap,
    program: &crate::semantic::hir::Program,
) {
    // Each hash reads a declaration's text and its inputs' schemas: on a
    // 10,000-dataset plan about 30 ms of one core after the check, so the
    // datasets are shared out among the cores the check used.
    let record = |part: &mut [plan::DatasetPlan]| {
        for d in part {
            if let Some(decl) = program.lookup(&d.dataset) {
                d.contract = Some(plan::contract_hash(sources, program, decl));
            }
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || plan.datasets.len() < 256 {
        return record(&mut plan.datasets);
    }
    let chunk = plan.datasets.len().div_ceil(cores);
    std::thread::scope(|scope| {
        for part in plan.datasets.chunks_mut(chunk) {
            scope.spawn(|| record(part));
        }
    });
}

/// The plan as a person reads it: waves, datasets, ranges, why.
pub fn text(plan: &Plan, range: Option<&str>) -> String {
    let mut s = String::new();
    let mode = serde_json::to_value(plan.mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let utc = if plan.from_kind == crate::syntax::ast::DeclKind::Source && range.is_some() {
        " (UTC days)"
    } else {
        ""
    };
    s.push_str(&format!(
        "Backfill plan: {} changed, {}{utc}\n  mode {mode}, closed periods as of {}{}\n",
        plan.from,
        range.map_or("whole history".to_string(), |r| r.to_string()),
        plan.as_of,
        plan.reason
            .as_ref()
            .map_or(String::new(), |r| format!(", reason \"{r}\"")),
    ));
    let width = plan
        .datasets
        .iter()
        .map(|d| d.dataset.len())
        .max()
        .unwrap_or(0);
    let pad = " ".repeat(width + 11);
    let mut current = usize::MAX;
    for (d, a) in plan.actions() {
        if d.wave != current {
            current = d.wave;
            s.push_str(&format!("\nwave {current}\n"));
        }
        let ranges = a.ranges.iter().map(show_range).collect::<Vec<_>>();
        let count = match a.partitions {
            Some(1) => "1 partition".to_string(),
            Some(n) => format!("{n} partitions"),
            None => "every partition".to_string(),
        };
        s.push_str(&format!(
            "  {:<width$}  {:<7}  {}  ({count})\n",
            d.dataset,
            a.action.name(),
            ranges.join(", ")
        ));
        if let Some(why) = &a.why {
            s.push_str(&format!("  {pad}{why}\n"));
        }
        for r in &a.ranges {
            for b in r.because.iter().flatten() {
                s.push_str(&format!(
                    "  {pad}{} because {} {} = {} (path {})\n",
                    show_range(r),
                    b.via,
                    b.alias,
                    b.reads,
                    b.path.join(" -> ")
                ));
            }
        }
        if a.action != Action::Skipped {
            for i in &d.inputs {
                s.push_str(&format!(
                    "  {pad}input {} = {} over {}\n",
                    i.alias, i.reads, i.boundary
                ));
            }
            for b in &d.bindings {
                s.push_str(&format!(
                    "  {pad}bind {} = {} {}\n",
                    b.alias, b.reference, b.policy
                ));
            }
        }
    }
    if plan.datasets.is_empty() {
        s.push_str("\nnothing downstream reads the changed partitions\n");
    }
    if !plan.warnings.is_empty() {
        s.push_str("\nwarnings\n");
        for w in &plan.warnings {
            s.push_str(&format!("  - {}\n", w.line()));
        }
    }
    let n = plan.summary.datasets;
    let skipped = match plan.summary.skipped {
        0 => String::new(),
        k => format!(" ({k} skipped)"),
    };
    s.push_str(&format!(
        "\n{n} dataset{}{skipped}, {} to recompute\n",
        if n == 1 { "" } else { "s" },
        plan.partitions()
            .map_or("every partition of each".to_string(), |n| format!(
                "{n} partition{}",
                if n == 1 { "" } else { "s" }
            ))
    ));
    s
}
