//! `bplc plan-backfill`: the acceptance example on the enforcement SLA case
//! study, pinned plans of every example project, edge cases of the planner
//! on small in-memory projects (calendar edges, closed periods, diamonds,
//! static dimensions, ranges, whole history, version bumps, bindings) and
//! the exit codes of the command.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bplc::graph::plan::{self, Action, Mode, Plan, PlanError, Request};
use bplc::graph::DepGraph;
use bplc::project::{self, Config};
use chrono::NaiveDate;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
//  Helpers
// ---------------------------------------------------------------------------

fn bplc() -> Command {
    let mut cmd = Command::cargo_bin("bplc").expect("the bplc binary is built");
    cmd.env_remove("NO_COLOR").args(["--color", "never"]);
    cmd
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn enforcement() -> PathBuf {
    examples_dir().join("enforcement_sla")
}

/// Runs `bplc --format json plan-backfill ARGS` and parses its output.
fn plan_json(project: &Path, args: &[&str]) -> Value {
    let out = bplc()
        .args(["--format", "json", "plan-backfill", "--project"])
        .arg(project)
        .args(args)
        .output()
        .expect("bplc runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "bplc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan-backfill prints JSON")
}

/// The JSON steps of one dataset, in plan order.
fn steps_of<'a>(plan: &'a Value, dataset: &str) -> Vec<&'a Value> {
    plan["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .filter(|s| s["dataset"] == dataset)
        .collect()
}

fn range(start: &str, end: &str) -> Value {
    json!({ "start": start, "end": end })
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A request as the CLI builds it: `A..B`, or `A` alone for `A..A`.
fn request(from: &str, range: Option<&str>, as_of: &str) -> Request {
    Request {
        from: from.into(),
        range: range.map(|r| match r.split_once("..") {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (r.to_string(), r.to_string()),
        }),
        mode: Mode::DryRun,
        reason: None,
        as_of: date(as_of),
        changed_version: false,
    }
}

/// Plans `req` against a project made of `src` alone; the project must
/// check clean.
fn plan_src(src: &str, req: &Request) -> Result<Plan, PlanError> {
    let config = Config {
        name: "t".into(),
        ..Default::default()
    };
    let checked = bplc::driver::check_project(project::from_sources(config, [("t.bpl", src)]));
    let errors: String = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| bplc::cli::render::text(&checked.project.sources, d, false))
        .collect();
    assert!(errors.is_empty(), "the test project has errors:\n{errors}");
    let program = checked.program.as_ref().expect("a checked program");
    let graph = DepGraph::build(program);
    plan::plan(&graph, req)
}

fn ok(src: &str, req: &Request) -> Plan {
    plan_src(src, req).unwrap_or_else(|e| panic!("no plan: {e}"))
}

/// One line per step: `wave action dataset ranges (partitions)`.
fn lines(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| {
            let action = match s.action {
                Action::Replace => "replace",
                Action::Restatement => "restate",
                Action::Skipped => "skip",
            };
            let ranges: Vec<String> = s.ranges.iter().map(plan::show_range).collect();
            let n = s.partitions.map_or("all".to_string(), |n| n.to_string());
            format!(
                "{} {action} {} {} ({n})",
                s.wave,
                s.dataset,
                ranges.join(", ")
            )
        })
        .collect()
}

fn has_warning(plan: &Plan, needle: &str) -> bool {
    plan.warnings.iter().any(|w| w.contains(needle))
}

/// A source with a date, a tenant and a reference of units.
const BASE: &str = r#"
source events {
  columns { id: string, tenant: string, day: date }
  key id
  max lateness 2d
}
reference units {
  columns { id: string, region: string, valid_from: timestamp, valid_to: timestamp? }
  key id
  valid from valid_from to valid_to
}
"#;

/// A dataset partitioned by `day: date` (grain "day") or `month_key: month`
/// (grain "month"), with the given `input` clauses (without the keyword)
/// and extra clauses; it counts the rows of its first input.
fn ds(name: &str, grain: &str, inputs: &[&str], extra: &str) -> String {
    let first = inputs[0].split_once(" =").unwrap().0.trim();
    let (key, ty, publish) = match grain {
        "day" => ("day", "date", "replace"),
        "month" => ("month_key", "month", "versioned"),
        _ => unreachable!(),
    };
    let inputs: String = inputs.iter().map(|i| format!("  input {i}\n")).collect();
    format!(
        "dataset {name} {{\n  version 1\n  partition by {key}: {ty}\n  publish {publish}\n{inputs}{extra}  compute {{ from {first} group by {key} = p {{ n = row_count() }} }}\n}}\n"
    )
}

fn project_of(parts: &[String]) -> String {
    let mut s = BASE.to_string();
    for p in parts {
        s.push_str(p);
    }
    s
}

// ---------------------------------------------------------------------------
//  (a) The acceptance example
// ---------------------------------------------------------------------------

#[test]
fn acceptance_one_day_of_silver_cases_with_june_closed() {
    let plan = plan_json(
        &enforcement(),
        &[
            "--from",
            "silver_cases",
            "--range",
            "2026-06-15..2026-06-15",
            "--as-of",
            "2026-07-20",
        ],
    );
    assert_eq!(plan["from"], "silver_cases");
    assert_eq!(plan["from_kind"], "dataset");
    assert_eq!(plan["mode"], "dry-run");
    assert_eq!(plan["as_of"], "2026-07-20");
    assert_eq!(plan["reason"], Value::Null);
    assert_eq!(plan["changed"], json!([range("2026-06-15", "2026-06-15")]));

    // Exactly these steps, in this order, and nothing else.
    let summary: Vec<(String, u64, String, Value, Value)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["dataset"].as_str().unwrap().to_string(),
                s["wave"].as_u64().unwrap(),
                s["action"].as_str().unwrap().to_string(),
                s["ranges"].clone(),
                s["partitions"].clone(),
            )
        })
        .collect();
    let step =
        |d: &str, w: u64, a: &str, r: Value, n: u64| (d.to_string(), w, a.to_string(), r, json!(n));
    assert_eq!(
        summary,
        vec![
            step(
                "silver_cases",
                1,
                "replace",
                json!([range("2026-06-15", "2026-06-15")]),
                1
            ),
            step(
                "case_daily_metrics",
                2,
                "replace",
                json!([range("2026-06-15", "2026-06-15")]),
                1
            ),
            step(
                "case_sla_daily_metrics",
                2,
                "replace",
                json!([range("2026-06-15", "2026-07-14")]),
                30
            ),
            // The dashboard counts the month's own cases: a change to
            // 15 June touches June only, however far the rolling metric's
            // window spills.
            step(
                "executive_dashboard",
                2,
                "restatement",
                json!([range("2026-06", "2026-06")]),
                1
            ),
        ]
    );

    let sla = steps_of(&plan, "case_sla_daily_metrics")[0];
    assert_eq!(sla["grain"], "day");
    assert_eq!(sla["why"], Value::Null);
    assert_eq!(
        sla["inputs"],
        json!([{ "alias": "ev", "reads": "silver_cases", "boundary": "[p - 29d, p]" }])
    );
    let bindings = sla["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 2);
    assert!(bindings.iter().all(|b| b["reproducible"] == true));

    let dash = steps_of(&plan, "executive_dashboard");
    assert_eq!(dash[0]["grain"], "month");
    assert!(dash[0]["why"]
        .as_str()
        .unwrap()
        .contains("written as a new version"));
    assert_eq!(
        dash[0]["inputs"][0]["boundary"], "days of month(p)",
        "the roll-up reads every day of its month"
    );

    let warnings: Vec<&str> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(warnings
        .iter()
        .any(|w| w.contains("closed period") && w.contains("`executive_dashboard` 2026-06")));
    assert!(warnings
        .iter()
        .any(|w| w.contains("restatement needs a reason")));
}

#[test]
fn acceptance_one_day_of_silver_cases_before_june_closes() {
    let plan = plan_json(
        &enforcement(),
        &[
            "--from",
            "silver_cases",
            "--range",
            "2026-06-15..2026-06-15",
            "--as-of",
            "2026-07-01",
        ],
    );
    let dash = steps_of(&plan, "executive_dashboard");
    assert_eq!(dash.len(), 1, "one step replaces June: {dash:#?}");
    assert_eq!(dash[0]["action"], "replace");
    assert_eq!(dash[0]["wave"], 2);
    assert_eq!(dash[0]["ranges"], json!([range("2026-06", "2026-06")]));
    assert_eq!(dash[0]["partitions"], 1);
    let sla = steps_of(&plan, "case_sla_daily_metrics");
    assert_eq!(sla[0]["ranges"], json!([range("2026-06-15", "2026-07-14")]));
    assert_eq!(sla[0]["partitions"], 30);
    assert_eq!(steps_of(&plan, "silver_cases")[0]["partitions"], 1);
    assert_eq!(steps_of(&plan, "case_daily_metrics")[0]["partitions"], 1);
    assert_eq!(plan["steps"].as_array().unwrap().len(), 4);
    assert!(!plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("closed")));
}

/// `closed after month_end(p) + 5d`: June closes after 2026-07-05, so it is
/// still open on the 5th and closed on the 6th.
#[test]
fn acceptance_june_closes_on_the_sixth_of_july() {
    let args = |as_of: &'static str| {
        [
            "--from",
            "silver_cases",
            "--range",
            "2026-06-15",
            "--as-of",
            as_of,
        ]
    };
    let open = plan_json(&enforcement(), &args("2026-07-05"));
    let dash = steps_of(&open, "executive_dashboard");
    assert_eq!(dash.len(), 1);
    assert_eq!(dash[0]["action"], "replace");
    let closed = plan_json(&enforcement(), &args("2026-07-06"));
    let dash = steps_of(&closed, "executive_dashboard");
    assert_eq!(dash.len(), 1);
    assert_eq!(dash[0]["action"], "restatement");
    assert_eq!(dash[0]["ranges"], json!([range("2026-06", "2026-06")]));
}

#[test]
fn acceptance_restatement_with_a_reason_and_replace_mode() {
    let base = [
        "--from",
        "silver_cases",
        "--range",
        "2026-06-15..2026-06-15",
        "--as-of",
        "2026-07-20",
    ];
    let with_reason = plan_json(
        &enforcement(),
        &[
            &base[..],
            &["--mode", "restatement", "--reason", "late closures"],
        ]
        .concat(),
    );
    assert_eq!(with_reason["mode"], "restatement");
    assert_eq!(with_reason["reason"], "late closures");
    assert!(!with_reason["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("needs a reason")));
    assert_eq!(
        steps_of(&with_reason, "executive_dashboard")[0]["action"],
        "restatement"
    );

    let replace = plan_json(
        &enforcement(),
        &[&base[..], &["--mode", "replace"]].concat(),
    );
    let dash = steps_of(&replace, "executive_dashboard");
    assert_eq!(dash[0]["action"], "skipped");
    assert_eq!(dash[0]["ranges"], json!([range("2026-06", "2026-06")]));
    assert!(dash[0]["why"]
        .as_str()
        .unwrap()
        .contains("replace is refused for closed partitions"));
    assert_eq!(dash.len(), 1, "July does not read 15 June: {dash:#?}");
}

#[test]
fn acceptance_text_reads_like_a_release_plan() {
    let out = bplc()
        .args(["plan-backfill", "--project"])
        .arg(enforcement())
        .args([
            "--from",
            "silver_cases",
            "--range",
            "2026-06-15..2026-06-15",
            "--as-of",
            "2026-07-20",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "wave 1",
        "wave 2",
        "case_sla_daily_metrics  replace  2026-06-15..2026-07-14  (30 partitions)",
        "executive_dashboard     restate  2026-06  (1 partition)",
        "4 datasets, 33 partitions to recompute",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

// ---------------------------------------------------------------------------
//  (b) Every example project, pinned
// ---------------------------------------------------------------------------

/// Every directory under `examples/` holding a `bpl.toml`.
fn example_projects() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(examples_dir())
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "bpl.toml")
        .map(|e| e.path().parent().unwrap().to_path_buf())
        .collect();
    dirs.sort();
    dirs
}

/// What the example's plan starts from: its first source by name (the
/// root of the longest plan), else its first dataset by name.
fn first_origin(dir: &Path) -> Option<String> {
    let checked = bplc::driver::check(dir).expect("the example loads");
    let program = checked.program?;
    let mut sources: Vec<&str> = program
        .decls
        .iter()
        .filter(|d| d.kind == bplc::syntax::ast::DeclKind::Source)
        .map(|d| d.name.as_str())
        .collect();
    let mut datasets: Vec<&str> = program.datasets().map(|d| d.name.as_str()).collect();
    sources.sort_unstable();
    datasets.sort_unstable();
    sources.first().or(datasets.first()).map(|s| s.to_string())
}

#[test]
fn every_example_project_plans() {
    let projects = example_projects();
    assert!(!projects.is_empty(), "no example projects under examples/");
    for dir in projects {
        let name = dir
            .strip_prefix(examples_dir())
            .unwrap()
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        let Some(from) = first_origin(&dir) else {
            continue;
        };
        for format in ["text", "json"] {
            let out = bplc()
                .args(["--format", format, "plan-backfill", "--project"])
                .arg(&dir)
                .args([
                    "--from",
                    &from,
                    "--range",
                    "2026-06-15..2026-06-15",
                    "--as-of",
                    "2026-07-20",
                ])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            if format == "json" {
                let v: Value = serde_json::from_str(&stdout).expect("valid JSON");
                assert_eq!(v["from"], from.as_str());
            }
            insta::assert_snapshot!(format!("example_{name}_{format}"), stdout);
        }
    }
}

// ---------------------------------------------------------------------------
//  (c) Edge cases
// ---------------------------------------------------------------------------

#[test]
fn window_across_the_end_of_february() {
    let src = project_of(&[ds(
        "w",
        "day",
        &["ev = events where day in [p - 2d, p + 1d]"],
        "",
    )]);
    // p - 2 <= x <= p + 1, so p runs from x - 1 to x + 2.
    assert_eq!(
        lines(&ok(
            &src,
            &request("events", Some("2026-02-28"), "2026-01-01")
        )),
        ["1 replace w 2026-02-27..2026-03-02 (4)"]
    );
    // In a leap year the same four partitions include the 29th.
    assert_eq!(
        lines(&ok(
            &src,
            &request("events", Some("2028-02-28"), "2026-01-01")
        )),
        ["1 replace w 2028-02-27..2028-03-01 (4)"]
    );
    let rolling = project_of(&[ds(
        "r",
        "day",
        &["ev = events where day in [p - 29d, p]"],
        "",
    )]);
    assert_eq!(
        lines(&ok(
            &rolling,
            &request("events", Some("2026-02-15"), "2026-01-01")
        )),
        ["1 replace r 2026-02-15..2026-03-16 (30)"]
    );
    assert_eq!(
        lines(&ok(
            &rolling,
            &request("events", Some("2028-02-15"), "2026-01-01")
        )),
        ["1 replace r 2028-02-15..2028-03-15 (30)"]
    );
}

#[test]
fn roll_ups_across_month_and_year_ends() {
    let src = project_of(&[
        ds("mo", "month", &["ev = events where month(day) == p"], ""),
        ds(
            "two",
            "month",
            &["ev = events where month(day) in [p - 1mo, p]"],
            "",
        ),
    ]);
    let p = ok(
        &src,
        &request("events", Some("2026-02-28..2026-03-01"), "2026-01-01"),
    );
    assert_eq!(
        lines(&p),
        [
            "1 replace mo 2026-02..2026-03 (2)",
            "1 replace two 2026-02..2026-04 (3)",
        ]
    );
    let p = ok(&src, &request("events", Some("2026-12-31"), "2026-01-01"));
    assert_eq!(
        lines(&p),
        [
            "1 replace mo 2026-12 (1)",
            "1 replace two 2026-12..2027-01 (2)"
        ]
    );
}

#[test]
fn months_spread_back_over_their_days() {
    let src = project_of(&[
        ds("mo", "month", &["ev = events where month(day) == p"], ""),
        ds("back", "day", &["m = mo where month_key == month(p)"], ""),
        // The day before `p` may lie in the previous month: 1 March reads February.
        ds(
            "prev",
            "day",
            &["m = mo where month_key in [month(p - 1d), month(p)]"],
            "",
        ),
    ]);
    let feb = |year: &str| request("mo", Some(&format!("{year}-02")), "2026-01-01");
    assert_eq!(
        lines(&ok(&src, &feb("2026"))),
        [
            "1 replace mo 2026-02 (1)",
            "2 replace back 2026-02-01..2026-02-28 (28)",
            "2 replace prev 2026-02-01..2026-03-01 (29)",
        ]
    );
    assert_eq!(
        lines(&ok(&src, &feb("2028"))),
        [
            "1 replace mo 2028-02 (1)",
            "2 replace back 2028-02-01..2028-02-29 (29)",
            "2 replace prev 2028-02-01..2028-03-01 (30)",
        ]
    );
}

#[test]
fn leap_day() {
    let src = project_of(&[
        ds(
            "w",
            "day",
            &["ev = events where day in [p - 2d, p + 1d]"],
            "",
        ),
        ds("mo", "month", &["ev = events where month(day) == p"], ""),
    ]);
    let p = ok(
        &src,
        &request("events", Some("2028-02-29..2028-02-29"), "2026-01-01"),
    );
    assert_eq!(p.changed[0].start.as_deref(), Some("2028-02-29"));
    assert_eq!(
        lines(&p),
        [
            "1 replace mo 2028-02 (1)",
            "1 replace w 2028-02-28..2028-03-02 (4)",
        ]
    );
    // The whole of February 2028, as a month range on a daily source.
    let p = ok(
        &src,
        &request("events", Some("2028-02..2028-02"), "2026-01-01"),
    );
    assert_eq!(p.changed[0].end.as_deref(), Some("2028-02-29"));
    assert_eq!(
        lines(&p),
        [
            "1 replace mo 2028-02 (1)",
            "1 replace w 2028-01-31..2028-03-02 (32)",
        ]
    );
    // There is no 29 February in 2027.
    let err = plan_src(&src, &request("events", Some("2027-02-29"), "2026-01-01")).unwrap_err();
    assert!(
        matches!(&err, PlanError::BadRange(m) if m.contains("`2027-02-29` is not a partition")),
        "{err:?}"
    );
}

/// A daily ledger and its monthly report, both closing five days after
/// their month ends and restated with a reason.
fn closing_project(restate: &str) -> String {
    let close = format!("  closed after month_end(p) + 5d\n  restate {restate}\n");
    project_of(&[
        ds("ledger", "day", &["ev = events where day == p"], &close),
        ds(
            "report",
            "month",
            &["l = ledger where month(day) == p"],
            &close,
        ),
    ])
}

#[test]
fn range_across_closed_and_open_months() {
    let src = closing_project("with reason");
    // On 3 July, April and May are closed; June closes after 5 July.
    let p = ok(
        &src,
        &request("events", Some("2026-04-20..2026-07-10"), "2026-07-03"),
    );
    assert_eq!(
        lines(&p),
        [
            "1 restate ledger 2026-04-20..2026-05-31 (42)",
            "1 replace ledger 2026-06-01..2026-07-10 (40)",
            "2 restate report 2026-04..2026-05 (2)",
            "2 replace report 2026-06..2026-07 (2)",
        ]
    );
    assert_eq!(p.partitions(), Some(86));
    assert!(has_warning(
        &p,
        "`ledger` 2026-04-20..2026-05-31 will be restated"
    ));
    assert!(has_warning(
        &p,
        "`report` 2026-04..2026-05 will be restated"
    ));
    assert!(has_warning(&p, "restatement needs a reason"));

    // On 6 July June has closed too.
    let mut req = request("events", Some("2026-04-20..2026-07-10"), "2026-07-06");
    req.mode = Mode::Restatement;
    req.reason = Some("late events".into());
    let p = ok(&src, &req);
    assert_eq!(
        lines(&p),
        [
            "1 restate ledger 2026-04-20..2026-06-30 (72)",
            "1 replace ledger 2026-07-01..2026-07-10 (10)",
            "2 restate report 2026-04..2026-06 (3)",
            "2 replace report 2026-07 (1)",
        ]
    );
    assert!(!has_warning(&p, "needs a reason"));
}

#[test]
fn daily_close_rule() {
    // `closed after p + 3d`: a day closes once three more days have passed.
    let src = project_of(&[ds(
        "ops",
        "day",
        &["ev = events where day == p"],
        "  closed after p + 3d\n  restate with reason\n",
    )]);
    let p = ok(
        &src,
        &request("events", Some("2026-06-10..2026-06-20"), "2026-06-20"),
    );
    assert_eq!(
        lines(&p),
        [
            "1 restate ops 2026-06-10..2026-06-16 (7)",
            "1 replace ops 2026-06-17..2026-06-20 (4)",
        ]
    );
}

#[test]
fn replace_mode_skips_closed_partitions() {
    let src = closing_project("with reason");
    let mut req = request("events", Some("2026-05-30..2026-06-02"), "2026-07-03");
    req.mode = Mode::Replace;
    let p = ok(&src, &req);
    assert_eq!(
        lines(&p),
        [
            "1 skip ledger 2026-05-30..2026-05-31 (2)",
            "1 replace ledger 2026-06-01..2026-06-02 (2)",
            "2 skip report 2026-05 (1)",
            "2 replace report 2026-06 (1)",
        ]
    );
    let skipped = &p.steps[0];
    assert!(skipped
        .why
        .as_deref()
        .unwrap()
        .contains("replace is refused for closed partitions"));
    // Skipped partitions are not counted as work.
    assert_eq!(p.partitions(), Some(3));
    assert!(has_warning(&p, "is closed and will not be recomputed"));
    assert!(!has_warning(&p, "needs a reason"));
}

#[test]
fn restate_never_skips_closed_partitions_in_every_mode() {
    let src = closing_project("never");
    for mode in [Mode::DryRun, Mode::Restatement, Mode::Shadow] {
        let mut req = request("events", Some("2026-05-30..2026-06-02"), "2026-07-03");
        req.mode = mode;
        req.reason = Some("late events".into());
        let p = ok(&src, &req);
        assert_eq!(
            lines(&p),
            [
                "1 skip ledger 2026-05-30..2026-05-31 (2)",
                "1 replace ledger 2026-06-01..2026-06-02 (2)",
                "2 skip report 2026-05 (1)",
                "2 replace report 2026-06 (1)",
            ],
            "{mode:?}"
        );
        assert!(p.steps[0]
            .why
            .as_deref()
            .unwrap()
            .contains("does not allow restatement"));
    }
}

#[test]
fn diamond_unions_paths_and_waves_follow_the_longest_path() {
    let src = project_of(&[
        ds("a", "day", &["ev = events where day == p"], ""),
        ds("b", "day", &["x = a where day == p - 10d"], ""),
        ds("c", "day", &["x = a where day == p + 10d"], ""),
        ds("e", "day", &["x = b where day == p"], ""),
        ds(
            "d",
            "day",
            &[
                "xa = a where day == p",
                "xb = b where day == p",
                "xc = c where day == p",
                "xe = e where day == p",
            ],
            "",
        ),
        // Two paths that overlap: their union is one range.
        ds(
            "o",
            "day",
            &[
                "xb = b where day in [p - 1d, p]",
                "xc = c where day in [p - 30d, p]",
            ],
            "",
        ),
    ]);
    let p = ok(&src, &request("events", Some("2026-06-15"), "2026-01-01"));
    assert_eq!(
        lines(&p),
        [
            "1 replace a 2026-06-15 (1)",
            "2 replace b 2026-06-25 (1)",
            "2 replace c 2026-06-05 (1)",
            "3 replace e 2026-06-25 (1)",
            "3 replace o 2026-06-05..2026-07-05 (31)",
            // a (wave 1), b and c (2) and e (3) all feed d: wave 4.
            "4 replace d 2026-06-05, 2026-06-15, 2026-06-25 (3)",
        ]
    );
    let d = p.steps.iter().find(|s| s.dataset == "d").unwrap();
    assert_eq!(d.ranges.len(), 3);

    // The same diamond planned from a dataset in the middle.
    let p = ok(&src, &request("b", Some("2026-06-25"), "2026-01-01"));
    assert_eq!(
        lines(&p),
        [
            "1 replace b 2026-06-25 (1)",
            "2 replace e 2026-06-25 (1)",
            "2 replace o 2026-06-25..2026-06-26 (2)",
            "3 replace d 2026-06-25 (1)",
        ]
    );
}

#[test]
fn two_inputs_from_the_same_upstream_union() {
    let src = project_of(&[
        ds("a", "day", &["ev = events where day == p"], ""),
        ds(
            "wow",
            "day",
            &["now = a where day == p", "week_ago = a where day == p - 7d"],
            "",
        ),
    ]);
    let p = ok(&src, &request("a", Some("2026-06-15"), "2026-01-01"));
    assert_eq!(
        lines(&p),
        [
            "1 replace a 2026-06-15 (1)",
            "2 replace wow 2026-06-15, 2026-06-22 (2)",
        ]
    );
}

const TENANTS: &str = r#"
dataset per_tenant {
  version 1
  partition by tenant: string, day: date
  publish replace
  input ev = events where tenant == p.tenant and day == p.day
  compute { from ev group by tenant = p.tenant, day = p.day { n = row_count() } }
}
dataset total {
  version 1
  partition by day: date
  publish replace
  input t = per_tenant where day == p
  compute { from t group by day = p { n = sum(t.n) } }
}
dataset share {
  version 1
  partition by tenant: string, day: date
  publish replace
  input t = per_tenant where tenant == p.tenant and day in [p.day - 6d, p.day]
  input tot = total where day == p.day
  compute { from t group by tenant = p.tenant, day = p.day { n = sum(t.n) } }
}
dataset by_tenant {
  version 1
  partition by tenant: string
  publish replace
  input ev = events where tenant == p.tenant
  compute { from ev group by tenant = p.tenant { n = row_count() } }
}
"#;

#[test]
fn static_dimensions_pass_through_and_fan_in() {
    let src = format!("{BASE}{TENANTS}");
    let p = ok(&src, &request("events", Some("2026-06-15"), "2026-01-01"));
    assert_eq!(
        lines(&p),
        [
            // No time key: a change anywhere touches every tenant partition.
            "1 replace by_tenant all partitions (all)",
            "1 replace per_tenant 2026-06-15 (1)",
            // Every tenant of a day fans in to that day's total.
            "2 replace total 2026-06-15 (1)",
            // Both paths, per tenant: the 7-day window and the day's total.
            "3 replace share 2026-06-15..2026-06-21 (7)",
        ]
    );
    let step = |n: &str| p.steps.iter().find(|s| s.dataset == n).unwrap();
    assert_eq!(
        step("per_tenant").inputs[0].boundary,
        "p, tenant = p.tenant"
    );
    assert_eq!(
        step("share").inputs[0].boundary,
        "[p - 6d, p], tenant = p.tenant"
    );
    assert_eq!(step("total").inputs[0].boundary, "p");
    assert_eq!(step("by_tenant").grain, None);
    assert_eq!(step("by_tenant").partitions, None);
    assert_eq!(
        p.partitions(),
        None,
        "an unbounded step makes the total unbounded"
    );
}

#[test]
fn inverted_and_empty_ranges_are_errors() {
    let src = project_of(&[
        ds("a", "day", &["ev = events where day == p"], ""),
        ds("mo", "month", &["x = a where month(day) == p"], ""),
    ]);
    let bad = |from: &str, range: &str| {
        let req = Request {
            range: Some(match range.split_once("..") {
                Some((a, b)) => (a.into(), b.into()),
                None => (range.into(), range.into()),
            }),
            ..request(from, None, "2026-01-01")
        };
        match plan_src(&src, &req) {
            Err(PlanError::BadRange(m)) => m,
            other => panic!("{from} {range}: expected a bad range, got {other:?}"),
        }
    };
    assert!(bad("events", "2026-06-30..2026-06-01").contains("ends before it starts"));
    assert!(bad("events", "2026-07..2026-06").contains("ends before it starts"));
    assert!(bad("mo", "2026-07..2026-06").contains("ends before it starts"));
    // Both days lie in June, but the range is still written backwards.
    assert!(bad("mo", "2026-06-20..2026-06-10").contains("ends before it starts"));
    assert!(bad("events", "..").contains("is not a partition"));
    assert!(bad("events", "").contains("is not a partition"));
    assert!(bad("events", "2026-06-15..").contains("is not a partition"));
    assert!(bad("events", "2026-02-30").contains("`2026-02-30` is not a partition"));
    assert!(bad("events", "2026-13").contains("`2026-13` is not a partition"));
    assert!(bad("events", "yesterday").contains("`yesterday` is not a partition"));
}

#[test]
fn month_ranges_on_a_daily_source_cover_whole_months() {
    let src = project_of(&[ds("a", "day", &["ev = events where day == p"], "")]);
    let changed = |range: &str| {
        let p = ok(&src, &request("events", Some(range), "2026-01-01"));
        (p.changed[0].clone(), p.steps[0].partitions)
    };
    let (r, n) = changed("2026-06..2026-06");
    assert_eq!(
        (r.start.as_deref(), r.end.as_deref(), n),
        (Some("2026-06-01"), Some("2026-06-30"), Some(30))
    );
    let (r, n) = changed("2026-06");
    assert_eq!(
        (r.start.as_deref(), r.end.as_deref(), n),
        (Some("2026-06-01"), Some("2026-06-30"), Some(30))
    );
    let (r, n) = changed("2026-02..2026-03");
    assert_eq!(
        (r.start.as_deref(), r.end.as_deref(), n),
        (Some("2026-02-01"), Some("2026-03-31"), Some(59))
    );
    let (r, _) = changed("2026-06-15..2026-07");
    assert_eq!(
        (r.start.as_deref(), r.end.as_deref()),
        (Some("2026-06-15"), Some("2026-07-31"))
    );
    let (r, _) = changed("2026-06..2026-06-10");
    assert_eq!(
        (r.start.as_deref(), r.end.as_deref()),
        (Some("2026-06-01"), Some("2026-06-10"))
    );
    // A day range on a monthly dataset means the months it touches.
    let src = project_of(&[
        ds("a", "day", &["ev = events where day == p"], ""),
        ds("mo", "month", &["x = a where month(day) == p"], ""),
    ]);
    let p = ok(
        &src,
        &request("mo", Some("2026-06-15..2026-07-02"), "2026-01-01"),
    );
    assert_eq!(lines(&p), ["1 replace mo 2026-06..2026-07 (2)"]);
}

#[test]
fn whole_history_is_unbounded() {
    let src = closing_project("with reason");
    let p = ok(&src, &request("events", None, "2026-07-03"));
    assert_eq!(p.changed.len(), 1);
    assert_eq!(
        (p.changed[0].start.as_ref(), p.changed[0].end.as_ref()),
        (None, None)
    );
    assert_eq!(
        lines(&p),
        [
            "1 restate ledger up to 2026-05-31 (all)",
            "1 replace ledger 2026-06-01 onwards (all)",
            "2 restate report up to 2026-05 (all)",
            "2 replace report 2026-06 onwards (all)",
        ]
    );
    assert_eq!(p.partitions(), None);
    // The JSON shape: unbounded ends and counts are null.
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["changed"], json!([{ "start": null, "end": null }]));
    assert_eq!(
        v["steps"][0]["ranges"],
        json!([{ "start": null, "end": "2026-05-31" }])
    );
    assert_eq!(v["steps"][0]["partitions"], Value::Null);
    // A whole-history plan is not a late change the lookback missed.
    assert!(!has_warning(&p, "lookback"));
}

#[test]
fn changed_version_replans_every_partition_of_the_dataset() {
    let src = project_of(&[
        ds("a", "day", &["ev = events where day == p"], ""),
        ds("b", "day", &["x = a where day in [p - 6d, p]"], ""),
        ds("mo", "month", &["x = b where month(day) == p"], ""),
    ]);
    let req = Request {
        changed_version: true,
        ..request("b", None, "2026-01-01")
    };
    let p = ok(&src, &req);
    assert_eq!(
        lines(&p),
        [
            "1 replace b all partitions (all)",
            "2 replace mo all partitions (all)",
        ]
    );
    assert_eq!(p.from_kind, bplc::syntax::ast::DeclKind::Dataset);
    // A source has no job version.
    let req = Request {
        changed_version: true,
        ..request("events", None, "2026-01-01")
    };
    assert_eq!(
        plan_src(&src, &req).unwrap_err(),
        PlanError::NotADataset("events".into())
    );
}

#[test]
fn unreproducible_bindings_warn() {
    let src = project_of(&[
        ds(
            "a",
            "day",
            &["ev = events where day == p"],
            "  bind u = units latest because \"the org chart of today by design\"\n",
        ),
        ds(
            "b",
            "day",
            &["ev = events where day == p"],
            "  bind u = units as of processing time\n",
        ),
        ds(
            "c",
            "day",
            &["ev = events where day == p"],
            "  bind u = units as of report close\n",
        ),
    ]);
    let p = ok(&src, &request("events", Some("2026-06-15"), "2026-06-16"));
    assert!(
        has_warning(&p, "`a` binds `units` latest"),
        "{:?}",
        p.warnings
    );
    assert!(has_warning(&p, "`b` binds `units` as of processing time"));
    assert!(!has_warning(&p, "`c` binds"));
    let a = p.steps.iter().find(|s| s.dataset == "a").unwrap();
    assert_eq!(a.bindings[0].policy, "latest");
    assert!(!a.bindings[0].reproducible);
    // A change to the reference itself touches every partition of its readers.
    let p = ok(&src, &request("units", Some("2026-06-15"), "2026-06-16"));
    assert_eq!(p.from_kind, bplc::syntax::ast::DeclKind::Reference);
    assert_eq!(
        lines(&p),
        [
            "1 replace a all partitions (all)",
            "1 replace b all partitions (all)",
            "1 replace c all partitions (all)",
        ]
    );
}

#[test]
fn lookback_warning_only_for_changes_older_than_the_lookback() {
    let src = project_of(&[ds(
        "a",
        "day",
        &["ev = events where day == p"],
        "  schedule daily at 01:00 \"UTC\" lookback 3d\n",
    )]);
    let recent = ok(&src, &request("events", Some("2026-06-15"), "2026-06-16"));
    assert!(!has_warning(&recent, "lookback"), "{:?}", recent.warnings);
    let old = ok(&src, &request("events", Some("2026-06-01"), "2026-06-16"));
    assert!(has_warning(&old, "beyond the lookback of `a` (3d)"));
}

#[test]
fn run_partitioned_datasets_are_skipped() {
    let src = format!(
        "{BASE}
dataset snapshot_runs {{
  version 1
  partition by run_id: run
  publish replace
  input ev = events all history
  compute {{ from ev group by id = ev.id {{ n = row_count() }} }}
}}
"
    );
    let p = ok(&src, &request("events", Some("2026-06-15"), "2026-01-01"));
    assert_eq!(lines(&p), ["1 skip snapshot_runs all partitions (all)"]);
    assert!(p.steps[0]
        .why
        .as_deref()
        .unwrap()
        .contains("partitioned by run"));
    // Skipped steps are no work.
    assert_eq!(p.partitions(), Some(0));
}

#[test]
fn unknown_origin_suggests_a_name() {
    let src = project_of(&[ds("silver", "day", &["ev = events where day == p"], "")]);
    assert_eq!(
        plan_src(&src, &request("evnts", None, "2026-01-01")).unwrap_err(),
        PlanError::UnknownName {
            name: "evnts".into(),
            suggestion: Some("events".into())
        }
    );
    assert_eq!(
        plan_src(&src, &request("zzz", None, "2026-01-01")).unwrap_err(),
        PlanError::UnknownName {
            name: "zzz".into(),
            suggestion: None
        }
    );
}

#[test]
fn nothing_downstream() {
    let src = project_of(&[ds("a", "day", &["ev = events where day == p"], "")]);
    let p = ok(&src, &request("a", Some("2026-06-15"), "2026-01-01"));
    assert_eq!(lines(&p), ["1 replace a 2026-06-15 (1)"]);
    // A source nobody reads plans nothing.
    let src =
        format!("{BASE}\nsource lonely {{\n  columns {{ id: string, day: date }}\n  key id\n}}\n");
    let p = ok(&src, &request("lonely", Some("2026-06-15"), "2026-01-01"));
    assert!(p.steps.is_empty());
    assert_eq!(p.partitions(), Some(0));
}

// ---------------------------------------------------------------------------
//  (d) Exit codes through the command line
// ---------------------------------------------------------------------------

/// Runs `bplc plan-backfill --project <enforcement_sla> ARGS`: exit code,
/// stdout and stderr.
fn plan_cmd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bplc()
        .arg("plan-backfill")
        .arg("--project")
        .arg(enforcement())
        .args(args)
        .output()
        .expect("bplc runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_plan_with_warnings_exits_zero() {
    let cases: [&[&str]; 4] = [
        &[
            "--from",
            "silver_cases",
            "--range",
            "2026-06-15..2026-06-15",
        ],
        // Whole history, from a source and from a reference.
        &["--from", "raw_case_events"],
        &["--from", "org_hierarchy"],
        &["--changed-version", "case_sla_daily_metrics"],
    ];
    for args in cases {
        let (code, stdout, stderr) = plan_cmd(&[args, &["--as-of", "2026-07-20"]].concat());
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stdout.contains("Backfill plan"), "{args:?}: {stdout}");
    }
}

#[test]
fn cli_unknown_from_exits_two_with_a_suggestion() {
    let (code, stdout, stderr) = plan_cmd(&["--from", "silver_case", "--as-of", "2026-07-20"]);
    assert_eq!(code, Some(2));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(
            "no source, reference or dataset is called `silver_case`; did you mean `silver_cases`?"
        ),
        "{stderr}"
    );
}

#[test]
fn cli_usage_errors_exit_two() {
    let date = ["--as-of", "2026-07-20"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--from",
                "silver_cases",
                "--range",
                "2026-06-30..2026-06-01",
            ],
            "ends before it starts",
        ),
        (
            vec!["--from", "silver_cases", "--range", "2026-02-30"],
            "is not a partition",
        ),
        (
            vec!["--from", "silver_cases", "--range", ".."],
            "is not a partition",
        ),
        (
            vec!["--from", "silver_cases", "--as-of", "yesterday"],
            "is not a date",
        ),
        (vec![], "say what changed"),
        (
            vec!["--changed-version", "raw_case_events"],
            "is not a dataset",
        ),
        (
            vec![
                "--from",
                "silver_cases",
                "--changed-version",
                "silver_cases",
            ],
            "cannot be used with",
        ),
        (
            vec!["--from", "silver_cases", "--mode", "yolo"],
            "invalid value",
        ),
    ];
    for (args, message) in cases {
        let mut all = args.clone();
        if !args.contains(&"--as-of") {
            all.extend(date);
        }
        let (code, stdout, stderr) = plan_cmd(&all);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    bplc()
        .args(["--format", "github", "plan-backfill", "--project"])
        .arg(enforcement())
        .args(["--from", "silver_cases", "--as-of", "2026-07-20"])
        .assert()
        .code(2);
    bplc()
        .args(["plan-backfill", "--project", "/nonexistent/bplc/project"])
        .args(["--from", "silver_cases", "--as-of", "2026-07-20"])
        .assert()
        .code(2);
}

#[test]
fn cli_project_with_errors_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bpl.toml"), "name = \"t\"\n").unwrap();
    std::fs::write(
        dir.path().join("t.bpl"),
        "dataset a {\n  version 1\n  partition by day: date\n  publish replace\n  input ev = nowhere where day == p\n  compute { from ev group by day = p { n = row_count() } }\n}\n",
    )
    .unwrap();
    let out = bplc()
        .args(["plan-backfill", "--project"])
        .arg(dir.path())
        .args(["--from", "a", "--as-of", "2026-07-20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only made for a project that checks clean")
    );
}

/// Calendar roll-ups beyond months: days into ISO weeks, months into
/// quarters, quarters into years, with a quarter closing ten days after it
/// ends.
const CALENDAR: &str = r#"
source events {
  columns {
    id: string
    at: timestamp
    amount: decimal(18, 2)
  }
  key id
}

dataset daily {
  version 1
  partition by day: date
  publish replace
  input ev = events by event clock where to_date(at, "UTC") == p
  compute {
    from ev
    group by day = p {
      total = sum(ev.amount)
    }
  }
}

dataset weekly {
  version 1
  partition by week_of: week
  publish replace
  input d = daily where day in week(p)
  compute {
    from d
    group by week_of = p {
      total = sum(d.total)
    }
  }
}

dataset monthly {
  version 1
  partition by month_of: month
  publish replace
  input d = daily where day in month(p)
  compute {
    from d
    group by month_of = p {
      total = sum(d.total)
    }
  }
}

dataset quarterly {
  version 1
  partition by quarter_of: quarter
  publish versioned
  input m = monthly where month_of in quarter(p)
  compute {
    from m
    group by quarter_of = p {
      total = sum(m.total)
    }
  }
  closed after quarter_end(p) + 10d
  restate with reason
}

dataset yearly {
  version 1
  partition by year_of: year
  publish versioned
  input q = quarterly where quarter_of in year(p)
  compute {
    from q
    group by year_of = p {
      total = sum(q.total)
    }
  }
}
"#;

#[test]
fn weeks_quarters_and_years_roll_up() {
    // 2026-06-30 is a Tuesday: ISO week 27, June, the second quarter.
    let plan = ok(
        CALENDAR,
        &request("events", Some("2026-06-30"), "2026-07-05"),
    );
    assert_eq!(
        lines(&plan),
        vec![
            "1 replace daily 2026-06-30 (1)",
            "2 replace monthly 2026-06 (1)",
            "2 replace weekly 2026-W27 (1)",
            "3 replace quarterly 2026-Q2 (1)",
            "4 replace yearly 2026 (1)",
        ]
    );
    // Ten days after the quarter ends, it is closed: restated, not replaced.
    let later = ok(
        CALENDAR,
        &request("events", Some("2026-06-30"), "2026-07-11"),
    );
    assert!(
        lines(&later).contains(&"3 restate quarterly 2026-Q2 (1)".to_string()),
        "{:?}",
        lines(&later)
    );
}

#[test]
fn a_week_straddling_two_months_touches_both() {
    // ISO week 2026-W27 runs from Monday 2026-06-29 to Sunday 2026-07-05.
    let plan = ok(CALENDAR, &request("weekly", Some("2026-W27"), "2026-07-06"));
    assert!(lines(&plan).is_empty() || plan.steps.iter().all(|s| s.dataset == "weekly"));
    let from_days = ok(
        CALENDAR,
        &request("daily", Some("2026-06-29..2026-07-05"), "2026-07-06"),
    );
    assert!(
        lines(&from_days).contains(&"2 replace monthly 2026-06..2026-07 (2)".to_string()),
        "{:?}",
        lines(&from_days)
    );
    assert!(
        lines(&from_days).contains(&"2 replace weekly 2026-W27 (1)".to_string()),
        "{:?}",
        lines(&from_days)
    );
}

#[test]
fn a_quarter_range_on_a_daily_source() {
    let plan = ok(CALENDAR, &request("events", Some("2026-Q1"), "2026-12-31"));
    assert!(
        lines(&plan).contains(&"1 replace daily 2026-01-01..2026-03-31 (90)".to_string()),
        "{:?}",
        lines(&plan)
    );
}
