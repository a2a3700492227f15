//! What every output command owes its reader: a closed pipe ends the output
//! quietly, `--format json` prints JSON on every path (errors included),
//! and `--date`/`--dim` values the dataset cannot take are coded errors
//! before anything runs.

mod runtime_support;

use std::process::{Command, Output, Stdio};

use runtime_support::{reading, readings_project, Project};
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

/// A project with one published run.
fn project_with_a_run() -> (Project, String) {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    let (code, run) = p.json(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{run}");
    let id = run["run_id"].as_str().expect("a run id").to_string();
    (p, id)
}

/// Runs `bplc ARGS` with standard output a pipe whose reader is gone, as
/// in `bplc runs | true` once `true` has exited.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("bplc starts")
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let (p, id) = project_with_a_run();
    let dir = p.path().to_str().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/enforcement_sla");
    let commands: Vec<Vec<&str>> = vec![
        vec!["runs", "--project", dir],
        vec!["--format", "json", "runs", "--project", dir],
        vec!["show", &id, "--project", dir],
        vec!["--format", "json", "show", &id, "--project", dir],
        vec!["explain", "E0001"],
        vec!["--format", "json", "check", example],
        vec!["graph", "--project", example],
        vec!["--format", "mermaid", "graph", "--project", example],
        vec![
            "plan-backfill",
            "--from",
            "raw_case_events",
            "--range",
            "2026-06-01..2026-06-30",
            "--project",
            example,
        ],
        vec!["--help"],
    ];
    for args in commands {
        let out = into_closed_pipe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {:?} {stderr}",
            out.status
        );
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}
