//! The runtime end to end, against real SQLite files: the example's jobs,
//! routing by every severity, approval, leases, determinism, versioned
//! publish with rollback, and bad input.

mod runtime_support;

use runtime_support::{enforcement_rows, reading, readings_project, readings_with, Project};
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

fn outputs(v: &Value) -> &Vec<Value> {
    v["outputs"].as_array().expect("outputs")
}

#[test]
fn the_same_run_gives_the_same_checksums_under_any_time_zone_and_locale() {
    let checksums = |env: &[(&str, &str)]| {
        let p = Project::example("enforcement_sla");
        enforcement_rows(&p.warehouse());
        let mut all = Vec::new();
        for dataset in ["silver_cases", "case_sla_daily_metrics"] {
            let (code, run) = p.json_with(
                &["run", dataset, "--date", "2026-07-04", "--as-of", AS_OF],
                env,
            );
            assert_eq!(code, 0, "{run}");
            all.extend(
                outputs(&run)
                    .iter()
                    .map(|o| o["checksum"].as_str().unwrap().to_string()),
            );
        }
        all
    };
    let utc = checksums(&[("TZ", "UTC"), ("LANG", "C"), ("LC_ALL", "C")]);
    let jakarta = checksums(&[
        ("TZ", "Asia/Jakarta"),
        ("LANG", "de_DE.UTF-8"),
        ("LC_ALL", "de_DE.UTF-8"),
    ]);
    assert_eq!(utc, jakarta);
    assert_eq!(utc, checksums(&[]));
}

#[test]
fn missing_or_mistyped_inputs_are_coded_errors_and_publish_nothing() {
    let p = Project::example("enforcement_sla");
    let run = [
        "run",
        "silver_cases",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ];
    let (code, _, err) = p.text(&run);
    // No warehouse at all: refused before anything is created on disk.
    assert_eq!(code, 2);
    assert!(
        err.contains("E0333") && err.contains("warehouse.sqlite"),
        "{err}"
    );
    assert!(!p.path().join("target").exists(), "{err}");
    // A warehouse without the source table.
    p.warehouse()
        .execute_batch("CREATE TABLE unrelated (x)")
        .unwrap();
    let (code, _, err) = p.text(&run);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0302") && err.contains("raw_case_events"),
        "{err}"
    );

    let p = readings_project("quarantine", "warn");
    p.warehouse()
        .execute_batch("DROP TABLE readings; CREATE TABLE readings(id TEXT, v INTEGER, at TEXT);")
        .unwrap();
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0302") && err.contains("no column `day`"),
        "{err}"
    );

    let p = readings_project("quarantine", "warn");
    p.warehouse()
        .execute_batch(
            "DROP TABLE readings; CREATE TABLE readings(id TEXT, v TEXT, day TEXT, at TEXT);",
        )
        .unwrap();
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(err.contains("E0302") && err.contains("`v`"), "{err}");
    let (_, runs) = p.json(&["runs"]);
    assert_eq!(
        runs,
        serde_json::json!([]),
        "a refused run leaves no record"
    );

    // Dataset input never published.
    let p = Project::example("enforcement_sla");
    enforcement_rows(&p.warehouse());
    let (code, _, err) = p.text(&[
        "run",
        "case_daily_metrics",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("never been published"), "{err}");
}

#[test]
fn a_corrupt_or_newer_ledger_is_refused() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    std::fs::write(
        p.ledger_path(),
        "this is not a database, it is a shopping list",
    )
    .unwrap();
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 2);
    assert!(err.contains("E0303"), "{err}");
    assert_eq!(
        p.count("SELECT count(*) FROM sqlite_master WHERE name = 'daily__data'"),
        0
    );

    std::fs::remove_file(p.ledger_path()).unwrap();
    rusqlite::Connection::open(p.ledger_path())
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let (code, _, err) = p.text(&["runs"]);
    assert_eq!(code, 2);
    assert!(err.contains("E0303") && err.contains("99"), "{err}");
}

#[test]
fn a_run_needs_an_explicit_date() {
    let p = readings_project("quarantine", "warn");
    let (code, _, err) = p.text(&["run", "daily"]);
    assert_eq!(code, 2);
    assert!(err.contains("--date"), "{err}");
    let (code, _, err) = p.text(&["run", "daily", "--date", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a date"), "{err}");
}

#[test]
fn no_lookback_computes_exactly_the_dates_given() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-06-30");
    reading(&p, "b", 7, "2026-07-01");
    let (code, run) = p.json(&[
        "run",
        "daily",
        "--date",
        "2026-07-01",
        "--no-lookback",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{run}");
    let parts: Vec<&str> = outputs(&run)
        .iter()
        .map(|o| o["partition"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["2026-07-01"]);
}

#[test]
fn an_output_name_the_project_does_not_own_is_refused_before_staging() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    p.warehouse()
        .execute_batch(
            "CREATE TABLE daily(day TEXT, note TEXT); INSERT INTO daily VALUES ('x', 'theirs');",
        )
        .unwrap();
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0308") && err.contains("`daily`"), "{err}");
    // Nothing was staged or created, and their table is untouched.
    assert_eq!(
        p.count("SELECT count(*) FROM sqlite_master WHERE name = 'daily__data'"),
        0
    );
    assert_eq!(p.rows("SELECT note FROM daily"), vec!["Text(\"theirs\")"]);

    // The project's own view, from an earlier run, is its own.
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    let args = ["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];
    assert_eq!(p.text(&args).0, 0);
    assert_eq!(p.text(&args).0, 0);
}

#[test]
fn unmatched_counts_the_rows_a_left_join_found_no_match_for() {
    let spec = r#"source readings {
  table "readings"
  columns {
    id: string
    unit: string
    day: date
    at: timestamp
  }
  key id
  clock event = at
  snapshot by at
}

reference units {
  table "units"
  columns {
    unit: string
    region: string
  }
  key unit
}

dataset by_region {
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p
  bind u = units latest because "a test of joins"

  compute {
    from r
    left join u on u.unit == r.unit
    group by day = p, region = coalesce(u.region, "none") {
      n = row_count()
    }
  }

  reconcile {
    referential: unmatched(u) == 0 else fail run
  }
}
"#;
    let p = Project::new(&[("specs.bpl", spec)]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE readings(id TEXT, unit TEXT, day TEXT, at TEXT);
             CREATE TABLE units(unit TEXT, region TEXT);
             INSERT INTO units VALUES ('u1', 'west');
             INSERT INTO readings VALUES ('a', 'u1', '2026-07-01', '2026-07-01 10:00:00'),
               ('b', 'u2', '2026-07-01', '2026-07-01 11:00:00'),
               ('c', 'u3', '2026-07-01', '2026-07-01 12:00:00');",
        )
        .unwrap();
    let args = ["run", "by_region", "--date", "2026-07-01", "--as-of", AS_OF];
    let (code, run) = p.json(&args);
    assert_eq!(code, 1, "{run}");
    assert_eq!(run["status"], "FAILED");
    let check = &run["outputs"][0]["reconciliation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "referential")
        .unwrap()
        .clone();
    assert_eq!(check["passed"], false, "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("unmatched(u) = 2"),
        "{check}"
    );

    // Every unit known: it passes.
    p.warehouse()
        .execute_batch("INSERT INTO units VALUES ('u2', 'east'), ('u3', 'east');")
        .unwrap();
    let (code, run) = p.json(&args);
    assert_eq!(code, 0, "{run}");
}

#[test]
fn the_typed_input_boundary_quarantines_bad_values_and_normalises_timestamps() {
    let p = readings_project("quarantine", "warn");
    p.warehouse()
        .execute_batch(
            "INSERT INTO readings VALUES
               ('a', 5, '2026-07-01', '2026-07-01T10:00:00Z'),
               ('b', 'high', '2026-07-01', '2026-07-01 11:00:00'),
               (NULL, 3, '2026-07-01', '2026-07-01 11:30:00'),
               ('c', 4, '2026-07-01', '2026-07-01 12:00:00+02:00'),
               ('d', 6, '2026-07-01', 'yesterday');",
        )
        .unwrap();
    let (code, run) = p.json(&[
        "run",
        "daily",
        "--date",
        "2026-07-01",
        "--no-lookback",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{run}");
    let out = &run["outputs"][0];
    let c = &out["counters"];
    assert_eq!(
        (
            c["input"].as_i64(),
            c["quarantined"].as_i64(),
            c["accepted"].as_i64()
        ),
        (Some(5), Some(3), Some(2)),
        "{out}"
    );
    // a (5) and c (4): the timestamps with T/Z and an offset were read.
    assert_eq!(
        p.rows("SELECT total, n FROM daily"),
        vec!["Integer(9)|Integer(2)"]
    );
    let ledger = rusqlite::Connection::open(p.ledger_path()).unwrap();
    let mut stmt = ledger
        .prepare("SELECT rule, reason FROM quarantine ORDER BY reason")
        .unwrap();
    let reasons: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                "typed_input".to_string(),
                "at: 'yesterday' is not a valid timestamp".to_string()
            ),
            (
                "typed_input".to_string(),
                "id: null in a column that may not be null".to_string()
            ),
            (
                "typed_input".to_string(),
                "v: 'high' is not a valid int".to_string()
            ),
        ]
    );
}

/// E0305's help says an engine lacks a feature; only the engine's own
/// lowering, which is where that is true, may raise it.
#[test]
fn only_the_engine_lowering_uses_the_engine_hint() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (n, line) in text.lines().enumerate() {
            let raises = line.contains("RuntimeError::Unsupported(")
                && !line
                    .trim_start()
                    .starts_with("RuntimeError::Unsupported(_)")
                && !line.contains("RuntimeError::Unsupported(m) =>");
            let engine_lowering = ["sqlite::lower(", "postgres::lower(", "spark::lower("]
                .iter()
                .any(|l| line.contains(l));
            if raises && !engine_lowering {
                offenders.push(format!(
                    "{}:{}: {}",
                    entry.path().display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn store_paths_read_the_environment_and_an_unset_variable_stops_the_command() {
    let p = readings_project("quarantine", "warn");
    reading(&p, "a", 5, "2026-07-01");
    std::fs::write(
        p.path().join("bpl.toml"),
        "name = \"test\"\ntime_zone = \"UTC\"\n\
         warehouse = \"${BPLC_TEST_STORE}/warehouse.sqlite\"\n\
         ledger = \"${BPLC_TEST_STORE}/ledger.sqlite\"\n",
    )
    .unwrap();
    let run = ["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];
    let mut cmd = p.bplc();
    cmd.args(run)
        .arg("--project")
        .arg(p.path())
        .env_remove("BPLC_TEST_STORE");
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("E0313") && err.contains("`BPLC_TEST_STORE`"),
        "{err}"
    );
    assert!(
        !p.path().join("ledger.sqlite").exists(),
        "nothing is created"
    );

    // `check` never opens the stores, so it does not need the variable.
    let out = p.bplc().arg("check").arg(p.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let store = p.path().join("target");
    let (code, out) = p.json_with(&run, &[("BPLC_TEST_STORE", store.to_str().unwrap())]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(p.count("SELECT count(*) FROM daily"), 1);
}

/// A dedupe as the last row step counts duplicates and accepted rows in
/// one call (`bpl_tally` kind 6), after the typed boundary and the rules:
/// every row is counted once, in its bucket, and each quarantined row is
/// recorded with its rule and its values.
#[test]
fn a_last_dedupe_counts_duplicates_and_accepted_rows() {
    let p = readings_with(
        r#"dataset latest {
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p

  compute {
    from r
    dedupe by r.id order by r.at desc
    select id = r.id, v = r.v, day = p
  }

  quality {
    require positive: r.v >= 0 else quarantine
  }

  reconcile {
    input == accepted + quarantined + duplicates
  }
}
"#,
        "('a', 1, '2026-07-01', '2026-07-01 10:00:00'),
         ('a', 2, '2026-07-01', '2026-07-01 11:00:00'),
         ('b', 3, '2026-07-01', '2026-07-01 10:00:00'),
         ('c', 'abc', '2026-07-01', '2026-07-01 10:00:00'),
         ('d', -1, '2026-07-01', '2026-07-01 10:00:00')",
    );
    let (code, m) = p.json(&["run", "latest", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{m}");
    let c = &m["outputs"][0]["counters"];
    assert_eq!(
        (
            c["input"].as_i64(),
            c["quarantined"].as_i64(),
            c["duplicates"].as_i64(),
            c["accepted"].as_i64()
        ),
        (Some(5), Some(2), Some(1), Some(2)),
        "{m}"
    );
    let ledger = rusqlite::Connection::open(p.ledger_path()).unwrap();
    let records: Vec<(String, String)> = ledger
        .prepare("SELECT rule, record FROM quarantine ORDER BY rule")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].0, "positive");
    assert!(
        records[0].1.contains(r#""r.id":"d","r.v":-1"#),
        "{records:?}"
    );
    assert_eq!(records[1].0, "typed_input");
    assert!(records[1].1.contains(r#""r.id":"c""#), "{records:?}");
    assert_eq!(
        p.rows("SELECT v FROM latest WHERE id = 'a'"),
        ["Integer(2)"]
    );
}

/// A group by whose keys are the partition (`p`), a literal and a column:
/// the groups are formed by the column alone within each partition, and the
/// keys that are one value per partition are joined back after the
/// grouping; two days staged as one batch each get their own.
#[test]
fn group_keys_of_the_partition_and_literals_are_the_same_on_every_group_of_a_batch() {
    let p = readings_with(
        r#"dataset by_reading {
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p

  compute {
    from r
    group by day = p, scope = "all", id = r.id {
      n = row_count()
      total = sum(r.v)
    }
    where total > 1
  }
}
"#,
        "('a', 1, '2026-07-01', '2026-07-01 10:00:00'),
         ('a', 2, '2026-07-01', '2026-07-01 11:00:00'),
         ('b', 1, '2026-07-01', '2026-07-01 10:00:00'),
         ('a', 5, '2026-07-02', '2026-07-02 10:00:00'),
         ('b', 4, '2026-07-02', '2026-07-02 10:00:00'),
         ('b', 6, '2026-07-02', '2026-07-02 12:00:00')",
    );
    let (code, m) = p.json(&[
        "backfill",
        "--from",
        "readings",
        "--range",
        "2026-07-01..2026-07-02",
        "--mode",
        "replace",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{m}");
    assert_eq!(
        p.rows("SELECT day, scope, id, n, total FROM by_reading"),
        [
            r#"Text("2026-07-01")|Text("all")|Text("a")|Integer(2)|Integer(3)"#,
            r#"Text("2026-07-02")|Text("all")|Text("a")|Integer(1)|Integer(5)"#,
            r#"Text("2026-07-02")|Text("all")|Text("b")|Integer(2)|Integer(10)"#,
        ]
    );
}
