//! Backfills end to end on examples/enforcement_sla, on every engine: an
//! initial load, a month held back by its completeness gate, a correction
//! inside a closed month planned, shadowed, compared and restated; a
//! failure that stops only its dependants, and the resumed backfill that
//! finishes with the same result as an uninterrupted one.

use serde_json::Value;

use super::runtime_support::enforcement_season_sql;
use super::{Engine, Project};

/// examples/enforcement_sla on `engine` with a season of source rows.
fn season(engine: Engine) -> Project {
    let p = Project::example(engine, "enforcement_sla");
    p.exec(&enforcement_season_sql());
    p
}

/// A source's range is in UTC days; silver_cases reads them as Jakarta days
/// (UTC+7), so UTC 06-01..07-30 reach Jakarta 06-01..07-31.
const LOAD: &[&str] = &[
    "backfill",
    "--from",
    "raw_case_events",
    "--range",
    "2026-06-01..2026-07-30",
    "--mode",
    "replace",
    "--as-of",
    "2026-07-01",
];

fn loaded(engine: Engine) -> Project {
    let p = season(engine);
    let (code, report) = p.json(LOAD);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["status"], "complete");
    // The 30-day window spills into August; the dashboard, which counts
    // the cases of its own month, does not.
    let all = outcomes(&report);
    expect_outcomes(
        &all,
        &[
            ("case_sla_daily_metrics", "2026-08-29", "published"),
            ("executive_dashboard", "2026-07", "published"),
        ],
    );
    assert!(!all
        .iter()
        .any(|(d, p, _)| d == "executive_dashboard" && p == "2026-08"));
    p
}

/// `(dataset, partition) -> outcome` of a backfill report.
fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["partitions"].as_array().unwrap().iter().map(move |p| {
                (
                    s["dataset"].as_str().unwrap().to_string(),
                    p["partition"].as_str().unwrap().to_string(),
                    p["outcome"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

fn outcome_of<'a>(all: &'a [(String, String, String)], dataset: &str, partition: &str) -> &'a str {
    &all.iter()
        .find(|(d, p, _)| d == dataset && p == partition)
        .unwrap_or_else(|| panic!("{dataset} {partition} is in the report"))
        .2
}

/// Asserts each `(dataset, partition, outcome)` of a backfill report.
fn expect_outcomes(all: &[(String, String, String)], expected: &[(&str, &str, &str)]) {
    for (dataset, partition, outcome) in expected {
        assert_eq!(
            outcome_of(all, dataset, partition),
            *outcome,
            "{dataset} {partition}"
        );
    }
}

/// The late correction: the case closed on 2026-06-15 was opened 60 hours
/// before, not 4: it breaches the 48-hour SLA.
fn correct_june_15(p: &Project) {
    p.exec(
        "UPDATE raw_case_events SET opened_at = '2026-06-12 17:00:00', ingested_at = '2026-07-19 00:00:00'
         WHERE case_id = 'c2026-06-15' AND kind = 'closed'",
    );
    assert_eq!(
        p.count("SELECT count(*) FROM raw_case_events WHERE opened_at = '2026-06-12 17:00:00'"),
        1
    );
}

const CHANGE: &[&str] = &[
    "--from",
    "raw_case_events",
    "--range",
    "2026-06-15..2026-06-15",
    "--as-of",
    "2026-07-20",
];

fn backfill(p: &Project, mode: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["backfill"];
    args.extend_from_slice(CHANGE);
    args.extend_from_slice(&["--mode", mode]);
    args.extend_from_slice(extra);
    p.json(&args)
}

pub fn the_initial_load_publishes_every_open_partition(engine: Engine) {
    let p = loaded(engine);
    assert_eq!(p.count("SELECT count(*) FROM silver_cases"), 61 * 4);
    assert_eq!(p.count("SELECT count(*) FROM case_daily_metrics"), 61);
    assert_eq!(
        p.rows("SELECT report_month, closed_cases, breaches FROM executive_dashboard"),
        [
            // One case closes each day: the month's cases, counted once.
            "2026-06|30|0".to_string(),
            "2026-07|31|0".to_string()
        ]
    );
    // Resuming a finished backfill does nothing again.
    let (code, again) = p.json(LOAD);
    assert_eq!(code, 0);
    assert_eq!(again["resumed"], true);
    assert!(outcomes(&again)
        .iter()
        .all(|(_, _, o)| o == "already_done" || o == "withheld"));
}

pub fn a_month_missing_a_day_is_withheld_by_its_completeness_gate(engine: Engine) {
    let p = season(engine);
    // UTC days, read as Jakarta days: UTC 07-29 reaches Jakarta 07-30, and
    // nothing reaches July's last day.
    let mut short = LOAD.to_vec();
    short[4] = "2026-06-01..2026-07-29";
    let (code, report) = p.json(&short);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["status"], "complete");
    let all = outcomes(&report);
    assert_eq!(
        outcome_of(&all, "executive_dashboard", "2026-06"),
        "published"
    );
    // 30 days of July's cases: `partition_count(cases) == days_in_month(p)`
    // withholds July. Not "held": `bplc runs` says FAILED for that run,
    // and HELD is a run waiting for review.
    assert_eq!(
        outcome_of(&all, "executive_dashboard", "2026-07"),
        "withheld"
    );
    assert_eq!(
        p.rows("SELECT report_month FROM executive_dashboard"),
        ["2026-06"]
    );
}

pub fn a_correction_in_a_closed_month_is_shadowed_compared_and_restated(engine: Engine) {
    let p = loaded(engine);
    let published_before = p.rows("SELECT * FROM executive_dashboard");
    correct_june_15(&p);

    // Replace refuses the closed month and says how to restate it.
    let (code, plan) = p.json(&[
        "plan-backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-15",
        "--mode",
        "replace",
        "--as-of",
        "2026-07-20",
    ]);
    assert_eq!(code, 0);
    let june = plan["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == "executive_dashboard")
        .and_then(|d| d["actions"].as_array())
        .and_then(|a| a.iter().find(|a| a["action"] == "skip"))
        .unwrap();
    assert!(june["why"].as_str().unwrap().contains("restatement"));

    // Shadow: computed beside the published data, which does not change.
    let (code, shadow) = backfill(&p, "shadow", &[]);
    assert_eq!(code, 0, "{shadow}");
    let all = outcomes(&shadow);
    // UTC day 06-15 is Jakarta 06-15 07:00 to 06-16 06:59: two days of
    // silver_cases and case_daily_metrics, a 30-day window from each, and
    // June's dashboard (both days are in June).
    assert_eq!(all.len(), 2 + 2 + 31 + 1);
    assert!(all.iter().all(|(_, _, o)| o == "shadowed"), "{all:?}");
    assert_eq!(
        p.rows("SELECT * FROM executive_dashboard"),
        published_before
    );

    // Compare-only: the exact difference, per partition, by key.
    let (code, compared) = backfill(&p, "compare-only", &[]);
    assert_eq!(code, 0, "{compared}");
    let diff = |dataset: &str, partition: &str| -> Value {
        compared["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["dataset"] == dataset)
            .flat_map(|s| s["partitions"].as_array().unwrap().iter())
            .find(|x| x["partition"] == partition)
            .unwrap()["diff"]
            .clone()
    };
    let silver = diff("silver_cases", "2026-06-15");
    assert_eq!(
        (
            silver["added"].as_i64(),
            silver["removed"].as_i64(),
            silver["changed"].as_i64()
        ),
        (Some(0), Some(0), Some(1))
    );
    assert_eq!(
        silver["rows"][0]["key"],
        serde_json::json!({"event_id": "c2026-06-15-3"})
    );
    assert_eq!(silver["rows"][0]["after"]["resolution_hours"], 60.0);
    // Dates and timestamps in their canonical text, whatever stores them.
    assert_eq!(
        (
            &silver["rows"][0]["after"]["business_date"],
            &silver["rows"][0]["before"]["event_time"]
        ),
        (
            &serde_json::json!("2026-06-15"),
            &serde_json::json!("2026-06-15 05:00:00")
        )
    );
    assert_eq!(diff("case_daily_metrics", "2026-06-15")["changed"], 0);
    for day in ["2026-06-15", "2026-06-30", "2026-07-14"] {
        let d = diff("case_sla_daily_metrics", day);
        assert_eq!(d["changed"], 1, "{day}");
        let breaches = d["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["column"] == "breaches")
            .unwrap();
        assert_eq!(breaches["delta"], 1.0, "{day}");
    }
    let metric = |d: &Value, col: &str| {
        d["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["column"] == col)
            .unwrap()["delta"]
            .as_f64()
            .unwrap()
    };
    // The month's own cases: one more breach in June, none in July, which
    // is not recomputed at all.
    assert_eq!(
        metric(&diff("executive_dashboard", "2026-06"), "breaches"),
        1.0
    );
    assert!(!outcomes(&compared)
        .iter()
        .any(|(d, p, _)| d == "executive_dashboard" && p == "2026-07"));
    assert_eq!(
        p.rows("SELECT * FROM executive_dashboard"),
        published_before
    );

    // Restatement without a reason is refused.
    let (code, _) = backfill(&p, "restatement", &[]);
    assert_eq!(code, 2);

    let (code, restated) = backfill(
        &p,
        "restatement",
        &["--reason", "INC-42: case c2026-06-15 opened earlier"],
    );
    assert_eq!(code, 0, "{restated}");
    let all = outcomes(&restated);
    expect_outcomes(
        &all,
        &[
            ("executive_dashboard", "2026-06", "restated"),
            ("case_sla_daily_metrics", "2026-06-20", "published"),
        ],
    );
    assert_eq!(
        p.rows("SELECT report_month, breaches FROM executive_dashboard"),
        ["2026-06|1".to_string(), "2026-07|0".to_string()]
    );
    // Version 1 is still readable; version 2 is active and carries the reason.
    let versions = p.rows(
        "SELECT partition, version, status, coalesce(prior_version, 0), coalesce(reason, '') FROM _bpl_versions
         WHERE dataset = 'executive_dashboard' ORDER BY 1, 2",
    );
    assert_eq!(
        versions,
        [
            "2026-06|1|SUBMITTED|0|",
            "2026-06|2|RESTATED|1|INC-42: case c2026-06-15 opened earlier",
            "2026-07|1|ACTIVE|0|",
        ]
    );
    assert_eq!(
        p.rows("SELECT breaches FROM executive_dashboard__data WHERE report_month = '2026-06' AND _bpl_version = 1"),
        ["0"]
    );
    let summary = p
        .rows("SELECT summary FROM _bpl_versions WHERE dataset = 'executive_dashboard' AND version = 2 AND partition = '2026-06'")
        .remove(0);
    assert!(
        summary.contains("\"changed\":1") && summary.contains("breaches"),
        "{summary}"
    );
    // bplc diff shows the same change between the two versions.
    let (code, d) = p.json(&["diff", "executive_dashboard", "--partition", "2026-06"]);
    assert_eq!(code, 0, "{d}");
    assert_eq!(
        (
            d["from_version"].as_i64(),
            d["to_version"].as_i64(),
            d["changed"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
}

pub fn a_failure_stops_its_dependants_only_and_the_backfill_resumes(engine: Engine) {
    let clean = loaded(engine);
    let p = season(engine);
    let (code, first) = p.json_with(LOAD, &[("BPLC_FAULT", "fail:silver_cases:2026-06-20")]);
    assert_eq!(code, 1, "{first}");
    assert_eq!(first["status"], "incomplete");
    let all = outcomes(&first);
    // Its readers are blocked: its day of the counts, the thirty rolling
    // days whose window holds it, and its month of the dashboard. Nothing
    // else is.
    expect_outcomes(
        &all,
        &[
            ("silver_cases", "2026-06-20", "failed"),
            ("silver_cases", "2026-06-21", "published"),
            ("case_daily_metrics", "2026-06-20", "blocked"),
            ("case_sla_daily_metrics", "2026-06-20", "blocked"),
            ("case_sla_daily_metrics", "2026-07-19", "blocked"),
            ("executive_dashboard", "2026-06", "blocked"),
            ("case_daily_metrics", "2026-06-21", "published"),
            ("case_sla_daily_metrics", "2026-06-19", "published"),
            ("case_sla_daily_metrics", "2026-07-20", "published"),
            ("executive_dashboard", "2026-07", "published"),
        ],
    );

    let (code, resumed) = p.json(LOAD);
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["resumed"], true);
    let all = outcomes(&resumed);
    expect_outcomes(
        &all,
        &[
            ("silver_cases", "2026-06-20", "published"),
            ("case_sla_daily_metrics", "2026-06-20", "published"),
            ("case_sla_daily_metrics", "2026-06-19", "already_done"),
            ("executive_dashboard", "2026-06", "published"),
            ("executive_dashboard", "2026-07", "already_done"),
        ],
    );
    for view in [
        "silver_cases",
        "case_daily_metrics",
        "case_sla_daily_metrics",
        "executive_dashboard",
    ] {
        let cols = "*";
        let strip = |rows: Vec<String>| -> Vec<String> {
            // Run ids and row ids differ between the two projects' ledgers.
            rows.into_iter()
                .map(|r| r.split("|run-").next().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            strip(p.rows(&format!("SELECT {cols} FROM {view}"))),
            strip(clean.rows(&format!("SELECT {cols} FROM {view}"))),
            "{view}"
        );
    }
}

pub fn a_dry_run_keeps_nothing_but_its_report(engine: Engine) {
    let p = loaded(engine);
    correct_june_15(&p);
    let before = p.count("SELECT count(*) FROM case_sla_daily_metrics__data");
    let (code, report) = backfill(&p, "dry-run", &[]);
    assert_eq!(code, 0, "{report}");
    assert!(outcomes(&report).iter().all(|(_, _, o)| o == "validated"));
    assert_eq!(
        p.count("SELECT count(*) FROM case_sla_daily_metrics__data"),
        before
    );
    assert_eq!(p.count("SELECT count(*) FROM _bpl_shadow"), 0);
}

pub fn a_closed_month_is_never_replaced_and_a_saved_plan_runs_as_reviewed(engine: Engine) {
    let p = loaded(engine);
    correct_june_15(&p);
    // A plain run refuses the closed month and says how to restate it.
    let (code, _, err) = p.text(&[
        "run",
        "executive_dashboard",
        "--date",
        "2026-06",
        "--as-of",
        "2026-07-20",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("E0307") && err.contains("--mode restatement"),
        "{err}"
    );
    // A scheduled run whose lookback reaches the closed month computes
    // only the open one.
    let (code, july) = p.json(&[
        "run",
        "executive_dashboard",
        "--date",
        "2026-07",
        "--as-of",
        "2026-07-20",
    ]);
    assert_eq!(code, 0, "{july}");
    let parts: Vec<&str> = july["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["partition"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["2026-07"]);

    // The plan that was reviewed is the plan that runs.
    let (code, plan) = p.json(&[
        "plan-backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-15",
        "--mode",
        "restatement",
        "--as-of",
        "2026-07-20",
        "--reason",
        "INC-42",
    ]);
    assert_eq!(code, 0);
    let saved = p.path().join("plan.json");
    std::fs::write(&saved, plan.to_string()).unwrap();
    // Another mode than the plan's is refused before anything runs.
    let runs = |p: &Project| p.json(&["runs"]).1.as_array().map_or(0, Vec::len);
    let before = runs(&p);
    let (code, refused) = p.json(&[
        "backfill",
        "--plan",
        saved.to_str().unwrap(),
        "--mode",
        "replace",
        "--as-of",
        "2026-07-20",
    ]);
    assert_eq!(code, 2, "{refused}");
    assert_eq!(refused["error"]["code"], "E0311", "{refused}");
    assert_eq!(runs(&p), before, "the refused backfill made no run");
    let (code, report) = p.json(&[
        "backfill",
        "--plan",
        saved.to_str().unwrap(),
        "--as-of",
        "2026-07-20",
    ]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["mode"], "restatement");
    assert_eq!(report["reason"], "INC-42");
    assert!(
        before > 0,
        "the refused backfill ran nothing, the earlier loads did"
    );
    let all = outcomes(&report);
    assert_eq!(
        outcome_of(&all, "executive_dashboard", "2026-06"),
        "restated"
    );
    assert_eq!(
        p.rows("SELECT reason FROM _bpl_versions WHERE dataset = 'executive_dashboard' AND status = 'RESTATED'"),
        ["INC-42"]
    );
}

pub fn repeating_a_shadow_backfill_without_as_of_resumes_it(engine: Engine) {
    let p = season(engine);
    let shadow = [
        "backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-10..2026-06-12",
        "--mode",
        "shadow",
    ];
    let (code, first) = p.json_with(&shadow, &[("BPLC_FAULT", "fail:silver_cases:2026-06-11")]);
    assert_eq!(code, 1, "{first}");
    assert_eq!(first["status"], "incomplete");
    // The same command, no --as-of: the same backfill (the processing time
    // of the unfinished one), resumed, not a new one at a new "now".
    let (code, again) = p.json(&shadow);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["resumed"], true, "{again}");
    assert_eq!(again["backfill_id"], first["backfill_id"]);
    assert_eq!(again["as_of"], first["as_of"]);
    // Once complete, the same command is a new backfill (at a new "now":
    // the default processing time has whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, third) = p.json(&shadow);
    assert_eq!(third["resumed"], false, "{third}");
}

pub fn a_saved_plan_whose_job_changed_is_refused_before_the_first_wave(engine: Engine) {
    let p = season(engine);
    let (code, plan) = p.json(&[
        "plan-backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-10..2026-06-11",
        "--mode",
        "replace",
        "--as-of",
        "2026-07-01",
    ]);
    assert_eq!(code, 0, "{plan}");
    let saved = p.path().join("reviewed.json");
    std::fs::write(&saved, plan.to_string()).unwrap();
    let file = p.path().join("datasets/case_daily_metrics.bpl");
    let original = std::fs::read_to_string(&file).unwrap();
    let run_plan = || p.text(&["backfill", "--plan", saved.to_str().unwrap()]);

    // Only the layout and comments changed: the same contract.
    let relaid = original.replace("  quality {", "  // reviewed\n  quality   {");
    std::fs::write(&file, &relaid).unwrap();
    let (code, out, err) = run_plan();
    assert_eq!(code, 0, "{out}{err}");

    // A version bump after the review.
    std::fs::write(&file, original.replace("version 1", "version 2")).unwrap();
    let runs_before = p.json(&["runs"]).1.as_array().map_or(0, Vec::len);
    let (code, _, err) = run_plan();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0334")
            && err.contains("`case_daily_metrics` version 1")
            && err.contains("now has version 2")
            && err.contains("bplc plan-backfill --from raw_case_events"),
        "{err}"
    );
    assert_eq!(
        p.json(&["runs"]).1.as_array().map_or(0, Vec::len),
        runs_before
    );

    // The same version, a changed rule: the contract hash says so.
    std::fs::write(
        &file,
        original.replace("row_count() > 0 else warn", "row_count() > 1 else warn"),
    )
    .unwrap();
    let (code, _, err) = run_plan();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0334") && err.contains("version 1 (contract "),
        "{err}"
    );
}
