//! Every example through the front end, PRQL-style: each `.bpl` file under
//! `examples/` and `stdlib/` (found by walking the directories, so a new
//! example is picked up without touching this file) parses with no
//! diagnostics and has its AST pinned as a snapshot; every example project
//! (a directory holding `bpl.toml`) passes `bplc check`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bplc::cli::render;
use bplc::syntax::span::SourceMap;

/// Every file under `dir` whose name ends with `ext`, in a stable order.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.expect("readable directory entry").into_path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext))
        .collect();
    out.sort();
    out
}

/// `examples/enforcement_sla/sources/case_events.bpl` becomes the snapshot
/// name `enforcement_sla__sources__case_events`, `stdlib/checks.bpl`
/// becomes `stdlib__checks`.
fn snapshot_name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let relative = path
        .strip_prefix(root.join("examples"))
        .or_else(|_| path.strip_prefix(root))
        .expect("under the crate");
    relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("__")
}

fn assert_parses_clean_and_pin_ast(path: &Path) {
    let text = std::fs::read_to_string(path).expect("readable example");
    let mut sources = SourceMap::default();
    let file = sources.add(path.display().to_string(), text.as_str());
    let (module, diags) = bplc::syntax::parse(file, &text);
    let rendered: String = diags
        .iter()
        .map(|d| render::text(&sources, d, false))
        .collect();
    assert!(
        diags.is_empty(),
        "{} does not parse clean:\n{rendered}",
        path.display()
    );
    assert!(
        !module.items.is_empty(),
        "{} declares nothing",
        path.display()
    );
    let ast = compact_spans(serde_json::to_value(&module).expect("the AST serializes"));
    insta::assert_yaml_snapshot!(snapshot_name(path), ast);
}

/// Writes every span as `start..end` on one line, so the AST stays readable.
fn compact_spans(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let is_span = map.len() == 3
                && ["file", "start", "end"]
                    .iter()
                    .all(|k| map.contains_key(*k));
            if is_span {
                return Value::String(format!("{}..{}", map["start"], map["end"]));
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, compact_spans(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact_spans).collect()),
        other => other,
    }
}

#[test]
fn every_example_file_parses_clean_and_its_ast_is_pinned() {
    let examples = files("examples", ".bpl");
    assert!(!examples.is_empty(), "no examples found");
    for path in examples {
        assert_parses_clean_and_pin_ast(&path);
    }
}

#[test]
fn every_stdlib_file_parses_clean_and_its_ast_is_pinned() {
    let stdlib = files("stdlib", ".bpl");
    assert!(!stdlib.is_empty(), "no stdlib files found");
    for path in stdlib {
        assert_parses_clean_and_pin_ast(&path);
    }
}

#[test]
fn every_example_project_checks_clean() {
    let projects: Vec<PathBuf> = files("examples", "bpl.toml")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "bpl.toml"))
        .map(|p| p.parent().expect("a directory").to_path_buf())
        .collect();
    assert!(!projects.is_empty(), "no example projects found");
    for dir in projects {
        let out = Command::cargo_bin("bplc")
            .unwrap()
            .args(["--color", "never", "check"])
            .arg(&dir)
            .output()
            .expect("bplc runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "`bplc check {}` failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
