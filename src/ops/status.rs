//! `bplc status`: one state for every partition of every dataset, judged
//! from the ledger at a processing time.
//!
//! A partition's latest run says whether it is running, held or failed.
//! A published one is closed if its period is; due (or late, past the
//! schedule's `sla`) if the schedule's last firing should have recomputed
//! it and no run for that firing has; stale if something it read was
//! published again after it locked its inputs; fresh otherwise.
//!
//! Staleness uses the planner's impact algebra: each later publication of
//! an upstream dataset (or a new checksum of a reference version) is
//! planned as `plan-backfill --from UPSTREAM --range ...` would plan it,
//! and the partitions that plan reaches and that were computed before the
//! publication are stale, with the input that brought them in.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::schedule::{last_firing, Firing, Unevaluable};
use crate::graph::interval::IntervalSet;
use crate::graph::plan::{self, Mode, Request};
use crate::graph::{calendar, closing, DepGraph};
use crate::runtime::manifest::{Decision, Manifest, Status, Target};
use crate::semantic::hir::{Decl, Grain, PartitionKind, Program};
use crate::syntax::ast::DeclKind;

/// The state of one partition, worst first where several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Running,
    Held,
    Failed,
    Closed,
    Late,
    Due,
    Stale,
    Fresh,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Running,
        State::Held,
        State::Failed,
        State::Closed,
        State::Late,
        State::Due,
        State::Stale,
        State::Fresh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Held => "held",
            State::Failed => "failed",
            State::Closed => "closed",
            State::Late => "late",
            State::Due => "due",
            State::Stale => "stale",
            State::Fresh => "fresh",
        }
    }
}

/// Why a partition is stale: one upstream change it has not seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// The dataset or reference that changed (the dataset itself for a
    /// job version bump).
    pub upstream: String,
    /// `input`, `bind`, `seed` or `version`.
    pub via: &'static str,
    /// The input or binding of this dataset the change came in through.
    pub alias: Option<String>,
    /// The declarations the change travelled through.
    pub path: Vec<String>,
    /// The run that published (or, for a reference, saw) the change.
    pub run: String,
    /// The upstream partitions that changed, or what changed.
    pub changed: String,
    /// The processing time of that run: staleness is counted from it.
    pub since: String,
}

impl Cause {
    /// `silver_cases 2026-07-03 published again by run-000009 (input ev)`.
    pub fn line(&self) -> String {
        match self.via {
            "version" => format!("{} ({})", self.changed, self.run),
            "seed" => format!(
                "seed {} changed: {} (bind {})",
                self.upstream,
                self.changed,
                self.alias.as_deref().unwrap_or("?")
            ),
            "bind" => format!(
                "reference {} reads other rows {} (seen by {}; bind {})",
                self.upstream,
                self.changed,
                self.run,
                self.alias.as_deref().unwrap_or("?")
            ),
            _ => {
                let through = match self.path.len() {
                    0..=2 => format!("input {}", self.alias.as_deref().unwrap_or("?")),
                    _ => format!("through {}", self.path.join(" -> ")),
                };
                format!(
                    "{} {} published again by {} ({through})",
                    self.upstream, self.changed, self.run
                )
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionStatus {
    pub partition: String,
    pub state: State,
    /// The latest run that computed (or is computing) it.
    pub last_run: Option<String>,
    pub run_status: Option<Status>,
    /// That run's processing time, UTC.
    pub as_of: Option<String>,
    /// Seconds from that processing time to `--as-of`.
    pub age_seconds: Option<i64>,
    /// Rows of the version readers see.
    pub rows: Option<i64>,
    /// Bytes of its values (text bytes, 8 per number), where the run measured them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Why it is held, failed, closed, due or late.
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_because: Vec<Cause>,
    /// Whether this partition alone should raise an alert: failed, held,
    /// late, or stale for longer than the schedule's `sla`.
    pub alert: bool,
    /// The time ordinal, for ordering and for `run-due`.
    #[serde(skip)]
    pub ordinal: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetStatus {
    pub dataset: String,
    /// The schedule as written, without the word `schedule`.
    pub schedule: Option<String>,
    /// The schedule's latest firing at or before `--as-of`, UTC.
    pub scheduled_at: Option<String>,
    /// The run date of that firing.
    pub run_date: Option<String>,
    /// When that firing's run is late.
    pub sla_deadline: Option<String>,
    pub lookback: i64,
    /// The partitions the last firing recomputes, as ordinals.
    #[serde(skip)]
    pub window: Option<(i64, i64)>,
    pub partitions: Vec<PartitionStatus>,
    /// How many partitions are in each state.
    pub counts: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `bplc-status`.
    pub format: &'static str,
    pub version: u32,
    pub as_of: String,
    pub datasets: Vec<DatasetStatus>,
    /// Partitions in each state, over every dataset.
    pub counts: BTreeMap<&'static str, usize>,
    /// Partitions that should raise an alert.
    pub alerts: usize,
}

/// A schedule that cannot be judged at `--as-of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub dataset: String,
    pub detail: String,
}

/// What the status is judged from.
pub struct Inputs<'a> {
    pub program: &'a Program,
    /// Every run in the ledger, oldest first.
    pub runs: &'a [Manifest],
    pub as_of: DateTime<Utc>,
    /// `time_zone` from bpl.toml, for schedules that name none.
    pub zone: Option<&'a str>,
    /// Each seed reference and the version its file in the project holds
    /// now (`sha256:` and 12 digits): a seed changes when its file is
    /// edited, before any run reads it.
    pub seeds: &'a [(String, String)],
}

/// The status of `datasets` (every dataset when empty), in dependency order.
pub fn status(inputs: &Inputs<'_>, datasets: &[String]) -> Result<Report, ScheduleError> {
    let graph = DepGraph::build(inputs.program);
    let order = graph
        .topological()
        .unwrap_or_else(|| inputs.program.decls.iter().map(|d| d.id).collect());
    let mut stale = stale_causes(&graph, inputs);
    let mut out = Vec::new();
    for id in order {
        let d = inputs.program.get(id);
        if d.kind != DeclKind::Dataset || !(datasets.is_empty() || datasets.contains(&d.name)) {
            continue;
        }
        let causes = stale.remove(&d.name).unwrap_or_default();
        out.push(dataset_status(d, inputs, causes)?);
    }
    let mut counts = BTreeMap::new();
    for d in &out {
        for (k, v) in &d.counts {
            *counts.entry(*k).or_insert(0) += v;
        }
    }
    let alerts = out
        .iter()
        .flat_map(|d| &d.partitions)
        .filter(|p| p.alert)
        .count();
    Ok(Report {
        format: "bplc-status",
        version: 1,
        as_of: inputs.as_of.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        datasets: out,
        counts,
        alerts,
    })
}

/// Whether a run's results are what readers see (not a shadow backfill's).
fn publishes(m: &Manifest) -> bool {
    m.status != Status::Shadowed && !matches!(m.target, Target::Shadow { .. })
}

fn is_running(s: Status) -> bool {
    matches!(
        s,
        Status::Planned
            | Status::InputLocked
            | Status::Running
            | Status::Validating
            | Status::Committing
    )
}

/// The time part of a partition id, as an ordinal of `grain`.
fn ordinal(id: &str, grain: Option<Grain>) -> Option<i64> {
    let g = grain?;
    calendar::parse(id.rsplit('/').next().unwrap_or(id), g)
}

/// The dimension values before the time part of a partition id.
fn dims_prefix(id: &str, grain: Option<Grain>) -> Option<&str> {
    grain?;
    id.rsplit_once('/').map(|(dims, _)| dims)
}

fn processing_time(m: &Manifest) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(&m.parameters.as_of, crate::sql::types::TIMESTAMP_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

fn utc_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The schedule as written after `schedule`.
fn schedule_text(d: &Decl, zone: &str) -> Option<String> {
    let s = d.schedule.as_ref()?;
    let cadence = serde_json::to_value(s.cadence)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut out = cadence;
    if let Some(day) = s.on_day {
        out.push_str(&format!(" on day {day}"));
    }
    if let Some(w) = &s.on_weekday {
        out.push_str(&format!(" on {w}"));
    }
    if let Some(at) = &s.at {
        out.push_str(&format!(" at {at}"));
    }
    out.push_str(&format!(" \"{zone}\""));
    if s.lookback > 0 {
        out.push_str(&format!(" lookback {}", s.lookback));
        out.push_str(match d.grain() {
            Some(Grain::Month) => "mo",
            Some(Grain::Week) => "w",
            Some(Grain::Quarter) => " quarter(s)",
            Some(Grain::Year) => "y",
            _ => "d",
        });
    }
    if let Some(sla) = s.sla_secs {
        out.push_str(&format!(" sla {}", seconds_text(sla)));
    }
    Some(out)
}

/// Seconds as a bpl duration: `5400` as `1h30min`, `7200` as `2h`.
pub fn seconds_text(s: u64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "min"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out
    }
}

fn dataset_status(
    d: &Decl,
    inputs: &Inputs<'_>,
    mut causes: HashMap<String, Vec<Cause>>,
) -> Result<DatasetStatus, ScheduleError> {
    let grain = d.grain();
    let zone = d
        .schedule
        .as_ref()
        .and_then(|s| s.time_zone.as_deref())
        .or(inputs.zone)
        .unwrap_or("UTC");
    let firing: Option<Firing> = match &d.schedule {
        Some(s) => Some(last_firing(s, zone, grain, inputs.as_of).map_err(
            |Unevaluable(detail)| ScheduleError {
                dataset: d.name.clone(),
                detail,
            },
        )?),
        None => None,
    };
    let lookback = d.schedule.as_ref().map_or(0, |s| s.lookback);
    let run_key = d.partition.iter().any(|k| k.kind == PartitionKind::Run);

    // The latest run of each partition, and the latest published output.
    let mut latest: BTreeMap<String, &Manifest> = BTreeMap::new();
    let mut visible: HashMap<String, (i64, Option<i64>)> = HashMap::new();
    for m in inputs.runs.iter().filter(|m| m.dataset == d.name) {
        if !publishes(m) {
            continue;
        }
        for p in &m.partitions {
            latest.insert(p.clone(), m);
        }
        for o in m.outputs.iter().filter(|o| o.published) {
            visible.insert(o.partition.clone(), (o.rows, o.bytes));
        }
    }
    let as_of_day = calendar::day(inputs.as_of.date_naive());
    let closed = |o: Option<i64>| match (d.closed_after, grain, o) {
        (Some(rule), Some(g), Some(o)) => closing::is_closed(rule, g, o, as_of_day),
        _ => false,
    };
    // Partitions the last firing should have recomputed.
    let window = match (&firing, grain) {
        (Some(f), Some(_)) if !run_key => Some((f.run_date - lookback, f.run_date)),
        _ => None,
    };
    let in_window = |o: Option<i64>| match (window, o) {
        (Some((a, b)), Some(o)) => (a..=b).contains(&o),
        _ => firing.is_some() && grain.is_none() && !run_key,
    };
    let covers = |m: &Manifest, f: &Firing| processing_time(m).is_some_and(|t| t >= f.at);

    let mut partitions = Vec::new();
    for (id, m) in &latest {
        let o = ordinal(id, grain);
        let output = m.outputs.iter().find(|x| &x.partition == id);
        let mut p = PartitionStatus {
            partition: id.clone(),
            state: State::Fresh,
            last_run: Some(m.run_id.clone()),
            run_status: Some(m.status),
            as_of: processing_time(m).map(utc_text),
            age_seconds: processing_time(m).map(|t| (inputs.as_of - t).num_seconds().max(0)),
            rows: visible.get(id).map(|v| v.0),
            bytes: visible.get(id).and_then(|v| v.1),
            reason: None,
            stale_because: Vec::new(),
            alert: false,
            ordinal: o,
        };
        let hold = output.is_some_and(|o| o.decision == Decision::HoldPartition && !o.published);
        let (state, reason) = match m.status {
            s if is_running(s) => (
                State::Running,
                Some(format!("{} is {}", m.run_id, s.name())),
            ),
            Status::Held => (
                State::Held,
                m.error.clone().or(Some(format!(
                    "`bplc approve {}` or `bplc reject {}`",
                    m.run_id, m.run_id
                ))),
            ),
            Status::Unknown => (
                State::Failed,
                Some(format!(
                    "a crash left {} mid-way: `bplc recover {}`",
                    m.run_id, m.run_id
                )),
            ),
            Status::Failed => (State::Failed, m.error.clone()),
            _ if hold => (
                State::Held,
                Some("held back by a `fail partition` rule; fix the input and run it again".into()),
            ),
            _ if closed(o) && visible.contains_key(id) => (
                State::Closed,
                Some("closed: changes only through a restatement".into()),
            ),
            _ => (State::Fresh, None),
        };
        p.state = state;
        p.reason = reason;
        // A failed run is retried by the next firing whose window holds
        // the partition; until then the partition is failed.
        let retried =
            state == State::Fresh || (state == State::Failed && m.status == Status::Failed);
        // A partition of one run is a snapshot of its time: it is never
        // stale; the next firing makes a new run due.
        let stale = match state == State::Fresh && !run_key {
            true => causes.remove(id),
            false => None,
        };
        if retried {
            if let Some(f) = firing.as_ref().filter(|f| in_window(o) && !covers(m, f)) {
                let failed = state == State::Failed;
                due(&mut p, f, inputs.as_of);
                if failed {
                    let why = p.reason.take().unwrap_or_default();
                    p.reason = Some(format!("{why} ({} FAILED before it)", m.run_id));
                }
            } else if let Some(c) = stale {
                p.state = State::Stale;
                p.stale_because = c;
            }
        }
        partitions.push(p);
    }
    // Partitions of the window no run has computed yet.
    if let (Some(f), Some((a, b)), Some(g)) = (&firing, window, grain) {
        let mut prefixes: Vec<Option<&str>> =
            latest.keys().map(|k| dims_prefix(k, grain)).collect();
        prefixes.sort();
        prefixes.dedup();
        if prefixes.is_empty() {
            prefixes.push(None);
        }
        for o in a..=b {
            for prefix in &prefixes {
                let time = calendar::format(o, g);
                let id = prefix.map_or(time.clone(), |x| format!("{x}/{time}"));
                if latest.contains_key(&id) || (closed(Some(o)) && visible.contains_key(&id)) {
                    continue;
                }
                partitions.push(never_run(id, Some(o), f, inputs.as_of));
            }
        }
    }
    // A dataset without time partitions that never ran (the whole of it),
    // or one partitioned by run that has not run since the firing (a run
    // of its own).
    let missing = |f: &Firing| match run_key {
        true => !latest.values().any(|m| covers(m, f)),
        false => latest.is_empty() && window.is_none(),
    };
    if let Some(f) = firing.as_ref().filter(|f| missing(f)) {
        let id = if run_key { "(a new run)" } else { "all" };
        partitions.push(never_run(id.into(), None, f, inputs.as_of));
    }
    let sla = d.schedule.as_ref().and_then(|s| s.sla_secs);
    for p in &mut partitions {
        p.alert = match p.state {
            State::Failed | State::Held | State::Late => true,
            State::Stale => sla.is_some_and(|sla| {
                p.stale_because.iter().any(|c| {
                    NaiveDateTime::parse_from_str(&c.since, "%Y-%m-%dT%H:%M:%SZ")
                        .is_ok_and(|t| (inputs.as_of - t.and_utc()).num_seconds() > sla as i64)
                })
            }),
            _ => false,
        };
        if p.state == State::Stale && p.alert {
            p.reason = Some(format!(
                "stale for longer than its sla of {}",
                seconds_text(sla.unwrap_or(0))
            ));
        }
    }
    // Time, then dimension values; hash buckets in number order.
    let bucket = |p: &str| p.split('/').next().and_then(|b| b.parse::<u64>().ok());
    partitions.sort_by(|a, b| {
        (a.ordinal, bucket(&a.partition), &a.partition).cmp(&(
            b.ordinal,
            bucket(&b.partition),
            &b.partition,
        ))
    });
    let mut counts = BTreeMap::new();
    for p in &partitions {
        *counts.entry(p.state.name()).or_insert(0) += 1;
    }
    Ok(DatasetStatus {
        dataset: d.name.clone(),
        schedule: schedule_text(d, zone),
        scheduled_at: firing.as_ref().map(|f| utc_text(f.at)),
        run_date: match (&firing, grain) {
            (Some(f), Some(g)) => Some(calendar::format(f.run_date, g)),
            _ => None,
        },
        sla_deadline: firing.as_ref().and_then(|f| f.deadline).map(utc_text),
        lookback,
        window,
        partitions,
        counts,
    })
}

/// A partition firing `f` should have computed and no run has.
fn never_run(
    id: String,
    ordinal: Option<i64>,
    f: &Firing,
    as_of: DateTime<Utc>,
) -> PartitionStatus {
    let mut p = PartitionStatus {
        partition: id,
        state: State::Fresh,
        last_run: None,
        run_status: None,
        as_of: None,
        age_seconds: None,
        rows: None,
        bytes: None,
        reason: None,
        stale_because: Vec::new(),
        alert: false,
        ordinal,
    };
    due(&mut p, f, as_of);
    p
}

/// Marks a partition due for firing `f`, or late once its deadline passed.
fn due(p: &mut PartitionStatus, f: &Firing, as_of: DateTime<Utc>) {
    match f.deadline {
        Some(deadline) if deadline < as_of => {
            p.state = State::Late;
            p.reason = Some(format!(
                "scheduled at {}, to publish by {}: no run since",
                utc_text(f.at),
                utc_text(deadline)
            ));
        }
        _ => {
            p.state = State::Due;
            p.reason = Some(format!("scheduled at {}: no run since", utc_text(f.at)));
        }
    }
}

/// Stale causes by dataset, then partition id: every later publication
/// upstream, planned as `plan-backfill` plans it.
fn stale_causes(
    graph: &DepGraph<'_>,
    inputs: &Inputs<'_>,
) -> HashMap<String, HashMap<String, Vec<Cause>>> {
    let program = inputs.program;
    // When each partition of each dataset locked its inputs: its latest
    // publishing run's lock time.
    let mut computed: HashMap<&str, HashMap<&str, (&Manifest, &str)>> = HashMap::new();
    for m in inputs.runs.iter().filter(|m| publishes(m)) {
        let locked = m.times.locked.as_deref().unwrap_or("");
        for o in m.outputs.iter().filter(|o| o.published) {
            computed
                .entry(m.dataset.as_str())
                .or_default()
                .insert(o.partition.as_str(), (m, locked));
        }
    }
    let mut out: HashMap<String, HashMap<String, Vec<Cause>>> = HashMap::new();
    let as_of = inputs.as_of.date_naive();
    let mut all = changes(program, inputs.runs);
    all.extend(seed_changes(inputs));
    for change in all {
        let req = Request {
            from: change.upstream.clone(),
            range: change.range.clone(),
            mode: Mode::DryRun,
            reason: None,
            as_of,
            changed_version: false,
            explain: true,
        };
        let Ok(plan) = plan::plan(graph, &req) else {
            continue;
        };
        for dp in plan
            .datasets
            .iter()
            .filter(|d| d.dataset != change.upstream)
        {
            let Some(decl) = program.lookup(&dp.dataset) else {
                continue;
            };
            let Some(parts) = computed.get(dp.dataset.as_str()) else {
                continue;
            };
            let grain = decl.grain();
            for r in dp.actions.iter().flat_map(|a| &a.ranges) {
                let set = range_set(r, grain);
                for (id, (_, locked)) in parts {
                    let reached = match ordinal(id, grain) {
                        Some(o) => set.contains(o),
                        None => true,
                    };
                    if !reached || *locked >= change.at.as_str() {
                        continue;
                    }
                    let because = r.because.as_ref().and_then(|b| b.first());
                    let cause = Cause {
                        upstream: change.upstream.clone(),
                        via: change.via,
                        alias: because.map(|b| b.alias.clone()),
                        path: because.map(|b| b.path.clone()).unwrap_or_default(),
                        run: change.run.clone(),
                        changed: change.what.clone(),
                        since: change.since.clone(),
                    };
                    let list = out
                        .entry(dp.dataset.clone())
                        .or_default()
                        .entry(id.to_string())
                        .or_default();
                    // One cause per upstream: its latest change.
                    list.retain(|c| c.upstream != cause.upstream);
                    list.push(cause);
                }
            }
        }
    }
    // A job version bump: everything an older version computed.
    for (dataset, parts) in &computed {
        let Some(decl) = program.lookup(dataset) else {
            continue;
        };
        for (id, (m, _)) in parts {
            if m.job_version < decl.version {
                out.entry(dataset.to_string())
                    .or_default()
                    .entry(id.to_string())
                    .or_default()
                    .push(Cause {
                        upstream: dataset.to_string(),
                        via: "version",
                        alias: None,
                        path: Vec::new(),
                        run: m.run_id.clone(),
                        changed: format!(
                            "computed by job version {}, now version {}",
                            m.job_version, decl.version
                        ),
                        since: m.parameters.as_of.replace(' ', "T") + "Z",
                    });
            }
        }
    }
    out
}

fn range_set(r: &plan::Range, grain: Option<Grain>) -> IntervalSet {
    let parse = |t: &Option<String>, unbounded: i64| match (t, grain) {
        (Some(t), Some(g)) => calendar::parse(t, g).unwrap_or(unbounded),
        _ => unbounded,
    };
    IntervalSet::range(
        parse(&r.start, calendar::UNBOUNDED_LOW),
        parse(&r.end, calendar::UNBOUNDED_HIGH),
    )
}

/// One upstream change: a dataset's publication, or a reference version
/// read with a new checksum.
struct Change {
    upstream: String,
    via: &'static str,
    /// For `plan-backfill --range`; `None` for the whole history.
    range: Option<(String, String)>,
    run: String,
    /// Wall-clock time it became visible, compared with lock times.
    at: String,
    /// Processing time of the run, `YYYY-MM-DDTHH:MM:SSZ`.
    since: String,
    what: String,
}

fn changes(program: &Program, runs: &[Manifest]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&str, &str, &str), &str> = HashMap::new();
    for m in runs.iter().filter(|m| publishes(m)) {
        let since = m.parameters.as_of.replace(' ', "T") + "Z";
        let at = m.times.finished.clone().unwrap_or_default();
        if let Some(decl) = program.lookup(&m.dataset) {
            let grain = decl.grain();
            let mut ordinals: Vec<i64> = m
                .outputs
                .iter()
                .filter(|o| o.published)
                .filter_map(|o| ordinal(&o.partition, grain))
                .collect();
            ordinals.sort_unstable();
            ordinals.dedup();
            let published = m.outputs.iter().any(|o| o.published);
            match grain {
                Some(g) if published => {
                    for (a, b) in super::due::ranges(&ordinals) {
                        let (a, b) = (calendar::format(a, g), calendar::format(b, g));
                        let what = if a == b {
                            a.clone()
                        } else {
                            format!("{a}..{b}")
                        };
                        out.push(Change {
                            upstream: m.dataset.clone(),
                            via: "input",
                            range: Some((a, b)),
                            run: m.run_id.clone(),
                            at: at.clone(),
                            since: since.clone(),
                            what,
                        });
                    }
                }
                None if published => out.push(Change {
                    upstream: m.dataset.clone(),
                    via: "input",
                    range: None,
                    run: m.run_id.clone(),
                    at: at.clone(),
                    since: since.clone(),
                    what: "all partitions".into(),
                }),
                _ => {}
            }
        }
        // A reference version read with other rows than before.
        let locked = m.times.locked.clone().unwrap_or_default();
        for b in &m.bindings {
            let key = (b.reference.as_str(), b.policy.as_str(), b.version.as_str());
            match seen.insert(key, b.checksum.as_str()) {
                Some(before) if before != b.checksum => out.push(Change {
                    upstream: b.reference.clone(),
                    via: "bind",
                    range: None,
                    run: m.run_id.clone(),
                    at: locked.clone(),
                    since: since.clone(),
                    what: binding_words(&b.policy, &b.version),
                }),
                _ => {}
            }
        }
    }
    out
}

/// The seed a run's binding read, from the version it recorded
/// (`sha256:...`, or `2026-07, seed sha256:...` for a versioned one).
fn seed_read(version: &str) -> Option<&str> {
    version
        .rsplit_once("seed ")
        .map(|(_, h)| h)
        .or_else(|| version.starts_with("sha256:").then_some(version))
}

/// Seeds whose file holds other content than runs read: a change of the
/// reference visible from the moment a run first read the new content,
/// or, when none has yet, from now on (every partition that read the old
/// content is stale).
fn seed_changes(inputs: &Inputs<'_>) -> Vec<Change> {
    let mut out = Vec::new();
    for (reference, now) in inputs.seeds {
        let mut old: Option<(&str, &Manifest)> = None;
        let mut first_new: Option<&Manifest> = None;
        for m in inputs.runs.iter().filter(|m| publishes(m)) {
            for b in m.bindings.iter().filter(|b| b.reference == *reference) {
                match seed_read(&b.version) {
                    Some(h) if h == now => {
                        first_new.get_or_insert(m);
                    }
                    Some(h) if first_new.is_none() => old = Some((h, m)),
                    _ => {}
                }
            }
        }
        let Some((before, last_old)) = old else {
            continue;
        };
        let (run, at, since) = match first_new {
            Some(m) => (
                m.run_id.clone(),
                m.times.locked.clone().unwrap_or_default(),
                m.parameters.as_of.replace(' ', "T") + "Z",
            ),
            // Later than every lock time: no run has read it.
            None => (
                "no run yet".to_string(),
                "\u{10FFFF}".to_string(),
                last_old.parameters.as_of.replace(' ', "T") + "Z",
            ),
        };
        out.push(Change {
            upstream: reference.clone(),
            via: "seed",
            range: None,
            run,
            at,
            since,
            what: format!("{before} read, the file now holds {now}"),
        });
    }
    out
}

/// A binding as the user wrote it: `pinned "2026-07"`, `as of event
/// time`, `as of report close 2026-08-06 00:00:00`.
fn binding_words(policy: &str, version: &str) -> String {
    match policy {
        "pinned" => format!("pinned \"{version}\""),
        "as of event time" | "latest" => policy.to_string(),
        _ => format!("{policy} {version}"),
    }
}
