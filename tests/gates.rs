//! Every built-in check and gate function measures what it names: each
//! one fails on data that breaks it and passes on data that keeps it, and
//! a gate without a value fails (see the book's runtime guide, "What each
//! check measures").

mod runtime_support;

use runtime_support::*;
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

const SPEC: &str = r#"source readings {
  table "readings"
  columns {
    id: string
    unit: string
    v: int?
    note: string?
    day: date
    at: timestamp
  }
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

reference limits {
  table "limits"
  columns {
    unit: string
    cap: int
  }
  key unit
}

dataset checked {
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p
  bind u = units latest because "a test of checks"
  bind l = limits latest because "a test of checks"

  compute {
    from r
    join l on l.unit == r.unit
    left join u on u.unit == r.unit
  }

  quality {
    require v_present: not_null(r.v) else warn
    require v_in_range: between(coalesce(r.v, -1), 0, 100) else warn
    require unit_known: accepted_values(r.unit, "u1", "u2") else warn
    require note_written: not_empty(coalesce(r.note, "")) else warn
    expect none_high: count(v > 90) == 0 else warn
    expect ids_distinct: count_distinct(id) == row_count() else warn
    expect ids_unique: unique(id) else warn
    expect total: sum(v) < 150 else warn
    expect mean: avg(v) < 50 else warn
    expect lowest: min(v) >= 0 else warn
    expect highest: max(v) <= 90 else warn
    expect median: percentile(v, 0.5) < 50 else warn
    expect notes: null_rate(note) < 0.2 else warn
    expect fresh: freshness(at) <= 2h else warn
  }

  reconcile {
    nothing_lost: input == accepted + quarantined + duplicates else warn
    all_output: rows(r) == output else warn
    units_known: unmatched(u) == 0 else warn
    units_loaded: rows(u) >= 3 else warn
  }
}
"#;

const GATES: &[&str] = &[
    "v_present",
    "v_in_range",
    "unit_known",
    "note_written",
    "none_high",
    "ids_distinct",
    "ids_unique",
    "total",
    "mean",
    "lowest",
    "highest",
    "median",
    "notes",
    "fresh",
    "nothing_lost",
    "all_output",
    "units_known",
    "units_loaded",
];

fn project() -> Project {
    let p = Project::new(&[("specs.bpl", SPEC)]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE readings(id TEXT, unit TEXT, v INTEGER, note TEXT, day TEXT, at TEXT);
             CREATE TABLE units(unit TEXT, region TEXT);
             CREATE TABLE limits(unit TEXT, cap INTEGER);",
        )
        .unwrap();
    p
}

/// Every check of the run's partition, by name: passed, and the detail.
fn checks(run: &Value) -> Vec<(String, bool, String)> {
    let out = &run["outputs"][0];
    out["quality"]
        .as_array()
        .unwrap()
        .iter()
        .chain(out["reconciliation"].as_array().unwrap())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["passed"].as_bool().unwrap(),
                c["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn run(p: &Project, as_of: &str) -> Value {
    let (code, run) = p.json(&[
        "run",
        "checked",
        "--date",
        "2026-07-01",
        "--no-lookback",
        "--as-of",
        as_of,
    ]);
    assert_eq!(code, 0, "warnings publish: {run}");
    run
}

/// Rows that break every check of `SPEC`.
const BREAKING: &str = "INSERT INTO units VALUES ('u1', 'west'), ('u2', 'east');
     INSERT INTO limits VALUES ('u1', 10), ('u9', 10);
     INSERT INTO readings VALUES
       ('a', 'u1', 95, 'x', '2026-07-01', '2026-07-01 10:00:00'),
       ('a', 'u1', 95, 'x', '2026-07-01', '2026-07-01 10:30:00'),
       ('b', 'u9', NULL, NULL, '2026-07-01', '2026-07-01 11:00:00'),
       ('c', 'u2', -5, '', '2026-07-01', '2026-07-01 12:00:00'),
       ('d', 'u1', -5, '', '2026-07-01', '2026-07-01 12:00:00');";

#[test]
fn every_check_fails_on_data_that_breaks_it() {
    let p = project();
    p.warehouse().execute_batch(BREAKING).unwrap();
    let run = run(&p, "2026-07-05T00:00:00Z");
    let checks = checks(&run);
    for gate in GATES {
        let (_, passed, detail) = checks
            .iter()
            .find(|(n, ..)| n == gate)
            .unwrap_or_else(|| panic!("no check {gate}: {run}"));
        assert!(!passed, "{gate} passed on bad data ({detail}): {run}");
    }
    // What was measured, as the manifest shows it.
    let detail = |name: &str| checks.iter().find(|c| c.0 == name).unwrap().2.clone();
    assert_eq!(detail("units_known"), "unmatched(u) = 1");
    assert_eq!(detail("all_output"), "rows(r) = 5, output = 4");
    assert_eq!(detail("fresh"), "freshness(at) = 302400");
}

/// A reconciliation over the run's counters alone (`nothing_lost`,
/// `all_output`, `units_known`, `units_loaded`) is computed by the runtime,
/// not sent as a statement, failed ones' sides included; the checks over
/// the staged rows still are statements.
/// `bplc run -v checked` of 2026-07-01, its log filtered by `filter`,
/// with `global` options before the command.
fn run_verbose(p: &Project, filter: &str, global: &[&str]) -> std::process::Output {
    p.bplc()
        .env("BPLC_LOG", filter)
        .args(global)
        .args(["run", "-v", "checked", "--date", "2026-07-01"])
        .args(["--no-lookback", "--as-of", AS_OF, "--project"])
        .arg(p.path())
        .output()
        .unwrap()
}

#[test]
fn counter_gates_are_answered_without_a_statement() {
    let p = project();
    p.warehouse().execute_batch(BREAKING).unwrap();
    let out = run_verbose(&p, "bplc=debug", &["--format", "json"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("count(DISTINCT"), "{log}");
    assert!(!log.contains("AS counters"), "{log}");
    // All four fail here, and say what was measured.
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = checks(&run);
    let detail = |name: &str| {
        let c = checks.iter().find(|c| c.0 == name).unwrap();
        assert!(!c.1, "{name} passed: {run}");
        c.2.clone()
    };
    assert_eq!(
        detail("nothing_lost"),
        "input = 5, accepted + quarantined + duplicates = 4"
    );
    assert_eq!(detail("all_output"), "rows(r) = 5, output = 4");
    assert_eq!(detail("units_known"), "unmatched(u) = 1");
    assert_eq!(detail("units_loaded"), "rows(u) = 2");
}

/// `-v` promises each step with its time: a closed span says how long it
/// was busy, and every line starts with the seconds since the start.
#[test]
fn a_verbose_run_times_each_step() {
    let p = project();
    let out = run_verbose(&p, "bplc=info", &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let publish = log
        .lines()
        .find(|l| l.contains("publish") && l.contains("close"))
        .unwrap_or_else(|| panic!("no closed publish span:\n{log}"));
    assert!(publish.contains("time.busy="), "{publish}");
    let first = publish.split_whitespace().next().unwrap();
    assert!(
        first.ends_with('s') && first.trim_end_matches('s').parse::<f64>().is_ok(),
        "{publish}"
    );
}

#[test]
fn every_check_passes_on_data_that_keeps_it() {
    let p = project();
    p.warehouse()
        .execute_batch(
            "INSERT INTO units VALUES ('u1', 'west'), ('u2', 'east'), ('u3', 'north');
             INSERT INTO limits VALUES ('u1', 10), ('u2', 10);
             INSERT INTO readings VALUES
               ('a', 'u1', 10, 'x', '2026-07-01', '2026-07-01 10:00:00'),
               ('b', 'u2', 20, 'y', '2026-07-01', '2026-07-01 11:00:00'),
               ('c', 'u1', 30, 'z', '2026-07-01', '2026-07-01 12:00:00');",
        )
        .unwrap();
    let run = run(&p, "2026-07-01T13:00:00Z");
    for (name, passed, detail) in checks(&run) {
        assert!(passed, "{name} failed on good data ({detail}): {run}");
    }
}

/// A gate without a value fails, and says why; a spec that means an
/// empty partition to pass says so in the condition.
#[test]
fn a_gate_without_a_value_fails_closed_unless_the_spec_says_otherwise() {
    let spec = |condition: &str| {
        format!(
            r#"source readings {{
  table "readings"
  columns {{
    id: string
    v: int
    day: date
  }}
  key id
}}

dataset daily {{
  version 1
  partition by day: date
  publish replace
  input r = readings where day == p
  compute {{
    from r
  }}
  quality {{
    expect mean: {condition} else fail run
  }}
  reconcile {{
    nothing_lost: input == accepted + quarantined + duplicates
  }}
}}
"#
        )
    };
    let run = |condition: &str| {
        let p = Project::new(&[("specs.bpl", &spec(condition))]);
        p.warehouse()
            .execute_batch(
                "CREATE TABLE readings(id TEXT, v INTEGER, day TEXT);
                 INSERT INTO readings VALUES ('a', 5, '2026-07-02');",
            )
            .unwrap();
        // 2026-07-01 has no rows.
        p.json(&["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF])
    };
    let (code, failed) = run("avg(v) < 50");
    assert_eq!(
        (code, failed["status"].as_str()),
        (1, Some("FAILED")),
        "{failed}"
    );
    let checks = checks(&failed);
    assert_eq!(
        checks,
        vec![
            ("typed_input(r)".to_string(), true, String::new()),
            (
                "mean".to_string(),
                false,
                "no value: the partition has no rows, and a check without a value fails"
                    .to_string()
            ),
            // Counters have a value on an empty partition: 0 == 0 + 0 + 0.
            (
                "nothing_lost".to_string(),
                true,
                "input = 0, accepted = 0, quarantined = 0, duplicates = 0".to_string()
            ),
            ("within_partition".to_string(), true, String::new()),
            ("typed_output".to_string(), true, String::new()),
        ]
    );
    let (code, passed) = run("row_count() == 0 or avg(v) < 50");
    assert_eq!(
        (code, passed["status"].as_str()),
        (0, Some("PUBLISHED")),
        "{passed}"
    );
    let (code, passed) = run("coalesce(avg(v), 0) < 50");
    assert_eq!(
        (code, passed["status"].as_str()),
        (0, Some("PUBLISHED")),
        "{passed}"
    );
    // A sum of no values is 0, over the staged rows and over the input's.
    let (code, passed) = run("sum(v) == 0 and sum(r.v) == 0");
    assert_eq!(
        (code, passed["status"].as_str()),
        (0, Some("PUBLISHED")),
        "{passed}"
    );
}

/// A reference's columns are not checked as they are read: a null or a
/// value of the wrong type in one reaches the output, where the output's
/// own typed boundary holds the partition back.
#[test]
fn an_output_value_not_of_its_declared_type_holds_its_partition_back() {
    let spec = r#"source readings {
  table "readings"
  columns {
    id: string
    unit: string
    day: date
  }
  key id
}

reference units {
  table "units"
  columns {
    unit: string
    region: string
    level: int
  }
  key unit
}

dataset placed {
  version 1
  partition by day: date
  publish replace
  input r = readings where day == p
  bind u = units latest because "a test of output types"
  compute {
    from r
    join u on u.unit == r.unit
    select id = r.id, day = r.day, region = u.region, level = u.level
  }
}
"#;
    let p = Project::new(&[("specs.bpl", spec)]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE readings(id TEXT, unit TEXT, day TEXT);
             CREATE TABLE units(unit TEXT, region TEXT, level INTEGER);
             INSERT INTO units VALUES ('u1', 'west', 1), ('u2', NULL, 2), ('u3', 'east', 'high');
             INSERT INTO readings VALUES ('a', 'u1', '2026-07-01'), ('b', 'u2', '2026-07-02'),
               ('c', 'u3', '2026-07-03');",
        )
        .unwrap();
    let (code, run) = p.json(&[
        "run",
        "placed",
        "--range",
        "2026-07-01..2026-07-03",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(
        (code, run["status"].as_str()),
        (0, Some("PUBLISHED")),
        "{run}"
    );
    let typed: Vec<(String, bool, String)> = run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let c = o["reconciliation"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "typed_output")
                .unwrap();
            (
                o["partition"].as_str().unwrap().to_string(),
                o["published"].as_bool().unwrap(),
                c["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        typed,
        vec![
            ("2026-07-01".to_string(), true, String::new()),
            (
                "2026-07-02".to_string(),
                false,
                "[E0340] 1 row(s) not as declared, e.g. region: null in a column that may not be null"
                    .to_string()
            ),
            (
                "2026-07-03".to_string(),
                false,
                "[E0340] 1 row(s) not as declared, e.g. level: 'high' is not a valid int".to_string()
            ),
        ]
    );
    // Nothing of the held partitions is published.
    assert_eq!(p.rows("SELECT id FROM placed"), ["Text(\"a\")"]);
}

/// `drift(x)` compares the partition's `sum(x)` with the previous
/// partition's published one.
#[test]
fn drift_fails_when_the_total_moves_more_than_allowed() {
    let spec = r#"source payments {
  table "payments"
  columns {
    payment_id: string
    amount: int
    day: date
  }
  key payment_id
}

dataset daily_totals {
  version 1
  partition by day: date
  publish replace
  input pay = payments where day == p
  compute {
    from pay
    group by day = p {
      total = sum(pay.amount)
    }
  }
  quality {
    expect stable: coalesce(drift(total), 0) <= 0.2 else fail partition
  }
}
"#;
    let p = Project::new(&[("specs.bpl", spec)]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE payments(payment_id TEXT, amount INTEGER, day TEXT);
             INSERT INTO payments VALUES ('a', 100, '2026-07-01'), ('b', 110, '2026-07-02'),
               ('c', 200, '2026-07-03');",
        )
        .unwrap();
    let run = |day: &str| {
        let (_, run) = p.json(&["run", "daily_totals", "--date", day, "--as-of", AS_OF]);
        let out = &run["outputs"][0];
        let stable = out["quality"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "stable")
            .unwrap()
            .clone();
        (
            out["published"].as_bool().unwrap(),
            stable["detail"].clone(),
        )
    };
    // No previous partition: no drift, and the spec lets that pass.
    assert_eq!(run("2026-07-01"), (true, Value::Null));
    // 110 against 100: +10%.
    assert_eq!(run("2026-07-02"), (true, Value::Null));
    // 200 against 110: +82%.
    let (published, detail) = run("2026-07-03");
    assert!(!published);
    assert_eq!(detail, "coalesce(drift(total), 0) = 0.8181818181818182");
}
