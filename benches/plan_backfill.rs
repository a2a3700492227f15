//! How fast `plan-backfill` plans on a large program: 10,000 datasets with
//! mixed windows, month roll-ups, months spread back over days, diamonds,
//! closed periods and bindings, planned over ten years of daily partitions.
//!
//! `cargo bench --bench plan_backfill` (optionally `PLAN_BENCH_DATASETS=N`
//! and `PLAN_BENCH_RUNS=N`). The planner needs no data, so the program is
//! generated as `.bpl` text, loaded in memory and checked, then:
//!
//! * `plan::plan` from the source at the root over 2016-01-01..2025-12-31,
//!   from a dataset in the middle of the graph, and for one day;
//! * two same-run baselines: building the `DepGraph`, and a breadth-first
//!   walk of the graph from the root (the least any impact analysis does);
//! * the heap a plan needs at its peak (a counting allocator), for a 1-year
//!   and a 10-year range and for a graph a tenth the size, and VmHWM.
//!
//! Then whole commands, each a fresh release `bplc` process timed from
//! spawn to exit with its peak resident set, on the benchmark generator's
//! project (`benches/generator`, the one `check_project` times) written to
//! a temporary directory: `bplc check`, and `bplc plan-backfill --format
//! json` over ten years from a source at the root and for one day at a
//! leaf (`PLAN_BENCH_CLI_RUNS`, default 5).
//!
//! Prints best and median of N runs and the ratios. The targets: a plan
//! under 200 ms in process; as a command, at most 1.2x the time and 1.1x
//! the peak memory of `bplc check` on the same project.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "common/child.rs"]
mod child;
#[path = "generator/mod.rs"]
mod generator;
#[path = "common/rounds.rs"]
mod rounds;

use bplc::graph::plan::{self, Mode, Plan, Request};
use bplc::graph::DepGraph;
use bplc::project::{self, Config};
use chrono::NaiveDate;

// ---------------------------------------------------------------------------
//  A counting allocator: current and peak heap bytes
// ---------------------------------------------------------------------------

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the most heap it held at once
/// beyond what was allocated before.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

/// `VmHWM` (peak resident set) in kB, on Linux.
fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------
//  The generated program
// ---------------------------------------------------------------------------

/// A small deterministic generator (64-bit LCG), so every run plans the
/// same program.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq)]
enum G {
    Day,
    Month,
}

/// How deep the generated graph is.
const LAYERS: usize = 25;

/// The first dataset of layer `l` of `n`.
fn first_in_layer(l: usize, n: usize) -> usize {
    (l * n).div_ceil(LAYERS)
}

/// `.bpl` files for a program of `n` datasets reading one source, in
/// [`LAYERS`] layers: about one dataset in seven is monthly; each reads one
/// to three datasets of the layer above (a third of the time of any layer
/// above: diamonds at every distance)
/// through an identity, a 7- or 30-day window, a lag, a month roll-up or a
/// month spread back over its days; one in ten closes after its month and
/// restates with a reason; one in ten binds a pinned reference.
fn generate(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x5eed_b91c);
    let mut files = vec![(
        "sources.bpl".to_string(),
        "source events {\n  columns { id: string, day: date }\n  key id\n  max lateness 2d\n}\n\
         reference org {\n  columns { id: string, region: string, v: string }\n  key id\n  versioned by v\n  versions \"2026-01\"\n}\n"
            .to_string(),
    )];
    // Datasets in layers (a realistic pipeline is a few dozen deep, not
    // thousands): dataset `i` is in layer `i * LAYERS / n` and reads from
    // the layers above it.
    let layer = |i: usize| i * LAYERS / n;
    let first_of = |l: usize| first_in_layer(l, n);
    let mut grains = Vec::with_capacity(n);
    let mut text = String::new();
    for i in 0..n {
        let g = if i % 7 == 3 { G::Month } else { G::Day };
        grains.push(g);
        let (key, ty) = match g {
            G::Day => ("day", "date"),
            G::Month => ("month_key", "month"),
        };
        text.push_str(&format!(
            "dataset d{i} {{\n  version 1\n  partition by {key}: {ty}\n  publish replace\n"
        ));
        text.push_str(match g {
            G::Day => "  schedule daily at 01:00 \"UTC\" lookback 3d\n",
            G::Month => "  schedule monthly on day 1 at 06:00 \"UTC\" lookback 1mo\n",
        });
        let inputs = 1 + rng.below(3) as usize;
        let mut seen = Vec::new();
        for k in 0..inputs {
            // (name, grain) of the upstream.
            let (up, ug) = if layer(i) == 0 {
                ("events".to_string(), G::Day)
            } else {
                // Mostly the layer just above, a third any layer above.
                let (start, end) = if rng.below(3) == 0 {
                    (0, first_of(layer(i)))
                } else {
                    (first_of(layer(i) - 1), first_of(layer(i)))
                };
                let j = start + rng.below((end - start) as u64) as usize;
                if seen.contains(&j) {
                    continue;
                }
                seen.push(j);
                (format!("d{j}"), grains[j])
            };
            let bound = match (ug, g, rng.below(4)) {
                (G::Day, G::Day, 0) => "day == p",
                (G::Day, G::Day, 1) => "day in [p - 6d, p]",
                (G::Day, G::Day, 2) => "day in [p - 29d, p]",
                (G::Day, G::Day, _) => "day == p - 1d",
                (G::Day, G::Month, 0) => "month(day) in [p - 2mo, p]",
                (G::Day, G::Month, _) => "month(day) == p",
                (G::Month, G::Month, 0) => "month_key in [p - 1mo, p]",
                (G::Month, G::Month, _) => "month_key == p",
                (G::Month, G::Day, 0) => "month_key in [month(p - 31d), month(p)]",
                (G::Month, G::Day, _) => "month_key == month(p)",
            };
            text.push_str(&format!("  input i{k} = {up} where {bound}\n"));
        }
        if rng.below(10) == 0 {
            text.push_str("  bind o = org pinned \"2026-01\"\n");
        }
        if rng.below(10) == 0 {
            text.push_str("  closed after month_end(p) + 5d\n  restate with reason\n");
        }
        text.push_str(&format!(
            "  compute {{ from i0 group by {key} = p {{ n = row_count() }} }}\n}}\n"
        ));
        // A hundred datasets to a file.
        if i % 100 == 99 || i == n - 1 {
            files.push((format!("d{:05}.bpl", i / 100), std::mem::take(&mut text)));
        }
    }
    files
}

// ---------------------------------------------------------------------------
//  Timing
// ---------------------------------------------------------------------------

struct Stats {
    best: Duration,
    median: Duration,
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Stats {
    let mut all: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    all.sort();
    Stats {
        best: all[0],
        median: all[all.len() / 2],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn request(from: &str, range: Option<(&str, &str)>) -> Request {
    Request {
        from: from.into(),
        range: range.map(|(a, b)| (a.into(), b.into())),
        mode: Mode::DryRun,
        reason: None,
        as_of: NaiveDate::from_ymd_opt(2026, 7, 20).unwrap(),
        changed_version: false,
        explain: false,
    }
}

const TEN_YEARS: (&str, &str) = ("2016-01-01", "2025-12-31");
const ONE_YEAR: (&str, &str) = ("2025-01-01", "2025-12-31");

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Loaded {
    program: bplc::semantic::hir::Program,
    check: Duration,
}

fn load(n: usize) -> Loaded {
    let files = generate(n);
    let t = Instant::now();
    let config = Config {
        name: "bench".into(),
        ..Default::default()
    };
    let checked = bplc::driver::check_project(project::from_sources(
        config,
        files.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    ));
    let check = t.elapsed();
    let errors: Vec<String> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .take(3)
        .map(|d| bplc::cli::render::text(&checked.project.sources, d, false))
        .collect();
    assert!(
        errors.is_empty(),
        "the generated program has errors:\n{}",
        errors.join("\n")
    );
    Loaded {
        program: checked.program.expect("a checked program"),
        check,
    }
}

fn describe(p: &Plan) -> String {
    format!(
        "{} datasets, {} actions, {} waves, {} partitions",
        p.summary.datasets,
        p.actions().count(),
        p.summary.waves,
        p.partitions()
            .map_or("unbounded".to_string(), |n| n.to_string())
    )
}

fn main() {
    let n = env("PLAN_BENCH_DATASETS", 10_000);
    let runs = env("PLAN_BENCH_RUNS", 21).max(1);
    let hwm_start = vm_hwm_kb();

    let loaded = load(n);
    let program = &loaded.program;
    let edges: usize = program
        .datasets()
        .map(|d| d.inputs.len() + d.binds.len())
        .sum();
    println!(
        "program: {n} datasets in {LAYERS} layers, {edges} edges; generated and checked in {:.0} ms",
        ms(loaded.check)
    );

    let build = time(runs, || DepGraph::build(program));
    let graph = DepGraph::build(program);
    let root = graph.node(program.lookup("events").unwrap().id);
    let bfs = time(runs, || {
        let mut walk = petgraph::visit::Bfs::new(&graph.graph, root);
        let mut seen = 0usize;
        while let Some(x) = walk.next(&graph.graph) {
            seen += x.index() & 1;
        }
        seen
    });
    // The dataset of the middle layer with the most downstream datasets.
    let descendants = |name: &str| {
        let start = graph.node(program.lookup(name).unwrap().id);
        let mut walk = petgraph::visit::Bfs::new(&graph.graph, start);
        std::iter::from_fn(|| walk.next(&graph.graph)).count()
    };
    let mid = (first_in_layer(LAYERS / 2, n)..first_in_layer(LAYERS / 2 + 1, n))
        .map(|i| format!("d{i}"))
        .max_by_key(|d| descendants(d))
        .unwrap();
    let cases = [
        ("root, 10 years", request("events", Some(TEN_YEARS))),
        ("root, 1 year", request("events", Some(ONE_YEAR))),
        (
            "root, 1 day",
            request("events", Some(("2025-06-15", "2025-06-15"))),
        ),
        ("mid-graph, 10 years", request(&mid, Some(TEN_YEARS))),
        ("mid-graph, 1 year", request(&mid, Some(ONE_YEAR))),
        ("root, whole history", request("events", None)),
    ];
    println!(
        "mid-graph origin: {mid} ({} datasets downstream)",
        descendants(&mid) - 1
    );
    println!(
        "\nbaselines (best / median of {runs}):\n  {:<22} {:>8.2} ms {:>8.2} ms\n  {:<22} {:>8.2} ms {:>8.2} ms",
        "DepGraph::build",
        ms(build.best),
        ms(build.median),
        "BFS from the root",
        ms(bfs.best),
        ms(bfs.median)
    );
    println!("\nplan::plan (best / median of {runs}; ratio of medians to the baselines):");
    let mut worst = Duration::ZERO;
    for (name, req) in &cases {
        let p = plan::plan(&graph, req).expect("a plan");
        let s = time(runs, || plan::plan(&graph, req).unwrap());
        worst = worst.max(s.median);
        println!(
            "  {name:<22} {:>8.2} ms {:>8.2} ms   x{:>5.1} build  x{:>6.1} BFS   {}",
            ms(s.best),
            ms(s.median),
            s.median.as_secs_f64() / build.median.as_secs_f64(),
            s.median.as_secs_f64() / bfs.median.as_secs_f64(),
            describe(&p)
        );
    }

    println!("\npeak heap of one plan (counting allocator):");
    let hwm_before = vm_hwm_kb();
    for (name, req) in &cases {
        let (p, peak) = peak_heap(|| plan::plan(&graph, req).unwrap());
        println!(
            "  {name:<22} {:>8.2} MiB  ({} bytes per planned dataset)",
            peak as f64 / (1 << 20) as f64,
            peak / p.datasets.len().max(1)
        );
    }
    let hwm_after = vm_hwm_kb();
    let small_n = (n / 10).max(10);
    let small = load(small_n);
    let small_graph = DepGraph::build(&small.program);
    let (_, small_peak) =
        peak_heap(|| plan::plan(&small_graph, &request("events", Some(TEN_YEARS))).unwrap());
    println!(
        "  {:<22} {:>8.2} MiB  (a graph of {small_n} datasets, 10 years)",
        "smaller graph",
        small_peak as f64 / (1 << 20) as f64
    );
    if let (Some(s), Some(b), Some(a)) = (hwm_start, hwm_before, hwm_after) {
        println!(
            "\nVmHWM: {s} kB at start, {b} kB after loading and checking, {a} kB after planning (+{} kB)",
            a.saturating_sub(b)
        );
    }
    commands(n, env("PLAN_BENCH_CLI_RUNS", 5));
    println!(
        "\ntarget: a plan under 200 ms; slowest median {:.2} ms: {}",
        ms(worst),
        if worst < Duration::from_millis(200) {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// `bplc check` against `bplc plan-backfill` on the generator's project of
/// `n` datasets, each a fresh process.
fn commands(n: usize, runs: usize) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path();
    let summary = generator::write(dir, generator::Spec::new(n)).expect("written");
    let bplc = || std::process::Command::new(env!("CARGO_BIN_EXE_bplc"));
    let plan = |from: String, range: &'static str| {
        move || {
            let mut c = bplc();
            c.args(["--format", "json", "plan-backfill", "--project"])
                .arg(dir)
                .args(["--from", &from, "--range", range, "--as-of", "2026-07-20"]);
            c
        }
    };
    let check = || {
        let mut c = bplc();
        c.arg("check").arg(dir);
        c
    };
    let leaf = generator::dataset_name(summary.datasets - 1);
    let root = plan(generator::source_name(0), "2016-01-01..2025-12-31");
    let one_day = plan(leaf.clone(), "2025-06-15");
    let costs = rounds::measure_rounds(runs, &[&check, &root, &one_day]);
    println!(
        "\nwhole commands on the generator's project ({} datasets, {} files), {runs} interleaved rounds:\n  \
         {:<32} {:>17} {:>17} {:>8}",
        summary.datasets, summary.files, "", "wall best/median", "CPU best/median", "peak RSS"
    );
    let names = [
        "bplc check",
        "plan-backfill, root, 10 years",
        "plan-backfill, leaf, 1 day",
    ];
    let base = costs[0];
    let mut met = true;
    for (name, c) in names.iter().zip(&costs) {
        let wall = c.wall_median.as_secs_f64() / base.wall_median.as_secs_f64();
        let cpu = c.cpu_median.as_secs_f64() / base.cpu_median.as_secs_f64();
        let memory = c.peak_rss_kb as f64 / base.peak_rss_kb.max(1) as f64;
        if !std::ptr::eq(c, &costs[0]) {
            met &= wall <= 1.2 && memory <= 1.1;
        }
        println!(
            "  {name:<32} {:>7.0} {:>7.0} ms {:>7.0} {:>7.0} ms {:>9}   x{wall:.2} wall, x{cpu:.2} CPU, x{memory:.2} memory of check",
            ms(c.wall_best),
            ms(c.wall_median),
            ms(c.cpu_best),
            ms(c.cpu_median),
            rounds::mb(c.peak_rss_kb)
        );
    }
    println!(
        "plan JSON: {:.1} MB from the root over 10 years, {:.1} kB for one day at the leaf",
        costs[1].output_bytes as f64 / 1e6,
        costs[2].output_bytes as f64 / 1e3
    );
    println!(
        "target: plan-backfill within 1.2x check's time and 1.1x its peak memory (leaf: {leaf}): {}",
        if met { "met" } else { "NOT met" }
    );
}
