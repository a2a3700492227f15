//! The plan document against its JSON Schema (`schemas/plan.schema.json`):
//! every example project's plan validates, from every source, reference
//! and dataset, in every mode, with and without `--explain`, before and
//! after its periods close; the command's own output validates too; and
//! the schema is strict enough to refuse a plan of the old shape.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bplc::graph::plan::{self, Mode, Request};
use bplc::graph::DepGraph;
use bplc::syntax::ast::DeclKind;
use chrono::NaiveDate;
use serde_json::{json, Value};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/plan.schema.json"))
        .expect("schemas/plan.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn assert_valid(v: &jsonschema::Validator, plan: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(plan)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

fn example_projects() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bpl.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_example_plan_matches_the_schema() {
    let v = validator();
    let mut checked = 0;
    for dir in example_projects() {
        let compiled = bplc::driver::check(&dir).expect("the example loads");
        let program = compiled.program.expect("the example checks");
        let graph = DepGraph::build(&program);
        for d in &program.decls {
            let range = match d.kind {
                DeclKind::Reference => None,
                _ if d.kind == DeclKind::Dataset && d.grain().is_none() => None,
                _ => Some(("2026-06-15".to_string(), "2026-06-15".to_string())),
            };
            for mode in [Mode::DryRun, Mode::Replace, Mode::Restatement] {
                for (as_of, explain) in [("2026-06-20", false), ("2026-07-20", true)] {
                    let req = Request {
                        from: d.name.clone(),
                        range: range.clone(),
                        mode,
                        reason: (mode == Mode::Restatement).then(|| "INC-1".to_string()),
                        as_of: NaiveDate::parse_from_str(as_of, "%Y-%m-%d").unwrap(),
                        changed_version: false,
                        explain,
                    };
                    let p = plan::plan(&graph, &req).unwrap_or_else(|e| panic!("{e}"));
                    let value = serde_json::to_value(&p).unwrap();
                    assert_valid(&v, &value, &format!("{} from {}", dir.display(), d.name));
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} plans checked");
}

#[test]
fn the_commands_own_output_matches_the_schema() {
    let v = validator();
    let dir = root().join("examples/enforcement_sla");
    let out = Command::cargo_bin("bplc")
        .unwrap()
        .args(["--format", "json", "plan-backfill", "--project"])
        .arg(&dir)
        .args([
            "--from",
            "raw_case_events",
            "--range",
            "2026-06-01..2026-06-30",
            "--as-of",
            "2026-07-20",
            "--explain",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&v, &plan, "plan-backfill --explain");
    assert_eq!(plan["format"], "bplc-plan");
    assert_eq!(plan["version"], plan::PLAN_VERSION);
    // Every dataset records the job version and contract it was planned
    // for, which `backfill --plan` checks (E0334).
    for d in plan["datasets"].as_array().unwrap() {
        assert!(d["job_version"].as_u64().is_some(), "{d}");
        let contract = d["contract"].as_str().unwrap_or_default();
        assert_eq!(contract.len(), 16, "{d}");
    }
}

#[test]
fn a_plan_without_job_versions_or_contracts_is_still_a_plan_of_this_version() {
    // Saved before the fields existed: optional, so still valid.
    let v = validator();
    let dir = root().join("examples/enforcement_sla");
    let program = bplc::driver::check(&dir).unwrap().program.unwrap();
    let graph = DepGraph::build(&program);
    let req = Request {
        from: "raw_case_events".into(),
        range: Some(("2026-06-15".into(), "2026-06-15".into())),
        mode: Mode::Replace,
        reason: None,
        as_of: NaiveDate::from_ymd_opt(2026, 7, 20).unwrap(),
        changed_version: false,
        explain: false,
    };
    let mut old = serde_json::to_value(plan::plan(&graph, &req).unwrap()).unwrap();
    for d in old["datasets"].as_array_mut().unwrap() {
        let d = d.as_object_mut().unwrap();
        d.remove("job_version");
        d.remove("contract");
    }
    assert_valid(&v, &old, "a plan saved before job versions");
}

#[test]
fn the_schema_refuses_what_is_not_a_plan_of_this_version() {
    let v = validator();
    // The shape before the plan had a version: steps, free-text warnings.
    let old = json!({
        "from": "silver_cases", "from_kind": "dataset", "mode": "dry-run",
        "as_of": "2026-07-20", "reason": null, "changed": [],
        "steps": [], "warnings": ["the plan crosses a closed period"]
    });
    assert!(!v.is_valid(&old));
    let dir = root().join("examples/enforcement_sla");
    let program = bplc::driver::check(&dir).unwrap().program.unwrap();
    let graph = DepGraph::build(&program);
    let req = Request {
        from: "silver_cases".into(),
        range: Some(("2026-06-15".into(), "2026-06-15".into())),
        mode: Mode::DryRun,
        reason: None,
        as_of: NaiveDate::from_ymd_opt(2026, 7, 20).unwrap(),
        changed_version: false,
        explain: false,
    };
    let good = serde_json::to_value(plan::plan(&graph, &req).unwrap()).unwrap();
    assert!(v.is_valid(&good));
    for (pointer, bad) in [
        ("/datasets/0/actions/0/action", json!("restatement")),
        ("/warnings/0/code", json!("closed period")),
        ("/datasets/0/partition/kind", json!(null)),
        ("/version", json!(2)),
        ("/datasets/0/contract", json!("not a hash")),
        ("/datasets/0/job_version", json!(-1)),
    ] {
        let mut plan = good.clone();
        *plan.pointer_mut(pointer).unwrap() = bad;
        assert!(!v.is_valid(&plan), "{pointer} should be refused");
    }
}
