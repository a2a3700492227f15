//! Rows that fail the typed input boundary are never published and never
//! silently dropped: a joined source's bad rows are recorded like the
//! driving source's, and a source may declare that its bad rows fail the
//! partition (`bad rows fail partition`) instead of being quarantined.

mod runtime_support;

use runtime_support::*;
use serde_json::Value;

const AS_OF: &str = "2026-07-05T00:00:00Z";

fn spec(orders_policy: &str, payments_policy: &str) -> String {
    format!(
        r#"source orders {{
  table "orders"
  columns {{
    order_id: string
    qty: int
    day: date
  }}
  key order_id
  {orders_policy}
}}

source payments {{
  table "payments"
  columns {{
    payment_id: string
    order_id: string
    amount: int
    day: date
  }}
  key payment_id
  {payments_policy}
}}

dataset paid {{
  version 1
  partition by day: date
  publish replace
  input o = orders where day == p
  input pay = payments where day == p
  compute {{
    from o
    left join pay on pay.order_id == o.order_id
    group by day = p {{
      orders = row_count()
      paid = sum(coalesce(pay.amount, 0))
    }}
  }}
}}
"#
    )
}

fn project(orders_policy: &str, payments_policy: &str) -> Project {
    let p = Project::new(&[("specs.bpl", &spec(orders_policy, payments_policy))]);
    p.warehouse()
        .execute_batch(
            "CREATE TABLE orders(order_id TEXT, qty INTEGER, day TEXT);
             CREATE TABLE payments(payment_id TEXT, order_id TEXT, amount INTEGER, day TEXT);
             INSERT INTO orders VALUES ('o1', 1, '2026-07-01'), ('o2', 2, '2026-07-01'),
               ('o3', 3, '2026-07-02'), ('o4', 'many', '2026-07-02');
             INSERT INTO payments VALUES ('p1', 'o1', 10, '2026-07-01'),
               ('p2', 'o2', 'abc', '2026-07-01'), ('p3', 'o3', 30, '2026-07-02');",
        )
        .unwrap();
    p
}

fn run(p: &Project) -> (i32, Value) {
    p.json(&[
        "run",
        "paid",
        "--range",
        "2026-07-01..2026-07-02",
        "--as-of",
        AS_OF,
    ])
}

/// A `typed_input(..)` check: name, passed, failing rows, detail.
type TypedInput = (String, bool, i64, String);

/// Per partition: published, and each `typed_input(..)` check.
fn typed_input(run: &Value) -> Vec<(String, bool, Vec<TypedInput>)> {
    run["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let checks = o["quality"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["name"].as_str().unwrap().starts_with("typed_input"))
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_string(),
                        c["passed"].as_bool().unwrap(),
                        c["failing_rows"].as_i64().unwrap(),
                        c["detail"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            (
                o["partition"].as_str().unwrap().to_string(),
                o["published"].as_bool().unwrap(),
                checks,
            )
        })
        .collect()
}

fn quarantine(p: &Project) -> Vec<(String, String, String)> {
    let ledger = rusqlite::Connection::open(p.ledger_path()).unwrap();
    let mut stmt = ledger
        .prepare("SELECT partition, rule, reason FROM quarantine ORDER BY partition, reason")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn a_joined_sources_bad_rows_are_quarantined_and_counted_not_dropped() {
    let p = project("", "");
    let (code, run) = run(&p);
    assert_eq!(code, 0, "{run}");
    assert_eq!(
        typed_input(&run),
        vec![
            (
                s("2026-07-01"),
                true,
                vec![
                    (s("typed_input(o)"), true, 0, s("")),
                    (
                        s("typed_input(pay)"),
                        true,
                        1,
                        s("1 bad row(s) quarantined, e.g. amount: 'abc' is not a valid int")
                    ),
                ]
            ),
            (
                s("2026-07-02"),
                true,
                vec![
                    (
                        s("typed_input(o)"),
                        true,
                        1,
                        s("1 bad row(s) quarantined, e.g. qty: 'many' is not a valid int")
                    ),
                    (s("typed_input(pay)"), true, 0, s("")),
                ]
            ),
        ]
    );
    assert_eq!(
        quarantine(&p),
        vec![
            (
                s("2026-07-01"),
                s("typed_input"),
                s("pay: amount: 'abc' is not a valid int")
            ),
            (
                s("2026-07-02"),
                s("typed_input"),
                s("qty: 'many' is not a valid int")
            ),
        ]
    );
}

#[test]
fn a_source_whose_bad_rows_fail_the_partition_holds_that_partition_back() {
    let p = project("", "bad rows fail partition");
    let (code, run) = run(&p);
    assert_eq!(
        (code, run["status"].as_str()),
        (0, Some("PUBLISHED")),
        "{run}"
    );
    let outputs = typed_input(&run);
    assert_eq!(
        outputs[0],
        (
            s("2026-07-01"),
            false,
            vec![
                (s("typed_input(o)"), true, 0, s("")),
                (
                    s("typed_input(pay)"),
                    false,
                    1,
                    s("[E0341] 1 bad row(s), e.g. amount: 'abc' is not a valid int; the source's bad rows fail partition")
                ),
            ]
        )
    );
    // The other partition's bad order row is quarantined, as `orders` says.
    assert!(outputs[1].1, "{run}");
    assert_eq!(p.rows("SELECT day FROM paid"), ["Text(\"2026-07-02\")"]);
}

#[test]
fn a_driving_source_whose_bad_rows_fail_the_run_publishes_nothing() {
    let p = project("bad rows fail run", "");
    let (code, run) = run(&p);
    assert_eq!((code, run["status"].as_str()), (1, Some("FAILED")), "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("typed_input(o) on 2026-07-02"),
        "{run}"
    );
    assert_eq!(p.count("SELECT count(*) FROM paid__data"), 0);
}
