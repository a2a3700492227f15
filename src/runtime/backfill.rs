//! Executing a backfill plan: the planned partitions of each dataset, wave
//! by wave, through the same lifecycle as `bplc run`. A step's consecutive
//! partitions are one run, staged by set-based statements in one batch; a
//! batch that fails as a whole runs again one partition at a time, so a
//! partition that fails stops exactly the downstream partitions
//! that read it; running the same backfill again resumes it, skipping what
//! it already finished. The backfill, its scope and the runs it made are
//! recorded in the ledger.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::diff::Diff;
use super::engine::Engine;
use super::ledger::Ledger;
use super::lifecycle::{Request, Runner};
use super::manifest::{Status, Target};
use super::RuntimeError;
use crate::graph::calendar;
use crate::plan::{input_range, Boundary, JobPlan};
use crate::semantic::hir::Program;

pub use crate::graph::report::Mode;

/// A plan step as `plan-backfill --format json` writes it; only the
/// fields execution needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub dataset: String,
    pub wave: usize,
    /// `replace`, `restatement` or `skipped`.
    pub action: String,
    #[serde(default)]
    pub why: Option<String>,
    pub ranges: Vec<Range>,
    /// The job's version and contract hash when the plan was made (plan
    /// documents since these fields; `None` in older ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Range {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// What a backfill is: the saved plan plus how to execute it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub from: String,
    pub range: Option<String>,
    pub mode: Mode,
    pub reason: Option<String>,
    /// Processing time of every run, `YYYY-MM-DD HH:MM:SS` UTC; closed
    /// periods are judged at its date.
    pub as_of: String,
    pub steps: Vec<Step>,
}

impl Spec {
    /// The backfill's id: the same backfill asked again has the same id,
    /// which is how it resumes.
    pub fn id(&self) -> String {
        let text = format!(
            "{}|{}|{:?}|{}|{}",
            self.from,
            self.range.as_deref().unwrap_or(""),
            self.mode,
            self.reason.as_deref().unwrap_or(""),
            self.as_of
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("bf-{:012x}", h & 0xffff_ffff_ffff)
    }

    /// Shadow and compare-only of one change share their shadow tables, so
    /// compare-only reuses what shadow computed.
    fn scope(&self, id: &str) -> String {
        match self.mode {
            Mode::DryRun => format!("dry-run:{id}"),
            _ => format!(
                "shadow:{}:{}",
                self.from,
                self.range.as_deref().unwrap_or("all")
            ),
        }
    }
}

/// What became of one partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionOutcome {
    pub partition: String,
    /// `published`, `loaded` (the first version of a closed partition: an
    /// initial load), `restated`, `shadowed`, `validated`, `held` (its run
    /// is HELD for review: `bplc approve`), `withheld` (a `fail
    /// partition` gate kept it from publishing; its run is PUBLISHED if
    /// other partitions were not, FAILED otherwise), `failed`, `blocked`,
    /// `refused`, `already_done` or `skipped`.
    pub outcome: String,
    pub run_id: Option<String>,
    pub version: Option<i64>,
    pub checksum: Option<String>,
    pub error: Option<String>,
    /// compare-only: the shadow result against what is published.
    pub diff: Option<Diff>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub dataset: String,
    pub wave: usize,
    pub action: String,
    pub why: Option<String>,
    /// A migration's change to the dataset's stored schema, if it had one.
    pub migrated: Option<String>,
    pub partitions: Vec<PartitionOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub backfill_id: String,
    pub resumed: bool,
    pub from: String,
    pub range: Option<String>,
    pub mode: Mode,
    pub reason: Option<String>,
    pub as_of: String,
    /// `complete`, or `incomplete` when a partition failed, was refused,
    /// is held for review, or was blocked by one that did not complete.
    /// Withheld partitions are reported but do not make a backfill
    /// incomplete: their gate decided. A complete backfill may have skipped
    /// partitions (closed ones it may not change): `bplc backfill` then
    /// exits 3.
    pub status: String,
    pub steps: Vec<StepReport>,
    pub totals: BTreeMap<String, usize>,
}

/// The partitions of a step: `(id, ordinal)` at the dataset's grain.
fn partitions(plan: &JobPlan, step: &Step) -> Result<Vec<(String, i64)>, RuntimeError> {
    // Without a time key, one run recomputes the dataset (every bucket or
    // dimension value), whatever the range.
    let Some(g) = plan.grain() else {
        return Ok(vec![("all".to_string(), 0)]);
    };
    let mut out = Vec::new();
    for r in &step.ranges {
        let (Some(a), Some(b)) = (&r.start, &r.end) else {
            return Err(RuntimeError::PlanStep(format!(
                "the plan for `{}` is unbounded (the whole history); give the backfill a `--range`",
                plan.dataset
            )));
        };
        let parse = |t: &str| {
            calendar::parse(t, g).ok_or_else(|| {
                RuntimeError::PlanStep(format!("`{t}` is not a partition of `{}`", plan.dataset))
            })
        };
        for o in parse(a)?..=parse(b)? {
            out.push((calendar::format(o, g), o));
        }
    }
    Ok(out)
}

/// Whether output partition `o` reads a partition that failed upstream.
fn blocked(plan: &JobPlan, o: i64, failed: &BTreeMap<String, BTreeSet<i64>>) -> Option<String> {
    for i in &plan.inputs {
        let Some(bad) = failed.get(&i.table.decl) else {
            continue;
        };
        if bad.is_empty() {
            continue;
        }
        // A whole step failed, or this dataset reads whole inputs: any
        // failure upstream is one this partition read.
        let whole = bad.contains(&i64::MIN) || plan.grain().is_none();
        let hit = match (&i.boundary, plan.grain()) {
            _ if whole => Some("some partitions".to_string()),
            (
                Boundary::Partitions {
                    input_grain,
                    lo,
                    hi,
                    ..
                },
                Some(g),
            ) => {
                let (a, b) = input_range(o, g, *input_grain, *lo, *hi);
                bad.range(a..=b)
                    .next()
                    .map(|x| calendar::format(*x, *input_grain))
            }
            _ => bad.iter().next().map(|x| x.to_string()),
        };
        if let Some(p) = hit {
            return Some(format!(
                "reads {} {p}, which did not complete",
                i.table.decl
            ));
        }
    }
    None
}

pub fn execute(
    program: &Program,
    spec: &Spec,
    engine: &mut dyn Engine,
    ledger: &mut Ledger,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, RuntimeError> {
    let id = spec.id();
    let resumed = ledger.backfill(&id, &serde_json::to_value(spec).expect("serialises"))?;
    let done: BTreeMap<(String, String), (String, String)> = ledger
        .backfill_done(&id)?
        .into_iter()
        .map(|(d, p, r, o)| ((d, p), (r, o)))
        .collect();
    let scope = spec.scope(&id);
    let mut failed: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut reports = Vec::new();
    let waves = spec.steps.iter().map(|s| s.wave).max().unwrap_or(0);
    let mut steps: Vec<&Step> = spec.steps.iter().collect();
    steps.sort_by_key(|s| s.wave);
    for step in steps {
        let mut report = StepReport {
            dataset: step.dataset.clone(),
            wave: step.wave,
            action: step.action.clone(),
            why: step.why.clone(),
            migrated: None,
            partitions: Vec::new(),
        };
        let plan = JobPlan::build(program, &step.dataset)
            .map_err(|e| RuntimeError::PlanStep(e.to_string()))?;
        let parts = match partitions(&plan, step) {
            Ok(p) => p,
            Err(e) => {
                // A step that cannot be expanded fails, and so does
                // everything downstream of it; the rest of the plan runs.
                report.partitions.push(PartitionOutcome {
                    partition: "*".into(),
                    outcome: "failed".into(),
                    run_id: None,
                    version: None,
                    checksum: None,
                    error: Some(format!("[{}] {e}", e.code())),
                    diff: None,
                });
                failed
                    .entry(step.dataset.clone())
                    .or_default()
                    .insert(i64::MIN);
                reports.push(report);
                continue;
            }
        };
        let upstream = upstream_failures(&failed, &step.dataset);
        let mut failures_here = BTreeSet::new();
        // Closed partitions a replace or restatement skips may still be
        // loaded for the first time: an initial load changes no reported
        // figure.
        let initial_loads = step.action == "skipped"
            && step.why.as_deref().is_some_and(|w| w.starts_with("closed"))
            && matches!(
                spec.mode,
                Mode::Replace | Mode::Restatement | Mode::Migration
            );
        let target = match (spec.mode, step.action.as_str()) {
            (_, "skipped") if initial_loads => Some(Target::Publish),
            (_, "skipped") => None,
            (Mode::DryRun | Mode::Shadow | Mode::CompareOnly, _) => Some(Target::Shadow {
                scope: scope.clone(),
            }),
            (Mode::Restatement, "restatement") => Some(Target::Restate {
                reason: spec.reason.clone().unwrap_or_default(),
            }),
            _ => Some(Target::Publish),
        };
        // A migration rebuilds the storage in the declared schema before
        // the partitions are published again into it.
        if spec.mode == Mode::Migration && target.is_some() {
            let drift = engine.migrate(&plan)?;
            if !drift.is_empty() {
                report.migrated = Some(drift.to_string());
            }
        }
        let mut outcomes: Vec<Option<PartitionOutcome>> = vec![None; parts.len()];
        let mut to_run: Vec<usize> = Vec::new();
        // Run now, or reused from an earlier shadow backfill: compared and
        // recorded as this backfill's.
        let mut computed: Vec<usize> = Vec::new();
        for (n, (partition, o)) in parts.iter().enumerate() {
            let mut outcome = PartitionOutcome::new(partition);
            let earlier = done.get(&(step.dataset.clone(), partition.clone()));
            let earlier = match earlier {
                Some((run, was)) if was == "held" => held_earlier(ledger, run)?,
                Some((run, was)) => Some((
                    run.clone(),
                    "already_done",
                    format!("{was} by an earlier attempt of this backfill"),
                )),
                None => None,
            };
            if let Some((run, what, why)) = earlier {
                outcome.outcome = what.into();
                outcome.run_id = Some(run);
                outcome.error = Some(why);
                if what == "held" {
                    failures_here.insert(*o);
                }
            } else if target.is_none()
                || (initial_loads && engine.versions(&plan, partition, None)?.0.is_some())
            {
                outcome.outcome = "skipped".into();
                outcome.error = step.why.clone();
            } else if let Some(why) = blocked(&plan, *o, &upstream) {
                outcome.outcome = "blocked".into();
                outcome.error = Some(why);
                failures_here.insert(*o);
            } else if let Some(v) = match spec.mode {
                Mode::CompareOnly => engine.versions(&plan, partition, Some(&scope))?.1,
                _ => None,
            } {
                outcome.outcome = "shadowed".into();
                outcome.version = Some(v);
                outcome.error = Some("the shadow result of an earlier shadow backfill".into());
                computed.push(n);
            } else {
                to_run.push(n);
                computed.push(n);
                continue;
            }
            outcomes[n] = Some(outcome);
        }
        // Runnable partitions with consecutive ordinals run as one batch;
        // a batch that fails as a whole is run again one partition at a
        // time, so a failure stops only the partitions that depend on it.
        if let Some(target) = &target {
            for segment in contiguous(&to_run, &parts) {
                let run = |which: &[usize],
                           engine: &mut dyn Engine,
                           ledger: &mut Ledger|
                 -> Result<Vec<PartitionOutcome>, RuntimeError> {
                    let (first, last) = (&parts[which[0]], &parts[which[which.len() - 1]]);
                    let req = Request {
                        from: first.1,
                        to: last.1,
                        dates: if which.len() == 1 {
                            first.0.clone()
                        } else {
                            format!("{}..{}", first.0, last.0)
                        },
                        as_of: spec.as_of.clone(),
                        dimensions: Vec::new(),
                        lookback: false,
                        target: target.clone(),
                        backfill: Some(id.clone()),
                    };
                    let mut quiet = |_: &str| {};
                    let mut runner = Runner {
                        plan: &plan,
                        engine,
                        ledger,
                        progress: &mut quiet,
                    };
                    let result = runner.run(&req);
                    let held = held_by(&result);
                    Ok(which
                        .iter()
                        .map(|&n| match &held {
                            Some(h) => h.clone().for_partition(&parts[n].0),
                            None => outcome_of_run(&result, &parts[n].0, target, spec.mode),
                        })
                        .collect())
                };
                let mut results = run(&segment, &mut *engine, &mut *ledger)?;
                let whole_failure = segment.len() > 1
                    && results
                        .iter()
                        .any(|r| r.outcome == "failed" || r.outcome == "refused");
                if whole_failure {
                    results = Vec::new();
                    for &n in &segment {
                        results.extend(run(&[n], &mut *engine, &mut *ledger)?);
                    }
                }
                for (&n, outcome) in segment.iter().zip(results) {
                    outcomes[n] = Some(outcome);
                }
                // The interrupted run is recorded FAILED; repeating the
                // backfill resumes it.
                super::cancel::check()?;
            }
        }
        let mut recorded = Vec::new();
        for (n, (partition, o)) in parts.iter().enumerate() {
            let mut outcome = outcomes[n]
                .take()
                .unwrap_or_else(|| PartitionOutcome::new(partition));
            if computed.contains(&n) {
                if spec.mode == Mode::CompareOnly {
                    if let Some(v) = outcome.version.filter(|_| outcome.outcome == "shadowed") {
                        outcome.diff = Some(engine.diff(&plan, partition, None, v)?);
                    }
                }
                if matches!(
                    outcome.outcome.as_str(),
                    "failed" | "refused" | "held" | "withheld"
                ) {
                    failures_here.insert(*o);
                }
                recorded.push(n);
            }
            progress(&format!(
                "wave {}/{waves}: {} {partition} ({}/{}) {}",
                step.wave,
                step.dataset,
                n + 1,
                parts.len(),
                outcome.outcome
            ));
            report.partitions.push(outcome);
        }
        // One ledger transaction for the step's record, not one per partition.
        let rows: Vec<(&str, Option<&str>, &str)> = recorded
            .iter()
            .map(|&n| {
                let o = &report.partitions[n];
                (
                    o.partition.as_str(),
                    o.run_id.as_deref(),
                    o.outcome.as_str(),
                )
            })
            .collect();
        ledger.backfill_runs(&id, &step.dataset, &rows)?;
        failed
            .entry(step.dataset.clone())
            .or_default()
            .extend(failures_here);
        reports.push(report);
    }
    if spec.mode == Mode::DryRun {
        discard_scope(program, spec, engine, &scope)?;
    }
    let mut totals = BTreeMap::new();
    for r in &reports {
        for p in &r.partitions {
            *totals.entry(p.outcome.clone()).or_insert(0) += 1;
        }
    }
    let incomplete = ["failed", "blocked", "refused", "held"]
        .iter()
        .any(|k| totals.contains_key(*k));
    let report = Report {
        backfill_id: id.clone(),
        resumed,
        from: spec.from.clone(),
        range: spec.range.clone(),
        mode: spec.mode,
        reason: spec.reason.clone(),
        as_of: spec.as_of.clone(),
        status: if incomplete { "incomplete" } else { "complete" }.into(),
        steps: reports,
        totals,
    };
    ledger.finish_backfill(
        &id,
        &report.status.to_uppercase(),
        &serde_json::to_value(&report).expect("serialises"),
    )?;
    Ok(report)
}

/// The failures a step's partitions are judged against: every upstream's,
/// not the step's own (its partitions do not read each other).
fn upstream_failures(
    failed: &BTreeMap<String, BTreeSet<i64>>,
    dataset: &str,
) -> BTreeMap<String, BTreeSet<i64>> {
    failed
        .iter()
        .filter(|(d, _)| d.as_str() != dataset)
        .map(|(d, s)| (d.clone(), s.clone()))
        .collect()
}

/// A dry run keeps nothing: its shadow versions are removed at the end.
fn discard_scope(
    program: &Program,
    spec: &Spec,
    engine: &mut dyn Engine,
    scope: &str,
) -> Result<(), RuntimeError> {
    for step in &spec.steps {
        if let Ok(plan) = JobPlan::build(program, &step.dataset) {
            engine.drop_shadow(&plan, scope)?;
        }
    }
    Ok(())
}

impl PartitionOutcome {
    fn new(partition: &str) -> PartitionOutcome {
        PartitionOutcome {
            partition: partition.to_string(),
            outcome: String::new(),
            run_id: None,
            version: None,
            checksum: None,
            error: None,
            diff: None,
        }
    }
}

/// The runnable partitions (indexes into `parts`) split where their
/// ordinals stop being consecutive.
fn contiguous(to_run: &[usize], parts: &[(String, i64)]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &n in to_run {
        match out.last_mut() {
            Some(seg) if parts[*seg.last().expect("non-empty")].1 + 1 == parts[n].1 => seg.push(n),
            _ => out.push(vec![n]),
        }
    }
    out
}

/// What a run did to one of its partitions, as the backfill reports it.
fn outcome_of_run(
    result: &Result<super::manifest::Manifest, RuntimeError>,
    partition: &str,
    target: &Target,
    mode: Mode,
) -> PartitionOutcome {
    let mut outcome = PartitionOutcome::new(partition);
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            outcome.outcome = if matches!(e, RuntimeError::Closed { .. }) {
                "refused"
            } else {
                "failed"
            }
            .into();
            outcome.error = Some(format!("[{}] {e}", e.code()));
            return outcome;
        }
    };
    outcome.run_id = Some(m.run_id.clone());
    let out = m.outputs.iter().find(|x| x.partition == partition);
    outcome.version = out.map(|x| x.version);
    outcome.checksum = out.map(|x| x.checksum.clone());
    let initial = out.is_some_and(|x| x.initial_load);
    outcome.outcome = match (m.status, target) {
        (Status::Published, _) if initial => "loaded",
        (Status::Published, Target::Restate { .. }) => "restated",
        (Status::Published, _) => "published",
        (Status::Shadowed, _) if mode == Mode::DryRun => "validated",
        (Status::Shadowed, _) => "shadowed",
        (Status::Held, _) => "held",
        _ => "failed",
    }
    .into();
    if initial {
        outcome.error = Some("the first version of a closed partition: an initial load".into());
    }
    if m.status == Status::Held {
        outcome.error = Some(format!(
            "{}; `bplc approve {}` publishes it, `bplc reject {}` discards it",
            m.error.as_deref().unwrap_or("held for review"),
            m.run_id,
            m.run_id
        ));
        return outcome;
    }
    // Withheld by a `fail partition` gate: deliberate, reported, and
    // downstream partitions that read it wait. Not "held": that is a run
    // waiting for review.
    if let Some(o) = out.filter(|x| x.decision == super::manifest::Decision::HoldPartition) {
        outcome.outcome = "withheld".into();
        let gates: Vec<String> = o
            .quality
            .iter()
            .chain(&o.reconciliation)
            .filter(|c| !c.passed && c.severity == "fail partition")
            .map(|c| match &c.detail {
                Some(d) => format!("{} [{d}]", c.text),
                None => c.text.clone(),
            })
            .collect();
        outcome.error = Some(format!(
            "withheld by a `fail partition` gate: {}",
            gates.join("; ")
        ));
        return outcome;
    }
    if outcome.outcome == "failed" {
        outcome.error = m
            .error
            .clone()
            .or(Some(format!("run is {}", m.status.name())));
    }
    outcome
}

/// A partition an earlier attempt left held for review: done if its run
/// was approved since, still held if it waits, run again if it was
/// rejected. `(run, outcome, why)`.
fn held_earlier(
    ledger: &Ledger,
    run: &str,
) -> Result<Option<(String, &'static str, String)>, RuntimeError> {
    let m = ledger.manifest(run)?;
    let by = m.review.as_ref().map(|r| r.line()).unwrap_or_default();
    Ok(match m.status {
        Status::Published => Some((
            run.to_string(),
            "already_done",
            format!("{by}; published by an earlier attempt of this backfill"),
        )),
        Status::Held => Some((
            run.to_string(),
            "held",
            format!(
                "{run} is HELD for review: `bplc approve {run}` publishes it, `bplc reject {run}` discards it"
            ),
        )),
        _ => None,
    })
}

/// A run refused because a run HELD for review owns the partition: the
/// partition is held (it waits for `bplc approve`), not failed.
fn held_by(result: &Result<super::manifest::Manifest, RuntimeError>) -> Option<PartitionOutcome> {
    let Err(RuntimeError::Leased {
        holder, held: true, ..
    }) = result
    else {
        return None;
    };
    Some(PartitionOutcome {
        outcome: "held".into(),
        run_id: Some(holder.clone()),
        error: Some(format!(
            "{holder} is HELD for review: `bplc approve {holder}` publishes it, `bplc reject {holder}` discards it"
        )),
        ..PartitionOutcome::new("")
    })
}

impl PartitionOutcome {
    fn for_partition(mut self, partition: &str) -> PartitionOutcome {
        self.partition = partition.to_string();
        self
    }
}
