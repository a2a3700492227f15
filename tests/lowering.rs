//! The SQL every example dataset lowers to, pinned: a change to the
//! planner or the SQLite dialect shows up here as a reviewed diff.

use std::path::Path;

use bplc::plan::JobPlan;

fn lower_example(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let checked = bplc::driver::compile(&root).expect("example loads");
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "{name} checks clean"
    );
    let program = checked.program.expect("a checked program");
    let mut names: Vec<&str> = program.datasets().map(|d| d.name.as_str()).collect();
    names.sort();
    for dataset in names {
        let plan = JobPlan::build(&program, dataset).expect("plans");
        match bplc::runtime::engine::sqlite::lower(&plan) {
            Ok(lowered) => insta::assert_yaml_snapshot!(format!("{name}__{dataset}"), lowered),
            Err(e) => insta::assert_snapshot!(format!("{name}__{dataset}__unsupported"), e.0),
        }
    }
}

#[test]
fn enforcement_sla_lowers_to_sqlite() {
    lower_example("enforcement_sla");
}

#[test]
fn finance_ledger_lowers_to_sqlite() {
    lower_example("finance_ledger");
}

/// Lowers `dataset` of the pipeline benchmark's project with `edit`
/// applied to its source text.
fn lower_pipeline(dataset: &str, edit: impl Fn(String) -> String) -> bplc::sql::lower::LoweredJob {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pipeline");
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("bpl.toml"),
        "name = \"p\"\ntime_zone = \"UTC\"\nengine = \"sqlite\"\nwarehouse = \"w.sqlite\"\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(root.join("pipeline.bpl")).expect("the bench project");
    std::fs::write(dir.path().join("pipeline.bpl"), edit(text)).unwrap();
    let checked = bplc::driver::compile(dir.path()).expect("loads");
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "checks clean"
    );
    let program = checked.program.expect("a checked program");
    let plan = JobPlan::build(&program, dataset).expect("plans");
    bplc::runtime::engine::sqlite::lower(&plan).expect("lowers")
}

/// Validation skips the checks the job's own steps prove: a key a final
/// `dedupe` makes unique, a partition column set to `p`. Take the proof
/// away and the check is back.
#[test]
fn validation_skips_only_what_the_steps_prove() {
    let proved = lower_pipeline("staged_events", |t| t);
    assert!(proved.key_duplicates.is_none());
    assert!(proved.out_of_partition.is_none());

    let copied = lower_pipeline("staged_events", |t| {
        t.replace("event_date = p\n", "event_date = ev.event_date\n")
    });
    assert!(
        copied.out_of_partition.is_some(),
        "a copied column can leave its partition"
    );

    let other_key = lower_pipeline("staged_events", |t| {
        t.replace(
            "dedupe by ev.event_id order",
            "dedupe by ev.event_id, ev.unit_id order",
        )
    });
    assert!(
        other_key.key_duplicates.is_some(),
        "a wider dedupe does not make the key unique"
    );

    let grouped = lower_pipeline("region_daily", |t| t);
    assert!(
        grouped.out_of_partition.is_none(),
        "`group by event_date = p`"
    );

    // The dedupe is the last row step and each row it keeps becomes one
    // output row: the staging INSERT counts the accepted rows as it writes
    // them, and the dedupe calls the tally for its groups of duplicates
    // only. With one order key it is a `group by` whose `max` keeps the
    // latest row, not a window.
    assert!(proved
        .batch
        .stage
        .contains("max(\"ev__ingested_at\") AS _bpl_top FROM (SELECT _bpl_no, \"ev__event_id\""));
    // The partition's columns are joined back after the sort.
    assert!(proved.batch.stage.contains(
        "END) AS _bpl_g CROSS JOIN temp.bpl_parts AS _bpl_pt ON _bpl_pt._bpl_no = _bpl_g._bpl_no"
    ));
    assert!(proved.batch.stage.contains(
        "GROUP BY \"ev__event_id\", _bpl_no HAVING CASE WHEN count(*) = 1 THEN 1 ELSE bpl_tally(8, _bpl_no, count(*)) END"
    ));
    assert!(!proved.batch.stage.contains("row_number()"));
    // Two order keys: the window numbers the rows.
    let two_keys = lower_pipeline("staged_events", |t| {
        t.replace(
            "order by ev.ingested_at desc",
            "order by ev.ingested_at desc, ev.amount",
        )
    });
    assert!(two_keys
        .batch
        .stage
        .contains("CASE WHEN \"_bpl_rn0\" = 1 THEN 1 ELSE bpl_tally(2, _bpl_no"));
    assert!(proved.batch.stage.contains("bpl_staged_row("));
    assert!(!proved.batch.stage.contains("bpl_tally(6, _bpl_no"));
    assert!(!proved.batch.stage.contains("bpl_tally(3, _bpl_no"));
    // The source's typed read is fenced: each row's values and problems are
    // computed once, however often the statements above refer to them.
    assert!(proved.batch.stage.contains("LIMIT -1) AS s CROSS JOIN"));

    // Columns copied from the typed source, and `p`, need no type check.
    assert_eq!(proved.typed_output, "SELECT 0, NULL");
    // Aggregates and a reference's column do; `event_date = p` does not.
    for checked in ["\"events\"", "\"region\""] {
        assert!(grouped.typed_output.contains(checked), "{checked}");
    }
    assert!(!grouped.typed_output.contains("\"event_date\""));
}

/// A help that names a `--range` takes the time key's values from partition
/// ids, whatever other keys come first (`tenant-000/2026-07`).
#[test]
fn a_range_in_a_help_names_the_time_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/finance_ledger");
    let checked = bplc::driver::compile(&root).expect("example loads");
    let program = checked.program.expect("a checked program");
    let close = JobPlan::build(&program, "tenant_monthly_close").expect("plans");
    assert_eq!(
        close.time_range([
            "tenant-001/2026-07",
            "tenant-000/2026-06",
            "tenant-002/2026-07"
        ]),
        Some(("2026-06".to_string(), "2026-07".to_string()))
    );
    let buckets = JobPlan::build(&program, "account_risk_buckets").expect("plans");
    assert_eq!(
        buckets.time_range(["3", "7"]),
        None,
        "hash buckets have no time key"
    );
}
