//! The audit trail of closed periods and reviews: a first load of a closed
//! month is an initial load, not a restatement; approve, reject and
//! rollback record who and why, shown by `runs` and `show`; a backfill says
//! what it skipped and how to restate it, and exits 3 when it completed
//! with skips; HELD means HELD in the backfill report and in `bplc runs`,
//! and a resumed backfill points at `bplc approve`.

mod runtime_support;

use runtime_support::Project;
use serde_json::Value;

const MONTHLY: &str = r#"source readings {
  table "readings"
  columns {
    id: string
    v: int
    day: date
    at: timestamp
  }
  key id
  clock event = at
  snapshot by at
}

dataset monthly {
  version 1
  partition by month: month
  publish versioned
  schedule monthly on day 1 at 06:00 "UTC" lookback 1mo

  input r = readings where day in month(p)

  compute {
    from r
    group by month = p {
      total = sum(r.v)
    }
  }

  quality {
    expect sum(total) < 1000 else manual review
  }

  closed after month_end(p) + 5d
  restate with reason
}
"#;

/// A month closes five days after it ends: on 2026-07-20, April to June
/// are closed and July is open.
const AS_OF: &str = "2026-07-20";

fn project(rows: &[(&str, i64, &str)]) -> Project {
    let p = Project::new(&[("specs.bpl", MONTHLY)]);
    let c = p.warehouse();
    c.execute_batch("CREATE TABLE readings(id TEXT, v INTEGER, day TEXT, at TEXT);")
        .unwrap();
    for (id, v, day) in rows {
        c.execute(
            "INSERT INTO readings VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id, v, day, format!("{day} 12:00:00")],
        )
        .unwrap();
    }
    p
}

/// April to July, replaced, as of [`AS_OF`].
const BACKFILL: &[&str] = &[
    "backfill",
    "--from",
    "readings",
    "--range",
    "2026-04-01..2026-07-31",
    "--mode",
    "replace",
    "--as-of",
    AS_OF,
];

fn backfill(p: &Project) -> (i32, String, String) {
    p.text(BACKFILL)
}

fn outcome<'a>(report: &'a Value, partition: &str) -> &'a str {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["partitions"].as_array().unwrap())
        .find(|p| p["partition"] == partition)
        .and_then(|p| p["outcome"].as_str())
        .unwrap_or("")
}

#[test]
fn a_first_load_of_a_closed_month_is_an_initial_load_not_a_restatement() {
    let p = project(&[("a", 5, "2026-05-10")]);
    let (code, m) = p.json(&["run", "monthly", "--date", "2026-05", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{m}");
    assert_eq!(m["outputs"][0]["initial_load"], true, "{m}");
    assert_eq!(
        p.rows("SELECT status, reason FROM _bpl_versions"),
        ["Text(\"ACTIVE\")|Null"]
    );
    let (_, text, _) = p.text(&["show", m["run_id"].as_str().unwrap()]);
    assert!(text.contains("initial load of a closed period"), "{text}");
    // Once published, the closed month is only ever restated.
    let (code, _, err) = p.text(&["run", "monthly", "--date", "2026-05", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(err.contains("E0307"), "{err}");
}

#[test]
fn a_backfill_loads_closed_months_never_published_and_says_what_it_skipped() {
    let p = project(&[
        ("a", 5, "2026-04-10"),
        ("b", 7, "2026-05-10"),
        ("c", 9, "2026-07-10"),
    ]);
    // May was published before: the backfill may not replace it.
    assert_eq!(
        p.json(&["run", "monthly", "--date", "2026-05", "--as-of", AS_OF])
            .0,
        0
    );
    let (code, out, err) = backfill(&p);
    assert_eq!(code, 3, "complete with a skip: {out}{err}");
    assert!(out.contains("COMPLETE, 1 skipped"), "{out}");
    assert!(
        out.contains("2026-05 skipped: closed")
            && out.contains(
                "bplc backfill --from readings --range 2026-04-01..2026-07-31 --mode restatement --reason \"...\" --as-of 2026-07-20"
            ),
        "{out}"
    );
    assert!(out.contains("2026-04 loaded"), "{out}");
    let (code, report) = p.json(BACKFILL);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["status"], "complete");
    assert_eq!(outcome(&report, "2026-05"), "skipped");
    assert_eq!(
        p.rows("SELECT month, total FROM monthly"),
        [
            "Text(\"2026-04\")|Integer(5)",
            "Text(\"2026-05\")|Integer(7)",
            "Text(\"2026-07\")|Integer(9)"
        ]
    );
}

#[test]
fn held_means_held_everywhere_and_a_resumed_backfill_points_to_approve() {
    let p = project(&[("a", 5000, "2026-07-10")]);
    let (code, out, _) = backfill(&p);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("2026-07 held") && out.contains("bplc approve run-"),
        "{out}"
    );
    let (_, runs) = p.json(&["runs"]);
    // The run that computed July is HELD in the ledger too.
    let held = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partitions"][0] == "2026-07")
        .unwrap();
    assert_eq!(held["status"], "HELD", "{runs}");
    let run_id = held["run_id"].as_str().unwrap().to_string();

    // Repeated: the partition is still held, by the same run; no E0301.
    let (code, out, err) = backfill(&p);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("E0301"), "{out}");
    assert!(
        out.contains(&format!(
            "{run_id} is HELD for review: `bplc approve {run_id}`"
        )),
        "{out}"
    );

    // Approved with a reason and an approver: recorded and shown.
    let (code, approved) = p.json_with(
        &["approve", &run_id, "--reason", "a big month, checked"],
        &[("USER", "ann")],
    );
    assert_eq!(code, 0, "{approved}");
    let (_, shown) = p.json(&["show", &run_id]);
    assert_eq!(shown["review"]["decision"], "approved");
    assert_eq!(shown["review"]["by"], "ann");
    assert_eq!(shown["review"]["reason"], "a big month, checked");
    let (_, text, _) = p.text(&["runs"]);
    assert!(
        text.contains("approved by ann: \"a big month, checked\""),
        "{text}"
    );
    let (_, text, _) = p.text(&["show", &run_id]);
    assert!(text.contains("approved by ann"), "{text}");

    // The backfill, repeated, finds the approved partition done.
    let (code, report) = p.json(BACKFILL);
    assert_eq!(outcome(&report, "2026-07"), "already_done", "{report}");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn reject_records_who_and_why() {
    let p = project(&[("a", 5000, "2026-07-10")]);
    let (code, m) = p.json(&["run", "monthly", "--date", "2026-07", "--as-of", AS_OF]);
    assert_eq!((code, m["status"].as_str()), (1, Some("HELD")), "{m}");
    let run_id = m["run_id"].as_str().unwrap();
    // Another run of the month meets the held one: it says how to decide it.
    let (code, _, err) = p.text(&["run", "monthly", "--date", "2026-07", "--as-of", AS_OF]);
    assert_eq!(code, 1);
    assert!(
        err.contains("E0301")
            && err.contains("HELD for review")
            && err.contains(&format!("bplc approve {run_id}")),
        "{err}"
    );
    let (code, out, _) = p.text(&[
        "reject",
        run_id,
        "--by",
        "bob",
        "--reason",
        "double counted",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rejected by bob: \"double counted\""), "{out}");
    let (_, runs) = p.json(&["runs"]);
    assert_eq!(runs[0]["status"], "FAILED");
    assert_eq!(runs[0]["review"]["by"], "bob");
    assert_eq!(runs[0]["review"]["reason"], "double counted");
}

#[test]
fn rolling_back_a_closed_month_needs_a_reason_and_is_recorded() {
    let p = project(&[("a", 5, "2026-05-10")]);
    assert_eq!(
        p.json(&["run", "monthly", "--date", "2026-05", "--as-of", AS_OF])
            .0,
        0
    );
    p.warehouse()
        .execute("UPDATE readings SET v = 6", [])
        .unwrap();
    let (code, restated) = p.json(&[
        "backfill",
        "--from",
        "readings",
        "--range",
        "2026-05-01..2026-05-31",
        "--mode",
        "restatement",
        "--reason",
        "INC-7",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{restated}");
    assert_eq!(outcome(&restated, "2026-05"), "restated");

    let rollback = [
        "rollback",
        "monthly",
        "--partition",
        "2026-05",
        "--to-version",
        "1",
    ];
    let (code, _, err) = p.text(&rollback);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("E0335") && err.contains("--reason"), "{err}");
    assert_eq!(p.rows("SELECT total FROM monthly"), ["Integer(6)"]);

    let mut with_reason = rollback.to_vec();
    with_reason.extend(["--reason", "INC-7 was wrong", "--by", "cy"]);
    let (code, done) = p.json(&with_reason);
    assert_eq!(code, 0, "{done}");
    assert_eq!(p.rows("SELECT total FROM monthly"), ["Integer(5)"]);
    let (_, runs) = p.json(&["runs"]);
    let last = runs.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["run_id"], done["run_id"]);
    assert_eq!(last["review"]["decision"], "rolled back");
    assert_eq!(last["review"]["by"], "cy");
    assert_eq!(last["review"]["reason"], "INC-7 was wrong");
    assert_eq!(last["review"]["from_version"], 2);
    assert_eq!(last["review"]["to_version"], 1);
    let (_, text, _) = p.text(&["runs"]);
    assert!(text.contains("rolled back v2 -> v1 by cy"), "{text}");
}
