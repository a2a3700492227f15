//! examples/enforcement_sla run by run, on every engine.

use serde_json::Value;

use super::runtime_support::enforcement_rows_sql;
use super::{Engine, Project};

const AS_OF: &str = "2026-07-05T00:00:00Z";

fn status(v: &Value) -> &str {
    v["status"].as_str().unwrap_or("")
}

fn outputs(v: &Value) -> &Vec<Value> {
    v["outputs"].as_array().unwrap()
}

/// examples/enforcement_sla's three daily datasets run one after another
/// over small source rows: duplicates removed, a bad row quarantined with
/// its record in the ledger, a pinned binding recorded, every published
/// row carrying its run, and the run's transitions in order.
pub fn the_enforcement_example_runs_end_to_end(engine: Engine) {
    let p = Project::example(engine, "enforcement_sla");
    p.exec(&enforcement_rows_sql());
    let (code, silver) = p.json(&[
        "run",
        "silver_cases",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!((code, status(&silver)), (0, "PUBLISHED"), "{silver}");
    // The run date and its 3-day lookback.
    let parts: Vec<&str> = outputs(&silver)
        .iter()
        .map(|o| o["partition"].as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"]
    );
    // 07-02: nine deliveries, one a duplicate; 07-03: one negative penalty.
    let day2 = &outputs(&silver)[1]["counters"];
    assert_eq!(
        (
            day2["input"].as_i64(),
            day2["duplicates"].as_i64(),
            day2["accepted"].as_i64()
        ),
        (Some(9), Some(1), Some(8))
    );
    let day3 = &outputs(&silver)[2]["counters"];
    assert_eq!(
        (day3["quarantined"].as_i64(), day3["accepted"].as_i64()),
        (Some(1), Some(7))
    );
    for o in outputs(&silver) {
        let identity = o["reconciliation"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == "input == accepted + quarantined + duplicates")
            .unwrap();
        assert_eq!(identity["passed"], true);
    }
    assert_eq!(p.count("SELECT count(*) FROM silver_cases"), 31);
    assert_eq!(
        p.count("SELECT count(*) FROM silver_cases WHERE event_id = 'e1'"),
        1
    );
    // The quarantined row is in the ledger with its rule and the whole
    // record, the same on every engine (a decimal as its scaled integer).
    let quarantined = p.ledger_rows("SELECT rule, record FROM quarantine");
    let (rule, record) = quarantined[0].split_once('|').unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(rule, "penalty_not_negative");
    let record: Value = serde_json::from_str(record).unwrap();
    assert_eq!(
        record,
        serde_json::json!({
            "ev.event_id": "e7", "ev.case_id": "c1", "ev.unit_id": "u1", "ev.kind": "closed",
            "ev.opened_at": "2026-07-03 01:00:00", "ev.event_time": "2026-07-03 08:00:00",
            "ev.ingested_at": "2026-07-03 10:00:00", "ev.penalty_amount": -100
        }),
        "{record}"
    );

    let (code, daily) = p.json(&[
        "run",
        "case_daily_metrics",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!((code, status(&daily)), (0, "PUBLISHED"), "{daily}");
    let (code, sla) = p.json(&[
        "run",
        "case_sla_daily_metrics",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!((code, status(&sla)), (0, "PUBLISHED"), "{sla}");
    // Unit u2 has no owning unit: its closed cases are quarantined, not lost.
    let last = outputs(&sla).last().unwrap();
    assert!(last["counters"]["quarantined"].as_i64().unwrap() > 0);
    let bindings = sla["bindings"].as_array().unwrap();
    let pinned = bindings.iter().find(|b| b["alias"] == "sla").unwrap();
    assert_eq!(
        (pinned["version"].as_str(), pinned["rows"].as_i64()),
        (Some("2026-07"), Some(2))
    );
    // Every published row carries the run that wrote it and its as-of time.
    assert_eq!(
        p.rows("SELECT DISTINCT _bpl_run_id, _bpl_as_of FROM case_sla_daily_metrics"),
        [format!(
            "{}|2026-07-05 00:00:00",
            sla["run_id"].as_str().unwrap()
        )]
    );
    let (code, runs) = p.json(&["runs"]);
    assert_eq!(code, 0);
    assert_eq!(runs.as_array().unwrap().len(), 3);
    let (code, shown) = p.json(&["show", silver["run_id"].as_str().unwrap()]);
    assert_eq!(code, 0);
    let transitions: Vec<&str> = shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        transitions,
        [
            "PLANNED",
            "INPUT_LOCKED",
            "RUNNING",
            "VALIDATING",
            "COMMITTING",
            "PUBLISHED"
        ]
    );
}
