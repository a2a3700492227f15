//! Impact analysis agrees with brute force. Random DAGs of partition
//! mappings (daily and monthly grains, windows, roll-ups day -> month and
//! month -> day, `all history` edges, unpartitioned nodes) and random
//! changes; the planner's interval propagation is compared with a
//! partition-by-partition propagation written here from the meaning of a
//! mapping alone: for every output partition `p` of a bounded universe,
//! which input partitions does `p` read, and does that meet what changed?
//!
//! Three properties: the composition of [`plan::inverse`] over a DAG; the
//! whole planner (`plan::plan`) on a generated `.bpl` project, steps and
//! waves included; and, end to end from `.bpl` source, weekly datasets with
//! closing rules (a week closes with the month of its last day) and clocks
//! read in a time zone over a source's UTC days, across daylight-saving
//! changes in zones with and without them, whole, half and quarter hours.
//!
//! The brute force knows nothing of the planner's calendar: days are
//! `NaiveDate::num_days_from_ce`, months `year * 12 + month - 1`, and month
//! boundaries come from chrono. Beyond the universe an affected set is
//! constant on each side (all or nothing), which the universe's margin
//! guarantees; each side is tracked as a flag.

use std::collections::BTreeMap;

use bplc::graph::calendar::{UNBOUNDED_HIGH, UNBOUNDED_LOW};
use bplc::graph::interval::IntervalSet;
use bplc::graph::plan::{self, Action, Mode, Request};
use bplc::graph::DepGraph;
use bplc::project::{self, Config};
use bplc::semantic::hir::{Grain, Mapping, TimeMapping};
use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------
//  The calendar, from chrono alone
// ---------------------------------------------------------------------------

fn day_of(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64
}

fn date_of(day: i64) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day as i32).unwrap()
}

fn month_of(day: i64) -> i64 {
    let d = date_of(day);
    d.year() as i64 * 12 + d.month0() as i64
}

fn first_day_of(month: i64) -> i64 {
    day_of(
        NaiveDate::from_ymd_opt(
            month.div_euclid(12) as i32,
            month.rem_euclid(12) as u32 + 1,
            1,
        )
        .unwrap(),
    )
}

fn last_day_of(month: i64) -> i64 {
    first_day_of(month + 1) - 1
}

/// 2026-06-15, the middle of every generated change.
fn center_day() -> i64 {
    day_of(NaiveDate::from_ymd_opt(2026, 6, 15).unwrap())
}

// ---------------------------------------------------------------------------
//  Random DAGs of mappings
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum EdgeKind {
    /// `[p + lo, p + hi]` in units of the output's grain.
    Window(i64, i64),
    All,
}

#[derive(Debug, Clone)]
struct Node {
    grain: Option<Grain>,
    /// `(upstream node, mapping)`; upstream nodes come first.
    inputs: Vec<(usize, EdgeKind)>,
}

/// Raw material for one node: a grain selector and its input edges.
type RawNode = (u8, Vec<(Index, u8, i8, i8)>);

fn raw_nodes(max: usize) -> impl Strategy<Value = Vec<RawNode>> {
    prop::collection::vec(
        (
            0u8..20,
            prop::collection::vec((any::<Index>(), 0u8..40, -40i8..=40, -40i8..=40), 1..=3),
        ),
        5..=max,
    )
}

/// Interprets raw material: node 0 is the changed root (day or month).
/// A later node is, one time in twelve, another root that reads nothing
/// (daily, never affected); otherwise it is daily (45%), monthly (45%) or,
/// if `unpartitioned`, unpartitioned (10%; else daily), and reads one to
/// three earlier nodes through a window (±40 days or ±3 months in its own
/// grain) or, one edge in twenty, `all history`.
fn build(raw: &[RawNode], unpartitioned: bool) -> Vec<Node> {
    raw.iter()
        .enumerate()
        .map(|(i, (g, edges))| {
            let root = i > 0 && edges[0].1 >= 37;
            let grain = match (i, g) {
                _ if root => Some(Grain::Day),
                (0, g) if g % 2 == 0 => Some(Grain::Day),
                (0, _) => Some(Grain::Month),
                (_, 0..=8) => Some(Grain::Day),
                (_, 9..=17) => Some(Grain::Month),
                _ if unpartitioned => None,
                _ => Some(Grain::Day),
            };
            let inputs = if i == 0 || root {
                Vec::new()
            } else {
                edges
                    .iter()
                    .map(|(up, kind, a, b)| {
                        let (a, b) = (*a as i64, *b as i64);
                        let (a, b) = match grain {
                            Some(Grain::Month) => (a / 13, b / 13),
                            _ => (a, b),
                        };
                        let edge = if *kind < 2 {
                            EdgeKind::All
                        } else {
                            EdgeKind::Window(a.min(b), a.max(b))
                        };
                        (up.index(i), edge)
                    })
                    .collect()
            };
            Node { grain, inputs }
        })
        .collect()
}

/// Raw material for a change of node 0: up to three intervals around the
/// centre, or (1 in 16) the whole history.
type RawChange = (u8, Vec<(i16, u16)>);

fn raw_change() -> impl Strategy<Value = RawChange> {
    (
        0u8..16,
        prop::collection::vec((-400i16..=400, 0u16..=60), 1..=3),
    )
}

fn changed_set(raw: &RawChange, grain: Grain) -> IntervalSet {
    if raw.0 == 0 {
        return IntervalSet::all();
    }
    let mut set = IntervalSet::empty();
    for &(start, len) in &raw.1 {
        let (start, len) = (start as i64, len as i64);
        let r = match grain {
            Grain::Day => IntervalSet::range(center_day() + start, center_day() + start + len),
            Grain::Month => {
                let m = month_of(center_day()) + start / 30;
                IntervalSet::range(m, m + len / 20)
            }
            other => unreachable!("this property test draws days and months, not {other:?}"),
        };
        set = set.union(&r);
    }
    set
}

// ---------------------------------------------------------------------------
//  Brute force
// ---------------------------------------------------------------------------

/// The affected partitions of one node: flags for the partitions below and
/// above the universe, one bit per partition inside it; an unpartitioned
/// node is one partition.
#[derive(Debug, Clone)]
enum Affected {
    Timed {
        lo: i64,
        below: bool,
        bits: Vec<bool>,
        above: bool,
        /// `prefix[k]`: how many of `bits[..k]` are set.
        prefix: Vec<u32>,
    },
    Single(bool),
}

impl Affected {
    fn timed(lo: i64, below: bool, bits: Vec<bool>, above: bool) -> Affected {
        let mut prefix = Vec::with_capacity(bits.len() + 1);
        prefix.push(0);
        for (k, b) in bits.iter().enumerate() {
            prefix.push(prefix[k] + *b as u32);
        }
        Affected::Timed {
            lo,
            below,
            bits,
            above,
            prefix,
        }
    }

    fn any(&self) -> bool {
        match self {
            Affected::Timed {
                below,
                above,
                prefix,
                ..
            } => *below || *above || *prefix.last().unwrap() > 0,
            Affected::Single(b) => *b,
        }
    }

    /// Whether any partition in `[a, b]` is affected.
    fn meets(&self, a: i64, b: i64) -> bool {
        let Affected::Timed {
            lo,
            below,
            bits,
            above,
            prefix,
        } = self
        else {
            return self.any();
        };
        let hi = lo + bits.len() as i64 - 1;
        if (a < *lo && *below) || (b > hi && *above) {
            return true;
        }
        let (a, b) = (a.max(*lo), b.min(hi));
        a <= b && prefix[(b - lo + 1) as usize] > prefix[(a - lo) as usize]
    }
}

/// The universe of a grain: every day (month) within `radius` days of the
/// centre.
fn universe(grain: Grain, radius: i64) -> (i64, i64) {
    let (a, b) = (center_day() - radius, center_day() + radius);
    match grain {
        Grain::Day => (a, b),
        Grain::Month => (month_of(a), month_of(b)),
        other => unreachable!("this property test draws days and months, not {other:?}"),
    }
}

/// The input partitions (in the input's grain) output partition `p` reads
/// through a window: the meaning of [`TimeMapping::Window`].
fn reads(p: i64, lo: i64, hi: i64, input: Grain, output: Grain) -> (i64, i64) {
    match (input, output) {
        (Grain::Day, Grain::Day) | (Grain::Month, Grain::Month) => (p + lo, p + hi),
        // A month reads every day of the months of its window.
        (Grain::Day, Grain::Month) => (first_day_of(p + lo), last_day_of(p + hi)),
        // A day reads the months its window's days fall in.
        (Grain::Month, Grain::Day) => (month_of(p + lo), month_of(p + hi)),
        other => unreachable!("this property test draws days and months, not {other:?}"),
    }
}

/// The affected partitions of every node and, per node, the edges that
/// carried a change (for waves).
fn brute_force(
    nodes: &[Node],
    changed: &Affected,
    radius: i64,
) -> (Vec<Affected>, Vec<Vec<usize>>) {
    let mut out: Vec<Affected> = Vec::with_capacity(nodes.len());
    let mut carried: Vec<Vec<usize>> = Vec::with_capacity(nodes.len());
    out.push(changed.clone());
    carried.push(Vec::new());
    for node in &nodes[1..] {
        let mut via = Vec::new();
        let Some(g) = node.grain else {
            for &(up, _) in &node.inputs {
                if out[up].any() {
                    via.push(up);
                }
            }
            out.push(Affected::Single(!via.is_empty()));
            carried.push(via);
            continue;
        };
        let (u0, u1) = universe(g, radius);
        let mut bits = vec![false; (u1 - u0 + 1) as usize];
        let (mut below, mut above) = (false, false);
        for &(up, edge) in &node.inputs {
            let input = &out[up];
            let whole = matches!((edge, nodes[up].grain), (EdgeKind::All, _) | (_, None));
            if whole {
                if input.any() {
                    bits.iter_mut().for_each(|b| *b = true);
                    below = true;
                    above = true;
                    via.push(up);
                }
                continue;
            }
            let (EdgeKind::Window(lo, hi), Some(gi)) = (edge, nodes[up].grain) else {
                unreachable!()
            };
            let mut any = false;
            for (k, bit) in bits.iter_mut().enumerate() {
                let p = u0 + k as i64;
                let (a, b) = reads(p, lo, hi, gi, g);
                if input.meets(a, b) {
                    *bit = true;
                    any = true;
                }
            }
            // Far below the universe, `p` reads far below the input's.
            if let Affected::Timed {
                below: b, above: a, ..
            } = input
            {
                below |= *b;
                above |= *a;
                any |= *a || *b;
            }
            if any {
                via.push(up);
            }
        }
        out.push(Affected::timed(u0, below, bits, above));
        carried.push(via);
    }
    (out, carried)
}

/// The brute-force view of a planner's interval set on a grain's universe.
fn affected_of(set: &IntervalSet, grain: Option<Grain>, radius: i64) -> Affected {
    let Some(g) = grain else {
        return Affected::Single(!set.is_empty());
    };
    let (u0, u1) = universe(g, radius);
    let bits = (u0..=u1).map(|p| set.contains(p)).collect();
    Affected::timed(
        u0,
        set.contains(UNBOUNDED_LOW),
        bits,
        set.contains(UNBOUNDED_HIGH),
    )
}

/// How far (in days) a change can drift from the centre along the longest
/// path, plus room: the universe's radius, so that nothing bounded ever
/// reaches its edge.
fn radius(nodes: &[Node]) -> i64 {
    // A window moves at most 40 days, or 3 months and a month of rounding.
    let mut depth = vec![0i64; nodes.len()];
    for (j, n) in nodes.iter().enumerate().skip(1) {
        depth[j] = n
            .inputs
            .iter()
            .map(|&(i, _)| depth[i] + 1)
            .max()
            .unwrap_or(0);
    }
    500 + 130 * depth.iter().max().copied().unwrap_or(0)
}

/// The planner's set must be exactly the brute force's: inside the
/// universe bit by bit, outside it all or nothing on each side.
fn assert_same(set: &IntervalSet, grain: Option<Grain>, brute: &Affected, radius: i64, what: &str) {
    match (grain, brute) {
        (None, Affected::Single(b)) => {
            assert_eq!(!set.is_empty(), *b, "{what}: affected");
            assert!(
                set.is_empty() || *set == IntervalSet::all(),
                "{what}: {set:?}"
            );
        }
        (
            Some(g),
            Affected::Timed {
                lo,
                below,
                bits,
                above,
                ..
            },
        ) => {
            let (u0, u1) = universe(g, radius);
            assert_eq!(*lo, u0);
            for (k, b) in bits.iter().enumerate() {
                let p = u0 + k as i64;
                assert_eq!(
                    set.contains(p),
                    *b,
                    "{what}: partition {p} ({g:?}) in {set:?}"
                );
            }
            let side = |a: i64, b: i64, flag: bool| {
                let outside = set.intersect(&IntervalSet::range(a, b));
                let want = if flag {
                    IntervalSet::range(a, b)
                } else {
                    IntervalSet::empty()
                };
                assert_eq!(outside, want, "{what}: outside the universe ({set:?})");
            };
            side(UNBOUNDED_LOW, u0 - 1, *below);
            side(u1 + 1, UNBOUNDED_HIGH, *above);
        }
        _ => panic!("{what}: grain {grain:?} and {brute:?} disagree"),
    }
}

// ---------------------------------------------------------------------------
//  Property 1: `inverse`, composed over a DAG
// ---------------------------------------------------------------------------

fn mapping(edge: EdgeKind) -> Mapping {
    Mapping {
        time: match edge {
            EdgeKind::Window(lo, hi) => TimeMapping::Window { lo, hi },
            EdgeKind::All => TimeMapping::All,
        },
        dimensions: Vec::new(),
        zone: None,
    }
}

/// The planner's propagation: each edge's inverse, unioned, in
/// topological order (node order).
fn propagate(nodes: &[Node], changed: IntervalSet) -> Vec<IntervalSet> {
    let mut sets = vec![IntervalSet::empty(); nodes.len()];
    sets[0] = changed;
    for j in 1..nodes.len() {
        for &(i, edge) in &nodes[j].inputs {
            if sets[i].is_empty() {
                continue;
            }
            let reached = plan::inverse(&mapping(edge), &sets[i], nodes[i].grain, nodes[j].grain);
            sets[j] = sets[j].union(&reached);
        }
    }
    sets
}

/// Propagates a change with `inverse` and compares every node.
fn check_inverse(raw: &[RawNode], change: &RawChange) {
    let nodes = build(raw, true);
    let root = nodes[0].grain.unwrap();
    let changed = changed_set(change, root);
    let r = radius(&nodes);
    let sets = propagate(&nodes, changed.clone());
    let (brute, _) = brute_force(&nodes, &affected_of(&changed, Some(root), r), r);
    for (j, node) in nodes.iter().enumerate() {
        assert_same(
            &sets[j],
            node.grain,
            &brute[j],
            r,
            &format!("node {j} of {nodes:?}"),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn inverse_composition_matches_brute_force(raw in raw_nodes(30), change in raw_change()) {
        check_inverse(&raw, &change);
    }
}

// ---------------------------------------------------------------------------
//  Property 2: the whole planner, on generated `.bpl` source
// ---------------------------------------------------------------------------

fn offset(n: i64, unit: &str) -> String {
    match n {
        0 => "p".into(),
        n if n < 0 => format!("p - {}{unit}", -n),
        n => format!("p + {n}{unit}"),
    }
}

/// `.bpl` text for the DAG: node 0 and the other roots are sources `nK`
/// (daily), every other node a dataset `nK` partitioned by `day: date` or
/// `month_key: month`.
fn source_text(nodes: &[Node]) -> String {
    let mut s = String::from(
        "source n0 {\n  columns { id: string, day: date }\n  key id\n  max lateness 1d\n}\n",
    );
    for (j, node) in nodes.iter().enumerate().skip(1) {
        if node.inputs.is_empty() {
            s.push_str(&format!(
                "source n{j} {{\n  columns {{ id: string, day: date }}\n  key id\n}}\n"
            ));
            continue;
        }
        let (key, ty) = match node.grain {
            Some(Grain::Day) => ("day", "date"),
            Some(Grain::Month) => ("month_key", "month"),
            None => unreachable!("no unpartitioned datasets in generated source"),
            Some(other) => unreachable!("this property test draws days and months, not {other:?}"),
        };
        s.push_str(&format!(
            "dataset n{j} {{\n  version 1\n  partition by {key}: {ty}\n  publish replace\n"
        ));
        for (k, &(up, edge)) in node.inputs.iter().enumerate() {
            let bound = match (edge, nodes[up].grain.unwrap(), node.grain.unwrap()) {
                (EdgeKind::All, ..) => "all history".to_string(),
                (EdgeKind::Window(lo, hi), Grain::Day, Grain::Day) => {
                    format!("where day in [{}, {}]", offset(lo, "d"), offset(hi, "d"))
                }
                (EdgeKind::Window(lo, hi), Grain::Month, Grain::Month) => {
                    format!(
                        "where month_key in [{}, {}]",
                        offset(lo, "mo"),
                        offset(hi, "mo")
                    )
                }
                (EdgeKind::Window(lo, hi), Grain::Day, Grain::Month) => {
                    format!(
                        "where month(day) in [{}, {}]",
                        offset(lo, "mo"),
                        offset(hi, "mo")
                    )
                }
                (EdgeKind::Window(lo, hi), Grain::Month, Grain::Day) => format!(
                    "where month_key in [month({}), month({})]",
                    offset(lo, "d"),
                    offset(hi, "d")
                ),
                (_, a, b) => {
                    unreachable!("this property test draws days and months, not {a:?} and {b:?}")
                }
            };
            s.push_str(&format!("  input i{k} = n{up} {bound}\n"));
        }
        s.push_str(&format!(
            "  compute {{ from i0 group by {key} = p {{ n = row_count() }} }}\n}}\n"
        ));
    }
    s
}

/// Ranges as the planner writes them: `(start, end)`, `None` when unbounded.
type Ranges = Vec<(Option<String>, Option<String>)>;

/// The brute force's ranges as the planner writes them.
fn expected_ranges(a: &Affected, grain: Grain) -> Ranges {
    let Affected::Timed {
        lo,
        below,
        bits,
        above,
        ..
    } = a
    else {
        unreachable!()
    };
    let show = |x: i64| match grain {
        Grain::Day => date_of(x).format("%Y-%m-%d").to_string(),
        Grain::Month => format!("{:04}-{:02}", x.div_euclid(12), x.rem_euclid(12) + 1),
        other => unreachable!("this property test draws days and months, not {other:?}"),
    };
    let mut out = Vec::new();
    let mut start: Option<Option<i64>> = below.then_some(None);
    for (k, &b) in bits.iter().enumerate() {
        let p = lo + k as i64;
        match (b, start) {
            (true, None) => start = Some(Some(p)),
            (false, Some(s)) => {
                out.push((s.map(show), Some(show(p - 1))));
                start = None;
            }
            _ => {}
        }
    }
    let end = lo + bits.len() as i64 - 1;
    match start {
        Some(s) if *above => out.push((s.map(show), None)),
        Some(s) => out.push((s.map(show), Some(show(end)))),
        None if *above => out.push((Some(show(end + 1)), None)),
        None => {}
    }
    out
}

/// Plans a generated project from its source and compares every step.
fn check_planner(raw: &[RawNode], change: &RawChange) -> Result<(), TestCaseError> {
    let mut nodes = build(raw, false);
    // The root is a source: its changes are days.
    nodes[0].grain = Some(Grain::Day);
    let changed = changed_set(change, Grain::Day);
    let text = source_text(&nodes);
    let config = Config {
        name: "t".into(),
        ..Default::default()
    };
    let checked =
        bplc::driver::check_project(project::from_sources(config, [("t.bpl", text.as_str())]));
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| bplc::cli::render::text(&checked.project.sources, d, false))
        .collect();
    prop_assert!(errors.is_empty(), "{text}\n{}", errors.join("\n"));
    let program = checked.program.as_ref().unwrap();
    let graph = DepGraph::build(program);
    // The CLI takes one range: the first interval, or the whole history.
    let changed = if changed.is_unbounded() {
        changed
    } else {
        let (a, b) = changed.ranges()[0];
        IntervalSet::range(a, b)
    };
    let req = Request {
        from: "n0".into(),
        range: (!changed.is_unbounded()).then(|| {
            let (a, b) = changed.ranges()[0];
            let show = |x| date_of(x).format("%Y-%m-%d").to_string();
            (show(a), show(b))
        }),
        mode: Mode::DryRun,
        reason: None,
        as_of: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        changed_version: false,
        explain: false,
    };
    let plan = plan::plan(&graph, &req).unwrap();

    let r = radius(&nodes);
    let (brute, carried) = brute_force(&nodes, &affected_of(&changed, Some(Grain::Day), r), r);
    // Waves: the longest path of edges that carried the change.
    let mut wave = vec![0usize; nodes.len()];
    for j in 1..nodes.len() {
        wave[j] = carried[j].iter().map(|&i| wave[i] + 1).max().unwrap_or(0);
    }
    let mut steps: BTreeMap<String, (usize, Ranges)> = BTreeMap::new();
    for (d, a) in plan.actions() {
        prop_assert_eq!(a.action, Action::Replace);
        let e = steps
            .entry(d.dataset.clone())
            .or_insert((d.wave, Vec::new()));
        e.1.extend(a.ranges.iter().map(|r| (r.start.clone(), r.end.clone())));
    }
    for (j, node) in nodes.iter().enumerate().skip(1) {
        if node.inputs.is_empty() {
            continue; // a source: never a step
        }
        let name = format!("n{j}");
        let got = steps.remove(&name);
        if !brute[j].any() {
            prop_assert!(
                got.is_none(),
                "{name} is not affected but planned: {got:?}\n{text}"
            );
            continue;
        }
        let (w, ranges) =
            got.unwrap_or_else(|| panic!("{name} is affected but not planned\n{text}"));
        prop_assert_eq!(
            &ranges,
            &expected_ranges(&brute[j], node.grain.unwrap()),
            "{}\n{}",
            name,
            text
        );
        prop_assert_eq!(w, wave[j], "wave of {}\n{}", name, text);
    }
    prop_assert!(steps.is_empty(), "steps for unknown datasets: {steps:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn planner_matches_brute_force(raw in raw_nodes(30), change in raw_change()) {
        check_planner(&raw, &change)?;
    }
}

// ---------------------------------------------------------------------------
//  Property 3: closing rules and zone-converting boundaries, end to end
// ---------------------------------------------------------------------------

/// Plans `text` (which must check clean) from `from` over `range` as of
/// `as_of`, and returns each dataset's actions as `(action, start, end)`.
fn planned(
    text: &str,
    from: &str,
    range: (i64, i64),
    as_of: i64,
) -> BTreeMap<String, Vec<(String, String, String)>> {
    let config = Config {
        name: "t".into(),
        ..Default::default()
    };
    let checked = bplc::driver::check_project(project::from_sources(config, [("t.bpl", text)]));
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "{text}\n{:?}",
        checked.diagnostics
    );
    let program = checked.program.as_ref().unwrap();
    let graph = DepGraph::build(program);
    let show = |x: i64| date_of(x).format("%Y-%m-%d").to_string();
    let req = Request {
        from: from.into(),
        range: Some((show(range.0), show(range.1))),
        mode: Mode::Restatement,
        reason: Some("property".into()),
        as_of: date_of(as_of),
        changed_version: false,
        explain: false,
    };
    let plan = plan::plan(&graph, &req).unwrap();
    let mut out: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for (d, a) in plan.actions() {
        for r in &a.ranges {
            out.entry(d.dataset.clone()).or_default().push((
                a.action.name().to_string(),
                r.start.clone().unwrap(),
                r.end.clone().unwrap(),
            ));
        }
    }
    out
}

/// The ISO week (its Monday's day number) holding a day.
fn monday_of(day: i64) -> i64 {
    day - date_of(day).weekday().num_days_from_monday() as i64
}

fn iso_week(monday: i64) -> String {
    let w = date_of(monday).iso_week();
    format!("{:04}-W{:02}", w.year(), w.week())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A weekly dataset closing `month_end(p) + n` days: a changed day's
    /// week is restated exactly when the month of the week's Sunday ended
    /// more than `n` days before the as-of date, and replaced otherwise.
    #[test]
    fn weeks_close_with_the_month_of_their_last_day(
        day in -200i64..=200, len in 0i64..=20, offset in 0i64..=10, as_of in -30i64..=260,
    ) {
        let a = center_day() + day;
        let b = a + len;
        let as_of = a + as_of;
        let text = format!(
            "source events {{\n  columns {{ id: string, day: date }}\n  key id\n}}\n\
             dataset weekly {{\n  version 1\n  partition by w: week\n  publish versioned\n  \
             input ev = events where day in week(p)\n  \
             compute {{ from ev group by w = p {{ n = row_count() }} }}\n  \
             closed after month_end(p) + {offset}d\n  restate with reason\n}}\n"
        );
        let got = planned(&text, "events", (a, b), as_of);
        // Brute force, a week at a time.
        let mut expected: Vec<(String, String, String)> = Vec::new();
        let mut monday = monday_of(a);
        while monday <= b {
            let sunday = monday + 6;
            let open_through = last_day_of(month_of(sunday)) + offset;
            let action = if as_of > open_through { "restate" } else { "replace" };
            let week = iso_week(monday);
            match expected.iter_mut().find(|e| e.0 == action && e.2 == iso_week(monday - 7)) {
                Some(e) => e.2 = week,
                None => expected.push((action.to_string(), week.clone(), week)),
            }
            monday += 7;
        }
        expected.sort();
        let mut got = got.get("weekly").cloned().unwrap_or_default();
        got.sort();
        prop_assert_eq!(got, expected, "{} days from {}, as of {}", len + 1, date_of(a), date_of(as_of));
    }

    /// `to_date(event_time, ZONE) in [p - k, p]` over a source whose days
    /// are UTC days, across daylight-saving changes: the planned partitions
    /// are the local dates of the changed instants (walked a quarter of an
    /// hour at a time), spread over the window.
    #[test]
    fn zone_converting_boundaries_end_to_end(
        zone in 0usize..6, near in 0usize..4, start in -2i64..=2, len in 0i64..=2, k in 0i64..=2,
    ) {
        use chrono::TimeZone;
        let zones = ["Europe/London", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"];
        let dst = [(2026, 3, 29), (2026, 3, 8), (2026, 10, 25), (2026, 4, 5)];
        let (y, m, d) = dst[near];
        let a = day_of(NaiveDate::from_ymd_opt(y, m, d).unwrap()) + start;
        let b = a + len;
        let text = format!(
            "source raw {{\n  columns {{ id: string, event_time: timestamp }}\n  key id\n  clock event = event_time\n}}\n\
             dataset local {{\n  version 1\n  partition by day: date\n  publish replace\n  \
             input ev = raw by event clock where to_date(event_time, \"{}\") in [p - {k}d, p]\n  \
             compute {{ from ev group by day = p {{ n = row_count() }} }}\n}}\n",
            zones[zone]
        );
        let got = planned(&text, "raw", (a, b), a);
        let tz: chrono_tz::Tz = zones[zone].parse().unwrap();
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for day in a..=b {
            let midnight = date_of(day).and_hms_opt(0, 0, 0).unwrap();
            for q in 0..96 {
                let local = day_of(tz.from_utc_datetime(&(midnight + chrono::Duration::minutes(15 * q))).date_naive());
                lo = lo.min(local);
                hi = hi.max(local);
            }
        }
        let show = |x: i64| date_of(x).format("%Y-%m-%d").to_string();
        prop_assert_eq!(
            got.get("local").cloned().unwrap_or_default(),
            vec![("replace".to_string(), show(lo), show(hi + k))],
            "{} UTC days {}..{}", zones[zone], show(a), show(b)
        );
    }
}
