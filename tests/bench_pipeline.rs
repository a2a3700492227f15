//! The `pipeline` benchmark times `bplc` against a hand-written SQL
//! pipeline and checks they publish the same tables; neither the project,
//! the generator nor the SQL may drift, or the benchmark would time (or
//! compare) something else. This runs a tiny instance of each, untimed:
//! the project checks clean, the data has its promised shape, the
//! hand-written rerun agrees with a full build, and `bplc` publishes the
//! hand-written tables.

#[path = "../benches/pipeline/project.rs"]
mod project;

use std::path::Path;
use std::process::Command;

use bplc::cli::render;
use project::Spec;
use rusqlite::Connection;

/// One month of data: 30 daily, 30 + 29 rolling and 1 monthly partitions.
fn tiny(invalid_redeliveries: bool) -> Spec {
    Spec {
        rows: 3_000,
        months: 1,
        invalid_redeliveries,
    }
}

fn generated(spec: Spec) -> (Connection, project::Generated) {
    let c = Connection::open_in_memory().unwrap();
    let g = project::generate(&c, spec).unwrap();
    (c, g)
}

fn count(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_benchmark_project_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    project::write_project(dir.path()).unwrap();
    let checked = bplc::driver::check(dir.path()).unwrap();
    let rendered: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| render::text(&checked.project.sources, d, false))
        .collect();
    assert!(rendered.is_empty(), "{}", rendered.join("\n"));
    let program = checked.program.expect("a checked program");
    let mut names: Vec<&str> = program.datasets().map(|d| d.name.as_str()).collect();
    names.sort();
    let mut tables: Vec<&str> = project::TABLES.iter().map(|t| t.0).collect();
    tables.sort();
    assert_eq!(names, tables, "the benchmark compares every dataset");
}

#[test]
fn the_data_has_the_shape_the_benchmark_promises() {
    let spec = Spec::new(20_000);
    let (c, g) = generated(spec);
    assert_eq!(g.rows + g.late, 20_000);
    // ~2% redeliveries, ~1% invalid rows, some invalid redeliveries.
    assert_eq!(g.redeliveries, 400);
    assert!((150..=250).contains(&g.invalid), "{g:?}");
    assert_eq!(g.order_sensitive, 40, "every 500th delivery");
    // The late batch: only the rerun's days, ingested after the build.
    assert!(g.late > 0, "{g:?}");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM raw_events_late WHERE event_date < '2026-06-28'"
        ),
        0
    );
    // Late arrivals in the build's rows too: ingested a day or more later.
    assert!(
        count(
            &c,
            "SELECT count(*) FROM raw_events WHERE julianday(ingested_at) - julianday(event_time) >= 1"
        ) > 100
    );
    assert_eq!(
        count(&c, "SELECT count(DISTINCT event_date) FROM raw_events"),
        91
    );
    assert!(count(&c, "SELECT count(DISTINCT unit_id) FROM raw_events") >= 990);
    // One unit in ten moves region inside the range.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM unit_regions WHERE valid_to BETWEEN '2026-04-01' AND '2026-07-01'"
        ),
        100
    );
}

#[test]
fn generation_is_deterministic() {
    let digest = |spec: Spec| {
        let (c, _) = generated(spec);
        c.query_row(
            "SELECT group_concat(event_id || unit_id || amount || ingested_at, ',') FROM
               (SELECT * FROM raw_events UNION ALL SELECT * FROM raw_events_late
                ORDER BY event_id, ingested_at)",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap()
    };
    assert_eq!(digest(tiny(true)), digest(tiny(true)));
    assert_ne!(digest(tiny(true)), digest(tiny(false)));
}

#[test]
fn the_hand_written_rules_run_before_the_dedupe() {
    let (c, g) = generated(tiny(true));
    project::full_build(&c, tiny(true)).unwrap();
    assert!(g.order_sensitive > 0);
    // One row per valid event, each its latest valid delivery.
    assert_eq!(
        count(&c, "SELECT count(*) FROM staged_events"),
        count(
            &c,
            "SELECT count(DISTINCT event_id) FROM raw_events
             WHERE unit_id IS NOT NULL AND amount >= 0"
        )
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM staged_events AS s
             WHERE unit_id IS NULL OR amount < 0
                OR amount <> (SELECT r.amount FROM raw_events AS r
                              WHERE r.event_id = s.event_id
                                AND r.unit_id IS NOT NULL AND r.amount >= 0
                              ORDER BY r.ingested_at DESC LIMIT 1)"
        ),
        0
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM raw_events_rejected"),
        count(
            &c,
            "SELECT count(*) FROM raw_events WHERE unit_id IS NULL OR amount < 0"
        )
    );
    // The roll-ups add up the daily figures.
    assert_eq!(
        count(&c, "SELECT sum(events) FROM region_monthly"),
        count(&c, "SELECT count(*) FROM staged_events")
    );
    assert_eq!(
        count(
            &c,
            "SELECT sum(events) FROM region_rolling_30d WHERE event_date = '2026-06-30'"
        ),
        count(&c, "SELECT count(*) FROM staged_events")
    );
}

/// Attaches `other` as `hand` and compares the tables.
fn compare(main: &Connection, other: &Path) -> Vec<project::TableDiff> {
    main.execute("ATTACH DATABASE ?1 AS hand", [other.to_string_lossy()])
        .unwrap();
    let diffs = project::compare(main).unwrap();
    main.execute("DETACH DATABASE hand", []).unwrap();
    diffs
}

#[test]
fn the_hand_written_rerun_gives_what_a_full_build_gives() {
    let dir = tempfile::tempdir().unwrap();
    let spec = tiny(true);
    let (incremental, full) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
    let a = Connection::open(&incremental).unwrap();
    let g = project::generate(&a, spec).unwrap();
    assert!(g.late > 0, "the rerun has late rows to pick up");
    project::full_build(&a, spec).unwrap();
    let before = count(&a, "SELECT count(*) FROM staged_events");
    project::load_late(&a).unwrap();
    project::rerun(&a, spec).unwrap();
    assert!(count(&a, "SELECT count(*) FROM staged_events") > before);
    let b = Connection::open(&full).unwrap();
    project::generate(&b, spec).unwrap();
    project::load_late(&b).unwrap();
    project::full_build(&b, spec).unwrap();
    drop(b);
    let diffs = compare(&a, &full);
    assert!(diffs.iter().all(|d| d.equal()), "{diffs:#?}");
}

/// `bplc backfill` of the benchmark's step, which must publish everything.
fn backfill(dir: &Path, range: &str, as_of: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_bplc"))
        .env("NO_COLOR", "1")
        .env_remove("BPLC_FAULT")
        .args(["--color", "never", "--format", "json", "backfill"])
        .args([
            "--from",
            "raw_events",
            "--range",
            range,
            "--mode",
            "replace",
        ])
        .args(["--as-of", as_of, "--project"])
        .arg(dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(report["status"], "complete", "{report}");
    report
}

#[test]
fn bplc_publishes_the_hand_written_tables() {
    // Invalid redeliveries included: the row rules must run before the
    // dedupe, or events whose latest delivery is invalid are lost.
    let spec = tiny(true);
    let dir = tempfile::tempdir().unwrap();
    project::write_project(dir.path()).unwrap();
    let warehouse = dir.path().join("target/warehouse.sqlite");
    let hand = dir.path().join("hand.sqlite");
    {
        let c = Connection::open(&warehouse).unwrap();
        project::generate(&c, spec).unwrap();
    }
    std::fs::copy(&warehouse, &hand).unwrap();
    let by_hand = Connection::open(&hand).unwrap();
    project::full_build(&by_hand, spec).unwrap();

    let report = backfill(dir.path(), &spec.build_range(), project::BUILD_AS_OF);
    assert_eq!(report["totals"]["published"], 30 + 30 + 59 + 1, "{report}");
    let c = Connection::open(&warehouse).unwrap();
    let diffs = compare(&c, &hand);
    assert!(diffs.iter().all(|d| d.equal()), "{diffs:#?}");

    project::load_late(&c).unwrap();
    project::load_late(&by_hand).unwrap();
    project::rerun(&by_hand, spec).unwrap();
    drop(by_hand);
    let report = backfill(dir.path(), &spec.rerun_range(), project::RERUN_AS_OF);
    assert_eq!(report["totals"]["published"], 3 + 3 + 32 + 1, "{report}");
    let diffs = compare(&c, &hand);
    assert!(diffs.iter().all(|d| d.equal()), "{diffs:#?}");
}

#[test]
fn a_dedupe_before_the_rules_loses_exactly_the_order_sensitive_events() {
    // What the benchmark reports when `bplc` dedupes first: the staged rows
    // it misses, explained by `missing_order_sensitive`.
    let dir = tempfile::tempdir().unwrap();
    let hand = dir.path().join("hand.sqlite");
    {
        let c = Connection::open(&hand).unwrap();
        project::generate(&c, tiny(true)).unwrap();
        project::full_build(&c, tiny(true)).unwrap();
    }
    let c = Connection::open_in_memory().unwrap();
    c.execute("ATTACH DATABASE ?1 AS hand", [hand.to_string_lossy()])
        .unwrap();
    c.execute_batch(
        "CREATE TABLE main.staged_events AS
         SELECT event_id FROM (SELECT *, row_number() OVER (PARTITION BY event_id
                                                            ORDER BY ingested_at DESC) AS rn
                               FROM hand.raw_events)
         WHERE rn = 1 AND unit_id IS NOT NULL AND amount >= 0",
    )
    .unwrap();
    let lost = count(&c, "SELECT count(*) FROM hand.staged_events")
        - count(&c, "SELECT count(*) FROM main.staged_events");
    assert!(lost > 0);
    assert_eq!(project::missing_order_sensitive(&c).unwrap(), lost);
}
