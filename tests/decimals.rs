//! Exact decimals: a `decimal(p, s)` is stored as the integer
//! `value * 10^s`, read exactly at the typed input boundary (by its digits,
//! never through float arithmetic), summed exactly, and shown in its units
//! in the consumer view, the gates and `bplc diff`.

mod runtime_support;

use runtime_support::*;

const AS_OF: &str = "2026-07-05T00:00:00Z";

const SPEC: &str = r#"source payments {
  table "payments"
  columns {
    payment_id: int
    day: date
    amount: decimal(18, 2)
  }
  key payment_id
}

dataset daily_totals {
  version 1
  columns {
    day: date
    payments: int
    total: decimal(18, 2)
    average: decimal(18, 6)
    largest: decimal(18, 2)
  }
  key day
  partition by day: date
  publish versioned
  input pay = payments where day == p
  compute {
    from pay
    group by day = p {
      payments = row_count()
      total = sum(pay.amount)
      average = avg(pay.amount)
      largest = max(pay.amount)
    }
  }
  quality {
    expect under_limit: max(largest) < 10.00 else warn
  }
  reconcile {
    input == accepted + quarantined + duplicates
    CONTROL
  }
}
"#;

/// The project, with a control total (which reads the source a second
/// time) or without.
fn project(control_total: bool) -> Project {
    let control = if control_total {
        "control_total: sum(total) == sum(pay.amount)"
    } else {
        ""
    };
    Project::new(&[("specs.bpl", &SPEC.replace("CONTROL", control))])
}

fn run(p: &Project, day: &str) -> (i32, serde_json::Value) {
    p.json(&["run", "daily_totals", "--date", day, "--as-of", AS_OF])
}

/// The run as text: exit code, stdout, stderr.
fn run_text(p: &Project, day: &str) -> (i32, String, String) {
    p.text(&["run", "daily_totals", "--date", day, "--as-of", AS_OF])
}

/// Ten million amounts of up to 999.99, written as floats the way a source
/// system writes them, sum to the cent: the published total is the exact
/// integer sum of the cents, and the consumer view shows it in its units.
#[test]
fn ten_million_amounts_sum_to_the_cent() {
    const N: i64 = 10_000_000;
    let p = project(false);
    // Cents from a fixed permutation of 0..100000, so the amounts are
    // spread over every cent value; generated in SQL, so it stays fast.
    let cents = "((i * 7919) % 100000)";
    p.warehouse()
        .execute_batch(&format!(
            "CREATE TABLE payments(payment_id INTEGER, day TEXT, amount REAL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})
             INSERT INTO payments SELECT i, '2026-07-01', {cents} / 100.0 FROM n;"
        ))
        .unwrap();
    let exact_cents = p.count(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N}) \
         SELECT sum({cents}) FROM n"
    ));
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    // Stored: the integer of cents, exactly.
    assert_eq!(
        p.rows("SELECT typeof(total), total FROM daily_totals__data"),
        vec![format!("Text(\"integer\")|Integer({exact_cents})")]
    );
    // Seen by readers: the decimal in its units.
    assert_eq!(
        p.rows("SELECT printf('%.2f', total) FROM daily_totals"),
        vec![format!(
            "Text(\"{}.{:02}\")",
            exact_cents / 100,
            exact_cents % 100
        )]
    );
    // The average is a quotient at six digits, rounded half away from zero.
    let average = (exact_cents as i128 * 10_000 * 2 + N as i128) / (2 * N as i128);
    assert_eq!(
        p.count("SELECT average FROM daily_totals__data") as i128,
        average
    );
}

fn bad_rows_project() -> Project {
    let p = project(true);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE payments(payment_id INTEGER, day TEXT, amount);
             INSERT INTO payments VALUES
               (1, '2026-07-01', '0.1'),
               (2, '2026-07-01', 0.29),
               (3, '2026-07-01', '-7'),
               (4, '2026-07-01', 12),
               (5, '2026-07-01', '12.345'),
               (6, '2026-07-01', 'abc'),
               (7, '2026-07-01', 1e17),
               (8, '2026-07-01', ' 1.50 ');",
        )
        .unwrap();
    p
}

/// A value is read by its digits: `'0.1'` is ten cents, a float by the
/// digits it was written with; more digits after the point than the scale,
/// or more before it than the precision allows, is a bad row with the
/// reason, never a rounding.
#[test]
fn the_boundary_reads_decimals_by_their_digits_and_refuses_extra_digits() {
    let p = bad_rows_project();
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    // 10 + 29 - 700 + 1200 + 150 cents.
    assert_eq!(p.count("SELECT total FROM daily_totals__data"), 689);
    assert_eq!(
        p.ledger_texts("SELECT reason FROM quarantine ORDER BY reason"),
        vec![
            "amount: '12.345' has 3 digits after the point; decimal(18, 2) keeps 2",
            "amount: 'abc' is not a valid decimal(18, 2)",
            "amount: 100000000000000000 has more than 16 digits before the point; decimal(18, 2) holds 16",
        ]
    );
    // Counted, and the control total compares the exact sums, reported
    // in units.
    let shown = out.to_string();
    assert!(shown.contains("\"quarantined\":3}"), "{out}");
    assert!(
        shown.contains(r#""name":"control_total","passed":true"#),
        "{out}"
    );
    // A failing gate shows its operands in units.
    assert!(shown.contains(r#""detail":"max(largest) = 12.0""#), "{out}");
}

/// `bplc diff` totals a decimal column exactly and shows it in its units.
#[test]
fn diff_shows_exact_decimal_totals() {
    let p = bad_rows_project();
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    p.warehouse()
        .execute_batch("UPDATE payments SET amount = '0.11' WHERE payment_id = 1")
        .unwrap();
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    let (code, d) = p.json(&["diff", "daily_totals", "--partition", "2026-07-01"]);
    assert_eq!(code, 0, "{d}");
    let total = d["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["column"] == "total")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!(
        (total["from"].as_f64(), total["to"].as_f64()),
        (Some(6.89), Some(6.9)),
        "{d}"
    );
}

/// A warehouse written when decimals were floats (the stored column is
/// REAL): a run is refused with the migration command, and the migration
/// converts every stored version's values to scaled integers exactly,
/// rounding at the declared scale — a float sum that drifted off the cent
/// comes back to it — so a rollback to the old version shows them right.
#[test]
fn float_storage_of_a_decimal_is_migrated_exactly() {
    let as_float = SPEC
        .replace("total: decimal(18, 2)", "total: float")
        .replace(
            "total = sum(pay.amount)",
            "total = to_float(sum(pay.amount))",
        )
        .replace("CONTROL", "");
    let p = Project::new(&[("specs.bpl", &as_float)]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE payments(payment_id INTEGER, day TEXT, amount REAL);
             INSERT INTO payments VALUES (1, '2026-07-01', 0.1), (2, '2026-07-01', 0.2);",
        )
        .unwrap();
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    // What a float column of the old storage held: a sum off the cent.
    p.warehouse()
        .execute_batch("UPDATE daily_totals__data SET total = 0.1 + 0.2")
        .unwrap();
    assert_eq!(
        p.rows("SELECT total = 0.3 FROM daily_totals__data"),
        vec!["Integer(0)"]
    );

    let spec = SPEC
        .replace("version 1", "version 2")
        .replace("CONTROL", "");
    std::fs::write(p.path().join("specs.bpl"), spec).unwrap();
    let (code, _, err) = run_text(&p, "2026-07-01");
    assert_eq!(code, 1, "{err}");
    for said in [
        "E0312",
        "retypes `total` from REAL to INTEGER SCALE(2)",
        "--mode migration",
    ] {
        assert!(err.contains(said), "{said} in: {err}");
    }
    let (code, report) = p.json(&[
        "backfill",
        "--from",
        "daily_totals",
        "--range",
        "2026-07-01..2026-07-01",
        "--mode",
        "migration",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{report}");
    // Both versions hold 30 cents, exactly, as integers.
    assert_eq!(
        p.rows("SELECT _bpl_version, typeof(total), total FROM daily_totals__data"),
        vec![
            "Integer(1)|Text(\"integer\")|Integer(30)",
            "Integer(2)|Text(\"integer\")|Integer(30)"
        ]
    );
    let (code, out) = p.json(&[
        "rollback",
        "daily_totals",
        "--partition",
        "2026-07-01",
        "--to-version",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(p.rows("SELECT total FROM daily_totals"), vec!["Real(0.3)"]);
}

/// A sum beyond the 18 digits of a decimal stops the run with a code; it
/// is never carried on in floating point.
#[test]
fn a_sum_beyond_eighteen_digits_stops_the_run() {
    let p = project(false);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE payments(payment_id INTEGER, day TEXT, amount TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
             INSERT INTO payments SELECT i, '2026-07-01', '9999999999999999.99' FROM n;",
        )
        .unwrap();
    let (code, out, err) = run_text(&p, "2026-07-01");
    assert_eq!(code, 1, "{out}{err}");
    assert!(format!("{out}{err}").contains("[E0345]"), "{out}{err}");
    assert_eq!(p.count("SELECT count(*) FROM _bpl_pointer"), 0);
}

/// A CSV file's amounts are kept as written by `bplc ingest` and read by
/// their digits by the run: a 17-digit amount no float holds stays exact,
/// and an amount with more digits than the scale is a bad row.
#[test]
fn ingested_file_amounts_are_read_by_their_digits() {
    let spec = SPEC
        .replace(
            "  table \"payments\"\n",
            "  files \"landing/*.csv\" as csv\n",
        )
        // An average is at six digits after the point, twelve before it:
        // too few for these amounts (E0345).
        .replace("    average: decimal(18, 6)\n", "")
        .replace("      average = avg(pay.amount)\n", "")
        .replace("CONTROL", "");
    let p = Project::new(&[("specs.bpl", &spec)]);
    std::fs::create_dir_all(p.path().join("landing")).unwrap();
    std::fs::write(
        p.path().join("landing/2026-07-01.csv"),
        "payment_id,day,amount\n\
         1,2026-07-01,0.10\n\
         2,2026-07-01,1234567890123456.78\n\
         3,2026-07-01,12.345\n",
    )
    .unwrap();
    let (code, out) = p.json(&["ingest", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(&p, "2026-07-01");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        p.count("SELECT total FROM daily_totals__data"),
        123_456_789_012_345_678 + 10
    );
    assert_eq!(
        p.ledger_texts("SELECT reason FROM quarantine"),
        vec!["landing/2026-07-01.csv:4: amount: 12.345 has 3 digits after the point; decimal(18, 2) keeps 2"]
    );
    // Kept as written: the float where it reads back exactly, else text.
    assert_eq!(
        p.rows("SELECT typeof(amount) FROM payments ORDER BY payment_id"),
        vec!["Text(\"real\")", "Text(\"real\")", "Text(\"text\")"]
    );
}
