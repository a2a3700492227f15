//! Operating a project: `bplc status`, `bplc run-due` and `bplc metrics`,
//! run as users run them against a small project whose schedules declare
//! an `sla`.

mod runtime_support;

use runtime_support::{reading, readings_source, Project};
use serde_json::Value;

/// A source, a daily dataset that holds a suspicious total for review, and
/// a summary over two days of it.
fn project() -> Project {
    let source = readings_source("readings");
    let spec = format!(
        r#"{source}
dataset daily {{
  version 1
  partition by day: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 1d sla 2h

  input r = readings where day == p

  compute {{
    from r
    group by day = p {{
      total = sum(r.v)
      n = row_count()
    }}
  }}

  quality {{
    expect row_count() > 0 else fail partition
    expect sum(total) < 1000 else manual review
  }}
}}

dataset summary {{
  version 1
  partition by day: date
  publish replace
  schedule daily at 03:00 "UTC" sla 4h

  input d = daily where day in [p - 1d, p]

  compute {{
    from d
    group by day = p {{
      total = sum(d.total)
    }}
  }}
}}
"#
    );
    let p = Project::new(&[("specs.bpl", &spec)]);
    p.warehouse()
        .execute_batch("CREATE TABLE readings(id TEXT, v INTEGER, day TEXT, at TEXT);")
        .unwrap();
    for (id, v, day) in [
        ("z", 1, "2026-07-02"),
        ("a", 5, "2026-07-03"),
        ("b", 7, "2026-07-04"),
    ] {
        reading(&p, id, v, day);
    }
    p
}

fn run(p: &Project, dataset: &str, date: &str, as_of: &str) -> (i32, Value) {
    p.json(&["run", dataset, "--date", date, "--as-of", as_of])
}

/// Runs 4 July of `daily` again at 04:00, after a suspicious reading: the
/// run is held for review. Returns its manifest.
fn rerun_held(p: &Project) -> Value {
    let (code, held) = p.json(&[
        "run",
        "daily",
        "--date",
        "2026-07-04",
        "--no-lookback",
        "--as-of",
        "2026-07-05T04:00:00Z",
    ]);
    assert_eq!(code, 1, "{held:#}");
    assert_eq!(held["status"], "HELD");
    held
}

/// `bplc run-due --as-of T`.
fn run_due(p: &Project, as_of: &str) -> (i32, Value) {
    p.json(&["run-due", "--as-of", as_of])
}

/// `bplc status [DATASET] --as-of T`.
fn status(p: &Project, as_of: &str) -> (i32, Value) {
    p.json(&["status", "--as-of", as_of])
}

fn status_of(p: &Project, dataset: &str, as_of: &str) -> (i32, Value) {
    p.json(&["status", dataset, "--as-of", as_of])
}

/// The state of one partition in a status report.
fn state<'a>(report: &'a Value, dataset: &str, partition: &str) -> &'a Value {
    report["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == dataset)
        .and_then(|d| {
            d["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["partition"] == partition)
        })
        .unwrap_or_else(|| panic!("no {dataset} {partition} in {report:#}"))
}

#[test]
fn status_needs_a_ledger_and_a_time() {
    let p = project();
    let (code, out) = status(&p, "2026-07-05T02:00:00Z");
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(out["error"]["code"], "E0351", "{out:#}");
    assert!(!p.ledger_path().exists(), "a status never creates a ledger");
    let (code, out) = status(&p, "yesterday");
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(out["error"]["code"], "E0350", "{out:#}");
}

#[test]
fn a_scheduled_partition_is_due_then_late_then_fresh() {
    let p = project();
    // Before the firing of 4 July 01:00 (for 3 July).
    let (code, out) = run(&p, "daily", "2026-07-03", "2026-07-04T00:30:00Z");
    assert_eq!(code, 0, "{out:#}");

    // 5 July 02:00: the 01:00 firing (run date 4 July, lookback 1d) has
    // not run; its sla of 2h has not passed.
    let (code, out) = status_of(&p, "daily", "2026-07-05T02:00:00Z");
    assert_eq!(code, 0, "{out:#}");
    let daily = &out["datasets"][0];
    assert_eq!(daily["dataset"], "daily");
    assert_eq!(daily["scheduled_at"], "2026-07-05T01:00:00Z");
    assert_eq!(daily["run_date"], "2026-07-04");
    assert_eq!(daily["sla_deadline"], "2026-07-05T03:00:00Z");
    assert_eq!(state(&out, "daily", "2026-07-03")["state"], "due");
    assert_eq!(state(&out, "daily", "2026-07-03")["rows"], 1);
    assert_eq!(state(&out, "daily", "2026-07-03")["age_seconds"], 91_800);
    assert_eq!(state(&out, "daily", "2026-07-04")["state"], "due");
    assert_eq!(state(&out, "daily", "2026-07-04")["last_run"], Value::Null);

    // Past the deadline: late, and the exit code says so.
    let (code, out) = status_of(&p, "daily", "2026-07-05T03:30:00Z");
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(state(&out, "daily", "2026-07-04")["state"], "late");
    assert_eq!(state(&out, "daily", "2026-07-04")["alert"], true);
    assert_eq!(out["counts"]["late"], 2, "{out:#}");

    // The scheduled run: both partitions fresh again.
    let (code, out) = run(&p, "daily", "2026-07-04", "2026-07-05T03:30:00Z");
    assert_eq!(code, 0, "{out:#}");
    let (code, out) = status_of(&p, "daily", "2026-07-05T03:40:00Z");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(state(&out, "daily", "2026-07-03")["state"], "fresh");
    assert_eq!(state(&out, "daily", "2026-07-04")["state"], "fresh");
    assert_eq!(state(&out, "daily", "2026-07-04")["age_seconds"], 600);

    // The text names each state and the run; consecutive fresh
    // partitions of one run share a line.
    let (code, text, _) = p.text(&["status", "daily", "--as-of", "2026-07-05T03:40:00Z"]);
    assert_eq!(code, 0);
    assert!(
        text.contains(
            "  2026-07-02                  fresh   run-000001 PUBLISHED 27h ago, 1 rows\n  2026-07-03..2026-07-04 (2)  fresh   run-000002 PUBLISHED 10m ago, 2 rows\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("summary"),
        "only the datasets asked for:\n{text}"
    );
}

#[test]
fn approving_a_held_run_makes_its_readers_stale() {
    let p = project();
    for date in ["2026-07-03", "2026-07-04"] {
        assert_eq!(run(&p, "daily", date, "2026-07-05T01:10:00Z").0, 0);
    }
    assert_eq!(
        run(&p, "summary", "2026-07-04", "2026-07-05T03:10:00Z").0,
        0
    );
    let (code, out) = status(&p, "2026-07-05T03:20:00Z");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(state(&out, "summary", "2026-07-04")["state"], "fresh");

    // A late, suspicious reading: the rerun of 4 July is held for review.
    reading(&p, "c", 5000, "2026-07-04");
    let held = rerun_held(&p);
    let run_id = held["run_id"].as_str().unwrap().to_string();
    let (code, out) = status(&p, "2026-07-05T04:10:00Z");
    assert_eq!(code, 1, "a held run needs attention: {out:#}");
    let daily = state(&out, "daily", "2026-07-04");
    assert_eq!(daily["state"], "held");
    assert_eq!(daily["last_run"], run_id.as_str());
    // Readers still see the published version, and are not stale yet.
    assert_eq!(daily["rows"], 1);
    assert_eq!(state(&out, "summary", "2026-07-04")["state"], "fresh");

    let (code, out) = p.json(&["approve", &run_id, "--by", "ann", "--reason", "checked"]);
    assert_eq!(code, 0, "{out:#}");
    let (code, out) = status(&p, "2026-07-05T05:00:00Z");
    assert_eq!(code, 0, "stale within the sla: {out:#}");
    let summary = state(&out, "summary", "2026-07-04");
    assert_eq!(summary["state"], "stale", "{out:#}");
    let because = &summary["stale_because"][0];
    assert_eq!(because["upstream"], "daily");
    assert_eq!(because["via"], "input");
    assert_eq!(because["alias"], "d");
    assert_eq!(because["run"], run_id.as_str());
    assert_eq!(because["changed"], "2026-07-04");
    assert_eq!(because["since"], "2026-07-05T04:00:00Z");
    // Not the partition that does not read 4 July.
    assert_eq!(state(&out, "daily", "2026-07-04")["state"], "fresh");

    // Four hours after the change it is past the summary's sla of 4h.
    let (code, out) = status(&p, "2026-07-05T08:30:00Z");
    assert_eq!(code, 1, "{out:#}");
    let summary = state(&out, "summary", "2026-07-04");
    assert_eq!(summary["state"], "stale");
    assert_eq!(summary["alert"], true);
    let (_, text, _) = p.text(&["status", "summary", "--as-of", "2026-07-05T05:00:00Z"]);
    assert!(
        text.contains(&format!(
            "because daily 2026-07-04 published again by {run_id} (input d)"
        )),
        "{text}"
    );
}

#[test]
fn a_job_version_bump_makes_every_partition_stale() {
    let p = project();
    assert_eq!(run(&p, "daily", "2026-07-04", "2026-07-05T01:10:00Z").0, 0);
    let spec = std::fs::read_to_string(p.path().join("specs.bpl")).unwrap();
    let bumped = spec.replacen("version 1", "version 2", 1);
    std::fs::write(p.path().join("specs.bpl"), bumped).unwrap();
    let (_, out) = status(&p, "2026-07-05T01:20:00Z");
    let daily = state(&out, "daily", "2026-07-04");
    assert_eq!(daily["state"], "stale", "{out:#}");
    assert_eq!(daily["stale_because"][0]["via"], "version");
}

/// The runs of a `run-due` report: `[dataset, dates, status]`.
fn started(report: &Value) -> Vec<[String; 3]> {
    report["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|r| ["dataset", "dates", "status"].map(|k| r[k].as_str().unwrap_or("").to_string()))
        .collect()
}

fn run_count(p: &Project) -> usize {
    if !p.ledger_path().exists() {
        return 0;
    }
    let c = rusqlite::Connection::open(p.ledger_path()).unwrap();
    c.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}

#[test]
fn run_due_runs_what_is_due_in_dependency_order_once() {
    let p = project();
    let (code, dry) = p.json(&["run-due", "--as-of", "2026-07-05T03:30:00Z", "--dry-run"]);
    assert_eq!(code, 0, "{dry:#}");
    assert_eq!(run_count(&p), 0, "a dry run runs nothing");
    assert_eq!(
        started(&dry),
        [
            ["daily", "2026-07-03..2026-07-04", ""],
            ["summary", "2026-07-04", ""],
        ]
    );
    assert_eq!(
        dry["runs"][0]["partitions"][0],
        serde_json::json!(["2026-07-03", "late"])
    );

    let (code, out) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(
        started(&out),
        [
            ["daily", "2026-07-03..2026-07-04", "PUBLISHED"],
            ["summary", "2026-07-04", "PUBLISHED"],
        ]
    );
    // Idempotent: a second call right after finds nothing to do.
    let (code, again) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 0, "{again:#}");
    assert!(started(&again).is_empty(), "{again:#}");
    assert_eq!(run_count(&p), 2);
    let (code, out) = status(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(out["counts"]["fresh"], 3, "{out:#}");
    // The runs are stamped with the processing time they were due at.
    let (_, runs) = p.json(&["show", "run-000002"]);
    assert_eq!(runs["parameters"]["as_of"], "2026-07-05 03:30:00");
}

#[test]
fn run_due_skips_held_partitions_and_reruns_what_became_stale() {
    let p = project();
    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    reading(&p, "c", 5000, "2026-07-04");
    let held = rerun_held(&p);
    let run_id = held["run_id"].as_str().unwrap().to_string();

    // The next day's firing: 5 July is due, 4 July held and left alone.
    let (code, out) = p.json(&["run-due", "--as-of", "2026-07-06T01:30:00Z", "--dry-run"]);
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(
        out["skipped"][0],
        serde_json::json!({
            "dataset": "daily",
            "partition": "2026-07-04",
            "state": "held",
            "reason": held["error"],
        }),
        "{out:#}"
    );
    assert_eq!(started(&out)[0][1], "2026-07-05");

    // Approved: the summary that read 4 July is stale, and run again.
    assert_eq!(p.json(&["approve", &run_id, "--by", "ann"]).0, 0);
    let (code, out) = run_due(&p, "2026-07-05T05:00:00Z");
    assert_eq!(code, 0, "{out:#}");
    assert_eq!(started(&out), [["summary", "2026-07-04", "PUBLISHED"]]);
    assert_eq!(
        out["runs"][0]["partitions"][0],
        serde_json::json!(["2026-07-04", "stale"])
    );
    let (_, out) = status(&p, "2026-07-05T05:00:00Z");
    assert_eq!(
        state(&out, "summary", "2026-07-04")["state"],
        "fresh",
        "{out:#}"
    );
}

#[test]
fn two_run_due_callers_never_overlap() {
    let p = project();
    std::fs::create_dir_all(p.path().join("target")).unwrap();
    // Another caller holds the lock next to the ledger.
    let lock =
        rusqlite::Connection::open(p.path().join("target/ledger.sqlite.run-due.lock")).unwrap();
    lock.execute_batch("CREATE TABLE IF NOT EXISTS run_due (pid INTEGER); BEGIN EXCLUSIVE")
        .unwrap();
    let (code, out) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(out["error"]["code"], "E0352", "{out:#}");
    assert_eq!(run_count(&p), 0);
    // A dry run takes no lock.
    assert_eq!(
        p.json(&["run-due", "--as-of", "2026-07-05T03:30:00Z", "--dry-run"])
            .0,
        0
    );
    drop(lock);
    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    assert_eq!(run_count(&p), 2);
}

/// A sample's value by metric name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(prometheus_parse::Value::Gauge(v)) | Some(prometheus_parse::Value::Counter(v)) => *v,
        other => panic!("{name} {labels:?}: {other:?}"),
    }
}

/// Asserts one sample's value.
fn expect(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)], value: f64) {
    assert_eq!(sample(scrape, name, labels), value, "{name} {labels:?}");
}

fn scrape(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("the exposition parses")
}

#[test]
fn metrics_are_prometheus_text_that_agrees_with_the_ledger() {
    let p = project();
    let (code, out) = p.json(&["metrics"]);
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(out["error"]["code"], "E0351");

    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    reading(&p, "c", 5000, "2026-07-04");
    reading(&p, "d", 1, "2026-07-04");
    let held = rerun_held(&p);

    let file = p.path().join("bplc.prom");
    let (code, stdout, stderr) = p.text(&[
        "metrics",
        "--as-of",
        "2026-07-05T04:10:00Z",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let text = std::fs::read_to_string(&file).unwrap();
    let s = scrape(&text);
    // Every family is documented and typed.
    assert_eq!(s.docs.len(), 15, "{text}");
    for d in s.docs.keys() {
        assert!(d.starts_with("bplc_"), "{d}");
    }

    let daily = [("dataset", "daily")];
    // The held run is the latest finished one: its counters, and the
    // manual review rule that failed.
    let counters = &held["outputs"][0]["counters"];
    assert_eq!(held["outputs"].as_array().unwrap().len(), 1);
    for (metric, counter) in [
        ("bplc_dataset_last_run_input_rows", "input"),
        ("bplc_dataset_last_run_output_rows", "output"),
        ("bplc_dataset_last_run_quarantined_rows", "quarantined"),
        ("bplc_dataset_last_run_duplicate_rows", "duplicates"),
    ] {
        assert_eq!(
            sample(&s, metric, &daily),
            counters[counter].as_f64().unwrap(),
            "{metric}"
        );
    }
    assert_eq!(counters["input"], 3, "{held:#}");
    expect(&s, "bplc_dataset_last_run_gate_failures", &daily, 1.0);
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "HELD")],
        1.0,
    );
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "PUBLISHED")],
        1.0,
    );
    expect(
        &s,
        "bplc_dataset_partitions",
        &[("dataset", "daily"), ("state", "held")],
        1.0,
    );
    expect(&s, "bplc_status_alerts", &[], 1.0);
    expect(
        &s,
        "bplc_partition_rows",
        &[("dataset", "daily"), ("partition", "2026-07-03")],
        1.0,
    );
    // Its size, as the run that published it measured it; a partition of
    // one row is small.
    let measured = (1..=4)
        .map(|n| p.json(&["show", &format!("run-{n:06}")]).1)
        .filter(|m| m["dataset"] == "daily")
        .flat_map(|m| m["outputs"].as_array().cloned().unwrap_or_default())
        .find(|o| o["partition"] == "2026-07-03" && o["published"] == true)
        .and_then(|o| o["bytes"].as_f64())
        .expect("the published 2026-07-03 says its size");
    assert!(measured > 0.0);
    expect(
        &s,
        "bplc_partition_bytes",
        &[("dataset", "daily"), ("partition", "2026-07-03")],
        measured,
    );
    assert!(sample(&s, "bplc_dataset_small_partitions", &daily) >= 1.0);
    // The last success is the run-due run's finish, in Unix seconds.
    let (_, first) = p.json(&["show", "run-000001"]);
    let finished =
        chrono::DateTime::parse_from_rfc3339(first["times"]["finished"].as_str().unwrap()).unwrap();
    let success = sample(&s, "bplc_dataset_last_success_timestamp_seconds", &daily);
    assert!(
        (success - finished.timestamp_millis() as f64 / 1000.0).abs() < 0.001,
        "{success}"
    );

    // Approved: the summary is stale, for as long as since the change.
    let run_id = held["run_id"].as_str().unwrap();
    assert_eq!(p.json(&["approve", run_id, "--by", "ann"]).0, 0);
    let (code, text, _) = p.text(&["metrics", "--as-of", "2026-07-05T05:00:00Z"]);
    assert_eq!(code, 0);
    let s = scrape(&text);
    expect(
        &s,
        "bplc_dataset_staleness_seconds",
        &[("dataset", "summary")],
        3600.0,
    );
    expect(
        &s,
        "bplc_dataset_partitions",
        &[("dataset", "summary"), ("state", "stale")],
        1.0,
    );
    expect(&s, "bplc_status_alerts", &[], 0.0);
    // No temporary file is left beside the output.
    let names: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("prom"))
        .collect();
    assert_eq!(names, ["bplc.prom"]);
}

#[test]
fn metrics_to_a_directory_that_does_not_exist_is_refused() {
    let p = project();
    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    let out = p.path().join("no/such/dir/bplc.prom");
    let (code, json) = p.json(&["metrics", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{json:#}");
    assert_eq!(json["error"]["code"], "E0353", "{json:#}");
}

#[test]
fn the_metrics_file_of_bpl_toml_is_rewritten_after_runs() {
    let p = project();
    let toml = p.path().join("bpl.toml");
    let mut config = std::fs::read_to_string(&toml).unwrap();
    config.push_str("metrics = \"target/textfile/bplc.prom\"\n");
    std::fs::write(&toml, config).unwrap();
    // Its directory does not exist: refused before anything runs.
    let (code, out) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(out["error"]["code"], "E0353", "{out:#}");
    let (code, out) = run(&p, "daily", "2026-07-04", "2026-07-05T03:30:00Z");
    assert_eq!(code, 2, "{out:#}");
    assert_eq!(run_count(&p), 0);

    std::fs::create_dir_all(p.path().join("target/textfile")).unwrap();
    let file = p.path().join("target/textfile/bplc.prom");
    assert_eq!(run(&p, "daily", "2026-07-03", "2026-07-04T03:30:00Z").0, 0);
    let s = scrape(&std::fs::read_to_string(&file).unwrap());
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "PUBLISHED")],
        1.0,
    );
    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    let s = scrape(&std::fs::read_to_string(&file).unwrap());
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "PUBLISHED")],
        2.0,
    );
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "summary"), ("status", "PUBLISHED")],
        1.0,
    );
    // Approving a held run rewrites it too.
    reading(&p, "c", 5000, "2026-07-04");
    let held = rerun_held(&p);
    let s = scrape(&std::fs::read_to_string(&file).unwrap());
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "HELD")],
        1.0,
    );
    let run_id = held["run_id"].as_str().unwrap();
    assert_eq!(p.json(&["approve", run_id, "--by", "ann"]).0, 0);
    let s = scrape(&std::fs::read_to_string(&file).unwrap());
    expect(
        &s,
        "bplc_runs",
        &[("dataset", "daily"), ("status", "PUBLISHED")],
        3.0,
    );
    assert!(!s
        .samples
        .iter()
        .any(|x| x.labels.get("status") == Some("HELD")));
}

/// The enforcement example's README: after loading two months, the morning
/// run of 5 July, and what is left for a person.
#[test]
fn the_enforcement_readme_operates_as_it_says() {
    let p = Project::example("enforcement_sla");
    assert_eq!(p.text(&["demo-data"]).0, 0);
    let (code, out) = p.json(&[
        "backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-01..2026-07-29",
        "--mode",
        "replace",
        "--as-of",
        "2026-07-01",
    ]);
    assert_eq!(code, 0, "{out:#}");
    let (code, out) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 1, "the dashboard's May fails: {out:#}");
    assert_eq!(
        started(&out),
        [
            ["silver_cases", "2026-07-01..2026-07-04", "PUBLISHED"],
            ["executive_dashboard", "2026-05", "FAILED"],
            [
                "case_sla_daily_metrics",
                "2026-07-01..2026-08-02",
                "PUBLISHED"
            ],
            ["case_daily_metrics", "2026-07-01..2026-07-04", "PUBLISHED"],
        ]
    );
    assert_eq!(out["skipped"][0]["partition"], "2026-07");
    assert_eq!(out["skipped"][0]["state"], "held");
    let (code, again) = run_due(&p, "2026-07-05T03:30:00Z");
    assert_eq!(code, 0, "{again:#}");
    assert!(started(&again).is_empty(), "{again:#}");

    let (code, text, _) = p.text(&["status", "--as-of", "2026-07-05T06:00:00Z"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.ends_with("1 held, 1 failed, 210 fresh; 2 need attention\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  2026-07-01..2026-08-02 (33)  fresh   run-000007 PUBLISHED 2h ago, 330 rows\n"
        ),
        "{text}"
    );
    // A unit moves region in the reference. The next run that binds it
    // sees other rows: every partition computed before is stale through
    // its binding, in both datasets that bind it.
    p.warehouse()
        .execute(
            "UPDATE org_units SET region = 'region-007' WHERE unit_id = 'unit-000' AND valid_to IS NULL",
            [],
        )
        .unwrap();
    let (code, out) = p.json(&[
        "run",
        "case_sla_daily_metrics",
        "--date",
        "2026-07-10",
        "--no-lookback",
        "--as-of",
        "2026-07-05T07:00:00Z",
    ]);
    assert_eq!(code, 0, "{out:#}");
    let (_, out) = status(&p, "2026-07-05T08:00:00Z");
    let june = state(&out, "executive_dashboard", "2026-06");
    assert_eq!(june["state"], "stale", "{out:#}");
    assert_eq!(
        june["stale_because"][0],
        serde_json::json!({
            "upstream": "org_hierarchy",
            "via": "bind",
            "alias": "units",
            "path": ["org_hierarchy", "executive_dashboard"],
            "run": "run-000009",
            "changed": "as of event time",
            "since": "2026-07-05T07:00:00Z",
        })
    );
    assert_eq!(
        state(&out, "case_sla_daily_metrics", "2026-06-01")["state"],
        "stale"
    );
    assert_eq!(
        state(&out, "case_sla_daily_metrics", "2026-07-10")["state"],
        "fresh"
    );
    // Nothing that does not bind it.
    assert_eq!(
        state(&out, "case_daily_metrics", "2026-06-01")["state"],
        "fresh"
    );
    let (_, text, _) = p.text(&[
        "status",
        "executive_dashboard",
        "--as-of",
        "2026-07-05T08:00:00Z",
    ]);
    assert!(
        text.contains("because reference org_hierarchy reads other rows as of event time (seen by run-000009; bind units)"),
        "{text}"
    );
}

/// The site's data, as `data.js` assigns it.
fn site_data(dir: &std::path::Path) -> Value {
    let js = std::fs::read_to_string(dir.join("data.js")).unwrap();
    let json = js
        .strip_prefix("window.BPLC = ")
        .and_then(|j| j.trim_end().strip_suffix(';'))
        .expect("data.js assigns window.BPLC");
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_lineage_site_holds_the_graph_contracts_runs_and_status() {
    let p = project();
    // Without a ledger: the graph and the contracts.
    let out = p.path().join("site");
    let (code, json) = p.json(&["docs", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["declarations"], 3);
    for file in ["index.html", "site.js", "site.css", "data.js"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let data = site_data(&out);
    assert_eq!(data["as_of"], Value::Null);
    let names: Vec<&str> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["readings", "daily", "summary"]);
    assert_eq!(
        data["edges"],
        serde_json::json!([
            {"from": "readings", "to": "daily", "label": "input r: p"},
            {"from": "daily", "to": "summary", "label": "input d: [p - 1d, p]"},
        ])
    );

    // With runs: each dataset's latest runs, quality trend and status.
    assert_eq!(run_due(&p, "2026-07-05T03:30:00Z").0, 0);
    reading(&p, "c", 5000, "2026-07-04");
    rerun_held(&p);
    let (code, _) = p.json(&[
        "docs",
        "--out",
        out.to_str().unwrap(),
        "--as-of",
        "2026-07-05T04:10:00Z",
    ]);
    assert_eq!(code, 0);
    let data = site_data(&out);
    let daily = &data["nodes"][1];
    assert_eq!(daily["kind"], "dataset");
    assert_eq!(daily["layer"], 1);
    let contract = daily["contract"].as_str().unwrap();
    assert!(
        contract.starts_with("dataset daily {\n  version 1\n"),
        "{contract}"
    );
    assert!(contract.ends_with("manual review\n  }\n}"), "{contract}");
    assert_eq!(daily["columns"][0], serde_json::json!(["day", "date"]));
    assert_eq!(daily["quality"].as_array().unwrap().len(), 2);
    assert_eq!(daily["runs"][0]["status"], "HELD");
    assert_eq!(daily["runs"][1]["status"], "PUBLISHED");
    // Both runs' checks, oldest first: the held one failed its review rule.
    assert_eq!(daily["trend"][1][2], 1, "{daily:#}");
    assert_eq!(
        daily["status"],
        serde_json::json!([["fresh", 1], ["held", 1]])
    );
    assert_eq!(daily["alerts"], 1);
    assert_eq!(data["nodes"][0]["kind"], "source");
    assert!(data["nodes"][0]["contract"]
        .as_str()
        .unwrap()
        .starts_with("source readings {"));

    // A file where the directory should be.
    let file = p.path().join("taken");
    std::fs::write(&file, "").unwrap();
    let (code, json) = p.json(&["docs", "--out", file.join("site").to_str().unwrap()]);
    assert_eq!(code, 2, "{json:#}");
    assert_eq!(json["error"]["code"], "E0354", "{json:#}");
}

#[test]
fn a_ledger_of_another_project_is_refused_and_nothing_runs() {
    let mine = project();
    let theirs = project();
    assert_eq!(
        run(&theirs, "daily", "2026-07-03", "2026-07-04T00:30:00Z").0,
        0
    );
    assert_eq!(
        run(&mine, "daily", "2026-07-03", "2026-07-04T00:30:00Z").0,
        0
    );
    std::fs::copy(theirs.ledger_path(), mine.ledger_path()).unwrap();
    let site = mine.path().join("site");
    for args in [
        &["status", "--as-of", "2026-07-05T03:30:00Z"][..],
        &["metrics"],
        &["run-due", "--as-of", "2026-07-05T03:30:00Z"],
        &["docs", "--out", site.to_str().unwrap()],
    ] {
        let (code, out) = mine.json(args);
        assert_eq!(code, 2, "{args:?}: {out:#}");
        assert_eq!(out["error"]["code"], "E0330", "{args:?}: {out:#}");
    }
    assert_eq!(run_count(&mine), 1, "nothing ran");
    assert!(!site.exists(), "nothing written");
}

#[test]
fn a_dataset_partitioned_by_run_gets_one_new_run_per_firing() {
    let p = project();
    let spec = std::fs::read_to_string(p.path().join("specs.bpl")).unwrap();
    let snapshot = r#"
dataset snapshot {
  version 1
  columns {
    run_id: string
    total: int
  }
  key run_id
  partition by run_id: run
  publish replace
  schedule daily at 05:00 "UTC"

  input d = daily all history

  compute {
    from d
    group by run_id = p {
      total = sum(d.total)
    }
  }
}
"#;
    std::fs::write(p.path().join("specs.bpl"), spec + snapshot).unwrap();
    let (code, out) = run_due(&p, "2026-07-05T05:30:00Z");
    assert_eq!(code, 0, "{out:#}");
    let snapshot_runs = |out: &Value| {
        started(out)
            .into_iter()
            .filter(|[d, ..]| d == "snapshot")
            .count()
    };
    assert_eq!(snapshot_runs(&out), 1, "{out:#}");
    // The daily runs published after nothing: the snapshot is not stale,
    // and a second call in the same firing does nothing.
    let (code, again) = run_due(&p, "2026-07-05T05:40:00Z");
    assert_eq!(code, 0, "{again:#}");
    assert!(started(&again).is_empty(), "{again:#}");
    // A later daily publication does not make the snapshot stale either.
    reading(&p, "x", 2, "2026-07-04");
    assert_eq!(
        p.json(&[
            "run",
            "daily",
            "--date",
            "2026-07-04",
            "--no-lookback",
            "--as-of",
            "2026-07-05T06:00:00Z"
        ])
        .0,
        0
    );
    let (_, out) = status(&p, "2026-07-05T06:10:00Z");
    let snapshot = out["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == "snapshot")
        .unwrap();
    assert_eq!(
        snapshot["counts"],
        serde_json::json!({"fresh": 1}),
        "{snapshot:#}"
    );
    let (_, later) = run_due(&p, "2026-07-05T06:20:00Z");
    assert!(
        started(&later).iter().all(|[d, ..]| d != "snapshot"),
        "{later:#}"
    );
    // The next firing: one new run.
    let (code, next) = run_due(&p, "2026-07-06T05:30:00Z");
    assert_eq!(code, 0, "{next:#}");
    assert_eq!(snapshot_runs(&next), 1, "{next:#}");
}

#[test]
fn a_failed_partition_waits_for_a_person_or_the_next_firing() {
    let p = project();
    let spec = std::fs::read_to_string(p.path().join("specs.bpl")).unwrap();
    let failing = spec.replace("else manual review", "else fail run");
    std::fs::write(p.path().join("specs.bpl"), failing).unwrap();
    reading(&p, "c", 5000, "2026-07-04");
    let (code, out) = run_due(&p, "2026-07-05T01:30:00Z");
    assert_eq!(code, 1, "{out:#}");
    assert_eq!(started(&out)[0][2], "FAILED", "{out:#}");
    // The same firing: failed, skipped, and status alerts.
    let (code, again) = run_due(&p, "2026-07-05T01:40:00Z");
    assert_eq!(code, 0, "{again:#}");
    assert!(started(&again).is_empty(), "{again:#}");
    assert_eq!(again["skipped"][0]["state"], "failed", "{again:#}");
    assert_eq!(status_of(&p, "daily", "2026-07-05T01:40:00Z").0, 1);

    // The input is fixed; the next firing retries what its window holds.
    p.warehouse()
        .execute("DELETE FROM readings WHERE id = 'c'", [])
        .unwrap();
    let (_, dry) = p.json(&["run-due", "--as-of", "2026-07-06T01:30:00Z", "--dry-run"]);
    let daily = &dry["runs"][0];
    assert_eq!(daily["dates"], "2026-07-04..2026-07-05", "{dry:#}");
    let (_, out) = status_of(&p, "daily", "2026-07-06T01:30:00Z");
    let retried = state(&out, "daily", "2026-07-04");
    assert_eq!(retried["state"], "due");
    assert!(
        retried["reason"]
            .as_str()
            .unwrap()
            .ends_with("(run-000001 FAILED before it)"),
        "{retried:#}"
    );
    // 3 July has left the window: it stays failed until a person reruns it.
    assert_eq!(state(&out, "daily", "2026-07-03")["state"], "failed");
}
