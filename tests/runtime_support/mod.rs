//! Shared by the runtime tests: projects in temporary directories, source
//! rows written straight into their warehouse, and `bplc` run as users run
//! it, its JSON output parsed.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

pub struct Project {
    pub dir: TempDir,
}

impl Project {
    /// A copy of an example, without its warehouse or ledger.
    pub fn example(name: &str) -> Project {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let dir = tempfile::tempdir().unwrap();
        copy(&from, dir.path());
        let _ = std::fs::remove_dir_all(dir.path().join("target"));
        Project { dir }
    }

    /// A project of the given files, with `time_zone = "UTC"`.
    pub fn new(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bpl.toml"),
            "name = \"test\"\ntime_zone = \"UTC\"\n",
        )
        .unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn warehouse_path(&self) -> PathBuf {
        self.path().join("target/warehouse.sqlite")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.path().join("target/ledger.sqlite")
    }

    pub fn warehouse(&self) -> Connection {
        std::fs::create_dir_all(self.path().join("target")).unwrap();
        Connection::open(self.warehouse_path()).unwrap()
    }

    pub fn bplc(&self) -> Command {
        let mut cmd = Command::cargo_bin("bplc").unwrap();
        cmd.env_remove("BPLC_FAULT")
            .env("NO_COLOR", "1")
            .args(["--color", "never"]);
        cmd
    }

    /// Runs `bplc ARGS --project DIR --format json`; returns exit code and JSON.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        self.json_with(args, &[])
    }

    pub fn json_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        let mut cmd = self.bplc();
        cmd.args(["--format", "json"])
            .args(args)
            .arg("--project")
            .arg(self.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
            Value::String(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        });
        (code, value)
    }

    /// Runs `bplc ARGS --project DIR`; returns exit code, stdout and stderr.
    pub fn text(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .bplc()
            .args(args)
            .arg("--project")
            .arg(self.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every row of a query, each as text, sorted: for comparing contents.
    pub fn rows(&self, sql: &str) -> Vec<String> {
        let c = self.warehouse();
        let mut stmt = c.prepare(sql).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        rows
    }

    /// The first column of every row of a query on the ledger, as text.
    pub fn ledger_texts(&self, sql: &str) -> Vec<String> {
        let c = Connection::open(self.ledger_path()).unwrap();
        let mut stmt = c.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.warehouse().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The source and reference tables of examples/enforcement_sla, in SQL
/// both SQLite and PostgreSQL run.
const ENFORCEMENT_TABLES: &str = "CREATE TABLE raw_case_events(event_id TEXT, case_id TEXT, unit_id TEXT, kind TEXT,
        opened_at TEXT, event_time TEXT, ingested_at TEXT, penalty_amount DOUBLE PRECISION);
     CREATE TABLE raw_assignment_events(case_event_id TEXT, assignee TEXT, assigned_at TEXT, ingested_at TEXT);
     CREATE TABLE raw_escalation_events(case_event_id TEXT, level INTEGER, reason TEXT,
        escalated_at TEXT, exported_at TEXT);
     CREATE TABLE org_units(unit_id TEXT, owning_unit TEXT, region TEXT, valid_from TEXT, valid_to TEXT);
     CREATE TABLE sla_calendar(region TEXT, sla_hours INTEGER, calendar_version TEXT);";

/// Source and reference rows for examples/enforcement_sla, small enough to
/// reason about: 40 case events over 2026-07-01..05, one delivered twice,
/// one with a negative penalty, unit u2 with no owning unit.
pub fn enforcement_rows(c: &Connection) {
    c.execute_batch(&enforcement_rows_sql()).unwrap();
}

/// [`enforcement_rows`] as SQL both SQLite and PostgreSQL run.
pub fn enforcement_rows_sql() -> String {
    let mut sql = format!(
        "{ENFORCEMENT_TABLES}
         INSERT INTO org_units VALUES ('u1', 'hq', 'west', '2026-01-01 00:00:00', NULL),
                                      ('u2', NULL, 'east', '2026-01-01 00:00:00', NULL);
         INSERT INTO sla_calendar VALUES ('west', 48, '2026-07'), ('east', 72, '2026-07'),
                                         ('west', 24, '2026-01');
         INSERT INTO raw_assignment_events VALUES ('e1', 'ann', '2026-07-02 06:00:00', '2026-07-02 10:00:00');
         INSERT INTO raw_escalation_events VALUES ('e2', 2, 'slow', '2026-07-03 07:00:00', '2026-07-03 12:00:00');"
    );
    let kinds = ["opened", "assigned", "escalated", "closed"];
    for i in 0..40 {
        let day = 1 + i % 5;
        sql.push_str(&format!(
            "INSERT INTO raw_case_events VALUES ('e{i}', 'c{}', '{}', '{}', '2026-07-0{day} 01:00:00', \
             '2026-07-0{day} 0{}:00:00', '2026-07-0{day} 10:00:00', {});",
            i / 4,
            if i % 3 == 0 { "u2" } else { "u1" },
            kinds[i % 4],
            5 + i % 4,
            if i == 7 { "-1.0" } else { "5.0" },
        ));
    }
    // The same event delivered twice.
    sql.push_str(
        "INSERT INTO raw_case_events SELECT event_id, case_id, unit_id, kind, opened_at, event_time,
            '2026-07-02 11:00:00', penalty_amount FROM raw_case_events WHERE event_id = 'e1';",
    );
    sql
}

/// The `readings` source of the tests' projects, reading `table`.
pub fn readings_source(table: &str) -> String {
    format!(
        r#"source readings {{
  table "{table}"
  columns {{
    id: string
    v: int
    day: date
    at: timestamp
  }}
  key id
  clock event = at
  snapshot by at
}}
"#
    )
}

/// The readings project's spec: one source and one daily dataset whose
/// quality severities the test picks (also run on every engine by
/// `tests/engine_suites`).
pub fn readings_spec(row_severity: &str, partition_severity: &str) -> String {
    let source = readings_source("readings");
    format!(
        r#"{source}
dataset daily {{
  version 1
  partition by day: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 1d

  input r = readings where day == p

  compute {{
    from r
    group by day = p {{
      total = sum(r.v)
      n = row_count()
    }}
  }}

  quality {{
    require positive: r.v >= 0 else {row_severity}
    expect row_count() > 0 else fail partition
    expect coalesce(sum(total), 0) < 1000 else {partition_severity}
  }}

  reconcile {{
    input == accepted + quarantined + duplicates
  }}
}}
"#
    )
}

/// The readings project: one source and one daily dataset whose quality
/// severities the test picks.
pub fn readings_project(row_severity: &str, partition_severity: &str) -> Project {
    with_readings_table(&readings_spec(row_severity, partition_severity), "")
}

/// A project of the readings source and `dataset` (its spec), the
/// source's table holding `values` (an SQL `VALUES` list of
/// `(id, v, day, at)`).
pub fn readings_with(dataset: &str, values: &str) -> Project {
    let spec = format!("{}\n{dataset}", readings_source("readings"));
    with_readings_table(&spec, values)
}

/// A project of `spec` with the `readings` table, holding `values` unless
/// they are empty.
fn with_readings_table(spec: &str, values: &str) -> Project {
    let p = Project::new(&[("specs.bpl", spec)]);
    let insert = if values.is_empty() {
        String::new()
    } else {
        format!("INSERT INTO readings VALUES {values};")
    };
    p.warehouse()
        .execute_batch(&format!(
            "CREATE TABLE readings(id TEXT, v INTEGER, day TEXT, at TEXT); {insert}"
        ))
        .unwrap();
    p
}

pub fn reading(p: &Project, id: &str, v: i64, day: &str) {
    p.warehouse()
        .execute(
            "INSERT INTO readings VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id, v, day, format!("{day} 12:00:00")],
        )
        .unwrap();
}

/// A season of data for examples/enforcement_sla: one case a day from
/// 2026-06-01 to 2026-07-31 in unit u1 (region west, SLA 48 hours), opened
/// at 01:00 and closed at 05:00 UTC, so no day breaches the SLA.
pub fn enforcement_season(c: &Connection) {
    c.execute_batch(&enforcement_season_sql()).unwrap();
}

/// [`enforcement_season`] as SQL both SQLite and PostgreSQL run.
pub fn enforcement_season_sql() -> String {
    let mut sql = format!(
        "{ENFORCEMENT_TABLES}
         INSERT INTO org_units VALUES ('u1', 'hq', 'west', '2026-01-01 00:00:00', NULL);
         INSERT INTO sla_calendar VALUES ('west', 48, '2026-07');"
    );
    let start = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let (mut events, mut assignments) = (Vec::new(), Vec::new());
    for d in 0..61 {
        let day = start + chrono::Days::new(d);
        let case = format!("c{day}");
        let at = |h: u32| format!("{day} {h:02}:00:00");
        for (k, (kind, hour)) in [
            ("opened", 1),
            ("assigned", 2),
            ("escalated", 3),
            ("closed", 5),
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("{case}-{k}");
            events.push(format!(
                "('{id}', '{case}', 'u1', '{kind}', '{}', '{}', '{}', 0)",
                at(1),
                at(hour),
                at(10)
            ));
            if kind == "assigned" {
                assignments.push(format!("('{id}', 'ann', '{}', '{}')", at(hour), at(10)));
            }
        }
    }
    sql.push_str(&format!(
        "INSERT INTO raw_case_events VALUES {};
         INSERT INTO raw_assignment_events VALUES {};",
        events.join(", "),
        assignments.join(", ")
    ));
    sql
}
