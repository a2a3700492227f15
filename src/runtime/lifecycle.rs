//! The run lifecycle. Each step writes the run's new status to the ledger
//! before the next begins, so a crash anywhere leaves a record `bplc
//! recover` can resolve from durable state alone:
//!
//! PLANNED -> INPUT_LOCKED -> RUNNING -> VALIDATING -> COMMITTING -> PUBLISHED
//!
//! or FAILED (nothing published), HELD (waiting for approval) and UNKNOWN.

use super::engine::{Engine, Measured, PartitionRun, Publication, Publish, RunScope, Staged};
use super::fault;
use super::ledger::Ledger;
use super::manifest::{Check, Decision, Manifest, Output, Parameters, Review, Status, Target};
use super::RuntimeError;
use crate::graph::calendar;
use crate::plan::{input_range, Boundary, JobPlan};
use crate::semantic::hir::{PartitionKind, Step};
use crate::syntax::ast::{DeclKind, Severity};

/// What `bplc run` asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// First and last partition of the run dates, as ordinals of the
    /// dataset's time grain (ignored by a dataset without one).
    pub from: i64,
    pub to: i64,
    /// The dates as the user wrote them, for the manifest.
    pub dates: String,
    /// The processing time, `YYYY-MM-DD HH:MM:SS` UTC.
    pub as_of: String,
    /// Values of the partition's dimension keys.
    pub dimensions: Vec<(String, String)>,
    /// Whether a run date also recomputes the lookback before it (a
    /// scheduled run), or exactly the partitions asked (a backfill step).
    pub lookback: bool,
    pub target: Target,
    /// The backfill this run is a step of.
    pub backfill: Option<String>,
}

/// Drives one dataset's runs.
pub struct Runner<'a> {
    pub plan: &'a JobPlan,
    pub engine: &'a mut dyn Engine,
    pub ledger: &'a mut Ledger,
    /// Told about each step, for progress output.
    pub progress: &'a mut dyn FnMut(&str),
}

impl Runner<'_> {
    /// Plans, locks, computes, validates and publishes a run.
    pub fn run(&mut self, req: &Request) -> Result<Manifest, RuntimeError> {
        let plan = self.plan;
        self.engine.prepare(plan)?;
        let run_key = plan.partition.iter().any(|k| k.kind == PartitionKind::Run);
        let partitions = if run_key {
            Vec::new()
        } else {
            self.partitions(req)?.into_iter().map(|p| p.0).collect()
        };
        self.check_closed(req)?;
        let mut m = Manifest::planned(
            plan,
            if req.backfill.is_some() {
                "backfill"
            } else {
                "run"
            },
            req.target.clone(),
            Parameters {
                dates: req.dates.clone(),
                as_of: req.as_of.clone(),
                dimensions: req.dimensions.clone(),
            },
            partitions,
        );
        m.backfill = req.backfill.clone();
        self.ledger.begin(&mut m)?;
        if run_key {
            m.partitions = vec![m.run_id.clone()];
        }
        (self.progress)(&format!(
            "{} planned: {} partition(s)",
            m.run_id,
            m.partitions.len()
        ));
        let overlay = match &req.target {
            Target::Shadow { scope } => Some(scope.as_str()),
            _ => None,
        };
        match self.engine.lock_inputs(plan, overlay) {
            Ok(lock) => m.input_lock = lock,
            Err(e) => return self.fail(m, e),
        }
        m.status = Status::InputLocked;
        m.times.locked = Some(super::now());
        self.ledger.transition(&m, "inputs locked")?;
        fault::point("after-lock");
        if let Err(e) = super::cancel::check() {
            return self.fail(m, e);
        }
        self.execute(m, req)
    }

    /// Runs a failed run again from its recorded input lock: it reads
    /// exactly the rows the first attempt read.
    pub fn retry(&mut self, run_id: &str) -> Result<Manifest, RuntimeError> {
        let mut m = self.ledger.manifest(run_id)?;
        if m.status != Status::Failed {
            return Err(RuntimeError::WrongState {
                run_id: run_id.into(),
                status: m.status.name(),
                wanted: "FAILED (retry a run that crashed after `bplc recover`)",
            });
        }
        self.engine.prepare(self.plan)?;
        self.ledger.reacquire(&m)?;
        m.attempt += 1;
        m.mode = "retry".into();
        m.outputs.clear();
        m.error = None;
        m.status = Status::InputLocked;
        self.ledger
            .transition(&m, "retry: inputs as locked by the first attempt")?;
        let req = Request {
            from: 0,
            to: 0,
            dates: m.parameters.dates.clone(),
            as_of: m.parameters.as_of.clone(),
            dimensions: m.parameters.dimensions.clone(),
            lookback: false,
            target: m.target.clone(),
            backfill: m.backfill.clone(),
        };
        self.execute(m, &req)
    }

    /// Refuses what the dataset's closed periods forbid: replacing a closed
    /// partition, restating without a reason or under `restate never`.
    fn check_closed(&mut self, req: &Request) -> Result<(), RuntimeError> {
        let plan = self.plan;
        let as_of = as_of_day(&req.as_of);
        let mut closed: Vec<String> = Vec::new();
        for (id, o) in self.partitions(req)? {
            let is_closed = o.and_then(|o| plan.closes_on(o)).is_some_and(|d| d < as_of);
            // A closed partition never published is an initial load: no
            // reported figure changes, so it is not refused.
            if is_closed && self.engine.versions(plan, &id, None)?.0.is_some() {
                closed.push(id);
            }
        }
        match &req.target {
            Target::Publish if !closed.is_empty() => Err(RuntimeError::Closed {
                dataset: plan.dataset.clone(),
                range: plan.time_range(closed.iter().map(String::as_str)),
                partitions: closed,
            }),
            Target::Restate { reason } => {
                if plan.restate == Some(crate::syntax::ast::RestatePolicy::Never) {
                    return Err(RuntimeError::RestatementRefused {
                        dataset: plan.dataset.clone(),
                        never: true,
                    });
                }
                if reason.trim().is_empty() {
                    return Err(RuntimeError::RestatementRefused {
                        dataset: plan.dataset.clone(),
                        never: false,
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The partitions of a request: `(id, time ordinal)`, oldest first.
    /// An id is the partition's key values joined by `/`: dimension values
    /// first (each given with `--dim`, or every value the inputs hold),
    /// then the time key.
    fn partitions(&mut self, req: &Request) -> Result<Vec<(String, Option<i64>)>, RuntimeError> {
        let plan = self.plan;
        let mut combos: Vec<Vec<String>> = vec![Vec::new()];
        for k in plan.dimension_keys() {
            let values = match (req.dimensions.iter().find(|(n, _)| n == k), plan.hash_key()) {
                (Some((_, v)), _) => vec![v.clone()],
                (None, Some((hash, _, n))) if hash == k => (0..n).map(|b| b.to_string()).collect(),
                (None, _) => self.engine.dimension_values(plan, k)?,
            };
            if let Some(bad) = values.iter().find(|v| v.contains('/') || v.is_empty()) {
                return Err(RuntimeError::BadDimensionValue {
                    dataset: plan.dataset.clone(),
                    key: k.to_string(),
                    value: bad.clone(),
                });
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push(v.clone());
                        c
                    })
                })
                .collect();
        }
        let id = |dims: &[String], time: Option<String>| {
            let mut parts = dims.to_vec();
            parts.extend(time);
            if parts.is_empty() {
                "all".to_string()
            } else {
                parts.join("/")
            }
        };
        let lookback = if req.lookback { plan.lookback } else { 0 };
        // A scheduled run's lookback stops at the closed periods: they
        // change only through a restatement. The run dates themselves are
        // checked, and refused if closed (`check_closed`).
        let as_of = as_of_day(&req.as_of);
        let open = |o: i64| {
            o >= req.from
                || req.target != Target::Publish
                || plan.closes_on(o).is_none_or(|d| d >= as_of)
        };
        let mut out = Vec::new();
        for dims in &combos {
            match plan.grain() {
                Some(g) => out.extend(
                    (req.from - lookback..=req.to)
                        .filter(|o| open(*o))
                        .map(|o| (id(dims, Some(calendar::format(o, g))), Some(o))),
                ),
                None => out.push((id(dims, None), None)),
            }
        }
        Ok(out)
    }

    fn partition_run(
        &mut self,
        m: &Manifest,
        id: &str,
        ordinal: Option<i64>,
        version: i64,
    ) -> Result<PartitionRun, RuntimeError> {
        let plan = self.plan;
        // The id starts with the dimension values, in key order.
        let mut keys: Vec<(String, String)> = plan
            .dimension_keys()
            .into_iter()
            .zip(id.split('/'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (p, windows, close) = match (plan.grain(), ordinal) {
            (Some(g), Some(o)) => {
                let p = calendar::format(o, g);
                let windows = plan
                    .inputs
                    .iter()
                    .filter_map(|i| match &i.boundary {
                        Boundary::Partitions {
                            input_grain,
                            lo,
                            hi,
                            ..
                        } => {
                            let (a, b) = input_range(o, g, *input_grain, *lo, *hi);
                            Some((
                                i.table.alias.clone(),
                                calendar::format(a, *input_grain),
                                calendar::format(b, *input_grain),
                            ))
                        }
                        _ => None,
                    })
                    .collect();
                let close_day = plan
                    .closes_on(o)
                    .unwrap_or_else(|| calendar::last_day_of(o, g) + 1);
                if let Some((k, _)) = &plan.time_key {
                    keys.push((k.clone(), p.clone()));
                }
                (
                    p,
                    windows,
                    format!(
                        "{} 00:00:00",
                        calendar::format(close_day, crate::semantic::hir::Grain::Day)
                    ),
                )
            }
            _ => (id.to_string(), Vec::new(), m.parameters.as_of.clone()),
        };
        for k in &plan.partition {
            if k.kind == PartitionKind::Run {
                keys.push((k.name.clone(), m.run_id.clone()));
            }
        }
        Ok(PartitionRun {
            partition: id.to_string(),
            p,
            keys,
            version,
            windows,
            report_close: close,
        })
    }

    /// RUNNING through PUBLISHED, from a locked run.
    fn execute(&mut self, mut m: Manifest, req: &Request) -> Result<Manifest, RuntimeError> {
        let plan = self.plan;
        let scope = RunScope {
            run_id: m.run_id.clone(),
            as_of: m.parameters.as_of.clone(),
            lock: m.input_lock.clone(),
        };
        let ids: Vec<(String, Option<i64>)> =
            if m.partitions.len() == 1 && m.partitions[0] == m.run_id {
                vec![(m.run_id.clone(), None)]
            } else {
                let recorded = Request {
                    dimensions: m.parameters.dimensions.clone(),
                    ..req.clone()
                };
                let all = if m.mode == "retry" {
                    // Recompute ordinals from the recorded partition ids.
                    m.partitions
                        .iter()
                        .map(|id| {
                            let time = id.rsplit('/').next().unwrap_or(id);
                            (
                                id.clone(),
                                plan.grain().and_then(|g| calendar::parse(time, g)),
                            )
                        })
                        .collect()
                } else {
                    self.partitions(&recorded)?
                };
                all
            };
        m.status = Status::Running;
        m.times.started = Some(super::now());
        self.ledger.transition(&m, "computing")?;
        // One batch: every partition of the run is staged by the same
        // set-based statements, in one transaction.
        let step = (|| -> Result<(Vec<PartitionRun>, Vec<Staged>), RuntimeError> {
            if !matches!(m.target, Target::Shadow { .. }) {
                let all: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
                self.engine.clear_shadows(plan, &all)?;
            }
            let versions = self.engine.next_versions(
                plan,
                &ids.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            )?;
            let runs = ids
                .iter()
                .zip(versions)
                .map(|((id, ordinal), version)| self.partition_run(&m, id, *ordinal, version))
                .collect::<Result<Vec<_>, _>>()?;
            for b in self.engine.bindings(plan, &scope, &runs)? {
                m.bindings.push(b);
            }
            let _span = tracing::info_span!("stage", partitions = runs.len()).entered();
            let staged = self.engine.stage(plan, &scope, &runs)?;
            Ok((runs, staged))
        })();
        let (runs, mut staged) = match step {
            Ok(x) => x,
            Err(e) => return self.fail(m, e),
        };
        // Staged and committed, not yet validated: recovery cleans it.
        fault::point("mid-staging");
        let mut quarantined = Vec::new();
        for (part, s) in runs.iter().zip(&mut staged) {
            (self.progress)(&format!(
                "staged {} of {}: {} rows in, {} accepted",
                part.partition, plan.dataset, s.counters.input, s.counters.accepted
            ));
            quarantined.push((part.partition.as_str(), std::mem::take(&mut s.quarantine)));
        }
        if let Err(e) = self
            .ledger
            .quarantine(&m.run_id, &plan.dataset, &quarantined)
        {
            return self.fail(m, e);
        }
        m.status = Status::Validating;
        self.ledger.transition(&m, "validating")?;
        let mut fail_run: Vec<String> = Vec::new();
        let mut review: Vec<String> = Vec::new();
        for (part, s) in runs.iter().zip(&staged) {
            let _span = tracing::info_span!("validate", partition = %part.partition).entered();
            let measured = match self.engine.measure(plan, &scope, part, s) {
                Ok(x) => x,
                Err(e) => return self.fail(m, e),
            };
            let output = judge(plan, part, s, &measured, &mut fail_run, &mut review);
            m.outputs.push(output);
        }
        if let Err(e) = self.mark_initial_loads(&mut m, &ids) {
            return self.fail(m, e);
        }
        if let Target::Restate { .. } = &m.target {
            for k in 0..m.outputs.len() {
                if m.outputs[k].initial_load {
                    continue;
                }
                let (partition, version) = (m.outputs[k].partition.clone(), m.outputs[k].version);
                match self.engine.diff(plan, &partition, None, version) {
                    Ok(d) => {
                        m.outputs[k].change =
                            Some(serde_json::to_value(d.summary()).expect("serialises"))
                    }
                    Err(e) => return self.fail(m, e),
                }
            }
        }
        fault::point("after-validate");
        if let Err(e) = super::cancel::check() {
            return self.fail(m, e);
        }
        if !fail_run.is_empty() {
            let e = format!("failed: {}", fail_run.join("; "));
            return self.finish_failed(m, e);
        }
        if !review.is_empty() {
            m.status = Status::Held;
            m.error = Some(format!("waiting for review: {}", review.join("; ")));
            self.ledger.transition(&m, "held for manual review")?;
            (self.progress)(&format!(
                "{} is HELD: approve with `bplc approve {}`",
                m.run_id, m.run_id
            ));
            return Ok(m);
        }
        self.commit(m)
    }

    /// COMMITTING and PUBLISHED: the partitions that passed become active.
    fn commit(&mut self, mut m: Manifest) -> Result<Manifest, RuntimeError> {
        let plan = self.plan;
        let publish: Vec<Publication> = m
            .outputs
            .iter()
            .filter(|o| o.decision == Decision::Publish)
            .map(|o| Publication {
                partition: o.partition.clone(),
                version: o.version,
                how: match &m.target {
                    Target::Publish => Publish::Active,
                    Target::Restate { .. } if o.initial_load => Publish::Active,
                    Target::Restate { reason } => Publish::Restate {
                        reason: reason.clone(),
                        summary: o.change.as_ref().map(|c| c.to_string()).unwrap_or_default(),
                    },
                    Target::Shadow { scope } => Publish::Shadow {
                        scope: scope.clone(),
                    },
                },
            })
            .collect();
        if publish.is_empty() {
            return self.finish_failed(
                m,
                "every partition was held back by `fail partition` rules".into(),
            );
        }
        m.status = Status::Committing;
        self.ledger.transition(&m, "publishing")?;
        let _span = tracing::info_span!("publish", partitions = publish.len()).entered();
        if let Err(e) = self.engine.publish(plan, &m.run_id, &publish) {
            return self.fail(m, e);
        }
        fault::point("after-commit");
        for o in &mut m.outputs {
            o.published = o.decision == Decision::Publish;
        }
        // Held-back partitions' staged rows are not kept. The publish has
        // committed: a failure to clean up is recovery's to finish, not a
        // reason to say the run failed.
        let held: Vec<(String, i64)> = m
            .outputs
            .iter()
            .filter(|o| !o.published)
            .map(|o| (o.partition.clone(), o.version))
            .collect();
        if !held.is_empty() {
            if let Err(e) = self.engine.discard_partitions(plan, &m.run_id, &held) {
                tracing::warn!(error = %e, "staged rows of held-back partitions were not removed");
            }
        }
        m.status = match m.target {
            Target::Shadow { .. } => Status::Shadowed,
            _ => Status::Published,
        };
        m.times.finished = Some(super::now());
        let held = m.outputs.iter().filter(|o| !o.published).count();
        let detail = if held == 0 {
            format!("published {} partition(s)", publish.len())
        } else {
            format!("published {} partition(s), held back {held}", publish.len())
        };
        if m.status == Status::Published {
            self.ledger.finish_published(&m, &detail)?;
        } else {
            // A shadow run's end stays durable: recovery decides a run by
            // the active pointers, which a shadow scope does not move.
            self.ledger.transition(&m, &detail)?;
        }
        (self.progress)(&format!("{} {}: {detail}", m.run_id, m.status.name()));
        Ok(m)
    }

    /// `bplc approve`: publishes a held run; who approved it, and why, is
    /// kept in its manifest.
    pub fn approve(&mut self, run_id: &str, review: Review) -> Result<Manifest, RuntimeError> {
        let mut m = self.held(run_id)?;
        self.staged_rows_kept(&m)?;
        m.error = None;
        let detail = review.line();
        m.review = Some(review);
        self.ledger.transition(&m, &detail)?;
        m.status = Status::Validating;
        self.commit(m)
    }

    /// `bplc reject`: discards a held run, keeping who rejected it and why.
    pub fn reject(&mut self, run_id: &str, review: Review) -> Result<Manifest, RuntimeError> {
        let mut m = self.held(run_id)?;
        let detail = format!("{} at review", review.line());
        m.review = Some(review);
        self.finish_failed(m, detail)
    }

    /// Marks the outputs that are the first version of a closed partition.
    fn mark_initial_loads(
        &mut self,
        m: &mut Manifest,
        ids: &[(String, Option<i64>)],
    ) -> Result<(), RuntimeError> {
        if matches!(m.target, Target::Shadow { .. }) {
            return Ok(());
        }
        let as_of = as_of_day(&m.parameters.as_of);
        for (o, (_, ordinal)) in m.outputs.iter_mut().zip(ids) {
            let closed = ordinal
                .and_then(|x| self.plan.closes_on(x))
                .is_some_and(|d| d < as_of);
            if closed {
                o.initial_load = self
                    .engine
                    .versions(self.plan, &o.partition, None)?
                    .0
                    .is_none();
            }
        }
        Ok(())
    }

    fn held(&mut self, run_id: &str) -> Result<Manifest, RuntimeError> {
        let m = self.ledger.manifest(run_id)?;
        if m.status != Status::Held {
            return Err(RuntimeError::WrongState {
                run_id: run_id.into(),
                status: m.status.name(),
                wanted: "HELD",
            });
        }
        self.engine.prepare(self.plan)?;
        Ok(m)
    }

    /// Refuses to publish a held run whose staged rows are gone. On SQLite
    /// the staging transaction commits without a sync of its own (the
    /// publish syncs it), while the hold is synced: a power cut soon after
    /// a hold can keep the ledger's `HELD` and lose the rows, and approving
    /// would then make partitions active with none of their rows. A
    /// staging transaction is kept whole or lost whole, so fewer rows than
    /// the run staged means all of them are lost.
    fn staged_rows_kept(&mut self, m: &Manifest) -> Result<(), RuntimeError> {
        let staged: i64 = m
            .outputs
            .iter()
            .filter(|o| o.decision == Decision::Publish)
            .map(|o| o.rows)
            .sum();
        if staged == 0 {
            return Ok(());
        }
        let found = self.engine.inspect(self.plan, &m.run_id)?.staged_rows;
        if found >= staged {
            return Ok(());
        }
        Err(RuntimeError::Coded {
            code: crate::diagnostic::codes::E0338,
            message: format!(
                "held run {} of `{}` staged {staged} rows, and the warehouse holds {found} of them: they were lost (a power cut soon after the run was held loses its staged rows) and it cannot be approved",
                m.run_id, self.plan.dataset
            ),
            help: format!(
                "nothing was published; reject it with `bplc reject {}` and run its partitions again",
                m.run_id
            ),
        })
    }

    /// Records an error, removes staged rows, and marks the run FAILED.
    fn fail(&mut self, m: Manifest, e: RuntimeError) -> Result<Manifest, RuntimeError> {
        // A statement a signal interrupted fails with SQLite's own words.
        let e = if super::cancel::requested() {
            RuntimeError::Interrupted
        } else {
            e
        };
        let message = format!("[{}] {e}", e.code());
        self.finish_failed(m, message)
    }

    fn finish_failed(&mut self, mut m: Manifest, error: String) -> Result<Manifest, RuntimeError> {
        // An engine without transactions (Spark) whose session is gone
        // cannot drop the staged rows now: `recover` drops them later.
        let error = match self.engine.discard(self.plan, &m.run_id) {
            Ok(_) => error,
            Err(_) => format!(
                "{error} (its staged rows are left unread: `bplc recover {}` drops them)",
                m.run_id
            ),
        };
        m.status = Status::Failed;
        m.error = Some(error.clone());
        m.times.finished = Some(super::now());
        self.ledger.transition(&m, &error)?;
        (self.progress)(&format!("{} FAILED: {error}", m.run_id));
        Ok(m)
    }
}

/// The day number of a processing time (`2026-07-20 01:00:00`).
fn as_of_day(as_of: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(as_of.get(..10).unwrap_or(""), "%Y-%m-%d")
        .map(calendar::day)
        .unwrap_or(i64::MAX)
}

/// Routes one staged partition's results by severity.
fn judge(
    plan: &JobPlan,
    part: &PartitionRun,
    s: &Staged,
    measured: &Measured,
    fail_run: &mut Vec<String>,
    review: &mut Vec<String>,
) -> Output {
    let mut hold = false;
    let mut route = |name: &str, severity: Severity, passed: bool| {
        if passed {
            return;
        }
        let what = format!("{name} on {}", part.partition);
        match severity {
            Severity::FailRun => fail_run.push(what),
            Severity::ManualReview => review.push(what),
            Severity::FailPartition => hold = true,
            Severity::Info | Severity::Warn | Severity::Quarantine => {}
        }
    };
    let mut quality = Vec::new();
    for rule in plan
        .job
        .rules
        .iter()
        .filter(|r| r.level == crate::syntax::ast::RuleLevel::Row)
    {
        let failing = s
            .row_rule_failures
            .iter()
            .find(|(n, _)| *n == rule.name)
            .map_or(0, |x| x.1);
        // A quarantine rule routes rows; the partition still passes.
        let passed = failing == 0 || rule.severity == Severity::Quarantine;
        route(&rule.name, rule.severity, failing == 0);
        quality.push(Check {
            name: rule.name.clone(),
            text: rule.text.clone(),
            severity: rule.severity.words().into(),
            passed,
            failing_rows: Some(failing),
            detail: None,
        });
    }
    // A gate without a value (an empty partition, a null measure) fails:
    // a check that cannot be measured has not passed. A spec that means an
    // empty partition to pass says so in the condition
    // (`row_count() == 0 or ...`, `coalesce(..., 0)`).
    // Each source the pipeline reads crosses the typed input boundary; its
    // bad rows are quarantined, or fail the partition or the run, as the
    // source declares (`bad rows fail partition`).
    for input in plan
        .inputs
        .iter()
        .filter(|i| i.table.kind == DeclKind::Source)
    {
        let alias = &input.table.alias;
        let read = plan.job.steps.iter().any(|s| match s {
            Step::From(a) | Step::Join { alias: a, .. } => a == alias,
            _ => false,
        });
        if !read {
            continue;
        }
        let bad = s.bad_rows.iter().find(|b| b.alias == *alias);
        let n = bad.map_or(0, |b| b.rows);
        let routes = input.bad_rows == Severity::Quarantine;
        route(&format!("typed_input({alias})"), input.bad_rows, n == 0);
        quality.push(Check {
            name: format!("typed_input({alias})"),
            text: format!(
                "rows of `{alias}` (source `{}`) are of their declared types",
                input.table.decl
            ),
            severity: input.bad_rows.words().into(),
            passed: n == 0 || routes,
            failing_rows: Some(n),
            detail: bad.map(|b| match routes {
                true => format!("{n} bad row(s) quarantined, e.g. {}", b.first),
                false => format!(
                    "[{}] {n} bad row(s), e.g. {}; the source's bad rows {}",
                    crate::diagnostic::codes::E0341,
                    b.first,
                    input.bad_rows.words()
                ),
            }),
        });
    }
    for e in &measured.expectations {
        let passed = e.passed.unwrap_or(false);
        route(&e.gate.name, e.gate.severity, passed);
        quality.push(Check {
            name: e.gate.name.clone(),
            text: e.gate.text.clone(),
            severity: e.gate.severity.words().into(),
            passed,
            failing_rows: None,
            detail: e.detail.clone(),
        });
    }
    let mut reconciliation = Vec::new();
    for r in &measured.reconciliations {
        let passed = r.passed.unwrap_or(false);
        route(&r.gate.name, r.gate.severity, passed);
        let c = &s.counters;
        let detail = r.detail.clone().or_else(|| {
            r.gate.text.contains("input").then(|| {
                format!(
                    "input = {}, accepted = {}, quarantined = {}, duplicates = {}",
                    c.input, c.accepted, c.quarantined, c.duplicates
                )
            })
        });
        reconciliation.push(Check {
            name: r.gate.name.clone(),
            text: r.gate.text.clone(),
            severity: r.gate.severity.words().into(),
            passed,
            failing_rows: None,
            detail,
        });
    }
    if let Some(n) = measured.key_duplicates {
        route("key_unique", Severity::FailRun, n == 0);
        reconciliation.push(Check {
            name: "key_unique".into(),
            text: format!("no two rows share the key ({})", plan.key.join(", ")),
            severity: Severity::FailRun.words().into(),
            passed: n == 0,
            failing_rows: Some(n),
            detail: None,
        });
    }
    if let Some(n) = measured.out_of_partition {
        route("within_partition", Severity::FailRun, n == 0);
        reconciliation.push(Check {
            name: "within_partition".into(),
            text: "every row lies in the partition it is written to".into(),
            severity: Severity::FailRun.words().into(),
            passed: n == 0,
            failing_rows: Some(n),
            detail: None,
        });
    }
    // The output crosses the typed boundary too: a value not of its
    // column's type, or a null where none may be, is never published.
    let (bad, first) = &measured.typed_output;
    route("typed_output", Severity::FailPartition, *bad == 0);
    reconciliation.push(Check {
        name: "typed_output".into(),
        text: "every output value is of its column's type, and no column that may not be null is"
            .into(),
        severity: Severity::FailPartition.words().into(),
        passed: *bad == 0,
        failing_rows: Some(*bad),
        detail: (*bad > 0).then(|| {
            format!(
                "[{}] {bad} row(s) not as declared, e.g. {first}",
                crate::diagnostic::codes::E0340
            )
        }),
    });
    let mut counters = s.counters.clone();
    counters.output = measured.rows;
    Output {
        partition: part.partition.clone(),
        version: part.version,
        rows: measured.rows,
        checksum: measured.checksum.clone(),
        counters,
        quality,
        reconciliation,
        decision: if hold {
            Decision::HoldPartition
        } else {
            Decision::Publish
        },
        published: false,
        change: None,
        initial_load: false,
        bytes: Some(measured.bytes),
    }
}
