//! The command-line contract: exit codes (0 ok, warnings allowed; 1 the
//! project is not OK; 2 usage or I/O error), the JSON and GitHub output
//! shapes of `bplc check`, `bplc explain`, and the help texts.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn bplc() -> Command {
    let mut cmd = Command::cargo_bin("bplc").expect("the bplc binary is built");
    cmd.env_remove("NO_COLOR").args(["--color", "never"]);
    cmd
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/enforcement_sla")
}

/// A project in a temporary directory: `bpl.toml` and the given files.
fn project(config: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), config).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

const CONFIG: &str = "name = \"test\"\ntime_zone = \"UTC\"\n";

const SOURCE: &str = r#"
source events {
  columns {
    id: string
    day: date
  }
  key id
  max lateness 2d
}
"#;

const DATASET: &str = r#"
dataset daily {
  version 1
  partition by day: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 3d
  input ev = events where day == p
  compute {
    from ev
    group by day = p {
      n = row_count()
    }
  }
}
"#;

fn clean_project() -> TempDir {
    project(CONFIG, &[("events.bpl", SOURCE), ("daily.bpl", DATASET)])
}

/// A lookback shorter than the source's lateness: W0101, a warning.
fn warning_project() -> TempDir {
    let dataset = DATASET.replace("lookback 3d", "lookback 1d");
    project(CONFIG, &[("events.bpl", SOURCE), ("daily.bpl", &dataset)])
}

/// Two parse errors in one file.
fn broken_project() -> TempDir {
    let dataset = DATASET
        .replace("publish replace", "publish overwrite")
        .replace("from ev", "from");
    project(CONFIG, &[("events.bpl", SOURCE), ("daily.bpl", &dataset)])
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------- exit codes

#[test]
fn check_of_the_example_exits_0() {
    let out = bplc().arg("check").arg(example()).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no problems found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_of_a_clean_project_exits_0() {
    let dir = clean_project();
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn check_of_a_file_inside_a_project_checks_the_project() {
    let dir = clean_project();
    let out = bplc()
        .arg("check")
        .arg(dir.path().join("daily.bpl"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
}

#[test]
fn check_with_only_warnings_exits_0() {
    let dir = warning_project();
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("W0101"), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 warning"), "{}", stderr(&out));
}

#[test]
fn a_denied_warning_is_an_error_and_exits_1() {
    let dataset = DATASET.replace("lookback 3d", "lookback 1d");
    let config = format!("{CONFIG}\n[lint]\ndeny = [\"W0101\"]\n");
    let dir = project(&config, &[("events.bpl", SOURCE), ("daily.bpl", &dataset)]);
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
}

#[test]
fn check_with_errors_exits_1_and_reports_every_error() {
    let dir = broken_project();
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("expected `replace` or `versioned`"), "{err}");
    assert!(err.contains("expected a name"), "{err}");
    assert!(err.contains("2 errors"), "{err}");
}

#[test]
fn check_of_a_missing_path_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = bplc()
        .arg("check")
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn check_of_a_directory_without_bpl_toml_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.bpl"), SOURCE).unwrap();
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("bpl.toml"), "{}", stderr(&out));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["frobnicate"][..],
        &["check", "--format", "xml"],
        &["check", "--no-such-flag"],
        &["explain"],
        &[],
    ] {
        let out = bplc().args(args).output().unwrap();
        assert_eq!(code(&out), Some(2), "bplc {args:?}:\n{}", stderr(&out));
    }
}

#[test]
fn a_malformed_bpl_toml_is_e0009_and_exits_1() {
    let dir = project("name = \n", &[("events.bpl", SOURCE)]);
    let out = bplc()
        .args(["--format", "json", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(json[0]["code"], "E0009", "{json:#}");
    assert!(
        json[0]["file"].as_str().unwrap().ends_with("bpl.toml"),
        "{json:#}"
    );
}

#[test]
fn an_unknown_key_in_bpl_toml_is_e0009() {
    let dir = project(
        "name = \"x\"\nenigne = \"sqlite\"\n",
        &[("events.bpl", SOURCE)],
    );
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("E0009"), "{}", stderr(&out));
}

// ---------------------------------------------------------------- output formats

#[test]
fn json_output_has_the_documented_keys() {
    let dir = broken_project();
    let out = bplc()
        .args(["--format", "json", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let diags = json.as_array().expect("an array of diagnostics");
    assert_eq!(diags.len(), 2, "{json:#}");
    for d in diags {
        for key in [
            "code",
            "severity",
            "message",
            "file",
            "line",
            "column",
            "end_line",
            "end_column",
            "help",
        ] {
            assert!(d.get(key).is_some(), "no `{key}` in {d:#}");
        }
        assert_eq!(d["severity"], "error");
        assert!(d["code"].as_str().unwrap().starts_with('E'));
        assert!(d["file"].as_str().unwrap().ends_with("daily.bpl"));
        assert!(d["line"].as_u64().unwrap() >= 1);
        assert!(d["column"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn json_output_of_a_clean_project_is_an_empty_array() {
    let out = bplc()
        .args(["--format", "json", "check"])
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(json, serde_json::json!([]));
}

#[test]
fn json_output_reports_warnings_as_warnings() {
    let dir = warning_project();
    let out = bplc()
        .args(["--format", "json", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(json[0]["code"], "W0101", "{json:#}");
    assert_eq!(json[0]["severity"], "warning", "{json:#}");
}

#[test]
fn github_output_is_one_workflow_command_per_diagnostic() {
    let dir = broken_project();
    let out = bplc()
        .args(["--format", "github", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert!(line.starts_with("::error file="), "{line}");
        assert!(line.contains("daily.bpl,line="), "{line}");
        assert!(line.contains(",title=E0001::"), "{line}");
    }
}

#[test]
fn github_output_marks_warnings_as_warnings() {
    let dir = warning_project();
    let out = bplc()
        .args(["--format", "github", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0));
    assert!(
        stdout(&out).starts_with("::warning file="),
        "{}",
        stdout(&out)
    );
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_a_known_code_exits_0() {
    let out = bplc().args(["explain", "E0001"]).output().unwrap();
    assert_eq!(code(&out), Some(0));
    assert!(!stdout(&out).trim().is_empty());
}

#[test]
fn explain_is_case_insensitive_and_speaks_json() {
    let out = bplc()
        .args(["--format", "json", "explain", "e0002"])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    assert_eq!(json["code"], "E0002");
    assert!(json["explanation"].as_str().is_some_and(|e| !e.is_empty()));
}

#[test]
fn explain_an_unknown_code_exits_2() {
    let out = bplc().args(["explain", "X9"]).output().unwrap();
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("`X9` is not a bplc diagnostic code"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------- help

#[test]
fn help() {
    let out = bplc().arg("--help").output().unwrap();
    assert_eq!(code(&out), Some(0));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn check_help() {
    let out = bplc().args(["check", "--help"]).output().unwrap();
    assert_eq!(code(&out), Some(0));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn a_file_that_is_not_utf8_is_an_io_error_with_e0010() {
    let dir = clean_project();
    std::fs::write(dir.path().join("bad.bpl"), [0xff, 0xfe, b'x']).unwrap();
    let out = bplc().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(code(&out), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("E0010") && err.contains("not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn every_command_refuses_a_format_it_does_not_print() {
    let example = example();
    let example = example.to_str().unwrap();
    for (args, format) in [
        (vec!["explain", "E0001"], "dot"),
        (vec!["explain", "E0001"], "github"),
        (vec!["fmt", "--check", example], "mermaid"),
    ] {
        let out = bplc()
            .args(["--format", format])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            Some(2),
            "{args:?} --format {format}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("`--format {format}` is for")),
            "{}",
            stderr(&out)
        );
    }
}
