//! `bplc demo-data`: deterministic, joinable demo rows for every source and
//! reference, with duplicates, late and invalid rows mixed in. Every test
//! works on a copy of an example in a temporary directory, never in
//! `examples/`.

use std::path::Path;

use assert_cmd::Command;
use bplc::demo::{self, DemoOptions, DemoReport};
use bplc::runtime::engine::sqlite::load::raw_type;
use bplc::runtime::engine::sqlite::load::SqliteLoader;
use bplc::semantic::hir::Program;
use bplc::syntax::ast::DeclKind;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// A copy of an example, without its warehouse or ledger.
fn example(name: &str) -> TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy(&from, dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join("target"));
    dir
}

fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn program(dir: &Path) -> (Program, Option<chrono_tz::Tz>) {
    let checked = bplc::driver::compile(dir).unwrap();
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "the example checks clean"
    );
    let zone = checked
        .project
        .config
        .time_zone
        .as_deref()
        .map(|z| z.parse().unwrap());
    (checked.program.unwrap(), zone)
}

fn options(rows: u64, seed: u64, zone: Option<chrono_tz::Tz>) -> DemoOptions {
    DemoOptions {
        rows,
        seed,
        time_zone: zone,
        ..DemoOptions::default()
    }
}

/// Fills the example's warehouse in `dir`; returns the connection and report.
fn fill(dir: &Path, rows: u64, seed: u64) -> (Connection, DemoReport) {
    let (program, zone) = program(dir);
    std::fs::create_dir_all(dir.join("target")).unwrap();
    let path = dir.join("target/warehouse.sqlite");
    let mut calls = 0u64;
    let report = demo::fill(
        &program,
        Box::new(SqliteLoader::open(&path).unwrap()),
        &options(rows, seed, zone),
        &mut |_, done, total| {
            assert!(done <= total, "progress {done} of {total}");
            calls += 1;
        },
    )
    .unwrap();
    assert!(calls >= report.tables.len() as u64, "progress is reported");
    (Connection::open(&path).unwrap(), report)
}

/// The source and reference tables of a project, in declaration order.
fn data_tables(program: &Program) -> Vec<String> {
    program
        .decls
        .iter()
        .filter(|d| matches!(d.kind, DeclKind::Source | DeclKind::Reference))
        .map(|d| d.table.clone())
        .collect()
}

/// A checksum of every row of the given tables, in insert order.
fn checksum(conn: &Connection, tables: &[String]) -> String {
    let mut h = Sha256::new();
    for t in tables {
        h.update(t.as_bytes());
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                let v: rusqlite::types::Value = r.get(i).unwrap();
                h.update(format!("{v:?}\u{1f}").as_bytes());
            }
            h.update(b"\n");
        }
    }
    format!("{:x}", h.finalize())
}

fn scalar<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn the_same_seed_writes_the_same_rows_and_another_seed_other_rows() {
    for ex in ["enforcement_sla", "finance_ledger"] {
        let (a, b, c) = (example(ex), example(ex), example(ex));
        let tables = data_tables(&program(a.path()).0);
        let (conn_a, report_a) = fill(a.path(), 800, 7);
        let (conn_b, report_b) = fill(b.path(), 800, 7);
        let (conn_c, _) = fill(c.path(), 800, 8);
        let sum_a = checksum(&conn_a, &tables);
        assert_eq!(sum_a, checksum(&conn_b, &tables), "{ex}: same seed");
        assert_eq!(
            serde_json::to_value(&report_a).unwrap(),
            serde_json::to_value(&report_b).unwrap()
        );
        assert_ne!(sum_a, checksum(&conn_c, &tables), "{ex}: other seed");
        // Filling again replaces the tables: the same rows, not twice as many.
        drop(conn_a);
        let (again, _) = fill(a.path(), 800, 7);
        assert_eq!(sum_a, checksum(&again, &tables), "{ex}: refill");
    }
}

#[test]
fn every_source_and_reference_table_has_its_declared_columns() {
    for ex in ["enforcement_sla", "finance_ledger"] {
        let dir = example(ex);
        let (program, _) = program(dir.path());
        let (conn, report) = fill(dir.path(), 500, 1);
        let mut n = 0;
        for d in program
            .decls
            .iter()
            .filter(|d| matches!(d.kind, DeclKind::Source | DeclKind::Reference))
        {
            n += 1;
            let mut stmt = conn
                .prepare(&format!("PRAGMA table_info(\"{}\")", d.table))
                .unwrap();
            let found: Vec<(String, String)> = stmt
                .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let declared: Vec<(String, String)> = d
                .columns
                .iter()
                .map(|c| (c.name.clone(), raw_type(&c.ty.t).to_string()))
                .collect();
            assert_eq!(found, declared, "{ex}: table {}", d.table);
            let rows: i64 = scalar(&conn, &format!("SELECT count(*) FROM \"{}\"", d.table));
            assert!(rows > 0, "{ex}: {} is empty", d.table);
            let t = report.tables.iter().find(|t| t.table == d.table).unwrap();
            assert_eq!(t.rows, rows as u64, "{ex}: reported rows of {}", d.table);
            // Every non-null value is stored in the column's SQLite type.
            for c in &d.columns {
                let want = match raw_type(&c.ty.t) {
                    "INTEGER" => "integer",
                    "REAL" => "real",
                    _ => "text",
                };
                let wrong: i64 = scalar(
                    &conn,
                    &format!(
                        "SELECT count(*) FROM \"{}\" WHERE \"{}\" IS NOT NULL AND typeof(\"{}\") != '{want}'",
                        d.table, c.name, c.name
                    ),
                );
                assert_eq!(wrong, 0, "{ex}: {}.{} not all {want}", d.table, c.name);
                if !c.ty.nullable {
                    let nulls: i64 = scalar(
                        &conn,
                        &format!(
                            "SELECT count(*) FROM \"{}\" WHERE \"{}\" IS NULL",
                            d.table, c.name
                        ),
                    );
                    assert_eq!(nulls, 0, "{ex}: {}.{} is not nullable", d.table, c.name);
                }
            }
        }
        assert_eq!(report.tables.len(), n);
    }
}

#[test]
fn enforcement_joins_match() {
    let dir = example("enforcement_sla");
    let (c, _) = fill(dir.path(), 4000, 3);
    let share = |sql: &str| -> f64 { scalar(&c, sql) };
    // Case events name units that the unit reference has.
    let known =
        share("SELECT avg(unit_id IN (SELECT unit_id FROM org_units)) FROM raw_case_events");
    assert!(known > 0.97, "known units: {known}");
    // Assignments and escalations carry ids of real case events, one each.
    for t in ["raw_assignment_events", "raw_escalation_events"] {
        let orphans: i64 = scalar(
            &c,
            &format!(
                "SELECT count(*) FROM {t} WHERE case_event_id NOT IN (SELECT event_id FROM raw_case_events)"
            ),
        );
        assert_eq!(orphans, 0, "{t}");
        // Most happen on the same local day as their event, so the daily
        // partitions join them.
        let same_day = share(&format!(
            "SELECT avg(date(e.event_time, '+7 hours') = date(x.{at}, '+7 hours'))
             FROM {t} x JOIN raw_case_events e ON e.event_id = x.case_event_id",
            at = if t == "raw_assignment_events" {
                "assigned_at"
            } else {
                "escalated_at"
            }
        ));
        assert!(same_day > 0.8, "{t} on the event's day: {same_day}");
    }
    // Regions of units are regions of the SLA calendar, in every version.
    for v in ["2026-01", "2026-07"] {
        let missing: i64 = scalar(
            &c,
            &format!(
                "SELECT count(*) FROM (SELECT DISTINCT region FROM org_units)
                 WHERE region NOT IN (SELECT region FROM sla_calendar WHERE calendar_version = '{v}')"
            ),
        );
        assert_eq!(missing, 0, "version {v}");
    }
    let versions: i64 = scalar(
        &c,
        "SELECT count(DISTINCT calendar_version) FROM sla_calendar",
    );
    assert_eq!(versions, 2);
    // Effective-dated units: one open row per unit, intervals that chain,
    // and some units that change region inside the range.
    let open: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT unit_id FROM org_units GROUP BY unit_id HAVING sum(valid_to IS NULL) != 1)",
    );
    assert_eq!(open, 0, "one open interval per unit");
    let gaps: i64 = scalar(
        &c,
        "SELECT count(*) FROM org_units a WHERE valid_to IS NOT NULL AND NOT EXISTS
           (SELECT 1 FROM org_units b WHERE b.unit_id = a.unit_id AND b.valid_from = a.valid_to)",
    );
    assert_eq!(gaps, 0, "intervals chain");
    let moved: i64 = scalar(
        &c,
        "SELECT count(*) FROM org_units WHERE valid_from >= '2026-05-31 17:00:00' AND valid_from < '2026-07-31 17:00:00'",
    );
    assert!(moved > 0, "some units change inside the range");
    let before: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT unit_id, min(valid_from) m FROM org_units GROUP BY unit_id)
         WHERE m > '2026-05-31 17:00:00'",
    );
    assert_eq!(before, 0, "every unit is valid from before the range");
    // Event times cover June and July 2026 in Asia/Jakarta.
    let (lo, hi): (String, String) = c
        .query_row(
            "SELECT min(event_time), max(event_time) FROM raw_case_events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        lo.as_str() >= "2026-05-31 17:00:00" && lo.as_str() < "2026-06-02",
        "{lo}"
    );
    assert!(
        hi.as_str() > "2026-07-25" && hi.as_str() < "2026-07-31 17:00:00",
        "{hi}"
    );
}

#[test]
fn enforcement_has_duplicates_late_and_invalid_rows() {
    let dir = example("enforcement_sla");
    let (c, report) = fill(dir.path(), 4000, 11);
    let ev = report
        .tables
        .iter()
        .find(|t| t.table == "raw_case_events")
        .unwrap();
    assert!(
        ev.duplicates > 0 && ev.late > 0 && ev.too_late > 0 && ev.invalid > 0,
        "{ev:?}"
    );
    assert!(
        ev.duplicates + ev.late + ev.too_late + ev.invalid < ev.rows / 10,
        "{ev:?}"
    );
    // A duplicate is the same event delivered again, later.
    let dups: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT event_id FROM raw_case_events GROUP BY event_id
           HAVING count(*) > 1 AND count(DISTINCT ingested_at) = count(*)
              AND count(DISTINCT event_time) = 1 AND count(DISTINCT unit_id) = 1)",
    );
    assert_eq!(dups as u64, ev.duplicates);
    let hours = "(julianday(ingested_at) - julianday(event_time)) * 24";
    let never_early: i64 = scalar(
        &c,
        &format!("SELECT count(*) FROM raw_case_events WHERE {hours} < 0"),
    );
    assert_eq!(never_early, 0, "ingested after the event");
    let late: i64 = scalar(
        &c,
        &format!("SELECT count(*) FROM raw_case_events WHERE {hours} > 6 AND {hours} <= 48"),
    );
    let too_late: i64 = scalar(
        &c,
        &format!("SELECT count(*) FROM raw_case_events WHERE {hours} > 48"),
    );
    assert!(
        late > 0 && too_late > 0,
        "late {late}, beyond max lateness {too_late}"
    );
    // Invalid the ways the quality rules of silver_cases catch.
    for (rule, sql) in [
        ("known_unit", "unit_id = ''"),
        ("opened_before_event", "opened_at > event_time"),
        ("penalty_not_negative", "penalty_amount < 0"),
    ] {
        let n: i64 = scalar(
            &c,
            &format!("SELECT count(*) FROM raw_case_events WHERE {sql}"),
        );
        assert!(n > 0, "no row breaks {rule}");
    }
    // A case is a life cycle: opened first, closed last, one unit.
    let cases: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT case_id FROM raw_case_events WHERE unit_id != ''
           GROUP BY case_id HAVING count(DISTINCT unit_id) > 1)",
    );
    assert_eq!(cases, 0, "a case stays with its unit");
    let opened: i64 = scalar(
        &c,
        "SELECT count(*) FROM raw_case_events WHERE kind = 'opened' AND opened_at != event_time",
    );
    let orderings: i64 = scalar(
        &c,
        "SELECT count(*) FROM raw_case_events WHERE opened_at > event_time",
    );
    assert!(opened <= orderings, "an opened event is the opening");
    // Some units have no owning unit: the owner_known rule has work.
    let owners: i64 = scalar(
        &c,
        "SELECT count(*) FROM org_units WHERE owning_unit IS NULL",
    );
    assert!(owners > 0);
}

#[test]
fn finance_ledger_balances_and_joins() {
    let dir = example("finance_ledger");
    let (c, report) = fill(dir.path(), 4000, 5);
    // Every account of an entry is an account of the same tenant in the
    // account master and in the chart of accounts.
    for t in ["account_master", "chart_of_accounts"] {
        let orphans: i64 = scalar(
            &c,
            &format!(
                "SELECT count(*) FROM ledger_entries l WHERE l.account_id != '' AND NOT EXISTS
                   (SELECT 1 FROM {t} a WHERE a.tenant_id = l.tenant_id AND a.account_id = l.account_id)"
            ),
        );
        assert_eq!(orphans, 0, "{t}");
    }
    let tenants: i64 = scalar(&c, "SELECT count(DISTINCT tenant_id) FROM ledger_entries");
    assert!(tenants >= 3, "{tenants} tenants");
    // Pinned FX: every currency in every declared version.
    let rates: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT DISTINCT currency, rate_version FROM fx_rates)",
    );
    assert_eq!(rates, 10);
    let pinned: i64 = scalar(
        &c,
        "SELECT count(*) FROM fx_rates WHERE rate_version = '2026-Q3'",
    );
    assert_eq!(pinned, 5);
    // Value dates are the booking day or up to two days after (T+2).
    let off: i64 = scalar(
        &c,
        "SELECT count(*) FROM ledger_entries WHERE julianday(value_date) - julianday(date(booked_at)) NOT IN (0, 1, 2)",
    );
    assert_eq!(off, 0);
    // Double entry: once duplicates are dropped and bad entries set
    // aside, each tenant's month nets to zero in every currency.
    let unbalanced: i64 = scalar(
        &c,
        "WITH e AS (SELECT * FROM ledger_entries GROUP BY tenant_id, entry_id)
         SELECT count(*) FROM (SELECT tenant_id, substr(value_date, 1, 7), currency, round(sum(amount), 2) s
           FROM e WHERE account_id != '' AND amount != 0 GROUP BY 1, 2, 3) WHERE s != 0",
    );
    assert_eq!(unbalanced, 0);
    let ledger = report
        .tables
        .iter()
        .find(|t| t.table == "ledger_entries")
        .unwrap();
    assert!(
        ledger.duplicates > 0 && ledger.late > 0 && ledger.invalid > 0,
        "{ledger:?}"
    );
    let credits: i64 = scalar(&c, "SELECT count(*) FROM ledger_entries WHERE amount < 0");
    assert!(credits > 0);
    // Reclassified accounts: some have more than one validity interval.
    let changed: i64 = scalar(
        &c,
        "SELECT count(*) FROM (SELECT account_id FROM chart_of_accounts GROUP BY tenant_id, account_id HAVING count(*) > 1)",
    );
    assert!(changed > 0);
    // Accounts were opened before the range.
    let late_open: i64 = scalar(
        &c,
        "SELECT count(*) FROM account_master WHERE opened_at >= '2026-06-01'",
    );
    assert_eq!(late_open, 0);
}

fn bplc() -> Command {
    let mut cmd = Command::cargo_bin("bplc").unwrap();
    cmd.env("NO_COLOR", "1").args(["--color", "never"]);
    cmd
}

#[test]
fn the_command_fills_the_warehouse_from_bpl_toml_the_same_in_any_zone_and_locale() {
    let dir = example("enforcement_sla");
    let out = bplc()
        .args([
            "demo-data",
            "--rows",
            "600",
            "--seed",
            "9",
            "--format",
            "json",
        ])
        .arg(dir.path())
        .env("TZ", "America/New_York")
        .env("LANG", "de_DE.UTF-8")
        .env("LC_ALL", "de_DE.UTF-8")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["seed"], 9);
    assert_eq!(json["rows"], 600);
    assert_eq!(json["time_zone"], "Asia/Jakarta");
    let tables = json["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 5);
    for t in tables {
        for field in [
            "declaration",
            "kind",
            "table",
            "rows",
            "duplicates",
            "late",
            "too_late",
            "invalid",
        ] {
            assert!(t.get(field).is_some(), "{field} in {t}");
        }
    }
    assert!(json["warehouse"]
        .as_str()
        .unwrap()
        .ends_with("warehouse.sqlite"));
    // The library with the same options writes the same bytes.
    let (program, zone) = program(dir.path());
    let tables = data_tables(&program);
    let by_command = {
        let c = Connection::open(dir.path().join("target/warehouse.sqlite")).unwrap();
        checksum(&c, &tables)
    };
    let other = example("enforcement_sla");
    std::fs::create_dir_all(other.path().join("target")).unwrap();
    let path = other.path().join("target/warehouse.sqlite");
    let loader = Box::new(SqliteLoader::open(&path).unwrap());
    demo::fill(&program, loader, &options(600, 9, zone), &mut |_, _, _| {}).unwrap();
    let c = Connection::open(&path).unwrap();
    assert_eq!(by_command, checksum(&c, &tables));

    // Text output: a line per table.
    let out = bplc()
        .args(["demo-data", "--rows", "600", "--project"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("filled "), "{text}");
    for t in [
        "org_units",
        "sla_calendar",
        "raw_case_events",
        "raw_assignment_events",
        "raw_escalation_events",
    ] {
        assert!(text.contains(t), "{t} in {text}");
    }
}

#[test]
fn the_command_refuses_bad_options_and_broken_projects() {
    let dir = example("enforcement_sla");
    for args in [
        &["--rows", "0"][..],
        &["--start", "June"][..],
        &["--days", "0"][..],
        &["--format", "dot"][..],
    ] {
        let out = bplc()
            .arg("demo-data")
            .args(args)
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert!(!dir.path().join("target/warehouse.sqlite").exists());
    let missing = bplc()
        .args(["demo-data"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    std::fs::write(dir.path().join("broken.bpl"), "source broken {").unwrap();
    let broken = bplc().arg("demo-data").arg(dir.path()).output().unwrap();
    assert_eq!(broken.status.code(), Some(1));
    assert!(!dir.path().join("target/warehouse.sqlite").exists());
}
