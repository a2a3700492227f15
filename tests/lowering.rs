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
        match bplc::sql::sqlite::lower(&plan) {
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
