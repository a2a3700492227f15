//! The warehouse and the ledger as a pair: each carries the project's
//! identity, a foreign or missing partner is refused with a code naming
//! both files, run ids never collide with the warehouse's commit markers,
//! concurrent first opens are safe, and nothing is created on disk before
//! the paths are checked.

mod runtime_support;

use std::process::Stdio;

use runtime_support::{reading, readings_project, Project};
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

/// `bplc run` of exactly one day of the readings project.
fn run_args(day: &str) -> [&str; 7] {
    [
        "run",
        "daily",
        "--date",
        day,
        "--no-lookback",
        "--as-of",
        AS_OF,
    ]
}

fn run(p: &Project, day: &str) -> (i32, Value) {
    p.json(&run_args(day))
}

/// Removes the ledger with its write-ahead log.
fn remove_ledger(p: &Project) {
    std::fs::remove_file(p.ledger_path()).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.ledger_path().display()));
    }
}

fn set_name(p: &Project, name: &str) {
    std::fs::write(
        p.path().join("bpl.toml"),
        format!("name = \"{name}\"\ntime_zone = \"UTC\"\n"),
    )
    .unwrap();
}

fn identity(path: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT key || '=' || value FROM _bpl_project WHERE key LIKE 'project_%' ORDER BY key",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn both_files_carry_the_projects_identity_and_a_foreign_ledger_is_refused() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    let (code, first) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{first}");
    let ours = identity(&p.warehouse_path());
    assert_eq!(ours, identity(&p.ledger_path()));
    assert!(ours.contains(&"project_name=test".to_string()), "{ours:?}");

    // Another project's ledger, dropped in place of ours.
    let other = readings_project("quarantine", "warn");
    set_name(&other, "other");
    reading(&other, "a", 5, "2026-07-01");
    assert_eq!(run(&other, "2026-07-01").0, 0);
    std::fs::copy(other.ledger_path(), p.ledger_path()).unwrap();
    for args in [
        &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF][..],
        &["runs"][..],
    ] {
        let (code, _, err) = p.text(args);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("E0330")
                && err.contains("warehouse.sqlite")
                && err.contains("ledger.sqlite")
                && err.contains("`other`"),
            "{err}"
        );
    }
    // Refused before anything ran.
    assert_eq!(p.count("SELECT count(*) FROM _bpl_commits"), 1);
}

#[test]
fn a_renamed_project_keeps_its_history_but_a_lone_file_of_another_is_refused() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    reading(&p, "b", 6, "2026-07-02");
    assert_eq!(run(&p, "2026-07-01").0, 0);
    set_name(&p, "renamed");
    let (code, second) = run(&p, "2026-07-02");
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["run_id"], "run-000002");
    assert!(identity(&p.ledger_path()).contains(&"project_name=renamed".to_string()));
    assert_eq!(identity(&p.warehouse_path()), identity(&p.ledger_path()));

    // The old project's ledger next to a warehouse it never knew.
    let fresh = readings_project("quarantine", "warn");
    reading(&fresh, "a", 5, "2026-07-01");
    std::fs::copy(p.ledger_path(), fresh.ledger_path()).unwrap();
    let (code, _, err) = fresh.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0331")
            && err.contains("`renamed`")
            && err.contains("`test`")
            && err.contains("ledger.sqlite")
            && err.contains("warehouse.sqlite"),
        "{err}"
    );
}

#[test]
fn a_new_ledger_next_to_a_warehouse_with_runs_is_refused_and_run_ids_never_collide() {
    let p = readings_project("quarantine", "warn");
    for (id, day) in [
        ("a", "2026-07-01"),
        ("b", "2026-07-02"),
        ("c", "2026-07-03"),
    ] {
        reading(&p, id, 5, day);
    }
    assert_eq!(run(&p, "2026-07-01").0, 0);
    let backup = p.path().join("ledger-backup.sqlite");
    std::fs::copy(p.ledger_path(), &backup).unwrap();
    assert_eq!(run(&p, "2026-07-02").0, 0);

    // The ledger is gone: refused, and not created.
    remove_ledger(&p);
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-03", "--as-of", AS_OF]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0332") && err.contains("run-000002") && err.contains("touch"),
        "{err}"
    );
    assert!(!p.ledger_path().exists());

    // An older backup of the ledger: run ids go on after the warehouse's,
    // not after the backup's (run-000002 is already a commit marker).
    std::fs::copy(&backup, p.ledger_path()).unwrap();
    let (code, third) = run(&p, "2026-07-03");
    assert_eq!(code, 0, "{third}");
    assert_eq!(third["run_id"], "run-000003");

    // Deliberately started anew: an empty ledger file.
    remove_ledger(&p);
    std::fs::write(p.ledger_path(), "").unwrap();
    let (code, fourth) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{fourth}");
    assert_eq!(fourth["run_id"], "run-000004");
    assert_eq!(identity(&p.warehouse_path()), identity(&p.ledger_path()));
}

#[test]
fn nothing_is_created_before_the_paths_are_checked() {
    let p = readings_project("quarantine", "warn");
    std::fs::remove_dir_all(p.path().join("target")).unwrap();
    for args in [
        &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF][..],
        &[
            "backfill",
            "--from",
            "readings",
            "--range",
            "2026-07-01..2026-07-01",
            "--mode",
            "replace",
        ][..],
        &[
            "rollback",
            "daily",
            "--partition",
            "2026-07-01",
            "--to-version",
            "1",
        ][..],
        &["approve", "run-000001"][..],
        &["diff", "daily", "--partition", "2026-07-01"][..],
    ] {
        let (code, _, err) = p.text(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("E0333") && err.contains("warehouse.sqlite"),
            "{args:?}: {err}"
        );
        assert!(!p.path().join("target").exists(), "{args:?} created files");
    }
    // Reading commands without a ledger create none either.
    let (code, out, _) = p.text(&["runs"]);
    assert_eq!((code, out.trim()), (0, "no runs yet"));
    let (code, _, err) = p.text(&["show", "run-000001"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0304"), "{err}");
    assert!(!p.path().join("target").exists());

    // A ledger in a directory that does not exist: named, not created.
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    std::fs::write(
        p.path().join("bpl.toml"),
        "name = \"test\"\ntime_zone = \"UTC\"\nledger = \"state/ledger.sqlite\"\n",
    )
    .unwrap();
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("E0333") && err.contains("mkdir -p"), "{err}");
    assert!(!p.path().join("state").exists());
    assert_eq!(
        p.count("SELECT count(*) FROM sqlite_master WHERE name LIKE '_bpl%'"),
        0
    );
}

#[test]
fn concurrent_first_opens_of_a_new_pair_are_safe() {
    for trial in 0..4 {
        let p = readings_project("quarantine", "warn");
        let days: Vec<String> = (1..=6).map(|d| format!("2026-07-0{d}")).collect();
        for (n, day) in days.iter().enumerate() {
            reading(&p, &format!("r{n}"), 5, day);
        }
        // Six processes open the new warehouse tables and ledger at once.
        let children: Vec<_> = days
            .iter()
            .map(|day| {
                std::process::Command::new(assert_cmd::cargo::cargo_bin("bplc"))
                    .env_remove("BPLC_FAULT")
                    .args(run_args(day))
                    .arg("--project")
                    .arg(p.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "trial {trial}: {err}");
        }
        assert_eq!(p.count("SELECT count(*) FROM _bpl_commits"), 6);
        assert_eq!(identity(&p.warehouse_path()), identity(&p.ledger_path()));
    }
}
