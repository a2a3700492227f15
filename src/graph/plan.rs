//! Impact-aware backfill planning: from a change to some partitions of one
//! declaration, every downstream dataset and the exact partitions it must
//! recompute, wave by wave, with closed periods split out for restatement.
//!
//! Changes travel along edges as interval sets through the inverse of each
//! edge's mapping; a rolling window spreads a one-day change over the window,
//! a roll-up gathers days into their month. Nothing is enumerated.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeZone};

use super::calendar;
use super::interval::IntervalSet;
use super::{DepGraph, Edge};
use crate::semantic::hir::{
    BindPolicyKind, CloseRule, Decl, DeclId, Grain, Mapping, PartitionKind, TimeMapping,
};
use crate::syntax::ast::{DeclKind, RestatePolicy};

pub use super::report::{
    contract_hash, Action, ActionPlan, Because, DatasetPlan, Mode, Partitioning, Plan, Range,
    StepBinding, StepInput, Summary, Warning, PLAN_VERSION,
};
use crate::diagnostic::codes;

#[derive(Debug, Clone)]
pub struct Request {
    pub from: String,
    /// Inclusive bounds as the user wrote them: `2026-06-15` or `2026-06`.
    /// A source's days are UTC days.
    pub range: Option<(String, String)>,
    pub mode: Mode,
    pub reason: Option<String>,
    /// The date closed periods are judged at.
    pub as_of: NaiveDate,
    /// The change is a new version of `from` itself (all its partitions).
    pub changed_version: bool,
    /// Say, for every range, which inputs and paths brought it in.
    pub explain: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    UnknownName {
        name: String,
        suggestion: Option<String>,
    },
    BadRange(String),
    NotADataset(String),
    /// `--range` on a reference or a dataset without a time key: it has no
    /// partitions a range could name (E0136).
    RangeWithoutPartitions {
        name: String,
        what: &'static str,
    },
    Cycle,
}

impl PlanError {
    /// The stable code of an error that has one.
    pub fn code(&self) -> Option<codes::Code> {
        match self {
            PlanError::RangeWithoutPartitions { .. } => Some(codes::E0136),
            _ => None,
        }
    }

    pub fn help(&self) -> Option<&'static str> {
        match self {
            PlanError::RangeWithoutPartitions { .. } => Some("plan without `--range`: every partition that reads it is planned, because any of its rows may have changed"),
            _ => None,
        }
    }
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::UnknownName { name, suggestion } => {
                write!(f, "no source, reference or dataset is called `{name}`")?;
                match suggestion {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None => Ok(()),
                }
            }
            PlanError::BadRange(r) => write!(f, "{r}"),
            PlanError::NotADataset(n) => write!(
                f,
                "`{n}` is not a dataset: only a dataset has a job version to change"
            ),
            PlanError::RangeWithoutPartitions { name, what } => write!(
                f,
                "`--range` names partitions, and `{name}` is {what} without a time partition key"
            ),
            PlanError::Cycle => {
                f.write_str("the dependency graph has a cycle; run `bplc check` to see it")
            }
        }
    }
}

/// The grain changes of `name` are expressed in: a dataset's partition
/// grain, a day for a source (its rows are placed by their clock's date),
/// none for a reference or an unpartitioned dataset (any change touches all).
fn change_grain(d: &Decl) -> Option<Grain> {
    match d.kind {
        DeclKind::Source => Some(Grain::Day),
        _ => d.grain(),
    }
}

pub fn plan(graph: &DepGraph<'_>, req: &Request) -> Result<Plan, PlanError> {
    let program = graph.program;
    let origin = program
        .lookup(&req.from)
        .ok_or_else(|| PlanError::UnknownName {
            name: req.from.clone(),
            suggestion: crate::diagnostic::did_you_mean(
                &req.from,
                program.decls.iter().map(|d| d.name.as_str()),
            )
            .map(str::to_string),
        })?;
    if req.changed_version && origin.kind != DeclKind::Dataset {
        return Err(PlanError::NotADataset(origin.name.clone()));
    }
    let order = graph.topological().ok_or(PlanError::Cycle)?;
    let origin_grain = change_grain(origin);
    let changed = match (&req.range, origin_grain) {
        (None, _) => IntervalSet::all(),
        (Some((a, b)), Some(g)) => parse_range(a, b, g)?,
        (Some(_), None) => {
            return Err(PlanError::RangeWithoutPartitions {
                name: origin.name.clone(),
                what: match origin.kind {
                    DeclKind::Reference => "a reference",
                    _ => "a dataset",
                },
            })
        }
    };

    let spread = propagate(graph, &order, origin, &changed, req.explain);
    let mut datasets = Vec::new();
    let mut warnings = Warnings::default();
    for &id in &order {
        let d = program.get(id);
        if d.kind != DeclKind::Dataset {
            continue;
        }
        let Some(set) = spread.affected.get(&id).filter(|s| !s.is_empty()) else {
            continue;
        };
        let mut entry = dataset_entry(graph, d, spread.wave[&id]);
        entry.actions = actions(d, set, req, &mut warnings);
        if entry.partition.kind != "run" {
            for b in entry.bindings.iter().filter(|b| !b.reproducible) {
                warnings.list.push(Warning {
                    code: codes::W0203,
                    dataset: Some(d.name.clone()),
                    message: format!(
                        "binds `{}` {}: a backfill reads today's reference rows, not those the original runs read",
                        b.reference, b.policy
                    ),
                    datasets: Vec::new(),
                    partitions: Vec::new(),
                });
            }
        }
        if req.explain {
            for a in &mut entry.actions {
                for r in &mut a.ranges {
                    r.because = Some(spread.because(graph, d, r));
                }
            }
        }
        datasets.push(entry);
    }
    datasets.sort_by(|a, b| (a.wave, &a.dataset).cmp(&(b.wave, &b.dataset)));
    let mut plan = Plan {
        format: "bplc-plan",
        version: PLAN_VERSION,
        from: origin.name.clone(),
        from_kind: origin.kind,
        mode: req.mode,
        as_of: req.as_of.format("%Y-%m-%d").to_string(),
        reason: req.reason.clone(),
        changed: ranges(&changed, origin_grain),
        summary: Summary {
            datasets: datasets.len(),
            skipped: datasets
                .iter()
                .filter(|d| d.actions.iter().all(|a| a.action == Action::Skipped))
                .count(),
            partitions: None,
            waves: datasets.iter().map(|d| d.wave).max().unwrap_or(0),
        },
        datasets,
        warnings: warnings.finish(),
    };
    plan.summary.partitions = plan.partitions();
    Ok(plan)
}

/// How a change spread: the affected partitions and wave of every
/// declaration it reached, and (with `--explain`) what reached each.
struct Spread {
    affected: HashMap<DeclId, IntervalSet>,
    wave: HashMap<DeclId, usize>,
    /// Per declaration: `(upstream, via, alias, partitions it brought)`.
    reached_by: HashMap<DeclId, Vec<(DeclId, &'static str, String, IntervalSet)>>,
    origin: DeclId,
}

fn propagate(
    graph: &DepGraph<'_>,
    order: &[DeclId],
    origin: &Decl,
    changed: &IntervalSet,
    explain: bool,
) -> Spread {
    let program = graph.program;
    let mut spread = Spread {
        affected: HashMap::new(),
        wave: HashMap::new(),
        reached_by: HashMap::new(),
        origin: origin.id,
    };
    spread.affected.insert(origin.id, changed.clone());
    let first_wave = usize::from(origin.kind == DeclKind::Dataset);
    spread.wave.insert(origin.id, first_wave);
    for &id in order {
        let Some(set) = spread.affected.get(&id).cloned() else {
            continue;
        };
        if set.is_empty() {
            continue;
        }
        let from = program.get(id);
        let from_wave = spread.wave[&id];
        for (down, edge) in graph.downstream(id) {
            let to = program.get(down);
            let (reached, via, alias) = match edge {
                Edge::Input { mapping, alias } => (
                    inverse(mapping, &set, change_grain(from), to.grain()),
                    "input",
                    alias,
                ),
                Edge::Bind { alias } => (IntervalSet::all(), "bind", alias),
            };
            if reached.is_empty() {
                continue;
            }
            let entry = spread.affected.entry(down).or_default();
            *entry = entry.union(&reached);
            let w = spread.wave.entry(down).or_insert(0);
            *w = (*w).max(from_wave + 1);
            if explain {
                spread
                    .reached_by
                    .entry(down)
                    .or_default()
                    .push((id, via, alias.clone(), reached));
            }
        }
    }
    spread
}

impl Spread {
    /// The declarations from the origin to `id`, through the first input
    /// that reached each.
    fn path(&self, graph: &DepGraph<'_>, id: DeclId) -> Vec<String> {
        let mut path = vec![graph.program.get(id).name.clone()];
        let mut at = id;
        while at != self.origin {
            let Some(&(up, ..)) = self.reached_by.get(&at).and_then(|v| v.first()) else {
                break;
            };
            path.push(graph.program.get(up).name.clone());
            at = up;
        }
        path.reverse();
        path
    }

    /// The inputs and bindings of `d` that brought in some of range `r`.
    fn because(&self, graph: &DepGraph<'_>, d: &Decl, r: &Range) -> Vec<Because> {
        let grain = d.grain();
        let parse = |t: &Option<String>, unbounded: i64| match (t, grain) {
            (Some(t), Some(g)) => calendar::parse(t, g).unwrap_or(unbounded),
            _ => unbounded,
        };
        let range = IntervalSet::range(
            parse(&r.start, calendar::UNBOUNDED_LOW),
            parse(&r.end, calendar::UNBOUNDED_HIGH),
        );
        let mut out = Vec::new();
        for (up, via, alias, reached) in self.reached_by.get(&d.id).into_iter().flatten() {
            if reached.intersect(&range).is_empty() {
                continue;
            }
            let mut path = self.path(graph, *up);
            path.push(d.name.clone());
            out.push(Because {
                via,
                alias: alias.clone(),
                reads: graph.program.get(*up).name.clone(),
                path,
            });
        }
        out
    }
}

/// A dataset's entry without its actions.
fn dataset_entry(graph: &DepGraph<'_>, d: &Decl, wave: usize) -> DatasetPlan {
    let program = graph.program;
    let grain = d.grain();
    DatasetPlan {
        dataset: d.name.clone(),
        wave,
        partition: Partitioning::of(d),
        actions: Vec::new(),
        inputs: d
            .inputs
            .iter()
            .map(|i| StepInput {
                alias: i.alias.clone(),
                reads: program.get(i.target).name.clone(),
                boundary: describe(&i.mapping, change_grain(program.get(i.target)), grain),
            })
            .collect(),
        bindings: d
            .binds
            .iter()
            .map(|b| StepBinding {
                alias: b.alias.clone(),
                reference: program.get(b.target).name.clone(),
                policy: policy_words(&b.policy),
                reproducible: b.policy.reproducible(),
            })
            .collect(),
        job_version: Some(d.version),
        // Filled by whoever holds the sources (`report::contract_hash`).
        contract: None,
    }
}

/// The affected partitions of `d` split into actions: open ones replaced,
/// closed ones restated or skipped; a run-partitioned dataset skipped.
fn actions(d: &Decl, set: &IntervalSet, req: &Request, warnings: &mut Warnings) -> Vec<ActionPlan> {
    let grain = d.grain();
    let with = |action: Action, why: Option<String>, s: &IntervalSet| ActionPlan {
        action,
        why,
        ranges: ranges(s, grain),
        partitions: s.count(),
    };
    if d.partition.iter().any(|k| k.kind == PartitionKind::Run) {
        return vec![with(
            Action::Skipped,
            Some(
                "partitioned by run: every run writes a partition of its own; run it again instead"
                    .into(),
            ),
            set,
        )];
    }
    let closed = match (d.closed_after, grain) {
        (Some(rule), Some(g)) => closed_set(rule, g, req.as_of).intersect(set),
        _ => IntervalSet::empty(),
    };
    let mut out = Vec::new();
    let open = set.subtract(&closed);
    if !open.is_empty() {
        out.push(with(Action::Replace, None, &open));
    }
    if lookback_missed(d, set, grain, req) {
        warnings.lookback.push(d.name.clone());
    }
    if closed.is_empty() {
        return out;
    }
    let step = match (d.restate, req.mode) {
        (Some(RestatePolicy::Never), _) | (None, _) => with(
            Action::Skipped,
            Some(format!("closed, and `{}` does not allow restatement (`restate never` or no restate clause; a partition never published is loaded: an initial load)", d.name)),
            &closed,
        ),
        (_, Mode::Replace | Mode::Migration) => with(
            Action::Skipped,
            Some("closed: replace is refused for closed partitions (one never published is loaded: an initial load); plan with `--mode restatement --reason \"...\"`".into()),
            &closed,
        ),
        _ => {
            if req.reason.is_none() {
                warnings.needs_reason.push(d.name.clone());
            }
            with(Action::Restatement, Some("closed: written as a new version with the reason and a reference to the prior version".into()), &closed)
        }
    };
    warnings.list.push(Warning {
        code: codes::W0201,
        dataset: Some(d.name.clone()),
        message: if step.action == Action::Restatement {
            "crosses a closed period: restated as a new version".into()
        } else {
            "crosses a closed period: closed, not recomputed".into()
        },
        datasets: Vec::new(),
        partitions: step.ranges.clone(),
    });
    out.push(step);
    out.sort_by(|a, b| start(a).cmp(&start(b)));
    out
}

fn start(a: &ActionPlan) -> Option<&str> {
    a.ranges.first().and_then(|r| r.start.as_deref())
}

/// Warnings as they are found; the ones about many datasets are gathered
/// into one warning each at the end.
#[derive(Default)]
struct Warnings {
    list: Vec<Warning>,
    lookback: Vec<String>,
    needs_reason: Vec<String>,
}

impl Warnings {
    fn finish(mut self) -> Vec<Warning> {
        let many = |code, message: &str, datasets: Vec<String>| Warning {
            code,
            dataset: None,
            message: message.to_string(),
            datasets,
            partitions: Vec::new(),
        };
        if !self.lookback.is_empty() {
            self.list.push(many(
                codes::W0202,
                "scheduled runs would not have caught this change: it lies beyond the lookback of these datasets",
                self.lookback,
            ));
        }
        if !self.needs_reason.is_empty() {
            self.list.push(many(
                codes::W0204,
                "restatement needs a reason: pass `--reason \"...\"`",
                self.needs_reason,
            ));
        }
        self.list
    }
}

fn parse_range(a: &str, b: &str, grain: Grain) -> Result<IntervalSet, PlanError> {
    let bad = |t: &str| {
        PlanError::BadRange(format!(
            "`{t}` is not a partition: write `2026-06-15` for a day, `2026-W25` for a week, `2026-06` for a month, `2026-Q2` for a quarter or `2026` for a year"
        ))
    };
    // Each bound in days, as written: a month (or week, quarter, year) as a
    // lower bound is its first day, as an upper bound its last.
    let (first, _) = calendar::parse_days(a).ok_or_else(|| bad(a))?;
    let (_, last) = calendar::parse_days(b).ok_or_else(|| bad(b))?;
    // Judged as written, so `2026-06-20..2026-06-10` is refused on a
    // monthly dataset too, although both days fall in June.
    if first > last {
        return Err(PlanError::BadRange(format!(
            "the range `{a}..{b}` ends before it starts"
        )));
    }
    Ok(IntervalSet::range(
        calendar::of_day(first, grain),
        calendar::of_day(last, grain),
    ))
}

/// The output partitions whose input window meets `changed`: the inverse
/// of `mapping`, on intervals.
pub fn inverse(
    mapping: &Mapping,
    changed: &IntervalSet,
    input: Option<Grain>,
    output: Option<Grain>,
) -> IntervalSet {
    let (lo, hi, gi, go) = match (mapping.time, input, output) {
        (TimeMapping::Window { lo, hi }, Some(gi), Some(go)) => (lo, hi, gi, go),
        _ => {
            return if changed.is_empty() {
                IntervalSet::empty()
            } else {
                IntervalSet::all()
            }
        }
    };
    // A source's changed UTC days become the days of the consumer's zone
    // their instants fall on: one UTC day touches two local days in any
    // zone but UTC.
    let zoned;
    let changed = match (&mapping.zone, gi) {
        (Some(zone), Grain::Day) => {
            zoned = in_zone(changed, zone);
            &zoned
        }
        _ => changed,
    };
    if gi == go {
        return changed.map_ends(|a| a - hi, |b| b - lo);
    }
    // Output p reads the input partitions overlapping the days of
    // [p + lo, p + hi]; so changed input partitions [a, b] reach the outputs
    // holding their days, shifted back by the window. Exact for any pair of
    // grains, including weeks that straddle months.
    changed.map_ends(
        |a| calendar::of_day(calendar::first_day_of(a, gi), go) - hi,
        |b| calendar::of_day(calendar::last_day_of(b, gi), go) - lo,
    )
}

/// UTC days as the days of `zone` their instants fall on: from the local
/// date of the first day's midnight to that of the last day's final second.
/// Exact across daylight-saving changes, since each end is converted at its
/// own instant. A zone that does not parse (`check` refuses it first) is
/// taken as a day either way.
pub fn in_zone(days: &IntervalSet, zone: &str) -> IntervalSet {
    let tz: Option<chrono_tz::Tz> = zone.parse().ok();
    let local = |day: i64, seconds: i64, fallback: i64| {
        let instant = calendar::date(day)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t + chrono::Duration::seconds(seconds));
        match (tz, instant) {
            (Some(tz), Some(t)) => calendar::day(tz.from_utc_datetime(&t).date_naive()),
            _ => day.saturating_add(fallback),
        }
    };
    days.map_ends(|a| local(a, 0, -1), |b| local(b, 86_399, 1))
}

/// The partitions (at `grain`) closed on `as_of`, by the rule the runtime
/// applies too ([`super::closing`]).
pub fn closed_set(rule: CloseRule, grain: Grain, as_of: NaiveDate) -> IntervalSet {
    let last = super::closing::closed_through(rule, grain, calendar::day(as_of));
    IntervalSet::range(calendar::UNBOUNDED_LOW, last)
}

/// Whether grain `a` is coarser than `b`.
fn coarser(a: Grain, b: Grain) -> bool {
    let rank = |g: Grain| match g {
        Grain::Day => 0,
        Grain::Week => 1,
        Grain::Month => 2,
        Grain::Quarter => 3,
        Grain::Year => 4,
    };
    rank(a) > rank(b)
}

/// Whether a change lies beyond the scheduled lookback of `d`: no
/// scheduled run would have picked it up, only this backfill carries it.
fn lookback_missed(d: &Decl, set: &IntervalSet, grain: Option<Grain>, req: &Request) -> bool {
    let (Some(schedule), Some(g)) = (&d.schedule, grain) else {
        return false;
    };
    let today = calendar::of_day(calendar::day(req.as_of), g);
    let covered = IntervalSet::range(today - schedule.lookback, today);
    let outside = set
        .subtract(&covered)
        .intersect(&IntervalSet::range(calendar::UNBOUNDED_LOW, today));
    !outside.is_empty() && !set.is_unbounded()
}

fn ranges(s: &IntervalSet, grain: Option<Grain>) -> Vec<Range> {
    let g = grain.unwrap_or(Grain::Day);
    let end = |x: i64, bound: i64| (x != bound && grain.is_some()).then(|| calendar::format(x, g));
    s.ranges()
        .iter()
        .map(|&(a, b)| Range {
            start: end(a, calendar::UNBOUNDED_LOW),
            end: end(b, calendar::UNBOUNDED_HIGH),
            because: None,
        })
        .collect()
}

pub fn show_range(r: &Range) -> String {
    match (&r.start, &r.end) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a}..{b}"),
        (None, None) => "all partitions".into(),
        (Some(a), None) => format!("{a} onwards"),
        (None, Some(b)) => format!("up to {b}"),
    }
}

/// A mapping as the user would write it, given the grains of the input
/// and the output.
pub fn describe(m: &Mapping, input: Option<Grain>, output: Option<Grain>) -> String {
    let name = |g: Grain| match g {
        Grain::Day => ("day", "days"),
        Grain::Week => ("week", "weeks"),
        Grain::Month => ("month", "months"),
        Grain::Quarter => ("quarter", "quarters"),
        Grain::Year => ("year", "years"),
    };
    let p = match (input, output) {
        (Some(i), Some(o)) if coarser(o, i) => format!("{} of {}(p)", name(i).1, name(o).0),
        (Some(i), Some(o)) if coarser(i, o) => format!("{}(p)", name(i).0),
        _ => "p".to_string(),
    };
    let g = output.unwrap_or(Grain::Day);
    let time = match (m.time, input, output) {
        (TimeMapping::All, ..) | (_, None, _) | (_, _, None) => "all history".to_string(),
        (TimeMapping::Window { lo: 0, hi: 0 }, ..) => p,
        (TimeMapping::Window { lo, hi }, ..) if p == "p" => {
            format!("[{}, {}]", offset(lo, g), offset(hi, g))
        }
        (TimeMapping::Window { lo, hi }, ..) => {
            format!("[{}, {}] ({p})", offset(lo, g), offset(hi, g))
        }
    };
    // A clock read in a zone: which zone's days `p` counts.
    let time = match (&m.zone, m.time) {
        (Some(zone), TimeMapping::Window { .. }) => format!("{time} (days in {zone})"),
        _ => time,
    };
    let dims: Vec<String> = m
        .dimensions
        .iter()
        .map(|(o, i)| format!("{i} = p.{o}"))
        .collect();
    if dims.is_empty() {
        time
    } else {
        format!("{time}, {}", dims.join(", "))
    }
}

fn offset(n: i64, g: Grain) -> String {
    match n {
        0 => "p".into(),
        n if n < 0 => format!("p - {}", duration(-n, g)),
        n => format!("p + {}", duration(n, g)),
    }
}

/// `n` partitions of a grain as a duration the user would write.
fn duration(n: i64, g: Grain) -> String {
    match g {
        Grain::Quarter => format!("{}mo", 3 * n),
        _ => format!("{n}{}", g.unit()),
    }
}

/// A binding policy as the user would read it: `as of event time`,
/// `pinned "2026-07"`.
pub fn policy_words(p: &BindPolicyKind) -> String {
    match p {
        BindPolicyKind::AsOfEventTime => "as of event time".into(),
        BindPolicyKind::AsOfProcessingTime => "as of processing time".into(),
        BindPolicyKind::AsOfReportClose => "as of report close".into(),
        BindPolicyKind::Pinned(v) => format!("pinned \"{v}\""),
        BindPolicyKind::Latest { .. } => "latest".into(),
    }
}
