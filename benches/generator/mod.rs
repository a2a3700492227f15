//! A deterministic generator of large, realistic `.bpl` projects, shared by
//! the `check_project` benchmark and `tests/bench_generator.rs` (which
//! proves that what the benchmark times is a project with no diagnostics).
//! Include it with `#[path = "generator/mod.rs"] mod generator;`.
//!
//! The project has raw sources, effective-dated and versioned references,
//! and `datasets` derived datasets in [`LAYERS`] layers, spread over about
//! [`Spec::files`] files. Every dataset states a whole contract: typed
//! columns and a key, a partition (day, tenant × day or month), publish
//! mode, a schedule with a lookback, bounded inputs, reference bindings, a
//! compute pipeline (`from`, `where`, `dedupe`, `join`, `derive`,
//! `group by`), quality rules and reconciliation; monthly ones close and
//! restate. The graph mixes the shapes real pipelines have: chains, diamonds
//! (two inputs sharing ancestors), fan-in from three or four inputs, 30- and
//! 7-day windows, day-to-month roll-ups, months spread back over days and
//! sources read again deep in the graph.
//!
//! All datasets of a grain share one schema, so any dataset can read any
//! earlier one and the whole project type-checks by construction.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Derived datasets.
    pub datasets: usize,
    /// Dataset files (the sources and references get one file each more).
    pub files: usize,
    /// The seed: the same spec always gives byte-identical files.
    pub seed: u64,
}

impl Spec {
    /// `datasets` datasets, a hundred to a file, the default seed.
    pub fn new(datasets: usize) -> Spec {
        Spec {
            datasets,
            files: datasets.div_ceil(100).max(1),
            seed: 0xb91c_5eed,
        }
    }
}

/// How deep the graph is: real pipelines are a few dozen steps deep.
pub const LAYERS: usize = 30;
/// Raw sources, and references of each of the two kinds.
const SOURCES: usize = 24;
const REFERENCES: usize = 12;

/// Sizes of a generated project, for the benchmark's report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub files: usize,
    pub datasets: usize,
    pub edges: usize,
    pub lines: usize,
    pub bytes: usize,
}

/// SplitMix64: tiny, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// The partition grain of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    /// `partition by business_date: date`
    Day,
    /// `partition by tenant_id: string, business_date: date`
    TenantDay,
    /// `partition by report_month: month`
    Month,
}

/// What an input reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Up {
    Source(usize),
    Dataset(usize),
}

/// Which of a dataset's measures overlap neighbouring partitions (were
/// computed over a window, or from measures that were): a roll-up must not
/// sum them (E0141), so the generator takes their `max` there instead.
#[derive(Clone, Copy, Default)]
struct Overlaps {
    events: bool,
    amount: bool,
}

/// What a boundary does to the rows it reads: whether one input partition
/// feeds several output partitions (a window, or a coarser input), and
/// whether one output partition reads several input partitions (a window,
/// or a roll-up).
fn reach(boundary: &str, from: Grain, to: Grain) -> (bool, bool) {
    let window = boundary.contains(" in [");
    let coarser = from == Grain::Month && to != Grain::Month;
    (window || coarser, window || boundary.contains("in month("))
}

const DOMAINS: &[&str] = &[
    "orders",
    "payments",
    "refunds",
    "shipments",
    "invoices",
    "claims",
    "cases",
    "tickets",
    "sessions",
    "loans",
    "deposits",
    "transfers",
    "alerts",
    "inspections",
    "permits",
    "visits",
];
const ZONES: &[&str] = &[
    "UTC",
    "Asia/Jakarta",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/Berlin",
    "America/New_York",
];
const ROW_FILTERS: &[&str] = &[
    "u0.amount >= 0",
    "u0.region != \"\"",
    "u0.tenant_id != \"internal\"",
    "u0.score >= 0.0",
    "u0.unit_id != \"\" and u0.amount >= 0",
];

pub fn dataset_name(i: usize) -> String {
    let domain = DOMAINS[i % DOMAINS.len()];
    format!("d{i:05}_{domain}")
}

pub fn source_name(s: usize) -> String {
    format!("raw_{}_events_{s:02}", DOMAINS[s % DOMAINS.len()])
}

/// Writes the project (`bpl.toml` and the `.bpl` files) under `dir`.
pub fn write(dir: &Path, spec: Spec) -> std::io::Result<Summary> {
    let (files, summary) = generate(spec);
    std::fs::write(
        dir.join("bpl.toml"),
        "name = \"generated\"\ntime_zone = \"UTC\"\nengine = \"sqlite\"\n\
         warehouse = \"target/warehouse.sqlite\"\nledger = \"target/ledger.sqlite\"\n",
    )?;
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(summary)
}

/// The project's `.bpl` files as `(relative path, text)`, and its sizes.
pub fn generate(spec: Spec) -> (Vec<(String, String)>, Summary) {
    let mut rng = Rng(spec.seed);
    let mut files = vec![
        ("sources/raw_events.bpl".to_string(), sources()),
        ("references/reference_data.bpl".to_string(), references()),
    ];
    let n = spec.datasets;
    let per_file = n.div_ceil(spec.files.max(1)).max(1);
    let layer = |i: usize| i * LAYERS / n.max(1);
    let first_of = |l: usize| (l * n).div_ceil(LAYERS);
    let mut grains: Vec<Grain> = Vec::with_capacity(n);
    let mut overlaps: Vec<Overlaps> = Vec::with_capacity(n);
    let mut edges = 0;
    let mut text = String::new();
    for i in 0..n {
        let grain = match rng.below(100) {
            0..=69 => Grain::Day,
            70..=84 => Grain::TenantDay,
            _ => Grain::Month,
        };
        grains.push(grain);
        let l = layer(i);
        let mut ups: Vec<Up> = Vec::new();
        if l == 0 {
            ups.push(Up::Source(rng.below(SOURCES)));
            if rng.chance(30) {
                ups.push(Up::Source(rng.below(SOURCES)));
            }
        } else {
            // Chains (one input), diamonds (two), fan-in (three or four).
            let wanted = match rng.below(100) {
                0..=44 => 1,
                45..=74 => 2,
                75..=89 => 3,
                _ => 4,
            };
            for _ in 0..wanted {
                // Mostly the layer just above; a quarter of the time any
                // earlier layer, so diamonds close at every distance.
                let (start, end) = if rng.chance(25) {
                    (0, first_of(l))
                } else {
                    (first_of(l - 1), first_of(l))
                };
                let j = start + rng.below((end - start).max(1));
                ups.push(Up::Dataset(j));
            }
            // A source read again deep in the graph (late enrichment).
            if rng.chance(5) {
                ups.push(Up::Source(rng.below(SOURCES)));
            }
        }
        ups.dedup();
        let mut seen = Vec::new();
        ups.retain(|u| {
            let fresh = !seen.contains(u);
            seen.push(*u);
            fresh
        });
        edges += ups.len();
        let o = dataset(&mut text, &mut rng, i, grain, &ups, &grains, &overlaps);
        overlaps.push(o);
        if (i + 1) % per_file == 0 || i + 1 == n {
            let k = i / per_file;
            let domain = DOMAINS[k % DOMAINS.len()];
            files.push((
                format!("datasets/{domain}/part_{k:03}.bpl"),
                std::mem::take(&mut text),
            ));
        }
    }
    let summary = Summary {
        files: files.len(),
        datasets: n,
        edges,
        lines: files.iter().map(|(_, t)| t.lines().count()).sum(),
        bytes: files.iter().map(|(_, t)| t.len()).sum(),
    };
    (files, summary)
}

fn sources() -> String {
    let mut s = String::from(
        "// Raw event feeds as the operational systems deliver them: late by up\n\
         // to two days, sometimes twice.\n\n",
    );
    for k in 0..SOURCES {
        let name = source_name(k);
        let lock = if k % 3 == 0 {
            "  // A nightly export: several rows share one timestamp.\n  cursor by (ingested_at, event_id)\n"
                .to_string()
        } else {
            "  snapshot by ingested_at\n".to_string()
        };
        let _ = write!(
            s,
            "/// Every {domain} event, one row per state change.\n\
             source {name} {{\n  table \"{name}\"\n  columns {{\n    event_id: string\n    \
             tenant_id: string\n    unit_id: string\n    region: string\n    \
             kind: enum(opened, updated, closed)\n    amount: decimal(18, 2)\n    score: float\n    \
             event_time: timestamp\n    ingested_at: timestamp\n  }}\n  key event_id\n  \
             clock event = event_time, ingestion = ingested_at\n{lock}  max lateness 2d\n}}\n\n",
            domain = DOMAINS[k % DOMAINS.len()],
        );
    }
    s
}

fn references() -> String {
    let mut s = String::new();
    for k in 0..REFERENCES {
        let _ = write!(
            s,
            "/// Which region a unit belongs to; units move, so rows are effective-dated.\n\
             reference org_units_{k:02} {{\n  table \"org_units_{k:02}\"\n  columns {{\n    \
             unit_id: string\n    region: string\n    owner: string?\n    \
             valid_from: timestamp\n    valid_to: timestamp?\n  }}\n  key unit_id\n  \
             valid from valid_from to valid_to\n}}\n\n\
             /// Targets per region, published twice a year as numbered snapshots.\n\
             reference region_targets_{k:02} {{\n  table \"region_targets_{k:02}\"\n  columns {{\n    \
             region: string\n    weight: float\n    target_version: string\n  }}\n  key region\n  \
             versioned by target_version\n  versions \"2026-01\", \"2026-07\"\n}}\n\n",
        );
    }
    s
}

/// The boundary of an input of grain `from` read by a dataset of grain
/// `to`, and whether it is a 30-day window.
fn boundary(rng: &mut Rng, up: Up, from: Grain, to: Grain) -> (String, bool) {
    if let Up::Source(_) = up {
        let b = match to {
            Grain::Day if rng.chance(30) => "to_date(event_time, \"UTC\") in [p - 1d, p]",
            Grain::Day => "to_date(event_time, \"UTC\") == p",
            Grain::TenantDay => {
                "tenant_id == p.tenant_id and to_date(event_time, \"UTC\") == p.business_date"
            }
            Grain::Month => "to_date(event_time, \"UTC\") in month(p)",
        };
        return (format!("by event clock where {b}"), false);
    }
    let r = rng.below(4);
    let b = match (from, to) {
        (Grain::Day | Grain::TenantDay, Grain::Day) => match r {
            0 => "business_date == p",
            1 => "business_date in [p - 29d, p]",
            2 => "business_date in [p - 6d, p]",
            _ => "business_date == p - 1d",
        },
        (Grain::Day, Grain::TenantDay) => match r {
            0 | 1 => "tenant_id == p.tenant_id and business_date in [p.business_date - 29d, p.business_date]",
            _ => "tenant_id == p.tenant_id and business_date == p.business_date",
        },
        (Grain::TenantDay, Grain::TenantDay) => match r {
            0 | 1 => "tenant_id == p.tenant_id and business_date in [p.business_date - 29d, p.business_date]",
            2 => "tenant_id == p.tenant_id and business_date in [p.business_date - 6d, p.business_date]",
            _ => "tenant_id == p.tenant_id and business_date == p.business_date",
        },
        (Grain::Day | Grain::TenantDay, Grain::Month) => "business_date in month(p)",
        (Grain::Month, Grain::Month) => match r {
            0 => "report_month in [p - 2mo, p]",
            _ => "report_month == p",
        },
        (Grain::Month, Grain::Day) => "report_month == month(p)",
        (Grain::Month, Grain::TenantDay) => "report_month == month(p.business_date)",
    };
    (format!("where {b}"), b.contains("29d"))
}

fn dataset(
    out: &mut String,
    rng: &mut Rng,
    i: usize,
    grain: Grain,
    ups: &[Up],
    grains: &[Grain],
    overlaps: &[Overlaps],
) -> Overlaps {
    let name = dataset_name(i);
    let up_name = |u: &Up| match u {
        Up::Source(s) => source_name(*s),
        Up::Dataset(j) => dataset_name(*j),
    };
    let up_grain = |u: &Up| match u {
        Up::Source(_) => Grain::Day,
        Up::Dataset(j) => grains[*j],
    };
    let first_is_source = matches!(ups[0], Up::Source(_));

    // ---- docs and header
    let what = match grain {
        Grain::Day => "per unit and business day",
        Grain::TenantDay => "per tenant, unit and business day",
        Grain::Month => "per unit and reporting month",
    };
    let domain = DOMAINS[i % DOMAINS.len()];
    let _ = writeln!(
        out,
        "/// {}{} figures {what}, from {}.",
        domain[..1].to_uppercase(),
        &domain[1..],
        ups.iter()
            .map(|u| format!("`{}`", up_name(u)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if ups.len() > 2 {
        let _ = writeln!(
            out,
            "/// Fan-in: every input is joined to the first on the unit."
        );
    }
    let _ = writeln!(out, "dataset {name} {{\n  version {}", 1 + rng.below(4));
    let (time_col, time_ty) = match grain {
        Grain::Month => ("report_month", "month"),
        _ => ("business_date", "date"),
    };
    let _ = write!(
        out,
        "  columns {{\n    {time_col}: {time_ty}, tenant_id: string, region: string, unit_id: string,\n    \
         events: int, amount: decimal(18, 2), score: float\n  }}\n"
    );
    let _ = writeln!(out, "  key ({time_col}, tenant_id, unit_id)");
    let _ = writeln!(
        out,
        "  partition by {}",
        match grain {
            Grain::Day => "business_date: date",
            Grain::TenantDay => "tenant_id: string, business_date: date",
            Grain::Month => "report_month: month",
        }
    );
    let zone = rng.pick(ZONES);
    let hour = 3 + rng.below(4);
    match grain {
        Grain::Month => {
            out.push_str("  publish versioned\n");
            let _ = writeln!(
                out,
                "  schedule monthly on day {} at 0{hour}:00 \"{zone}\" lookback 1mo",
                1 + rng.below(5)
            );
        }
        _ => {
            out.push_str("  publish replace\n");
            if rng.chance(10) {
                let _ = writeln!(
                    out,
                    "  schedule weekly on monday at 0{hour}:00 \"{zone}\" lookback 7d"
                );
            } else {
                let _ = writeln!(
                    out,
                    "  schedule daily at 0{hour}:00 \"{zone}\" lookback {}d",
                    3 + rng.below(3)
                );
            }
        }
    }
    out.push('\n');

    // ---- inputs and bindings
    let mut window = false;
    // Rows read by several output partitions; an overlapping measure
    // summed over several input partitions; the first input's events so.
    let (mut rows_overlap, mut amount_summed_wrong, mut events_summed_wrong) =
        (false, false, false);
    let (mut upstream_amount, mut upstream_events) = (false, false);
    for (k, u) in ups.iter().enumerate() {
        let (b, w) = boundary(rng, *u, up_grain(u), grain);
        let (overlap, spread) = reach(&b, up_grain(u), grain);
        rows_overlap |= overlap;
        if let Up::Dataset(j) = u {
            upstream_amount |= overlaps[*j].amount;
            amount_summed_wrong |= spread && overlaps[*j].amount;
            if k == 0 {
                upstream_events = overlaps[*j].events;
                events_summed_wrong = spread && overlaps[*j].events;
            }
        }
        window |= w && k == 0;
        if w && k == 0 {
            out.push_str("  // Rolling window: one changed day touches the partitions whose window covers it.\n");
        }
        let _ = writeln!(out, "  input u{k} = {} {b}", up_name(u));
    }
    let r = rng.below(REFERENCES);
    let org = rng.chance(70);
    let targets = rng.chance(40);
    if org {
        let policy = match grain {
            Grain::Day => "as of p",
            Grain::TenantDay => "as of p.business_date",
            Grain::Month if rng.chance(50) => "as of report close",
            Grain::Month => "as of month_end(p)",
        };
        let _ = writeln!(out, "  bind org = org_units_{r:02} {policy}");
    }
    if targets {
        let _ = writeln!(
            out,
            "  bind tgt = region_targets_{r:02} pinned \"{}\"",
            rng.pick(&["2026-01", "2026-07"])
        );
    }
    out.push('\n');

    // ---- compute
    out.push_str("  compute {\n    from u0\n");
    if rng.chance(60) {
        let _ = writeln!(out, "    where {}", rng.pick(ROW_FILTERS));
    }
    if first_is_source {
        out.push_str("    dedupe by u0.event_id order by u0.ingested_at desc\n");
    }
    for k in 1..ups.len() {
        let _ = writeln!(
            out,
            "    left join u{k} on u{k}.unit_id == u0.unit_id and u{k}.region == u0.region"
        );
    }
    if org {
        out.push_str("    join org on org.unit_id == u0.unit_id\n");
    }
    if targets {
        out.push_str("    left join tgt on tgt.region == u0.region\n");
    }
    let mut adjusted = String::from("u0.amount");
    for k in 1..ups.len() {
        let _ = write!(adjusted, " + coalesce(u{k}.amount, 0)");
    }
    let _ = writeln!(out, "    derive adjusted = {adjusted}");
    let weighted = if targets {
        "u0.score * coalesce(tgt.weight, 1.0)"
    } else {
        "u0.score"
    };
    let _ = writeln!(out, "    derive weighted = {weighted}");
    let keys = match grain {
        Grain::Day => "business_date = p, tenant_id = u0.tenant_id",
        Grain::TenantDay => "tenant_id = p.tenant_id, business_date = p.business_date",
        Grain::Month => "report_month = p, tenant_id = u0.tenant_id",
    };
    let region = if org { "org.region" } else { "u0.region" };
    let _ = writeln!(
        out,
        "    group by {keys}, region = {region}, unit_id = u0.unit_id {{"
    );
    let (events, events_overlap) = if first_is_source {
        ("row_count()", rows_overlap)
    } else if rng.chance(50) {
        let agg = if events_summed_wrong {
            "max(u0.events)"
        } else {
            "sum(u0.events)"
        };
        (agg, rows_overlap || upstream_events)
    } else {
        ("count(u0.events > 0)", rows_overlap)
    };
    let amount = if amount_summed_wrong {
        "max(adjusted)"
    } else {
        "sum(adjusted)"
    };
    let score = *rng.pick(&[
        "avg(weighted)",
        "max(weighted)",
        "percentile(weighted, 0.95)",
    ]);
    let _ = writeln!(
        out,
        "      events = {events}\n      amount = {amount}\n      score = {score}\n    }}\n  }}\n"
    );

    // ---- quality
    out.push_str("  quality {\n");
    out.push_str("    require known_unit: u0.unit_id != \"\" else quarantine\n");
    if org {
        out.push_str("    require owner_known: not_null(org.owner) else quarantine\n");
    }
    if rng.chance(50) {
        out.push_str(
            "    require amount_in_range: between(u0.amount, -1000000, 1000000) else quarantine\n",
        );
    }
    let empty = if grain == Grain::TenantDay {
        "warn"
    } else {
        "fail partition"
    };
    let _ = writeln!(out, "    expect row_count() > 0 else {empty}");
    let _ = writeln!(out, "    expect null_rate(region) < 0.01 else warn");
    if grain == Grain::Month {
        out.push_str("    expect max(score) < 1000000.0 else manual review\n");
    }
    out.push_str("  }\n\n");

    // ---- reconcile
    out.push_str("  reconcile {\n    input == accepted + quarantined + duplicates\n");
    if ups.len() == 1 {
        out.push_str("    control_total: sum(amount) == sum(u0.amount) within 0.01\n");
    } else {
        out.push_str("    control_total: sum(amount) >= sum(u0.amount) within 0.5%\n");
    }
    // Completeness counts the partitions of a dataset input; a source has
    // none to count (E0143).
    let dataset_first = matches!(ups[0], Up::Dataset(_));
    if window && dataset_first {
        out.push_str("    window_complete: partition_count(u0) == 30\n");
    }
    if grain == Grain::Month && up_grain(&ups[0]) != Grain::Month && dataset_first {
        out.push_str("    month_complete: partition_count(u0) == days_in_month(p)\n");
    }
    out.push_str("  }\n");

    // ---- closing and corrections
    if grain == Grain::Month {
        let _ = writeln!(
            out,
            "\n  closed after month_end(p) + {}d\n  restate with reason",
            3 + rng.below(5)
        );
    }
    if grain == Grain::Month || rng.chance(50) {
        out.push_str("  corrections {\n    within lookback => recompute\n");
        if grain == Grain::Month {
            out.push_str("    closed period => restate\n");
        }
        out.push_str("    unknown impact => plan first\n  }\n");
    }
    out.push_str("}\n\n");
    Overlaps {
        events: events_overlap,
        // A maximum adds up no better than an overlapping sum.
        amount: rows_overlap || upstream_amount,
    }
}
