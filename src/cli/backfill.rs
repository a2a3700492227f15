//! `bplc backfill` executes a backfill plan; `bplc diff` compares two
//! versions of a partition. Both report in text or JSON.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::plan::ModeArg;
use super::run::{as_of, open, plan_of, runtime_error};
use super::Needs;
use super::{accept_format, usage_error, Cli, Format, EXIT_NOT_OK};
use crate::graph::plan::{self as planner, Request};
use crate::graph::DepGraph;
use crate::runtime::backfill::{self, Mode, Report, Spec, Step};
use crate::runtime::identity::Stores;

#[derive(clap::Args, Debug)]
pub struct BackfillArgs {
    /// The source, reference or dataset that changed.
    #[arg(long, required_unless_present = "plan")]
    pub from: Option<String>,
    /// The changed partitions, inclusive: `2026-06-15..2026-06-30`.
    #[arg(long)]
    pub range: Option<String>,
    /// What to do with the partitions the plan recomputes (default
    /// `dry-run`; with `--plan`, the plan's own mode).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Why: required to restate closed partitions; recorded with every version.
    #[arg(long)]
    pub reason: Option<String>,
    /// Processing time of the runs, and the date closed periods are judged
    /// at (`2026-07-20` or `2026-07-20T01:00:00Z`). Default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Execute a plan saved with `bplc plan-backfill --format json`.
    #[arg(long, conflicts_with_all = ["from", "range"])]
    pub plan: Option<PathBuf>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Show each step and each statement of the backfill's runs on stderr.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    pub dataset: String,
    /// The partition (`2026-06`, `2026-06-15`).
    #[arg(long)]
    pub partition: String,
    /// The versions to compare, `1..2`; default the active one against the
    /// one before it.
    #[arg(long)]
    pub versions: Option<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

pub fn run(cli: &Cli, args: &BackfillArgs) -> u8 {
    if let Err(code) = accept_format(cli, "backfill") {
        return code;
    }
    let o = match open(cli, &args.project, "a backfill is only run", Needs::Jobs)
        .and_then(|o| o.writable().map(|()| o))
        .and_then(|o| super::metrics::check_configured(&o).map(|()| o))
    {
        Ok(o) => o,
        Err(c) => return c,
    };
    let spec = match &args.plan {
        Some(path) => match saved(path, args)
            .and_then(|s| declared(&o.program, path, s))
            .and_then(|s| unchanged(&o, path, s))
        {
            Ok(s) => s,
            Err(c) => return c,
        },
        None => match resumed_as_of(&o.stores(), args).and_then(|t| planned(&o.program, args, t)) {
            Ok(s) => s,
            Err(c) => return c,
        },
    };
    if spec.mode == Mode::Restatement && spec.reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        let closed = spec.steps.iter().any(|s| s.action == "restatement");
        if closed {
            return usage_error("a restatement needs a reason: `--reason \"...\"` (it is recorded with every restated version)");
        }
    }
    // Opened only once the request is known good: a refused backfill
    // leaves nothing on disk.
    if let Err(c) = super::ingest::create_warehouse(&o) {
        return c;
    }
    let (mut engine, mut ledger) = match o.stores().open() {
        Ok(x) => x,
        Err(e) => return runtime_error(e),
    };
    if spec.mode != Mode::DryRun {
        let seen_at = match as_of(None) {
            Ok(t) => t,
            Err(c) => return c,
        };
        if let Err(e) = super::ingest::before_backfill(&o, &ledger, &seen_at) {
            return runtime_error(e);
        }
    }
    if args.verbose {
        super::run::show_tracing();
    }
    let bar = (!args.verbose && cli.format == Format::Text && std::io::stderr().is_terminal())
        .then(|| {
            let total: u64 = spec.steps.len() as u64;
            let bar = indicatif::ProgressBar::new(total.max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
    let mut say = |line: &str| match &bar {
        Some(b) => b.set_message(line.to_string()),
        None => tracing::info!("{line}"),
    };
    let result = backfill::execute(&o.program, &spec, engine.as_mut(), &mut ledger, &mut say);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let code = match result {
        Ok(report) => {
            if cli.format == Format::Json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serialises")
                );
            } else {
                out!("{}", text(&report));
            }
            match (
                report.status.as_str(),
                report.totals.contains_key("skipped"),
            ) {
                ("complete", false) => 0,
                ("complete", true) => super::EXIT_SKIPPED,
                _ => EXIT_NOT_OK,
            }
        }
        Err(e) => runtime_error(e),
    };
    super::metrics::after_runs(&o, code)
}

/// Without `--as-of`, the processing time of an unfinished backfill of the
/// same request, if there is one: repeating a command resumes it.
fn resumed_as_of(stores: &Stores, args: &BackfillArgs) -> Result<Option<String>, u8> {
    if args.as_of.is_some() {
        return Ok(None);
    }
    // No ledger yet: nothing to resume, and nothing is created here.
    let Some(ledger) = stores.read_ledger().map_err(runtime_error)? else {
        return Ok(None);
    };
    let mode = serde_json::to_value(Mode::from(args.mode.unwrap_or(ModeArg::DryRun)))
        .expect("modes serialise");
    ledger
        .unfinished_as_of(
            args.from.as_deref().unwrap_or(""),
            args.range.as_deref(),
            &mode,
            args.reason.as_deref(),
        )
        .map_err(runtime_error)
}

/// Plans the backfill exactly as `plan-backfill` would; `resumed` is the
/// processing time of the unfinished backfill this one resumes.
fn planned(
    program: &crate::semantic::hir::Program,
    args: &BackfillArgs,
    resumed: Option<String>,
) -> Result<Spec, u8> {
    let from = args.from.clone().unwrap_or_default();
    let range = args.range.as_ref().map(|r| match r.split_once("..") {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (r.clone(), r.clone()),
    });
    let processing = match resumed {
        Some(t) => t,
        None => as_of(args.as_of.as_deref())?,
    };
    let day = chrono::NaiveDate::parse_from_str(&processing[..10], "%Y-%m-%d")
        .map_err(|_| usage_error("`--as-of` is not a date"))?;
    let graph = DepGraph::build(program);
    let req = Request {
        from: from.clone(),
        range,
        mode: args.mode.unwrap_or(ModeArg::DryRun).into(),
        reason: args.reason.clone(),
        as_of: day,
        changed_version: false,
        explain: false,
    };
    let plan = planner::plan(&graph, &req).map_err(super::plan_error)?;
    let steps = runtime_steps(&serde_json::to_value(&plan).expect("plans serialise"))
        .map_err(usage_error)?;
    Ok(Spec {
        from,
        range: args.range.clone(),
        mode: Mode::from(args.mode.unwrap_or(ModeArg::DryRun)),
        reason: args.reason.clone(),
        as_of: processing,
        steps,
    })
}

/// A saved plan whose datasets the project still declares, refused before
/// any of it runs (E0323): a removed dataset would otherwise fail only
/// when its wave came, after earlier waves published.
fn declared(
    program: &crate::semantic::hir::Program,
    path: &std::path::Path,
    spec: Spec,
) -> Result<Spec, u8> {
    let Some(gone) = spec
        .steps
        .iter()
        .find(|s| program.lookup(&s.dataset).is_none())
    else {
        return Ok(spec);
    };
    Err(super::fail(
        super::Failure {
            code: Some(crate::diagnostic::codes::E0323.to_string()),
            message: format!(
                "the plan `{}` names `{}`, which the project no longer declares",
                path.display(),
                gone.dataset
            ),
            help: Some(format!(
                "plan the backfill again: `bplc plan-backfill --from {}{} --format json > {}`",
                spec.from,
                spec.range
                    .as_deref()
                    .map_or(String::new(), |r| format!(" --range {r}")),
                path.display()
            )),
            ..Default::default()
        },
        super::EXIT_USAGE,
    ))
}

/// A saved plan whose jobs are the jobs that were reviewed: a job version
/// or contract hash that changed since is refused before any of it runs
/// (E0334). Plans saved without them are run as before.
fn unchanged(o: &super::run::Opened, path: &std::path::Path, spec: Spec) -> Result<Spec, u8> {
    for step in &spec.steps {
        let Some(decl) = o.program.lookup(&step.dataset) else {
            continue;
        };
        let now = planner::contract_hash(&o.sources, &o.program, decl);
        let version_changed = step.job_version.is_some_and(|v| v != decl.version);
        let contract_changed = step.contract.as_ref().is_some_and(|c| *c != now);
        if !version_changed && !contract_changed {
            continue;
        }
        let was = |v: Option<u32>, c: Option<&str>| {
            let v = v.map_or("?".to_string(), |v| v.to_string());
            match c {
                Some(c) => format!("version {v} (contract {c})"),
                None => format!("version {v}"),
            }
        };
        return Err(super::fail(
            super::Failure {
                code: Some(crate::diagnostic::codes::E0334.to_string()),
                message: format!(
                    "the plan `{}` was made for `{}` {}; the project now has {}",
                    path.display(),
                    step.dataset,
                    was(step.job_version, step.contract.as_deref()),
                    was(Some(decl.version), Some(&now))
                ),
                help: Some(format!(
                    "plan the backfill again and review the new plan: `bplc plan-backfill --from {}{} --mode {} --format json > {}`",
                    spec.from,
                    spec.range
                        .as_deref()
                        .map_or(String::new(), |r| format!(" --range {r}")),
                    mode_name(spec.mode),
                    path.display()
                )),
                ..Default::default()
            },
            super::EXIT_USAGE,
        ));
    }
    Ok(spec)
}

fn mode_name(m: Mode) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A plan saved by `plan-backfill --format json`.
fn saved(path: &std::path::Path, args: &BackfillArgs) -> Result<Spec, u8> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage_error(format!("cannot read `{}`: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| usage_error(format!("`{}` is not a plan: {e}", path.display())))?;
    let steps = runtime_steps(&v)
        .map_err(|e| usage_error(format!("`{}` is not a plan: {e}", path.display())))?;
    let plan_mode: Option<Mode> = serde_json::from_value(v["mode"].clone()).ok();
    // The reviewed plan is the plan that runs: a mode asked on the command
    // line that is not the plan's is refused, not quietly dropped.
    if let (Some(asked), Some(planned)) = (args.mode.map(Mode::from), plan_mode) {
        if asked != planned {
            return Err(super::fail(
                super::Failure {
                    code: Some(crate::diagnostic::codes::E0311.to_string()),
                    message: format!(
                        "the plan `{}` was made for `--mode {}`; this backfill asks for `--mode {}`",
                        path.display(),
                        mode_name(planned),
                        mode_name(asked)
                    ),
                    help: Some(format!(
                        "run the plan as it was reviewed (leave out `--mode`), or plan again with `bplc plan-backfill ... --mode {} --format json`",
                        mode_name(asked)
                    )),
                    ..Default::default()
                },
                super::EXIT_USAGE,
            ));
        }
    }
    let changed = v["changed"].as_array().and_then(|c| c.first()).map(|r| {
        format!(
            "{}..{}",
            r["start"].as_str().unwrap_or(""),
            r["end"].as_str().unwrap_or("")
        )
    });
    let processing = match (&args.as_of, v["as_of"].as_str()) {
        (Some(t), _) => as_of(Some(t))?,
        (None, Some(d)) => as_of(Some(d))?,
        (None, None) => as_of(None)?,
    };
    Ok(Spec {
        from: v["from"].as_str().unwrap_or("").to_string(),
        range: changed,
        mode: plan_mode.unwrap_or(Mode::from(args.mode.unwrap_or(ModeArg::DryRun))),
        reason: args
            .reason
            .clone()
            .or(v["reason"].as_str().map(str::to_string)),
        as_of: processing,
        steps,
    })
}

/// The steps the runtime executes, from a plan document: one per dataset
/// and action, with the runtime's action names (`restatement`, `skipped`).
/// Plans saved before the plan document had a version (a `steps` list)
/// are read as they were.
fn runtime_steps(plan: &serde_json::Value) -> Result<Vec<Step>, String> {
    if plan.get("datasets").is_none() {
        return serde_json::from_value(plan["steps"].clone()).map_err(|e| e.to_string());
    }
    let version = plan["version"].as_u64();
    if version != Some(planner::PLAN_VERSION.into()) {
        return Err(format!(
            "plan version {} is not {} (the version this bplc writes); plan it again",
            version.map_or("missing".into(), |v| v.to_string()),
            planner::PLAN_VERSION
        ));
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        dataset: String,
        wave: usize,
        actions: Vec<Action>,
        #[serde(default)]
        job_version: Option<u32>,
        #[serde(default)]
        contract: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Action {
        action: String,
        why: Option<String>,
        ranges: Vec<backfill::Range>,
    }
    let entries: Vec<Entry> =
        serde_json::from_value(plan["datasets"].clone()).map_err(|e| e.to_string())?;
    let mut steps = Vec::new();
    for e in entries {
        for a in e.actions {
            let action = match a.action.as_str() {
                "replace" => "replace",
                "restate" => "restatement",
                "skip" => "skipped",
                other => return Err(format!("unknown action `{other}` for `{}`", e.dataset)),
            };
            steps.push(Step {
                dataset: e.dataset.clone(),
                wave: e.wave,
                action: action.to_string(),
                why: a.why,
                ranges: a.ranges,
                job_version: e.job_version,
                contract: e.contract.clone(),
            });
        }
    }
    Ok(steps)
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Backfill {} ({}): {} changed{}, mode {}, as of {} — {}",
        r.backfill_id,
        if r.resumed { "resumed" } else { "new" },
        r.from,
        r.range
            .as_ref()
            .map(|x| format!(" {x}"))
            .unwrap_or_default(),
        mode_name(r.mode),
        r.as_of,
        match r.totals.get("skipped") {
            Some(n) if r.status == "complete" => format!("COMPLETE, {n} skipped"),
            _ => r.status.to_uppercase(),
        }
    );
    let mut wave = usize::MAX;
    for step in &r.steps {
        if step.wave != wave {
            wave = step.wave;
            let _ = writeln!(s, "wave {wave}");
        }
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for p in &step.partitions {
            *counts.entry(p.outcome.as_str()).or_default() += 1;
        }
        let name = if step.action == "replace" {
            step.dataset.clone()
        } else {
            format!("{} ({})", step.dataset, step.action)
        };
        let _ = writeln!(
            s,
            "  {:<36} {}",
            name,
            counts
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(change) = &step.migrated {
            let _ = writeln!(s, "    storage migrated: the declaration {change}");
        }
        if let Some(line) = skipped_line(r, step) {
            let _ = writeln!(s, "{line}");
        }
        for p in &step.partitions {
            if let Some(d) = &p.diff {
                if !d.is_empty() {
                    for line in d.to_string().lines() {
                        let _ = writeln!(s, "    {line}");
                    }
                }
            }
            if matches!(
                p.outcome.as_str(),
                "failed" | "blocked" | "refused" | "held" | "withheld" | "loaded"
            ) {
                let _ = writeln!(
                    s,
                    "    {} {}: {}",
                    p.partition,
                    p.outcome,
                    p.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "totals: {}",
        r.totals
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// What a step skipped and why, in one line; for closed periods, the
/// command that restates them.
fn skipped_line(r: &Report, step: &backfill::StepReport) -> Option<String> {
    let skipped: Vec<&backfill::PartitionOutcome> = step
        .partitions
        .iter()
        .filter(|p| p.outcome == "skipped")
        .collect();
    let (first, last) = (skipped.first()?, skipped.last()?);
    let span = if skipped.len() == 1 {
        first.partition.clone()
    } else {
        format!(
            "{}..{} ({})",
            first.partition,
            last.partition,
            skipped.len()
        )
    };
    let why = first.error.as_deref().unwrap_or("not in the plan's scope");
    let mut line = format!("    {span} skipped: {why}");
    // Only a restatement may change a closed period the contract lets be
    // restated: say exactly which command does it.
    let restatable = why.starts_with("closed") && !why.contains("does not allow restatement");
    if restatable && r.mode != Mode::Restatement {
        line.push_str(&format!(
            "\n      to restate them: bplc backfill --from {}{} --mode restatement --reason \"...\" --as-of {}",
            r.from,
            r.range
                .as_deref()
                .map_or(String::new(), |x| format!(" --range {x}")),
            r.as_of.get(..10).unwrap_or(&r.as_of)
        ));
    }
    Some(line)
}

pub fn diff(cli: &Cli, args: &DiffArgs) -> u8 {
    if let Err(code) = accept_format(cli, "diff") {
        return code;
    }
    let o = match open(
        cli,
        &args.project,
        "versions are only compared",
        Needs::Jobs,
    ) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let plan = match plan_of(&o, &args.dataset) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let stores = o.stores();
    let mut engine = match stores
        .check_paths()
        .and_then(|()| stores.warehouse().open())
    {
        Ok(e) => e,
        Err(e) => return runtime_error(e),
    };
    if let Err(e) = engine.prepare_storage(&plan) {
        return runtime_error(e);
    }
    let (from, to) = match &args.versions {
        Some(v) => match v
            .split_once("..")
            .map(|(a, b)| (a.trim().parse::<i64>(), b.trim().parse::<i64>()))
        {
            Some((Ok(a), Ok(b))) => (a, b),
            _ => {
                return usage_error(format!(
                    "`--versions {v}`: write two version numbers, `1..2`"
                ))
            }
        },
        None => match engine.versions(&plan, &args.partition, None) {
            Ok((Some(active), _)) if active > 1 => (active - 1, active),
            Ok((Some(_), _)) => {
                return usage_error(format!(
                    "partition {} of `{}` has one version; name two with `--versions`",
                    args.partition, args.dataset
                ))
            }
            Ok((None, _)) => {
                return usage_error(format!(
                    "partition {} of `{}` has never been published",
                    args.partition, args.dataset
                ))
            }
            Err(e) => return runtime_error(e),
        },
    };
    match engine.diff(&plan, &args.partition, Some(from), to) {
        Ok(d) => {
            if cli.format == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&d).expect("serialises"));
            } else {
                out!("{d}");
            }
            0
        }
        Err(e) => runtime_error(e),
    }
}
