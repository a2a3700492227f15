//! Crashes injected at every step of the lifecycle (`BPLC_FAULT`, built
//! with the `fault-injection` feature). After each: a reader saw either
//! the old data or the whole new data, `bplc recover` decides from durable
//! state what happened, a retry reads exactly the rows the run locked, and
//! the end result equals a clean run's.

mod runtime_support;

use runtime_support::{reading, readings_project, Project};
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";
const RUN: &[&str] = &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];

/// A project with one published run, then rows that change the result.
fn project() -> Project {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-06-30");
    reading(&p, "b", 7, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!(code, 0, "{run}");
    reading(&p, "c", 11, "2026-07-01");
    reading(&p, "d", -1, "2026-07-01");
    p
}

/// A row that lands after the lock: a retry must not read it.
fn late_row(p: &Project) {
    p.warehouse()
        .execute(
            "INSERT INTO readings VALUES ('late', 1000, '2026-07-01', '2026-07-02 09:00:00')",
            [],
        )
        .unwrap();
}

fn contents(p: &Project) -> Vec<String> {
    p.rows("SELECT day, total, n FROM daily")
}

fn checksums(run: &Value) -> Vec<String> {
    run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["partition"], o["checksum"]))
        .collect()
}

fn crash_at(point: &str, decision: &str) {
    // What a clean run publishes, and what was there before.
    let clean = project();
    let before = {
        let p = readings_project("quarantine", "warn");
        reading(&p, "a", 5, "2026-06-30");
        reading(&p, "b", 7, "2026-07-01");
        p.json(RUN);
        contents(&p)
    };
    let (code, clean_run) = clean.json(RUN);
    assert_eq!(code, 0);
    let after = contents(&clean);

    let p = project();
    let (code, out) = p.json_with(RUN, &[("BPLC_FAULT", point)]);
    assert!(
        code != 0 && code != 1,
        "the process was aborted at {point}: {out}"
    );
    let seen = contents(&p);
    assert!(
        seen == before || (point == "after-commit" && seen == after),
        "at {point} a reader saw {seen:?}"
    );
    late_row(&p);

    let (_, runs) = p.json(&["runs"]);
    let id = runs.as_array().unwrap().last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, recovered) = p.json(&["recover", &id]);
    assert_eq!(code, 0, "{recovered}");
    assert_eq!(recovered["decision"], decision, "after a crash at {point}");

    let final_run = if decision == "ALREADY_PUBLISHED" {
        assert_eq!(recovered["status"], "PUBLISHED");
        let (_, shown) = p.json(&["show", &id]);
        shown
    } else {
        assert_eq!(recovered["status"], "FAILED");
        assert_eq!(contents(&p), before, "nothing was published at {point}");
        let (code, retried) = p.json(&["run", "--retry", &id]);
        assert_eq!(code, 0, "{retried}");
        assert_eq!(retried["attempt"], 2);
        retried
    };
    assert_eq!(
        contents(&p),
        after,
        "the result equals a clean run's ({point})"
    );
    assert_eq!(checksums(&final_run), checksums(&clean_run));
    // Nothing left behind: only active versions are stored.
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data"),
        p.count("SELECT count(*) FROM daily")
    );
    // The ledger tells the truth: the crash and the decision are recorded.
    let (_, shown) = p.json(&["show", &id]);
    let states: Vec<&str> = shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"UNKNOWN"), "{states:?}");
    assert_eq!(shown["recovery"], decision);
    // The quarantined row is recorded once per attempt that staged it.
    let ledger = rusqlite::Connection::open(p.ledger_path()).unwrap();
    let quarantined: i64 = ledger
        .query_row(
            "SELECT count(*) FROM quarantine WHERE run_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(quarantined >= 1);
}

#[test]
fn crash_after_lock() {
    crash_at("after-lock", "SAFE_TO_RETRY");
}

#[test]
fn crash_inside_the_staging_transaction() {
    // Every partition of the run is staged in one transaction: a crash in
    // it leaves nothing staged.
    crash_at("in-staging", "SAFE_TO_RETRY");
}

#[test]
fn crash_mid_staging() {
    crash_at("mid-staging", "FAILED_CLEANED");
}

#[test]
fn crash_after_validate() {
    crash_at("after-validate", "FAILED_CLEANED");
}

#[test]
fn crash_mid_commit() {
    crash_at("mid-commit", "FAILED_CLEANED");
}

#[test]
fn crash_after_commit() {
    crash_at("after-commit", "ALREADY_PUBLISHED");
}

#[test]
fn a_crashed_run_keeps_its_lease_until_recovered() {
    let p = project();
    let (code, _) = p.json_with(RUN, &[("BPLC_FAULT", "after-validate")]);
    assert!(code != 0 && code != 1);
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0301") && err.contains("bplc recover"),
        "{err}"
    );
}
