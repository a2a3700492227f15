//! The shape of the engine layer, checked on the source: the runtime's
//! decisions talk to the `Engine` trait only, the trait speaks no driver's
//! types, and the SQL every dialect shares never reaches back up the module
//! chain. A second engine is then another folder, nothing else.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every line of the `.rs` files under `dir` that contains one of `words`.
fn mentions(dir: &Path, words: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (n, line) in text.lines().enumerate() {
            if words.iter().any(|w| line.contains(w)) {
                found.push(format!(
                    "{}:{}: {}",
                    entry.path().display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn the_lifecycle_backfill_recovery_and_rollback_never_name_an_engine() {
    let runtime = src().join("runtime");
    let mut offenders = Vec::new();
    for file in [
        "lifecycle.rs",
        "backfill.rs",
        "recover.rs",
        "rollback.rs",
        "identity.rs",
        "manifest.rs",
        "diff.rs",
        "cancel.rs",
    ] {
        offenders.extend(mentions(
            &runtime.join(file),
            &[
                "rusqlite",
                "Sqlite",
                "sqlite::",
                "Connection",
                "Postgres",
                "postgres::",
            ],
        ));
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_engine_trait_speaks_no_driver_types() {
    let engine = src().join("runtime/engine");
    let mut offenders = Vec::new();
    for file in ["mod.rs", "value.rs", "batch.rs"] {
        offenders.extend(mentions(&engine.join(file), &["rusqlite", "Connection"]));
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn shared_sql_never_reaches_back_up_the_module_chain() {
    let offenders = mentions(
        &src().join("sql"),
        &["crate::runtime", "crate::cli", "crate::demo", "rusqlite"],
    );
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn only_the_cli_reaches_the_demo_generator() {
    let mut offenders = Vec::new();
    for dir in ["runtime", "sql", "plan", "graph", "semantic", "syntax"] {
        offenders.extend(mentions(&src().join(dir), &["crate::demo"]));
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn an_engine_is_chosen_in_one_place() {
    // Opening an engine's warehouse by its own type, outside the engine
    // layer's `Warehouse`, would bypass `engine` in bpl.toml.
    let mut offenders = mentions(&src(), &["SqliteEngine::open", "SqliteLoader::open"]);
    offenders.retain(|line| !line.contains("src/runtime/engine/"));
    assert!(offenders.is_empty(), "{offenders:#?}");
    // One arm per engine (SQLite, PostgreSQL, Spark), all in `Warehouse::of`.
    let choices: Vec<String> = mentions(&src().join("runtime/engine/mod.rs"), &["=> Warehouse::"]);
    assert_eq!(choices.len(), 3, "{choices:#?}");
    let of = std::fs::read_to_string(src().join("runtime/engine/mod.rs")).unwrap();
    let body = &of[of.find("pub fn of(").unwrap()..];
    let body = &body[..body.find("\n    }\n").unwrap()];
    assert_eq!(body.matches("=> Warehouse::").count(), 3, "{body}");
}

#[test]
fn shared_sql_calls_no_engine_function_by_name() {
    // The engine's own functions (`bpl_*` on SQLite) are named by its
    // dialect; SQLite's typed input boundary is the one file of them here.
    let calls_one = |line: &str| {
        let code = line.split("//").next().unwrap_or_default();
        code.match_indices("bpl_").any(|(at, _)| {
            let before = code[..at].chars().last();
            let after: String = code[at..]
                .chars()
                .skip_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(1)
                .collect();
            before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) && after == "("
        })
    };
    let mut offenders = Vec::new();
    for entry in walkdir::WalkDir::new(src().join("sql")) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("boundary.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if calls_one(line) {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
