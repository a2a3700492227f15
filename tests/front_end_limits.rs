//! No input crashes the front end: long chains of operators, which nest one
//! level each, end in E0011 from `bplc check`, `bplc fmt` and `bplc lsp`
//! instead of a stack overflow; a check that calls itself is E0012 instead
//! of an endless expansion; a diagnostic far out on a long line is drawn.
//! Each runs the binary, so a crash shows as a signal, not a failed test.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const CONFIG: &str = "name = \"limits\"\ntime_zone = \"UTC\"\n";

/// A project whose one dataset derives `x = EXPR`.
fn dataset(expr: &str) -> String {
    daily(&format!("derive x = {expr}"), "")
}

/// The source `readings` and the dataset `daily` over it, with `step` in
/// its compute block and `clauses` after it.
fn daily(step: &str, clauses: &str) -> String {
    format!(
        r#"source readings {{
  table "readings"
  columns {{
    id: string
    v: int
    day: date
  }}
  key id
}}

dataset daily {{
  version 1
  partition by day: date
  publish replace
  input r = readings where day == p
  compute {{
    from r
    {step}
    group by day = p {{
      total = sum(r.v)
    }}
  }}
{clauses}}}
"#
    )
}

fn project(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), CONFIG).unwrap();
    std::fs::write(dir.path().join("m.bpl"), text).unwrap();
    dir
}

fn bplc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(["--color", "never"])
        .args(args)
        .arg(dir)
        .output()
        .expect("bplc starts")
}

/// Ended by itself with exit code `code` (a signal has no code).
fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .chars()
            .take(2000)
            .collect::<String>()
    );
}

/// Chains `n` levels deep (at 5,000 each of these overflowed the stack
/// before), and their kind.
fn chains(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("sum", vec!["1"; n].join(" + ")),
        ("negation", format!("{}1", "-".repeat(n))),
        ("not", format!("{}true", "not ".repeat(n))),
        ("member", format!("r{}", ".v".repeat(n))),
        ("is null", format!("r.v{}", " is null".repeat(n))),
        // Two levels each: `==` and `not`.
        (
            "comparison with not",
            format!("true{}", " == not true".repeat(n / 2)),
        ),
    ]
}

#[test]
fn long_chains_are_e0011_from_check_and_fmt() {
    for (kind, expr) in chains(5000) {
        let dir = project(&dataset(&expr));
        let out = bplc(&["--format", "json", "check"], dir.path());
        assert_exit(&out, 1, kind);
        let diags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(diags[0]["code"], "E0011", "{kind}: {diags}");
        assert_eq!(diags[0]["line"], 18, "{kind}: {diags}");
        assert!(diags[0]["help"].as_str().unwrap().contains("derive"));

        let out = bplc(&["check"], dir.path());
        assert_exit(&out, 1, kind);
        assert!(String::from_utf8_lossy(&out.stderr).contains("E0011"));

        let out = bplc(&["fmt", "--check"], dir.path());
        assert_exit(&out, 1, kind);
        assert!(String::from_utf8_lossy(&out.stderr).contains("E0011"));
    }
}

#[test]
fn chains_just_within_the_limit_check_clean() {
    let n = bplc::syntax::parser::MAX_EXPR_DEPTH - 10;
    for (kind, expr) in chains(n) {
        if kind == "member" {
            continue; // `r.v.v` is a type error, not a limit
        }
        let dir = project(&dataset(&expr));
        let out = bplc(&["check"], dir.path());
        assert_exit(&out, 0, kind);
        let out = bplc(&["fmt", "--check"], dir.path());
        assert!(out.status.code().is_some(), "{kind}: {:?}", out.status);
    }
}

#[test]
fn brackets_count_toward_the_depth() {
    // 150 brackets deep (E0008 allows 200), and a chain of 150 inside.
    let inner = vec!["1"; 150].join(" + ");
    let expr = format!("{}{inner}{}", "(".repeat(150), ")".repeat(150));
    let dir = project(&dataset(&expr));
    let out = bplc(&["--format", "json", "check"], dir.path());
    assert_exit(&out, 1, "brackets");
    let diags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(diags[0]["code"], "E0011", "{diags}");
}

#[test]
fn a_check_that_calls_itself_is_e0012() {
    let text = dataset("1")
        + "check first(x: any?) = second(x)\ncheck second(x: any?) = first(x) or x is null\n";
    let dir = project(&text);
    let out = bplc(&["--format", "json", "check"], dir.path());
    assert_exit(&out, 1, "check cycle");
    let diags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(diags[0]["code"], "E0012", "{diags}");
    assert_eq!(
        diags[0]["message"],
        "the check `first` calls itself: first -> second -> first"
    );
}

#[test]
fn a_diagnostic_past_column_65535_is_drawn() {
    let expr = format!("{}nosuch(1)", " ".repeat(70_000));
    let dir = project(&dataset(&expr));
    let out = bplc(&["check"], dir.path());
    assert_exit(&out, 1, "long line");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("m.bpl:18:70016"), "{text}");
    assert!(text.contains("nosuch(1)") && text.contains("not in the prelude"));
    assert!(text.lines().all(|l| l.chars().count() < 300), "{text}");
}

fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// `bplc lsp` given a document with each chain: it publishes E0011, answers
/// formatting, hover and symbols, and shuts down cleanly.
#[test]
fn the_language_server_survives_long_chains() {
    for (kind, expr) in chains(5000) {
        let uri = "untitled:deep";
        let doc = json!({ "uri": uri });
        let messages = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
            json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
            json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "bpl", "version": 1, "text": dataset(&expr)
            }}}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/formatting", "params": {
                "textDocument": doc, "options": {"tabSize": 2, "insertSpaces": true}}}),
            json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": {
                "textDocument": doc, "position": {"line": 17, "character": 20}}}),
            json!({"jsonrpc": "2.0", "id": 4, "method": "textDocument/documentSymbol", "params": {
                "textDocument": doc}}),
            json!({"jsonrpc": "2.0", "id": 5, "method": "shutdown"}),
            json!({"jsonrpc": "2.0", "method": "exit"}),
        ];
        let mut child = Command::new(env!("CARGO_BIN_EXE_bplc"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bplc starts");
        let mut stdin = child.stdin.take().unwrap();
        for m in &messages {
            stdin.write_all(&frame(m)).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().expect("bplc ends");
        assert_exit(&out, 0, kind);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\"E0011\""), "{kind}: no E0011 published");
        for id in 2..=5 {
            assert!(
                text.contains(&format!("\"id\":{id}")),
                "{kind}: no answer {id}"
            );
        }
    }
}

/// Runs `bplc ARGS DIR`, killing it if it has not ended within a minute.
fn bplc_within_a_minute(args: &[&str], dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(args)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bplc starts");
    let start = std::time::Instant::now();
    while child.try_wait().expect("waiting works").is_none() {
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("bplc {args:?} ran for more than a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("bplc ends")
}

/// A project whose quality rule calls `expr`, with `checks` declared.
fn with_rule(checks: &str, expr: &str) -> String {
    let quality = format!("  quality {{\n    require {expr} else warn\n  }}\n");
    daily("", &quality) + checks
}

#[test]
fn checks_that_loop_or_grow_stop_graph_too() {
    // Each of these passed `bplc check`; `bplc graph`, which writes checks
    // out, overflowed its stack (the loop) or ran without end (the copies).
    let nested = format!("{}r.v{}", "twice(".repeat(22), ")".repeat(22));
    let cases = [
        (
            "check first(x: any?) = second(x)\ncheck second(x: any?) = first(x) or x is null\n",
            "first(r.v)".to_string(),
            "E0012",
        ),
        ("check twice(x: any?) = x == x\n", nested, "E0013"),
    ];
    for (checks, expr, code) in cases {
        let dir = project(&with_rule(checks, &expr));
        let out = bplc_within_a_minute(&["--format", "json", "check"], dir.path());
        assert_exit(&out, 1, code);
        let diags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(diags[0]["code"], code, "{diags}");
        let out = bplc_within_a_minute(&["graph", "--project"], dir.path());
        assert_exit(&out, 1, code);
    }
}

#[test]
fn a_chain_of_deep_checks_is_e0013_and_a_short_one_is_fine() {
    // Three checks 200 levels deep, each calling the next: more than 600
    // levels once written out.
    let deep = |name: &str, next: &str| {
        format!("check {name}(x: any?) = {}{next}(x)\n", "not ".repeat(200))
    };
    let checks = deep("c1", "c2")
        + &deep("c2", "c3")
        + &deep("c3", "c4")
        + "check c4(x: any?) = x is null\n";
    let dir = project(&with_rule(&checks, "c1(r.v)"));
    let out = bplc(&["--format", "json", "check"], dir.path());
    assert_exit(&out, 1, "deep chain");
    let diags: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(diags[0]["code"], "E0013", "{diags}");
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("levels deep"),
        "{diags}"
    );

    let checks = deep("c1", "c4") + "check c4(x: any?) = x is null\n";
    let dir = project(&with_rule(&checks, "c1(r.v)"));
    let out = bplc(&["check"], dir.path());
    assert_exit(&out, 0, "short chain");
}
