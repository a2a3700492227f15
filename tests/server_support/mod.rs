//! Shared by the suites that run an example project on a server engine
//! (`tests/postgres.rs`, `tests/spark.rs`): copying an example into a
//! scratch folder and running `bplc` in it.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

/// Copies a project folder, leaving out its `target/` (a warehouse or
/// ledger left there by an earlier run).
pub fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs `bplc` in `dir` with `env` added: its exit code, and its standard
/// output followed by its standard error.
pub fn bplc(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("bplc").unwrap();
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Starts one `bplc` in `dir` per argument list, all at once, and waits
/// for them all: each must succeed (its output is in the message if not).
pub fn all_at_once(dir: &Path, runs: &[Vec<String>]) {
    let started: Vec<_> = runs
        .iter()
        .map(|args| {
            Command::cargo_bin("bplc")
                .unwrap()
                .current_dir(dir)
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (args, child) in runs.iter().zip(started) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
