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
    // The pipe's reader is `true`, which has ended before bplc starts.
    let mut reader = Command::new("true")
        .stdin(Stdio::piped())
        .spawn()
        .expect("`true` starts");
    let writer = reader.stdin.take().expect("a pipe");
    reader.wait().expect("`true` ends");
    Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(args)
        .stdout(Stdio::from(writer))
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

/// Runs `bplc --format json ARGS` and returns exit code, stdout as JSON
/// (`Null` if it is not JSON) and stderr.
fn json_run(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(["--color", "never", "--format", "json"])
        .args(args)
        .output()
        .expect("bplc starts");
    let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        value,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The generic hint for what an engine cannot translate.
const ENGINE_HINT: &str = "engine that supports it";

/// `bplc --format json ARGS` fails with exit code `exit`, printing
/// `{"error": ...}` with `code` on stdout and nothing on stderr; returns the
/// error object.
fn json_error(args: &[&str], exit: i32, code: Option<&str>) -> Value {
    let (status, value, stderr) = json_run(args);
    assert_eq!(status, Some(exit), "{args:?}: {value} {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    let error = value["error"].clone();
    assert!(error.is_object(), "{args:?} printed no JSON error: {value}");
    assert_eq!(error["code"].as_str(), code, "{args:?}: {error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    if let Some(help) = error["help"].as_str() {
        assert!(!help.contains(ENGINE_HINT), "{args:?}: {help}");
    }
    error
}

#[test]
fn every_error_path_prints_json_under_format_json() {
    let (p, _) = project_with_a_run();
    let dir = p.path().to_str().unwrap();

    // A file that is not UTF-8: E0010 (this printed text and no JSON).
    let bad = Project::new(&[("bad.bpl", "")]);
    std::fs::write(bad.path().join("bad.bpl"), b"source s {\n \xff\xfe }\n").unwrap();
    let e = json_error(&["check", bad.path().to_str().unwrap()], 2, Some("E0010"));
    assert!(e["message"].as_str().unwrap().contains("bad.bpl"), "{e}");

    json_error(&["check", "/no/such/project"], 2, None);
    json_error(&["show", "run-999999", "--project", dir], 1, Some("E0304"));
    json_error(
        &["approve", "run-000001", "--project", dir],
        1,
        Some("E0304"),
    );
    json_error(
        &["run", "nosuch", "--date", "2026-07-01", "--project", dir],
        2,
        None,
    );
    json_error(&["graph", "--focus", "nosuch", "--project", dir], 2, None);
    json_error(&["explain", "E9999"], 2, None);
    json_error(&["run", "--no-such-flag"], 2, None);
    json_error(&["--format=json", "rollback"], 2, None);

    // A project with errors: the diagnostics come inside the error.
    let broken = Project::new(&[("m.bpl", "dataset d {\n  version 1\n  bogus\n}\n")]);
    let e = json_error(
        &[
            "run",
            "d",
            "--date",
            "2026-07-01",
            "--project",
            broken.path().to_str().unwrap(),
        ],
        1,
        None,
    );
    assert_eq!(e["diagnostics"][0]["code"], "E0003", "{e}");

    // fmt reports a file it leaves alone inside its JSON.
    let (status, value, stderr) = json_run(&["fmt", "--check", broken.path().to_str().unwrap()]);
    assert_eq!(status, Some(1));
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(value["errors"], 1, "{value}");
    assert_eq!(value["diagnostics"][0]["code"], "E0003", "{value}");
}

#[test]
fn a_date_the_dataset_cannot_take_is_e0320_before_anything_runs() {
    let p = readings_project("quarantine", "warn");
    let dir = p.path().to_str().unwrap();
    // A month on a daily dataset used to run June 1 alone.
    let e = json_error(
        &["run", "daily", "--date", "2026-06", "--project", dir],
        2,
        Some("E0320"),
    );
    assert_eq!(
        e["message"],
        "`--date 2026-06` spans 30 partitions of `daily`, which has one per day"
    );
    assert!(e["help"]
        .as_str()
        .unwrap()
        .contains("--range 2026-06-01..2026-06-30"));
    for bad in ["2026-13-01", "yesterday", "2026-07-04..2026-07-01"] {
        let flag = if bad.contains("..") {
            "--range"
        } else {
            "--date"
        };
        json_error(
            &["run", "daily", flag, bad, "--project", dir],
            2,
            Some("E0320"),
        );
    }
    // The ranges of plan-backfill and backfill too.
    for command in ["plan-backfill", "backfill"] {
        let args = [
            command,
            "--from",
            "readings",
            "--range",
            "2026-13-01..2026-14-01",
            "--project",
            dir,
        ];
        json_error(&args, 2, Some("E0320"));
    }
    assert!(!p.ledger_path().exists(), "a refused run opened the ledger");
}

#[test]
fn a_dimension_the_dataset_cannot_take_is_e0321() {
    let p = readings_project("quarantine", "warn");
    let dir = p.path().to_str().unwrap();
    let run = |dim: &str| {
        let args = [
            "run",
            "daily",
            "--date",
            "2026-07-01",
            "--dim",
            dim,
            "--project",
            dir,
        ];
        json_error(&args, 2, Some("E0321"))
    };
    // Ignored before: the run covered everything.
    let e = run("tenant=acme");
    assert_eq!(e["message"], "`daily` has no dimension `tenant`");
    assert!(e["help"].as_str().unwrap().contains("time only"), "{e}");
    run("tenant");

    let ledger = Project::example("finance_ledger");
    let dir = ledger.path().to_str().unwrap();
    let run = |dims: &[&str]| {
        let mut args = vec!["run", "tenant_daily_balances", "--date", "2026-06-05"];
        for d in dims {
            args.extend(["--dim", d]);
        }
        args.extend(["--project", dir]);
        json_error(&args, 2, Some("E0321"))
    };
    let e = run(&["tenant=acme"]);
    assert_eq!(e["help"], "its dimensions are `tenant_id`");
    // A `/` in a value had the engine hint (E0305).
    let e = run(&["tenant_id=a/b"]);
    assert!(
        e["help"]
            .as_str()
            .unwrap()
            .contains("join key values with `/`"),
        "{e}"
    );
    run(&["tenant_id=acme", "tenant_id=beta"]);
}

#[test]
fn rollback_to_a_version_not_kept_is_e0322_with_its_own_help() {
    let (p, _) = project_with_a_run();
    let dir = p.path().to_str().unwrap();
    let args = [
        "rollback",
        "daily",
        "--partition",
        "2026-07-01",
        "--to-version",
        "7",
        "--project",
        dir,
    ];
    let e = json_error(&args, 1, Some("E0322"));
    assert!(
        e["help"].as_str().unwrap().contains("`publish replace`"),
        "{e}"
    );
    let args = [
        "rollback",
        "daily",
        "--partition",
        "2026-06-01",
        "--to-version",
        "1",
        "--project",
        dir,
    ];
    let e = json_error(&args, 1, Some("E0322"));
    assert_eq!(
        e["message"],
        "partition 2026-06-01 of `daily` has never been published"
    );
}

#[test]
fn a_saved_plan_naming_a_removed_dataset_is_e0323_before_anything_runs() {
    let p = readings_project("quarantine", "warn");
    let dir = p.path().to_str().unwrap();
    let (status, plan, _) = json_run(&[
        "plan-backfill",
        "--from",
        "readings",
        "--range",
        "2026-07-01..2026-07-02",
        "--project",
        dir,
    ]);
    assert_eq!(status, Some(0), "{plan}");
    let saved = p.path().join("plan.json");
    let text = plan.to_string().replace("\"daily\"", "\"daily_v0\"");
    std::fs::write(&saved, text).unwrap();
    let e = json_error(
        &[
            "backfill",
            "--plan",
            saved.to_str().unwrap(),
            "--project",
            dir,
        ],
        2,
        Some("E0323"),
    );
    assert!(e["message"].as_str().unwrap().contains("`daily_v0`"), "{e}");
    assert!(
        !p.ledger_path().exists(),
        "a refused backfill opened the ledger"
    );
}

/// Makes `path` read-only for this process: as root, permissions do not
/// stop a write, so the file is also made immutable (undone on drop).
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn new(path: std::path::PathBuf) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
            let status = Command::new("chattr").arg("+i").arg(&path).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "cannot make {path:?} read-only"
            );
        }
        ReadOnly(path)
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o644));
    }
}

#[test]
fn a_read_only_ledger_or_warehouse_is_e0324_naming_the_file() {
    let (p, _) = project_with_a_run();
    let dir = p.path().to_str().unwrap();
    let run = [
        "run",
        "daily",
        "--date",
        "2026-07-02",
        "--as-of",
        AS_OF,
        "--project",
        dir,
    ];
    for (what, path) in [
        ("ledger", p.ledger_path()),
        ("warehouse", p.warehouse_path()),
    ] {
        let _guard = ReadOnly::new(path.clone());
        let e = json_error(&run, 2, Some("E0324"));
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("the {what} `")), "{message}");
        assert!(message.contains(path.to_str().unwrap()), "{message}");
    }
    // Reading needs no write access.
    let _guard = ReadOnly::new(p.ledger_path());
    let (status, runs, stderr) = json_run(&["runs", "--project", dir]);
    assert_eq!(status, Some(0), "{runs} {stderr}");
}

#[test]
fn each_command_lists_only_the_formats_it_prints() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bplc"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for command in [
        "approve", "reject", "run", "runs", "show", "backfill", "fmt", "explain",
    ] {
        let text = help(&[command]);
        assert!(text.contains("`text` or `json`"), "{command}: {text}");
        for other in ["github", "dot", "mermaid"] {
            assert!(!text.contains(other), "{command} lists {other}: {text}");
        }
    }
    assert!(help(&["check"]).contains("`github`"));
    assert!(!help(&["check"]).contains("mermaid"));
    assert!(help(&["graph"]).contains("`mermaid`"));
    // The refusal names the formats the command takes.
    let e = json_error(&["approve", "run-000001", "--format", "json"], 2, None);
    assert!(e["message"].as_str().unwrap().contains("bpl.toml"), "{e}");
    let (status, _, stderr) = {
        let out = Command::new(env!("CARGO_BIN_EXE_bplc"))
            .args(["approve", "run-000001", "--format", "dot"])
            .output()
            .unwrap();
        (
            out.status.code(),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(status, Some(2));
    assert!(stderr.contains("`approve` takes text or json"), "{stderr}");
}
