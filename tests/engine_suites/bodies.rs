//! The suites' test bodies, each run on every engine (see `mod.rs`).

use serde_json::Value;

use super::{runtime_support, Engine, Project};

pub const AS_OF: &str = "2026-07-05T00:00:00Z";
const RUN: &[&str] = &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];

/// The readings project (`runtime_support::readings_spec`) on `engine`.
pub fn readings_project(engine: Engine, row_severity: &str, partition_severity: &str) -> Project {
    let spec = runtime_support::readings_spec(row_severity, partition_severity);
    let p = Project::new(engine, &[("specs.bpl", &spec)]);
    p.exec("CREATE TABLE readings(id TEXT, v BIGINT, day TEXT, at TEXT)");
    p
}

pub fn reading(p: &Project, id: &str, v: i64, day: &str) {
    p.exec(&format!(
        "INSERT INTO readings VALUES ('{id}', {v}, '{day}', '{day} 12:00:00')"
    ));
}

fn status(v: &Value) -> &str {
    v["status"].as_str().unwrap_or("")
}

/// A project with one published run, then rows that change the result.
fn crash_project(engine: Engine) -> Project {
    let p = readings_project(engine, "quarantine", "warn");
    reading(&p, "a", 5, "2026-06-30");
    reading(&p, "b", 7, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!(code, 0, "{run}");
    reading(&p, "c", 11, "2026-07-01");
    reading(&p, "d", -1, "2026-07-01");
    p
}

fn contents(p: &Project) -> Vec<String> {
    p.rows("SELECT day, total, n FROM daily")
}

/// The states a run went through, from `bplc show RUN --format json`.
fn transition_states(shown: &Value) -> Vec<&str> {
    shown["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect()
}

fn checksums(run: &Value) -> Vec<String> {
    run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["partition"], o["checksum"]))
        .collect()
}

/// A crash at `point` of the lifecycle (`BPLC_FAULT`). After it: a reader
/// saw either the old data or the whole new data, `bplc recover` decides
/// from durable state what happened, a retry reads exactly the rows the
/// run locked, and the end result equals a clean run's.
pub fn crash_at(engine: Engine, point: &str, decision: &str) {
    // What a clean run publishes, and what was there before.
    let clean = crash_project(engine);
    let before = {
        let p = readings_project(engine, "quarantine", "warn");
        reading(&p, "a", 5, "2026-06-30");
        reading(&p, "b", 7, "2026-07-01");
        p.json(RUN);
        contents(&p)
    };
    let (code, clean_run) = clean.json(RUN);
    assert_eq!(code, 0);
    let after = contents(&clean);

    let p = crash_project(engine);
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
    // A row that lands after the lock: a retry must not read it.
    p.exec("INSERT INTO readings VALUES ('late', 1000, '2026-07-01', '2026-07-02 09:00:00')");

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
        p.json(&["show", &id]).1
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
    let states = transition_states(&shown);
    assert!(states.contains(&"UNKNOWN"), "{states:?}");
    assert_eq!(shown["recovery"], decision);
    // The quarantined row is recorded once per attempt that staged it.
    let quarantined = p.ledger_count(&format!(
        "SELECT count(*) FROM quarantine WHERE run_id = '{id}'"
    ));
    assert!(quarantined >= 1);
}

pub fn a_crashed_run_keeps_its_lease_until_recovered(engine: Engine) {
    let p = crash_project(engine);
    let (code, _) = p.json_with(RUN, &[("BPLC_FAULT", "after-validate")]);
    assert!(code != 0 && code != 1);
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0301") && err.contains("bplc recover"),
        "{err}"
    );
}

/// Four `bplc` processes started at once for one partition, each pausing
/// after it has taken its leases: one takes them and commits, the other
/// three are refused the partition (E0301) and record nothing. The
/// ledger's write lock makes the check and the taking of a lease one step.
pub fn processes_racing_for_a_partition_commit_it_once(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    // An earlier run creates the warehouse's tables, so the race is for
    // the partition only.
    reading(&p, "early", 1, "2026-06-20");
    p.json(&["run", "daily", "--date", "2026-06-20", "--as-of", AS_OF]);
    let commits = p.count("SELECT count(*) FROM _bpl_commits");
    reading(&p, "a", 5, "2026-07-01");
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bplc"));
            cmd.env_remove("BPLC_FAULT")
                .env("BPLC_PAUSE", "after-lock:1500")
                .args(["--color", "never"])
                .args(RUN)
                .arg("--project")
                .arg(p.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outcomes: Vec<(i32, String)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect();
    let committed = outcomes.iter().filter(|(code, _)| *code == 0).count();
    assert_eq!(committed, 1, "{outcomes:?}");
    for (code, err) in outcomes.iter().filter(|(code, _)| *code != 0) {
        assert_eq!(*code, 1, "{err}");
        assert!(err.contains("E0301"), "{err}");
    }
    let (_, runs) = p.json(&["runs"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "the refused runs recorded nothing: {runs:?}");
    assert_eq!(runs[1]["status"], "PUBLISHED");
    assert_eq!(p.count("SELECT count(*) FROM _bpl_commits"), commits + 1);
    assert_eq!(p.ledger_count("SELECT count(*) FROM leases"), 0);
    assert!(
        contents(&p).contains(&"2026-07-01|5|1".to_string()),
        "{:?}",
        contents(&p)
    );
}

pub fn manual_review_holds_until_approved_or_rejected_and_keeps_its_lease(engine: Engine) {
    let p = readings_project(engine, "quarantine", "manual review");
    reading(&p, "a", 5000, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!((code, status(&run)), (1, "HELD"), "{run}");
    assert_eq!(
        p.count("SELECT count(*) FROM daily"),
        0,
        "nothing visible while held"
    );
    let id = run["run_id"].as_str().unwrap().to_string();

    // A second run over the same partition is refused and changes nothing.
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1);
    assert!(err.contains("E0301") && err.contains(&id), "{err}");
    let (_, runs) = p.json(&["runs"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);

    let (code, approved) = p.json(&["approve", &id]);
    assert_eq!((code, status(&approved)), (0, "PUBLISHED"), "{approved}");
    assert_eq!(p.rows("SELECT total FROM daily"), ["5000"]);

    let (code, again) = p.json(RUN);
    assert_eq!((code, status(&again)), (1, "HELD"));
    let (code, _) = p.json(&["reject", again["run_id"].as_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        p.rows("SELECT total, _bpl_run_id FROM daily"),
        [format!("5000|{id}")]
    );
    let (code, _, err) = p.text(&["approve", again["run_id"].as_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("E0304"), "{err}");
}

/// A held run whose staged rows were lost (on SQLite, a power cut soon
/// after the hold: the staging commit is not synced on its own) is not
/// approved: nothing is published, the run stays held, and rejecting it
/// releases its lease for a new run.
pub fn a_held_run_whose_staged_rows_are_gone_is_not_approved(engine: Engine) {
    let p = readings_project(engine, "quarantine", "manual review");
    reading(&p, "a", 5000, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!((code, status(&run)), (1, "HELD"), "{run}");
    let id = run["run_id"].as_str().unwrap().to_string();
    // What the lost staging transaction leaves: no rows of the run.
    p.exec("DELETE FROM daily__data");

    let (code, _, err) = p.text(&["approve", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0338") && err.contains(&id), "{err}");
    assert!(err.contains(&format!("bplc reject {id}")), "{err}");
    assert_eq!(
        p.count("SELECT count(*) FROM daily"),
        0,
        "nothing published"
    );
    let (_, shown) = p.json(&["show", &id]);
    assert_eq!(shown["status"], "HELD", "{shown}");

    let (code, rejected) = p.json(&["reject", &id]);
    assert_eq!(code, 0, "{rejected}");
    let (code, again) = p.json(RUN);
    assert_eq!((code, status(&again)), (1, "HELD"), "{again}");
    let (code, approved) = p.json(&["approve", again["run_id"].as_str().unwrap()]);
    assert_eq!((code, status(&approved)), (0, "PUBLISHED"), "{approved}");
    assert_eq!(p.rows("SELECT total FROM daily"), ["5000"]);
}

/// Versioned publish keeps both versions and rolls back; the reporting
/// commands read every run, its transitions and quarantined rows back
/// from the ledger.
pub fn versioned_runs_roll_back_and_are_reported(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    let specs = std::fs::read_to_string(p.path().join("specs.bpl")).unwrap();
    std::fs::write(
        p.path().join("specs.bpl"),
        specs.replace("publish replace", "publish versioned"),
    )
    .unwrap();
    reading(&p, "a", 5, "2026-07-01");
    reading(&p, "bad", -3, "2026-07-01");
    let (code, first) = p.json(RUN);
    assert_eq!(code, 0, "{first}");
    reading(&p, "b", 7, "2026-07-01");
    let (code, second) = p.json(RUN);
    assert_eq!(code, 0, "{second}");
    assert_eq!(output(&second, "2026-07-01")["version"], 2);
    assert_eq!(p.rows("SELECT total FROM daily"), ["12"]);
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data WHERE day = '2026-07-01'"),
        2,
        "both versions kept"
    );
    let rollback = [
        "rollback",
        "daily",
        "--partition",
        "2026-07-01",
        "--to-version",
    ];
    let (code, _) = p.json(&[&rollback[..], &["1"]].concat());
    assert_eq!(code, 0);
    assert_eq!(p.rows("SELECT total FROM daily"), ["5"]);
    let (code, _, err) = p.text(&[&rollback[..], &["7"]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("not kept"), "{err}");

    // The three runs, oldest first, as the ledger recorded them.
    let (code, runs) = p.json(&["runs", "--dataset", "daily"]);
    assert_eq!(code, 0, "{runs}");
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["run-000001", "run-000002", "run-000003"]);
    let (code, shown) = p.json(&["show", "run-000001"]);
    assert_eq!(code, 0, "{shown}");
    let states = transition_states(&shown);
    assert_eq!(states.first(), Some(&"PLANNED"), "{states:?}");
    assert_eq!(states.last(), Some(&"PUBLISHED"), "{states:?}");
    let (code, text, _) = p.text(&["show", "run-000001"]);
    assert_eq!(code, 0);
    assert!(text.contains("PUBLISHED"), "{text}");
    assert_eq!(
        p.ledger_count("SELECT count(*) FROM quarantine WHERE run_id = 'run-000001'"),
        1
    );
    let (code, status) = p.json(&["status", "--as-of", AS_OF]);
    assert!(code == 0 || code == 1, "{status}");
    assert_eq!(status["datasets"][0]["dataset"], "daily", "{status}");
    let (code, _, err) = p.text(&["show", "run-000099"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0304"), "{err}");
}

/// `bplc backfill` of the readings over `range`, replacing what is there.
fn replace_backfill(range: &str) -> Vec<&str> {
    vec![
        "backfill", "--from", "readings", "--range", range, "--mode", "replace",
    ]
}

/// A backfill stopped by a failing partition is resumed by the same
/// command: what it finished is not run again, the rest is published.
pub fn a_failed_backfill_resumes_where_it_stopped(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    for (id, day) in [
        ("a", "2026-07-01"),
        ("b", "2026-07-02"),
        ("c", "2026-07-03"),
    ] {
        reading(&p, id, 5, day);
    }
    let mut backfill = replace_backfill("2026-07-01..2026-07-03");
    backfill.extend(["--as-of", "2026-07-04"]);
    let (code, first) = p.json_with(&backfill, &[("BPLC_FAULT", "fail:daily:2026-07-02")]);
    assert_eq!(code, 1, "{first}");
    assert_eq!(first["status"], "incomplete", "{first}");
    let (code, resumed) = p.json(&backfill);
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(resumed["backfill_id"], first["backfill_id"]);
    let outcome = |report: &Value, day: &str| -> String {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["partitions"].as_array().unwrap())
            .find(|x| x["partition"] == day)
            .map(|x| x["outcome"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(outcome(&first, "2026-07-02"), "failed");
    assert_eq!(outcome(&resumed, "2026-07-01"), "already_done");
    assert_eq!(outcome(&resumed, "2026-07-02"), "published");
    assert_eq!(
        contents(&p),
        ["2026-07-01|5|1", "2026-07-02|5|1", "2026-07-03|5|1"]
    );
}

/// The commands that report from the ledger: `run-due` judges what is due
/// from the runs recorded and runs it, then `status`, `metrics` and the
/// lineage site (`docs`) read those runs back.
pub fn reporting_commands_read_the_ledger(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    for (id, day) in [("a", "2026-07-03"), ("b", "2026-07-04")] {
        reading(&p, id, 5, day);
    }
    let as_of = "2026-07-05T03:00:00Z";
    let (code, due) = p.json(&["run-due", "--as-of", as_of]);
    assert_eq!(code, 0, "{due}");
    let (_, runs) = p.json(&["runs"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["status"], "PUBLISHED");
    // Once run, nothing is due.
    let (code, again) = p.json(&["run-due", "--as-of", as_of]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(p.json(&["runs"]).1.as_array().unwrap().len(), 1, "{again}");

    let (code, status) = p.json(&["status", "--as-of", as_of]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["counts"]["fresh"], 2, "{status}");
    assert_eq!(
        status["datasets"][0]["partitions"][1]["last_run"], "run-000001",
        "{status}"
    );
    let (code, metrics, _) = p.text(&["metrics", "--as-of", as_of]);
    assert_eq!(code, 0, "{metrics}");
    assert!(
        metrics.contains("bplc_dataset_last_run_input_rows{dataset=\"daily\"} 2"),
        "{metrics}"
    );
    let site = p.path().join("site");
    let (code, _, err) = p.text(&["docs", "--as-of", as_of, "--out", site.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let pages: String = walk(&site)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect();
    assert!(pages.contains("run-000001"), "the site shows the run");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A second `bplc run-due` while the first is running stops at once with
/// E0352 and runs nothing: the ledger's lock (a file beside a ledger file,
/// an advisory lock on a ledger server) keeps them apart.
pub fn two_run_due_callers_never_overlap(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    reading(&p, "a", 5, "2026-07-04");
    let as_of = "2026-07-05T03:00:00Z";
    let (mut first, _stderr) =
        super::paused(p.path(), &["run-due", "--as-of", as_of], "after-lock:2500");
    // With the ledger on the server, the second caller is another machine:
    // another checkout of the project, sharing only the server.
    let elsewhere = tempfile::tempdir().unwrap();
    let second = match engine {
        Engine::Postgres {
            ledger_on_server: true,
        } => {
            for file in ["bpl.toml", "specs.bpl"] {
                std::fs::copy(p.path().join(file), elsewhere.path().join(file)).unwrap();
            }
            elsewhere.path()
        }
        _ => p.path(),
    };
    let out = p
        .bplc()
        .args(["run-due", "--as-of", as_of, "--project"])
        .arg(second)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("E0352"), "{err}");
    assert!(first.wait().unwrap().success());
    let (_, runs) = p.json(&["runs"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
}

fn output<'a>(run: &'a Value, partition: &str) -> &'a Value {
    run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["partition"] == partition)
        .unwrap()
}

pub fn warn_and_quarantine_publish_fail_run_publishes_nothing(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    reading(&p, "b", -3, "2026-07-01");
    reading(&p, "c", 995, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!((code, status(&run)), (0, "PUBLISHED"), "{run}");
    let out = output(&run, "2026-07-01");
    assert_eq!(out["counters"]["quarantined"], 1);
    // The warning is recorded, and the data published anyway.
    let warn = out["quality"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["severity"] == "warn")
        .unwrap();
    assert_eq!(warn["passed"], false);
    assert_eq!(contents(&p), ["2026-07-01|1000|2"]);

    let p = readings_project(engine, "fail run", "warn");
    reading(&p, "a", 5, "2026-07-01");
    reading(&p, "b", -3, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!((code, status(&run)), (1, "FAILED"), "{run}");
    assert_eq!(p.count("SELECT count(*) FROM daily"), 0);
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data"),
        0,
        "staged rows are removed"
    );
}

pub fn fail_partition_holds_back_that_partition_only(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    // 06-30 is empty; 07-01 has a row.
    reading(&p, "a", 5, "2026-07-01");
    let (code, run) = p.json(RUN);
    assert_eq!((code, status(&run)), (0, "PUBLISHED"), "{run}");
    let decisions: Vec<(&str, bool)> = run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_str().unwrap(),
                o["published"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(decisions, [("2026-06-30", false), ("2026-07-01", true)]);
    assert_eq!(p.rows("SELECT day FROM daily"), ["2026-07-01"]);
}

pub fn replace_keeps_only_the_active_version(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    p.json(RUN);
    reading(&p, "b", 7, "2026-07-01");
    let (code, _) = p.json(RUN);
    assert_eq!(code, 0);
    assert_eq!(p.rows("SELECT total FROM daily"), ["12"]);
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data WHERE day = '2026-07-01'"),
        1
    );
}

/// Starts the run paused inside its staging transaction, sends it the
/// signals, and returns its exit code.
fn signalled(p: &Project, signals: &[&str]) -> i32 {
    let (mut child, mut stderr) = super::paused(p.path(), RUN, "in-staging:4000");
    for s in signals {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{s}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    child.wait().unwrap().code().unwrap_or(-1)
}

fn last_run(p: &Project) -> Value {
    let (_, runs) = p.json(&["runs"]);
    let id = runs.as_array().unwrap().last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    p.json(&["show", &id]).1
}

fn signal_project(engine: Engine) -> Project {
    let p = readings_project(engine, "quarantine", "warn");
    reading(&p, "a", 5, "2026-06-30");
    reading(&p, "b", 7, "2026-07-01");
    p
}

/// SIGINT and SIGTERM stop a run cleanly: the staging transaction rolls
/// back, the run is recorded FAILED with E0309, its leases are released
/// and a retry goes ahead.
pub fn sigint_and_sigterm_record_failed_and_release_the_leases(engine: Engine) {
    for signal in ["INT", "TERM"] {
        let p = signal_project(engine);
        let code = signalled(&p, &[signal]);
        assert_eq!(code, 1, "SIG{signal}");
        let run = last_run(&p);
        assert_eq!(run["status"], "FAILED", "SIG{signal}: {run}");
        assert!(
            run["error"].as_str().unwrap().contains("E0309"),
            "SIG{signal}: {run}"
        );
        assert_eq!(
            p.ledger_count("SELECT count(*) FROM leases"),
            0,
            "SIG{signal}"
        );
        // Nothing staged survives, nothing was published.
        assert_eq!(p.count("SELECT count(*) FROM daily__data"), 0);
        let id = run["run_id"].as_str().unwrap().to_string();
        let (code, retried) = p.json(&["run", "--retry", &id]);
        assert_eq!(code, 0, "SIG{signal}: {retried}");
        assert_eq!(retried["status"], "PUBLISHED");
    }
}

/// A second signal exits at once, leaving the run for `bplc recover`.
pub fn a_second_signal_stops_at_once_and_recover_resolves_the_run(engine: Engine) {
    let p = signal_project(engine);
    let code = signalled(&p, &["INT", "INT"]);
    assert_eq!(code, 130);
    let run = last_run(&p);
    assert_eq!(run["status"], "RUNNING", "{run}");
    assert!(p.ledger_count("SELECT count(*) FROM leases") > 0);
    let id = run["run_id"].as_str().unwrap().to_string();
    let (code, recovered) = p.json(&["recover", &id]);
    assert_eq!(code, 0, "{recovered}");
    assert_eq!(recovered["status"], "FAILED");
    assert_eq!(p.ledger_count("SELECT count(*) FROM leases"), 0);
}

/// The same backfill command repeated without `--as-of` after a failure
/// is the same backfill (the ledger finds the unfinished one and its
/// processing time), resumed; once complete, it is a new one.
pub fn repeating_a_backfill_without_as_of_resumes_it(engine: Engine) {
    let p = readings_project(engine, "quarantine", "warn");
    for (id, day) in [("a", "2026-07-01"), ("b", "2026-07-02")] {
        reading(&p, id, 5, day);
    }
    let backfill = replace_backfill("2026-07-01..2026-07-02");
    let (code, first) = p.json_with(&backfill, &[("BPLC_FAULT", "fail:daily:2026-07-02")]);
    assert_eq!(code, 1, "{first}");
    let (code, again) = p.json(&backfill);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["resumed"], true, "{again}");
    assert_eq!(again["backfill_id"], first["backfill_id"]);
    assert_eq!(again["as_of"], first["as_of"]);
    // The default processing time has whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, third) = p.json(&backfill);
    assert_eq!(third["resumed"], false, "{third}");
    assert_ne!(third["backfill_id"], first["backfill_id"]);
}
