//! The formatter and `bplc fmt`. Three properties hold for every input that
//! parses: formatting is idempotent, the formatted text parses to the same
//! tree (spans aside), and every `//` comment survives. They are checked on
//! every example and prelude file, on a set of tricky inputs whose output is
//! pinned as snapshots, and on generated expressions. The command's exit
//! codes (0 / 1 / 2) and JSON shape are checked on temporary projects.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bplc::syntax::fmt::{comments, format, same_ast};
use bplc::syntax::parse;
use bplc::syntax::span::FileId;
use proptest::prelude::*;

// ------------------------------------------------------------------ helpers

/// Formats `src`, which must parse, and checks the three properties.
fn formatted(src: &str) -> String {
    let once = format(FileId(0), src).unwrap_or_else(|d| panic!("does not parse:\n{src}\n{d:#?}"));
    let twice = format(FileId(0), &once)
        .unwrap_or_else(|d| panic!("the formatted text does not parse:\n{once}\n{d:#?}"));
    assert_eq!(once, twice, "not idempotent; input:\n{src}");
    let (before, _) = parse(FileId(0), src);
    let (after, _) = parse(FileId(0), &once);
    assert!(
        same_ast(&before, &after),
        "formatting changed the tree; input:\n{src}\noutput:\n{once}"
    );
    let texts = |s: &str| {
        let mut t: Vec<String> = comments::scan(s).into_iter().map(|c| c.text).collect();
        t.sort();
        t
    };
    assert_eq!(texts(src), texts(&once), "comments lost or added:\n{once}");
    once
}

/// The input and its formatted text, for a snapshot.
fn shown(src: &str) -> String {
    format!("{src}\n---- formatted ----\n{}", formatted(src))
}

/// Every file under `dir` (relative to the crate) ending in `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("readable directory entry").into_path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(ext))
        .collect();
    out.sort();
    out
}

fn bplc() -> Command {
    let mut cmd = Command::cargo_bin("bplc").expect("the bplc binary is built");
    cmd.env_remove("NO_COLOR").args(["--color", "never"]);
    cmd
}

// ------------------------------------------------- examples and the prelude

#[test]
fn every_example_and_prelude_file_is_canonical() {
    let all: Vec<PathBuf> = files("examples", ".bpl")
        .into_iter()
        .chain(files("stdlib", ".bpl"))
        .collect();
    assert!(all.len() > 3, "no example files found");
    for path in all {
        let text = std::fs::read_to_string(&path).unwrap();
        let out = formatted(&text);
        assert!(
            out == text,
            "{} is not in the canonical layout; run `bplc fmt` on it. Formatted:\n{out}",
            path.display()
        );
    }
}

#[test]
fn fmt_check_passes_on_every_example_project_and_prelude_file() {
    let projects = files("examples", "bpl.toml")
        .into_iter()
        .map(|p| p.parent().unwrap().to_path_buf());
    for path in projects.chain(files("stdlib", ".bpl")) {
        let out = bplc().args(["fmt", "--check"]).arg(&path).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "`bplc fmt --check {}`:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ----------------------------------------------------------- tricky inputs

#[test]
fn comments_before_declarations_and_at_the_end_of_the_file() {
    insta::assert_snapshot!(shown(
        r#"// A file header.


// Second paragraph of the header.
/// Docs stay with the declaration.
source a { table "a" }
// Right after a closing brace.
source b { table "b" } // trailing the brace



// Before c, after three blank lines.

/// Doc.
// Between the docs and the keyword.
source c { table "c" }
// At the end of the file.

// Really the end."#
    ));
}

#[test]
fn comments_between_and_after_clauses() {
    insta::assert_snapshot!(shown(
        r#"dataset d {   // on the opening line
  version 1 // trailing a clause


  // after two blank lines: one is kept
  partition by day: date
  publish replace // trailing
  input ev = events where day in [p - 6d, p] // a window
  input other = others
    // inside a clause that runs over two lines
    where day == p
  schedule daily at 01:00 "UTC" lookback 3d   // extra spaces before
  // before the closing brace

}"#
    ));
}

#[test]
fn comments_inside_blocks() {
    insta::assert_snapshot!(shown(
        r#"dataset d {
  columns { // open
    // first column
    id: string, // trailing with a comma
    /// A documented column.
    // between a doc and its column
    amount: decimal(18,2)?
    kind: enum(a, b) // last
    // before the closing brace
  }
  compute {

    // before the first step
    from ev // from
    where ev.amount > 0 // cond
      and ev.kind == a
    group by day = p { // group
      // first aggregate
      n = row_count() // n
      // before the group's brace
    } // after the group
    // before the compute brace
  }
  quality {
    require positive: ev.amount >= 0 else quarantine // per row
    // between rules

    expect row_count() > 0 else fail partition
    // last in quality
  }
  reconcile { // open
    input == accepted + quarantined // balance
  }
  corrections {
    // nothing but a comment
  }
}"#
    ));
}

#[test]
fn comments_inside_comma_lists_put_one_item_a_line() {
    insta::assert_snapshot!(shown(
        r#"dataset d {
  compute {
    from ev
    select a, // a
      b, c
    select // the keyword
      x, y
    derive e = 1, // e
      f = 2
    derive {
      // the only one
      g = 3
    }
    group by k = ev.k, // the key
      j { n = row_count() }
  }
}"#
    ));
}

#[test]
fn nested_parentheses_are_kept_and_none_are_added() {
    insta::assert_snapshot!(shown(
        r#"check a(x: int) = ((x + 1)) * (2 - (x)) == -(x - 1) and not (x > 1 or x < 0)
check b(x: int) = x - (1 - 2) - 3 + x * (x / 2) / 4
check c(x: int) = (if x > 0 then x else -x) + 1 > 0 and (not x is null) == true
check d(x: int) = not x == 1 and -x.y is not null or f(x, (x), [x, (x)]) in [1, 2]
check e(x: int) = if x>1 then (x) else if x<0 then 0 else    x
check f(x: int) = row_number() over (partition by x, y order by z desc, w asc) > lag(x,1) over ()"#
    ));
}

#[test]
fn long_lists_go_one_item_a_line() {
    insta::assert_snapshot!(shown(
        r#"dataset d {
  compute {
    from ev
    select event_id = ev.event_id, case_id = ev.case_id, unit_id = ev.unit_id, kind = ev.kind, business_date = p
    select
      short,
      list
    derive first_long_name = ev.some_column + 1, second_long_name = ev.other_column * 2, third_name = 3
    derive short = 1, list = 2
    group by business_date = p, region = units.region, owning_unit = units.owning_unit, kind = ev.kind {
      n = row_count()
    }
    group by business_date = p, region = units.region { n = row_count(), m = count(ev.x > 1) }
  }
}"#
    ));
}

#[test]
fn blank_lines_collapse_and_leave_block_edges() {
    insta::assert_snapshot!(shown(
        "\n\n\ndataset d {\n\n\n  version 1\n\n\n\n  publish replace\n  compute {\n\n    from ev\n\n    where x\n\n  }\n\n\n}\n\n\nsource s {\n}\n\n\n"
    ));
}

#[test]
fn every_clause_and_literal_in_its_canonical_spelling() {
    insta::assert_snapshot!(shown(
        r#"source s { table "raw \"events\"\t\\ here"  columns { a: int, b: float?, c: timestamp, d: month, e: duration, f: bool }
  key (a, b) clock event = c, source_commit = c, file_arrival = c
  cursor by a max lateness 30min valid from c to c versioned by a versions "v1","v2" }
dataset d { version 007 partition by day: date, tenant: string, bucket: hash(a, 16)
  publish versioned schedule weekly on monday at 01:30:00 "UTC" lookback 2w
  schedule monthly on day 1
  schedule hourly
  input a = s by ingestion clock all history
  input b = s
  bind u = r as of processing time
  bind v = r as of report close
  bind w = r pinned "2026-01"
  bind x = r latest because "no history"
  bind y = r latest
  closed after month_end(p) + 5d
  restate never
  allow W0101 because "why"
  compute { from a left join u on a.k == u.k join v on true dedupe by a.k, a.j order by a.t asc
    aggregate { total = sum(a.x) } where a.d >= @2026-01-02 and a.m == @2026-01 and a.t < @2026-01-02T03:04:05Z
    derive {} }
  quality { expect x: 0.10 < 20% else info require 1.50 > 1 else manual review expect true else fail run }
  reconcile { a == b within 0.5
    b == c within 3d else warn
    c == d within 2 }
  corrections { within lookback => ignore closed period => manual review unknown impact => restate }
}"#
    ));
}

#[test]
fn function_signatures_keep_their_grouping() {
    insta::assert_snapshot!(shown(
        r#"// Signatures written together stay together.
/// First.
function f(x: T?...) -> T
aggregate function g(a: numeric?, b: float) -> decimal(38,9)
window function h() -> int


/// Separated by blank lines: one is kept.
function i(x: any) -> string
check c(x: any?) = x is not null
function j() -> int"#
    ));
}

#[test]
fn crlf_line_ends_become_lf() {
    let out = formatted("// c\r\nsource s {\r\n  table \"t\" // t\r\n}\r\n");
    assert_eq!(out, "// c\nsource s {\n  table \"t\" // t\n}\n");
}

#[test]
fn an_empty_file_stays_empty() {
    assert_eq!(formatted(""), "");
    assert_eq!(formatted("\n\n  \n"), "");
}

#[test]
fn a_file_with_a_syntax_error_is_not_formatted() {
    let diags = format(FileId(0), "source s {\n  table\n}\n").unwrap_err();
    assert!(!diags.is_empty());
}

// ---------------------------------------------------- generated expressions

/// Expression text built from random pieces, parenthesised or not, so the
/// parser's precedence decides the tree the formatter must keep.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec!["a", "b", "c", "1", "2.50", "3d", "5%", "null", "true"])
            .prop_map(str::to_string),
        Just(r#""s\"q""#.to_string()),
        Just("@2026-01-02".to_string()),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        let op = prop::sample::select(vec![
            "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(l, op, r)| format!("{l} {op} {r}")),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("not {e}")),
            inner.clone().prop_map(|e| format!("-{e}")),
            inner.clone().prop_map(|e| format!("{e}.f")),
            inner.clone().prop_map(|e| format!("{e} is not null")),
            inner.clone().prop_map(|e| format!("{e} is null")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("f({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(a, b, c)| format!("if {a} then {b} else {c}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_expressions_keep_their_tree(e in expression()) {
        let src = format!("check c(x: int) = {e}\n");
        let (_, diags) = parse(FileId(0), &src);
        prop_assume!(diags.is_empty());
        formatted(&src);
    }
}

/// The example and prelude texts, read once.
fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(|| {
        files("examples", ".bpl")
            .into_iter()
            .chain(files("stdlib", ".bpl"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    })
}

/// Roughens a canonical file: at chosen lines, a trailing comment, a
/// comment line, blank lines, or lost indentation.
fn roughen(text: &str, edits: &[(usize, u8)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (n, &(at, kind)) in edits.iter().enumerate() {
        let i = at % lines.len().max(1);
        match kind % 4 {
            0 => lines[i].push_str(&format!(" // trailing {n}")),
            1 => lines.insert(i, format!("// own line {n}")),
            2 => lines.insert(i, String::new()),
            _ => lines[i] = format!("    {}", lines[i].trim_start()),
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn roughened_examples_keep_tree_and_comments(
        file in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..12),
    ) {
        let text = file.get(corpus());
        let src = roughen(text, &edits);
        let (_, diags) = parse(FileId(0), &src);
        prop_assume!(diags.is_empty());
        formatted(&src);
    }
}

// ------------------------------------------------------------- bplc fmt

const CONFIG: &str = "name = \"test\"\n";
const CANONICAL: &str = "source s {\n  table \"t\" // kept\n}\n";
const MESSY: &str = "source   s { table \"t\" } // kept\n";
const BROKEN: &str = "source s {\n  table\n}\n";

/// A project in a temporary directory: `bpl.toml` and the given files.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), CONFIG).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn read(dir: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join(name)).unwrap()
}

#[test]
fn check_exits_0_when_everything_is_canonical() {
    let dir = project(&[("a.bpl", CANONICAL), ("sub/b.bpl", CANONICAL)]);
    bplc()
        .args(["fmt", "--check"])
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout("");
}

#[test]
fn check_exits_1_lists_the_file_and_writes_nothing() {
    let dir = project(&[("a.bpl", CANONICAL), ("sub/b.bpl", MESSY)]);
    let out = bplc()
        .args(["fmt", "--check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.trim_end().ends_with("b.bpl"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(read(&dir, "sub/b.bpl"), MESSY);
}

#[test]
fn fmt_rewrites_only_what_changes_then_check_passes() {
    let dir = project(&[("a.bpl", CANONICAL), ("b.bpl", MESSY)]);
    let before = std::fs::metadata(dir.path().join("a.bpl"))
        .unwrap()
        .modified()
        .unwrap();
    bplc().arg("fmt").arg(dir.path()).assert().code(0);
    assert_eq!(
        read(&dir, "b.bpl"),
        "source s {\n  table \"t\"\n} // kept\n"
    );
    let after = std::fs::metadata(dir.path().join("a.bpl"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "an unchanged file was rewritten");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    bplc()
        .args(["fmt", "--check"])
        .arg(dir.path())
        .assert()
        .code(0);
}

#[test]
fn a_single_file_can_be_formatted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alone.bpl");
    std::fs::write(&path, MESSY).unwrap();
    bplc().args(["fmt", "--check"]).arg(&path).assert().code(1);
    bplc().arg("fmt").arg(&path).assert().code(0);
    bplc().args(["fmt", "--check"]).arg(&path).assert().code(0);
}

#[test]
fn a_file_with_syntax_errors_exits_1_and_is_left_alone() {
    let dir = project(&[("a.bpl", MESSY), ("broken.bpl", BROKEN)]);
    let out = bplc().arg("fmt").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("broken.bpl"), "{stderr}");
    assert!(stderr.contains("E0"), "{stderr}");
    assert_eq!(read(&dir, "broken.bpl"), BROKEN);
    // The other file is still formatted.
    assert_eq!(
        read(&dir, "a.bpl"),
        "source s {\n  table \"t\"\n} // kept\n"
    );
}

#[test]
fn missing_paths_and_non_projects_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = bplc()
        .args(["fmt", "--check"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let not_bpl = dir.path().join("notes.txt");
    std::fs::write(&not_bpl, "x").unwrap();
    bplc()
        .args(["fmt", "--check"])
        .arg(&not_bpl)
        .assert()
        .code(2);
}

#[test]
fn json_reports_changed_unchanged_and_errors() {
    let dir = project(&[("a.bpl", CANONICAL), ("b.bpl", MESSY), ("c.bpl", BROKEN)]);
    let out = bplc()
        .args(["--format", "json", "fmt", "--check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changed = json["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].as_str().unwrap().ends_with("b.bpl"));
    assert_eq!(json["unchanged"], 1);
    assert_eq!(json["errors"], 1);
}
