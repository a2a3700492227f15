//! The two staging modes measure the same thing. SQLite counts the rows of
//! its row stage with a tally function inside one statement; a server
//! engine materializes each counting point into a temp table and counts
//! it with grouped statements (see `sql::range`). SQLite can stage either
//! way (`BPLC_SQLITE_STAGING=materialized`), so the same commands run on
//! twin projects, one per mode, must leave the same ledger: every run's
//! status, every output's counters, row-rule failures, gate results and
//! details (bad rows and their first problem), checksums and row counts,
//! and the same quarantined records in the same order.

mod runtime_support;

use runtime_support::{enforcement_rows, Project};
use rusqlite::Connection;
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

/// The same project twice, one staging with the tally, one materialized.
struct Twins {
    tally: Project,
    materialized: Project,
}

impl Twins {
    fn new(make: impl Fn() -> Project) -> Twins {
        Twins {
            tally: make(),
            materialized: make(),
        }
    }

    /// Runs `bplc ARGS` on both; both must exit alike. The tally twin's
    /// report.
    fn run(&self, args: &[&str]) -> Value {
        let (a, report) = self
            .tally
            .json_with(args, &[("BPLC_SQLITE_STAGING", "tally")]);
        let (b, other) = self
            .materialized
            .json_with(args, &[("BPLC_SQLITE_STAGING", "materialized")]);
        assert_eq!(a, b, "{args:?}: exit codes differ\n{report}\n{other}");
        report
    }

    /// Both ledgers hold the same runs and quarantined records.
    fn assert_same(&self) -> usize {
        let (a, b) = (ledger(&self.tally), ledger(&self.materialized));
        assert!(!a.is_empty(), "no run was recorded");
        assert_eq!(a.len(), b.len(), "different numbers of runs");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "tally (left) and materialized (right) differ");
        }
        let (q, r) = (quarantine(&self.tally), quarantine(&self.materialized));
        assert_eq!(q, r, "quarantined records differ");
        q.len()
    }
}

/// Each run of a ledger, in order: what a manifest says that must not
/// depend on the staging mode (no times).
fn ledger(p: &Project) -> Vec<String> {
    let c = Connection::open(p.ledger_path()).unwrap();
    let mut stmt = c
        .prepare("SELECT run_id, status, manifest FROM runs ORDER BY seq")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap();
    rows.map(|r| {
        let (id, status, manifest) = r.unwrap();
        let m: Value = serde_json::from_str(&manifest).unwrap();
        format!(
            "{id} {status} {} {} partitions={} outputs={:#} error={}",
            m["dataset"], m["mode"], m["partitions"], m["outputs"], m["error"]
        )
    })
    .collect()
}

/// Every quarantined record of a ledger, in the order it was written.
fn quarantine(p: &Project) -> Vec<String> {
    let c = Connection::open(p.ledger_path()).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT run_id, dataset, partition, rule, reason, record FROM quarantine ORDER BY rowid",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..6)
                .map(|i| r.get::<_, String>(i))
                .collect::<Result<Vec<_>, _>>()?
                .join(" | "))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The counters of every output of a report, to check it counted anything.
fn counted(report: &Value, counter: &str) -> i64 {
    report["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["counters"][counter].as_i64().unwrap_or(0))
        .sum()
}

fn demo(p: &Project, seed: &str) {
    let (code, out) = p.json(&[
        "demo-data",
        "--rows",
        "600",
        "--days",
        "12",
        "--start",
        "2026-06-01",
        "--seed",
        seed,
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_enforcement_example_stages_alike_in_both_modes() {
    let twins = Twins::new(|| {
        let p = Project::example("enforcement_sla");
        demo(&p, "7");
        p
    });
    twins.run(&[
        "backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-02..2026-06-10",
        "--mode",
        "replace",
        "--as-of",
        "2026-07-01",
    ]);
    assert!(twins.assert_same() > 0, "the demo data quarantined nothing");
}

#[test]
fn the_finance_example_stages_alike_in_both_modes() {
    let twins = Twins::new(|| {
        let p = Project::example("finance_ledger");
        demo(&p, "11");
        p
    });
    twins.run(&[
        "backfill",
        "--from",
        "ledger_entries",
        "--range",
        "2026-06-03..2026-06-09",
        "--mode",
        "replace",
        "--as-of",
        "2026-06-20",
    ]);
    twins.assert_same();
}

#[test]
fn the_enforcement_rows_stage_alike_with_duplicates_quarantine_and_unmatched_units() {
    let twins = Twins::new(|| {
        let p = Project::example("enforcement_sla");
        enforcement_rows(&p.warehouse());
        p
    });
    let silver = twins.run(&[
        "run",
        "silver_cases",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    assert!(counted(&silver, "duplicates") > 0, "{silver}");
    assert!(counted(&silver, "quarantined") > 0, "{silver}");
    twins.run(&[
        "run",
        "case_sla_daily_metrics",
        "--date",
        "2026-07-04",
        "--as-of",
        AS_OF,
    ]);
    twins.assert_same();
}

/// Joins (a source and a reference), a dedupe, quarantine and warn rules
/// before and after it, bad rows in the driving and the joined source,
/// unmatched rows, a plain select, and a `group by` counting its rows.
const MIXED: &str = r#"source orders {
  table "orders"
  columns {
    order_id: string
    customer: string
    qty: int
    day: date
    at: timestamp
  }
  key order_id
  clock event = at
  snapshot by at
}

source payments {
  table "payments"
  columns {
    payment_id: string
    order_id: string
    amount: int
    day: date
  }
  key payment_id
}

reference customers {
  table "customers"
  columns {
    customer: string
    region: string
  }
  key customer
}

dataset order_lines {
  version 1
  partition by day: date
  publish replace

  input o = orders where day == p
  input pay = payments where day == p
  bind c = customers latest because "regions of customers"

  compute {
    from o
    left join pay on pay.order_id == o.order_id
    left join c on c.customer == o.customer
    dedupe by o.order_id order by o.at desc
    derive paid = coalesce(pay.amount, 0)
    select order_id = o.order_id, qty = o.qty, paid = paid,
      region = coalesce(c.region, "none"), day = p
  }

  quality {
    require positive: o.qty > 0 else quarantine
    require small: o.qty < 50 else warn
    require settled: paid <= o.qty * 10 else quarantine
  }

  reconcile {
    known: unmatched(c) == 0 else warn
  }
}

dataset daily_totals {
  version 1
  partition by day: date
  publish replace

  input o = orders where day == p

  compute {
    from o
    where o.qty < 1000
    group by day = p {
      n = row_count()
      total = sum(o.qty)
    }
  }

  quality {
    require positive: o.qty > 0 else quarantine
  }
}
"#;

fn mixed() -> Project {
    let p = Project::new(&[("specs.bpl", MIXED)]);
    let c = p.warehouse();
    c.execute_batch(
        "CREATE TABLE orders(order_id TEXT, customer TEXT, qty INTEGER, day TEXT, at TEXT);
         CREATE TABLE payments(payment_id TEXT, order_id TEXT, amount INTEGER, day TEXT);
         CREATE TABLE customers(customer TEXT, region TEXT);
         INSERT INTO customers VALUES ('k1', 'west'), ('k2', 'east');",
    )
    .unwrap();
    for i in 0..60 {
        let day = format!("2026-07-0{}", 1 + i % 3);
        let qty: rusqlite::types::Value = match i % 11 {
            3 => "many".to_string().into(),
            5 => (-(i as i64)).into(),
            _ => ((i % 70) as i64).into(),
        };
        c.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                format!("o{}", i % 45),
                format!("k{}", i % 4),
                qty,
                day,
                format!("{day} {:02}:00:00", i % 24),
            ],
        )
        .unwrap();
        if i % 2 == 0 {
            let amount: rusqlite::types::Value = match i % 13 {
                4 => "lots".to_string().into(),
                _ => ((i * 37 % 500) as i64).into(),
            };
            c.execute(
                "INSERT INTO payments VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![format!("p{i}"), format!("o{}", i % 45), amount, day],
            )
            .unwrap();
        }
    }
    p
}

#[test]
fn joins_dedupe_rules_bad_rows_and_groups_stage_alike_in_both_modes() {
    let twins = Twins::new(mixed);
    let args = |dataset| {
        [
            "run",
            dataset,
            "--range",
            "2026-07-01..2026-07-03",
            "--as-of",
            AS_OF,
        ]
    };
    let lines = twins.run(&args("order_lines"));
    for counter in ["duplicates", "quarantined", "accepted"] {
        assert!(counted(&lines, counter) > 0, "{counter}: {lines}");
    }
    let totals = twins.run(&args("daily_totals"));
    assert!(counted(&totals, "quarantined") > 0, "{totals}");
    assert!(twins.assert_same() > 0);
}

#[test]
fn materialized_staging_counts_through_point_tables_and_calls_no_tally() {
    let p = mixed();
    let run = |mode: &str, dataset: &str| {
        let out = p
            .bplc()
            .env("BPLC_SQLITE_STAGING", mode)
            .env("BPLC_LOG", "bplc=debug")
            .args(["run", "-v", dataset, "--date", "2026-07-01"])
            .args(["--as-of", AS_OF, "--project"])
            .arg(p.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let materialized = run("materialized", "order_lines");
    assert!(
        materialized.contains("CREATE TEMP TABLE bpl_point_0 AS"),
        "{materialized}"
    );
    assert!(!materialized.contains("bpl_tally("), "{materialized}");
    // Rows going straight into a `group by` are counted by its groups.
    let grouped = run("materialized", "daily_totals");
    assert!(grouped.contains("count(*) AS _bpl_group_rows"), "{grouped}");
    assert!(!grouped.contains("bpl_tally("), "{grouped}");
    let tally = run("tally", "order_lines");
    assert!(tally.contains("bpl_tally("), "{tally}");
    assert!(!tally.contains("bpl_point_"), "{tally}");
}

/// A last `dedupe` with one order key keeps, with the tally, the row a
/// `group by`'s `max` (descending) or `min` (ascending) picks, where the
/// materialized twin numbers the rows with a window: the same row either
/// way, NULL keys included (last when descending, first when ascending).
fn latest_spec() -> String {
    let dataset = |name: &str, order: &str| {
        format!(
            "dataset {name} {{
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p

  compute {{
    from r
    dedupe by r.meter order by {order}
    select meter = r.meter, value = r.value, day = p
  }}
}}
"
        )
    };
    format!(
        "source readings {{
  table \"readings\"
  columns {{
    meter: string
    value: int
    at: timestamp?
    day: date
  }}
  key meter
}}

{}
{}",
        dataset("latest_reading", "r.at desc"),
        dataset("first_reading", "r.at")
    )
}

#[test]
fn a_grouped_dedupe_keeps_the_rows_the_window_keeps_null_keys_included() {
    let twins = Twins::new(|| {
        let p = Project::new(&[("specs.bpl", &latest_spec())]);
        p.warehouse()
            .execute_batch(
                "CREATE TABLE readings(meter TEXT, value INTEGER, at TEXT, day TEXT);
             -- m1: a NULL time among others; m2: one row, NULL; m3: no NULL;
             -- m4: the NULL first in the table; m5 on the second day.
             INSERT INTO readings VALUES
               ('m1', 10, '2026-07-01 08:00:00', '2026-07-01'),
               ('m1', 11, NULL, '2026-07-01'),
               ('m1', 12, '2026-07-01 09:00:00', '2026-07-01'),
               ('m1', 13, '2026-07-01 07:00:00', '2026-07-01'),
               ('m2', 20, NULL, '2026-07-01'),
               ('m3', 30, '2026-07-01 10:00:00', '2026-07-01'),
               ('m3', 31, '2026-07-01 06:00:00', '2026-07-01'),
               ('m4', 40, NULL, '2026-07-02'),
               ('m4', 41, '2026-07-02 05:00:00', '2026-07-02'),
               ('m5', 50, '2026-07-02 01:00:00', '2026-07-02'),
               ('m5', 51, '2026-07-02 02:00:00', '2026-07-02');",
            )
            .unwrap();
        p
    });
    for dataset in ["latest_reading", "first_reading"] {
        let report = twins.run(&[
            "run",
            dataset,
            "--range",
            "2026-07-01..2026-07-02",
            "--as-of",
            AS_OF,
        ]);
        assert_eq!(counted(&report, "duplicates"), 6, "{report}");
    }
    twins.assert_same();
    // The rows kept, by hand: the latest time (NULL last), the earliest
    // (NULL first).
    let kept = |table: &str| {
        twins
            .tally
            .rows(&format!("SELECT meter, value FROM {table}"))
    };
    let rows = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(m, n)| format!("Text({m:?})|Integer({n})"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kept("latest_reading"),
        rows(&[("m1", 12), ("m2", 20), ("m3", 30), ("m4", 41), ("m5", 51)])
    );
    assert_eq!(
        kept("first_reading"),
        rows(&[("m1", 11), ("m2", 20), ("m3", 31), ("m4", 40), ("m5", 50)])
    );
}
