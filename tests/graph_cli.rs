//! `bplc graph`: every format for every example project pinned as a
//! snapshot, `--focus`, the exit codes (1 for a project with errors, 2 for an
//! unknown focus or a format `graph` does not draw), the documented JSON
//! shape, and the Graphviz and Mermaid output checked structurally so no
//! external tool is needed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

const FORMATS: [&str; 4] = ["text", "dot", "mermaid", "json"];

fn bplc() -> Command {
    let mut cmd = Command::cargo_bin("bplc").expect("the bplc binary is built");
    cmd.env_remove("NO_COLOR").args(["--color", "never"]);
    cmd
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn enforcement_sla() -> PathBuf {
    root().join("examples/enforcement_sla")
}

/// Every directory under `examples/` holding a `bpl.toml`, sorted.
fn example_projects() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(root().join("examples"))
        .into_iter()
        .map(|e| e.expect("a readable examples directory").into_path())
        .filter(|p| p.file_name().is_some_and(|n| n == "bpl.toml"))
        .map(|p| p.parent().expect("a directory").to_path_buf())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no example projects found");
    dirs
}

/// `examples/enforcement_sla` becomes `enforcement_sla`, a nested
/// `examples/a/b` becomes `a__b`.
fn example_name(dir: &Path) -> String {
    dir.strip_prefix(root().join("examples"))
        .expect("under examples/")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("__")
}

fn run(args: &[&str], project: &Path) -> std::process::Output {
    bplc()
        .arg("graph")
        .args(args)
        .arg("--project")
        .arg(project)
        .output()
        .expect("bplc runs")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 output")
}

/// Runs `bplc graph` and requires exit 0 with nothing on stderr.
fn graph(args: &[&str], project: &Path) -> String {
    let out = run(args, project);
    assert_eq!(
        out.status.code(),
        Some(0),
        "`bplc graph {}` on {} failed:\n{}{}",
        args.join(" "),
        project.display(),
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stderr(&out), "", "graph wrote to stderr");
    stdout(&out)
}

fn json(args: &[&str], project: &Path) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&graph(&all, project)).expect("valid JSON")
}

/// A project in a temporary directory: `bpl.toml` and the given files.
fn project(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("bpl.toml"),
        "name = \"test\"\ntime_zone = \"UTC\"\n",
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const SOURCE: &str = r#"
source events {
  columns {
    id: string
    day: date
  }
  key id
}
"#;

const DATASET: &str = r#"
dataset daily {
  version 1
  partition by day: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 3d
  input ev = events where day == p
  compute {
    from ev
    group by day = p {
      n = row_count()
    }
  }
}
"#;

#[test]
fn every_format_of_every_example_project() {
    for dir in example_projects() {
        let name = example_name(&dir);
        for format in FORMATS {
            let out = graph(&["--format", format], &dir);
            insta::assert_snapshot!(format!("{name}_{format}"), out);
        }
    }
}

#[test]
fn edges_read_as_the_user_wrote_them() {
    let dot = graph(&["--format", "dot"], &enforcement_sla());
    for line in [
        r#""silver_cases" -> "case_sla_daily_metrics" [label="ev: [p - 29d, p]"];"#,
        r#""silver_cases" -> "executive_dashboard" [label="cases: days of month(p)"];"#,
        r#""org_hierarchy" -> "case_sla_daily_metrics" [label="units: as of event time", style=dashed];"#,
    ] {
        assert!(
            dot.lines().any(|l| l.trim() == line),
            "no `{line}` in:\n{dot}"
        );
    }
    let mermaid = graph(&["--format", "mermaid"], &enforcement_sla());
    assert!(
        mermaid.contains(r#"ds_silver_cases -->|"ev: [p - 29d, p]"| ds_case_sla_daily_metrics"#),
        "{mermaid}"
    );
    assert!(
        mermaid.contains(r#"-.->|"sla: pinned #quot;2026-07#quot;"| ds_case_sla_daily_metrics"#),
        "{mermaid}"
    );
}

#[test]
fn text_is_the_default_format() {
    let dir = enforcement_sla();
    assert_eq!(graph(&[], &dir), graph(&["--format", "text"], &dir));
}

#[test]
fn json_has_the_documented_shape() {
    for dir in example_projects() {
        let v = json(&[], &dir);
        let top: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(top, BTreeSet::from(["nodes", "edges"]));
        let nodes = v["nodes"].as_array().unwrap();
        let names: BTreeSet<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), nodes.len(), "a node listed twice");
        for n in nodes {
            let keys: BTreeSet<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["name", "kind", "grain", "partition", "publish"])
            );
            let kind = n["kind"].as_str().unwrap();
            assert!(["source", "reference", "dataset"].contains(&kind), "{n}");
            assert!(
                n["grain"].is_null() || ["day", "month"].contains(&n["grain"].as_str().unwrap())
            );
            assert!(n["partition"]
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_string));
            match kind {
                "dataset" => assert!(["replace", "versioned"]
                    .contains(&n["publish"].as_str().expect("a dataset publishes"))),
                _ => assert!(n["publish"].is_null(), "{n}"),
            }
        }
        for e in v["edges"].as_array().unwrap() {
            let keys: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["from", "to", "alias", "kind", "mapping"])
            );
            assert!(names.contains(e["from"].as_str().unwrap()), "{e}");
            assert!(names.contains(e["to"].as_str().unwrap()), "{e}");
            assert!(
                ["input", "bind"].contains(&e["kind"].as_str().unwrap()),
                "{e}"
            );
            assert!(!e["mapping"].as_str().unwrap().is_empty(), "{e}");
        }
    }
}

/// Strips the quoted strings from a DOT line, honouring `\"` escapes;
/// `None` if a string is left open.
fn outside_quotes(line: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = line.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '\\') => {
                chars.next()?;
            }
            (_, '"') => {
                quoted = !quoted;
                out.push('"');
            }
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    (!quoted).then_some(out)
}

#[test]
fn dot_output_is_structurally_valid() {
    for dir in example_projects() {
        let dot = graph(&["--format", "dot"], &dir);
        let v = json(&[], &dir);
        let lines: Vec<&str> = dot.lines().collect();
        assert!(
            lines[0].starts_with("digraph \"") && lines[0].ends_with(" {"),
            "{dot}"
        );
        assert_eq!(lines.last(), Some(&"}"), "{dot}");
        // Braces and brackets balance outside strings, and every string closes.
        let mut depth = 0i32;
        for l in &lines {
            let bare = outside_quotes(l).unwrap_or_else(|| panic!("unclosed string: {l}"));
            for c in bare.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                assert!(depth >= 0, "`}}` before `{{`:\n{dot}");
            }
            assert_eq!(bare.matches('[').count(), bare.matches(']').count(), "{l}");
            if depth > 0 && !l.trim().is_empty() && *l != lines[0] {
                assert!(l.ends_with(';'), "a statement without `;`: {l}");
            }
        }
        assert_eq!(depth, 0, "unbalanced braces:\n{dot}");
        // One line per edge, each between declared nodes.
        let declared: BTreeSet<String> = lines
            .iter()
            .filter(|l| !l.contains("->"))
            .filter_map(|l| l.trim().strip_prefix('"'))
            .filter_map(|l| l.split_once('"').map(|(id, _)| id.to_string()))
            .collect();
        let edges: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains(" -> "))
            .collect();
        let expected = v["edges"].as_array().unwrap();
        assert_eq!(edges.len(), expected.len(), "one line per edge:\n{dot}");
        for (line, e) in edges.iter().zip(expected) {
            let from = e["from"].as_str().unwrap();
            let to = e["to"].as_str().unwrap();
            assert!(
                line.trim()
                    .starts_with(&format!("\"{from}\" -> \"{to}\" [label=\"")),
                "{line}"
            );
            assert!(declared.contains(from) && declared.contains(to), "{line}");
        }
        assert_eq!(
            declared.len(),
            v["nodes"].as_array().unwrap().len(),
            "{dot}"
        );
    }
}

#[test]
fn mermaid_output_is_structurally_valid() {
    for dir in example_projects() {
        let mermaid = graph(&["--format", "mermaid"], &dir);
        let v = json(&[], &dir);
        let lines: Vec<&str> = mermaid.lines().collect();
        assert_eq!(lines[0], "flowchart LR");
        let edges: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains(" -->|") || l.contains(" -.->|"))
            .collect();
        assert_eq!(
            edges.len(),
            v["edges"].as_array().unwrap().len(),
            "{mermaid}"
        );
        for l in &lines[1..] {
            // Every label is one quoted string with nothing Mermaid reads
            // inside it.
            assert_eq!(l.matches('"').count(), 2, "{l}");
            let label = l.split('"').nth(1).unwrap();
            assert!(!label.contains('|'), "{l}");
        }
    }
}

#[test]
fn focus_keeps_the_upstream_and_downstream_of_a_node() {
    let dir = enforcement_sla();
    let v = json(&["--focus", "case_sla_daily_metrics"], &dir);
    let names: BTreeSet<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "raw_case_events",
            "raw_assignment_events",
            "raw_escalation_events",
            "org_hierarchy",
            "sla_calendar",
            "silver_cases",
            "case_sla_daily_metrics",
        ]),
        "siblings (`case_daily_metrics`, `executive_dashboard`) are not in the neighbourhood"
    );
    for e in v["edges"].as_array().unwrap() {
        assert!(names.contains(e["from"].as_str().unwrap()));
        assert!(names.contains(e["to"].as_str().unwrap()));
    }
    let downstream = json(&["--focus", "silver_cases"], &dir);
    let names: BTreeSet<&str> = downstream["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    for reader in [
        "case_daily_metrics",
        "case_sla_daily_metrics",
        "executive_dashboard",
    ] {
        assert!(names.contains(reader), "{reader} reads silver_cases");
    }
    insta::assert_snapshot!(
        "focus_case_sla_daily_metrics_text",
        graph(&["--focus", "case_sla_daily_metrics"], &dir)
    );
    insta::assert_snapshot!(
        "focus_case_sla_daily_metrics_mermaid",
        graph(
            &["--focus", "case_sla_daily_metrics", "--format", "mermaid"],
            &dir
        )
    );
    insta::assert_snapshot!(
        "focus_case_sla_daily_metrics_dot",
        graph(
            &["--focus", "case_sla_daily_metrics", "--format", "dot"],
            &dir
        )
    );
}

#[test]
fn focus_on_a_reference_shows_only_its_readers() {
    let v = json(&["--focus", "org_hierarchy"], &enforcement_sla());
    let names: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "org_hierarchy",
            "case_sla_daily_metrics",
            "executive_dashboard"
        ]
    );
    let edges: Vec<(&str, &str)> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["alias"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(edges, [("units", "bind"), ("units", "bind")]);
}

#[test]
fn unknown_focus_exits_2_with_a_suggestion() {
    let out = run(&["--focus", "silver_case"], &enforcement_sla());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "error: no source, reference or dataset is called `silver_case`; did you mean `silver_cases`?\n"
    );
    let out = run(&["--focus", "zzz"], &enforcement_sla());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no source, reference or dataset is called `zzz`\n"
    );
}

#[test]
fn a_project_with_errors_exits_1() {
    let dir = project(&[
        ("events.bpl", SOURCE),
        ("daily.bpl", &DATASET.replace("= events", "= evnts")),
    ]);
    for format in FORMATS {
        let out = run(&["--format", format], dir.path());
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        if format == "json" {
            // The error is the JSON output, the diagnostics inside it.
            assert_eq!(stderr(&out), "");
            let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            assert_eq!(v["error"]["diagnostics"][0]["code"], "E0102", "{v}");
            assert_eq!(
                v["error"]["message"],
                "the project has errors; the graph is only drawn for a project that checks clean"
            );
            continue;
        }
        assert_eq!(stdout(&out), "", "nothing is drawn");
        let err = stderr(&out);
        assert!(err.contains("E0102"), "{err}");
        assert!(
            err.contains("the graph is only drawn for a project that checks clean"),
            "{err}"
        );
    }
}

#[test]
fn a_missing_project_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[], &dir.path().join("nowhere"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_small_project_in_every_format() {
    let dir = project(&[("events.bpl", SOURCE), ("daily.bpl", DATASET)]);
    let text = graph(&[], dir.path());
    assert_eq!(
        text,
        "test: 1 source, 0 references, 1 dataset, 1 edge\n\
         \n\
         level 0\n  source     events\n\
         \n\
         level 1\n  dataset    daily   partition by day: date, publish replace\n\
         \x20              input ev = events over p\n"
    );
    let v = json(&[], dir.path());
    assert_eq!(
        v,
        serde_json::json!({
            "nodes": [
                {"name": "events", "kind": "source", "grain": null, "partition": [], "publish": null},
                {"name": "daily", "kind": "dataset", "grain": "day", "partition": ["day: date"], "publish": "replace"},
            ],
            "edges": [
                {"from": "events", "to": "daily", "alias": "ev", "kind": "input", "mapping": "p"},
            ],
        })
    );
}

#[test]
fn graph_formats_are_refused_elsewhere_and_github_by_graph() {
    let dir = enforcement_sla();
    let out = run(&["--format", "github"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`graph` takes text, dot, mermaid or json"));
    for format in ["dot", "mermaid"] {
        let out = bplc()
            .args(["check", "--format", format])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "check --format {format}");
        assert!(
            stderr(&out).contains(&format!("`--format {format}` is for `graph`")),
            "{}",
            stderr(&out)
        );
        let out = bplc()
            .args([
                "plan-backfill",
                "--from",
                "silver_cases",
                "--format",
                format,
            ])
            .arg("--project")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "plan-backfill --format {format}"
        );
        assert!(
            stderr(&out).contains(&format!("`--format {format}` is for `graph`")),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn characters_mermaid_and_graphviz_would_misread_are_escaped() {
    let reference = r#"
reference rates {
  table "rates"
  columns {
    cur: string
    v: string
  }
  key cur
  versioned by v
  versions "2026|Q3#1<x>"
}
"#;
    // `end` is a Mermaid keyword: node ids carry their kind.
    let dataset = DATASET.replace("dataset daily", "dataset end").replace(
        "  compute {",
        "  bind r = rates pinned \"2026|Q3#1<x>\"\n  compute {",
    );
    let dir = project(&[
        ("events.bpl", SOURCE),
        ("rates.bpl", reference),
        ("end.bpl", &dataset),
    ]);
    let mermaid = graph(&["--format", "mermaid"], dir.path());
    assert!(
        mermaid.contains(
            "  ds_end[\"end<br/>dataset<br/>partition by day: date<br/>publish replace\"]\n"
        ),
        "{mermaid}"
    );
    assert!(
        mermaid.contains(
            "  ref_rates -.->|\"r: pinned #quot;2026#124;Q3#35;1#lt;x#gt;#quot;\"| ds_end\n"
        ),
        "{mermaid}"
    );
    let dot = graph(&["--format", "dot"], dir.path());
    assert!(
        dot.contains(
            "  \"rates\" -> \"end\" [label=\"r: pinned \\\"2026|Q3#1<x>\\\"\", style=dashed];\n"
        ),
        "{dot}"
    );
}

/// `book/src/cli/graph.md` shows real output: every ```` ```text ```` block
/// that starts with `$ bplc graph ...` is that command's output, and the
/// ```` ```json ```` block is the JSON of the command the page names.
#[test]
fn the_book_page_shows_real_output() {
    let page = std::fs::read_to_string(root().join("book/src/cli/graph.md")).expect("the page");
    let mut blocks = Vec::new();
    let mut lines = page.lines();
    while let Some(l) = lines.next() {
        if let Some(lang) = l.strip_prefix("```").filter(|x| !x.starts_with('`')) {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((lang.to_string(), body));
        }
    }
    let mut commands = 0;
    for (lang, body) in &blocks {
        let Some(cmd) = body.first().and_then(|l| l.strip_prefix("$ bplc graph ")) else {
            continue;
        };
        assert_eq!(lang, "text");
        let args: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        let out = bplc()
            .arg("graph")
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "`bplc graph {cmd}`");
        let shown = body[1..].join("\n") + "\n";
        assert_eq!(
            shown,
            stdout(&out),
            "the page shows stale output of `bplc graph {cmd}`"
        );
        commands += 1;
    }
    assert!(commands >= 4, "the page shows {commands} commands");
    let json_blocks: Vec<_> = blocks.iter().filter(|(lang, _)| lang == "json").collect();
    assert_eq!(json_blocks.len(), 1);
    let shown: Value = serde_json::from_str(&json_blocks[0].1.join("\n")).expect("valid JSON");
    assert!(page.contains(
        "`bplc graph --project examples/enforcement_sla --format json --focus org_hierarchy`"
    ));
    assert_eq!(
        shown,
        json(&["--focus", "org_hierarchy"], &enforcement_sla())
    );
}
