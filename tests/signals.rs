//! SIGINT and SIGTERM stop a run cleanly: the staging transaction rolls
//! back, the run is recorded FAILED with E0309, its leases are released and
//! the next run goes ahead. A second signal exits at once, leaving the run
//! for `bplc recover`. Each case pauses a real child process inside the
//! staging transaction (`BPLC_PAUSE`, built with `fault-injection`) and
//! sends it the signal.

mod runtime_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use runtime_support::{reading, readings_project, Project};

const AS_OF: &str = "2026-07-05T00:00:00Z";
const RUN: &[&str] = &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];

/// Starts the run, waits until it is paused inside staging, sends the
/// signals, and returns the exit code.
fn signalled(p: &Project, signals: &[&str]) -> i32 {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("bplc"))
        .env_remove("BPLC_FAULT")
        .args(["--color", "never"])
        .args(RUN)
        .arg("--project")
        .arg(p.path())
        .env("BPLC_PAUSE", "in-staging:4000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("paused at in-staging") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the run ended before pausing"
        );
    }
    for s in signals {
        let sent = Command::new("kill")
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

fn project() -> Project {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-06-30");
    reading(&p, "b", 7, "2026-07-01");
    p
}

fn last_run(p: &Project) -> serde_json::Value {
    let (_, runs) = p.json(&["runs"]);
    let id = runs.as_array().unwrap().last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    p.json(&["show", &id]).1
}

fn leases(p: &Project) -> i64 {
    let ledger = rusqlite::Connection::open(p.ledger_path()).unwrap();
    ledger
        .query_row("SELECT count(*) FROM leases", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn sigint_and_sigterm_record_failed_and_release_the_leases() {
    for signal in ["INT", "TERM"] {
        let p = project();
        let code = signalled(&p, &[signal]);
        assert_eq!(code, 1, "SIG{signal}");
        let run = last_run(&p);
        assert_eq!(run["status"], "FAILED", "SIG{signal}: {run}");
        assert!(
            run["error"].as_str().unwrap().contains("E0309"),
            "SIG{signal}: {run}"
        );
        assert_eq!(leases(&p), 0, "SIG{signal}");
        // Nothing staged survives, nothing was published.
        assert_eq!(p.count("SELECT count(*) FROM daily__data"), 0);
        // The next run is not refused, and a retry works too.
        let id = run["run_id"].as_str().unwrap().to_string();
        let (code, retried) = p.json(&["run", "--retry", &id]);
        assert_eq!(code, 0, "SIG{signal}: {retried}");
        assert_eq!(retried["status"], "PUBLISHED");
    }
}

#[test]
fn a_second_signal_stops_at_once_and_recover_resolves_the_run() {
    let p = project();
    let code = signalled(&p, &["INT", "INT"]);
    assert_eq!(code, 130);
    let run = last_run(&p);
    assert_eq!(run["status"], "RUNNING", "{run}");
    assert!(leases(&p) > 0);
    let id = run["run_id"].as_str().unwrap().to_string();
    let (code, recovered) = p.json(&["recover", &id]);
    assert_eq!(code, 0, "{recovered}");
    assert_eq!(recovered["status"], "FAILED");
    assert_eq!(leases(&p), 0);
}
