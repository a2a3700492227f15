//! A batch and its partitions one by one give the same answers. A backfill
//! stages each step's partitions as one batch (set-based statements over
//! the whole range); the same partitions run one at a time with `bplc run
//! --no-lookback` must publish byte-identical partitions (checksums) with
//! the same counters and row-rule results. Both examples, on demo data
//! drawn from random seeds (late, duplicate and invalid rows mixed in).

mod runtime_support;

use std::collections::BTreeMap;

use runtime_support::Project;
use serde_json::Value;

/// `(dataset, partition)` to what its manifest output says.
type Answers = BTreeMap<(String, String), String>;

/// The parts of a manifest output that must not depend on batching.
fn answer(output: &Value) -> String {
    let quality: Vec<String> = output["quality"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| format!("{}={}/{}", q["name"], q["passed"], q["failing_rows"]))
        .collect();
    format!(
        "rows={} checksum={} counters={} quality={}",
        output["rows"],
        output["checksum"],
        output["counters"],
        quality.join(",")
    )
}

fn outputs_of(p: &Project, run_id: &str, into: &mut Answers) {
    let (code, shown) = p.json(&["show", run_id]);
    assert_eq!(code, 0, "{shown}");
    for o in shown["outputs"].as_array().unwrap() {
        into.insert(
            (
                shown["dataset"].as_str().unwrap().to_string(),
                o["partition"].as_str().unwrap().to_string(),
            ),
            answer(o),
        );
    }
}

/// How to run one partition alone: `bplc run` arguments after the dataset.
type Alone = fn(&str, &str) -> Vec<String>;

fn batched_then_one_by_one(example: &str, seed: u64, backfill: &[&str], alone: Alone) {
    let demo = |p: &Project| {
        let seed = seed.to_string();
        let (code, out) = p.json(&[
            "demo-data",
            "--rows",
            "400",
            "--days",
            "12",
            "--start",
            "2026-06-01",
            "--seed",
            &seed,
        ]);
        assert_eq!(code, 0, "{out}");
    };
    let batched = Project::example(example);
    demo(&batched);
    let (code, report) = batched.json(backfill);
    assert!(code == 0 || code == 1, "{report}");
    // Every run the backfill made, and every partition each computed (a
    // step's run computes each tenant's partitions of its dates).
    let mut run_ids: Vec<String> = Vec::new();
    let mut partitions = 0;
    for step in report["steps"].as_array().unwrap() {
        for part in step["partitions"].as_array().unwrap() {
            if let Some(id) = part["run_id"].as_str() {
                partitions += 1;
                if !run_ids.iter().any(|r| r == id) {
                    run_ids.push(id.to_string());
                }
            }
        }
    }
    // Several partitions shared a run: the batch really was a batch.
    assert!(run_ids.len() < partitions, "{run_ids:?}");
    let mut a = Answers::new();
    let mut order: Vec<(String, String)> = Vec::new();
    for id in &run_ids {
        let before: Vec<_> = a.keys().cloned().collect();
        outputs_of(&batched, id, &mut a);
        order.extend(a.keys().filter(|k| !before.contains(k)).cloned());
    }
    assert!(
        order.len() > 10,
        "the backfill computed too little: {report}"
    );

    let single = Project::example(example);
    demo(&single);
    let as_of = backfill[backfill.iter().position(|x| *x == "--as-of").unwrap() + 1];
    let mut b = Answers::new();
    for (dataset, partition) in &order {
        let mut args: Vec<String> = vec!["run".into(), dataset.clone()];
        args.extend(alone(dataset, partition));
        args.extend(["--no-lookback", "--as-of", as_of].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, shown) = single.json(&args);
        assert!(code == 0 || code == 1, "{args:?}: {shown}");
        outputs_of(&single, shown["run_id"].as_str().unwrap(), &mut b);
    }
    for key in &order {
        assert_eq!(
            a.get(key),
            b.get(key),
            "seed {seed}, {key:?}: batched (left) and one by one (right) differ"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2, ..Default::default() })]

    /// A 30-day window, a monthly roll-up, dedupe, quarantine, as-of and
    /// pinned bindings, and partitions held back by their gates.
    #[test]
    fn the_enforcement_example_batched_equals_one_by_one(seed in 0u64..1_000_000) {
        batched_then_one_by_one(
            "enforcement_sla",
            seed,
            &["backfill", "--from", "raw_case_events", "--range", "2026-06-03..2026-06-08",
              "--mode", "replace", "--as-of", "2026-07-01"],
            |_, partition| vec!["--date".into(), partition.into()],
        );
    }

    /// Tenant dimensions, a source window of three days with a filter and
    /// dedupe, control totals over accepted input rows, hash buckets over
    /// all history, and a monthly close bound as of report close.
    #[test]
    fn the_finance_example_batched_equals_one_by_one(seed in 0u64..1_000_000) {
        batched_then_one_by_one(
            "finance_ledger",
            seed,
            &["backfill", "--from", "ledger_entries", "--range", "2026-06-03..2026-06-07",
              "--mode", "replace", "--as-of", "2026-06-20"],
            |dataset, partition| match dataset {
                "account_risk_buckets" => vec!["--dim".into(), format!("bucket={partition}")],
                _ => {
                    let (tenant, date) = partition.split_once('/').expect("tenant/date");
                    vec!["--dim".into(), format!("tenant_id={tenant}"), "--date".into(), date.into()]
                }
            },
        );
    }
}
