//! The VS Code extension's TextMate grammar tells the truth about the code:
//!
//! * every keyword of `grammar/bpl.pest` is highlighted somewhere, so a new
//!   keyword cannot go unhighlighted;
//! * in the scope snapshots the extension's own test pins
//!   (`editors/vscode/test/snapshots`, written by `npm test` there), no name
//!   the parser reads as a name (a declaration, alias, column or function)
//!   is scoped as a keyword, and every word scoped as a keyword is a keyword
//!   of the pest grammar. bpl's keywords are contextual (a column may be
//!   called `key` or `time`), so this is what keeps highlighting honest;
//! * the snapshots are of the files as they are now.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bplc::lsp::index::FileIndex;
use bplc::lsp::text::LineIndex;
use bplc::syntax::span::FileId;
use lsp_types::Position;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).expect(path)
}

/// Every word the grammar treats as a keyword: the `kw_*` rules, and the
/// words of the atomic keyword-like rules (clocks, cadences, publish modes,
/// rule kinds, weekdays).
fn grammar_keywords() -> BTreeSet<String> {
    let pest = read("grammar/bpl.pest");
    let mut words = BTreeSet::new();
    for line in pest.lines() {
        let Some((name, body)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let keyword_rule = name.starts_with("kw_")
            || [
                "clock_kind",
                "cadence",
                "publish_mode",
                "rule_kind",
                "weekday",
            ]
            .contains(&name);
        if !keyword_rule {
            continue;
        }
        for part in body.split('"').skip(1).step_by(2) {
            if part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !part.is_empty() {
                words.insert(part.to_string());
            }
        }
    }
    words
}

/// The words of every regular expression in the TextMate grammar, escapes
/// such as `\b` and `\s` removed.
fn textmate_words() -> BTreeSet<String> {
    let tm: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/syntaxes/bpl.tmLanguage.json"))
            .expect("valid JSON");
    let mut regexes = Vec::new();
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("match" | "begin", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => collect(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            _ => {}
        }
    }
    collect(&tm, &mut regexes);
    let mut words = BTreeSet::new();
    for r in regexes {
        let mut cleaned = String::new();
        let mut chars = r.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                chars.next();
                cleaned.push(' ');
            } else {
                cleaned.push(c);
            }
        }
        words.extend(
            cleaned
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_string),
        );
    }
    words
}

#[test]
fn the_textmate_grammar_highlights_every_keyword() {
    let keywords = grammar_keywords();
    assert!(
        keywords.len() > 80,
        "found only {} keywords in the grammar",
        keywords.len()
    );
    let words = textmate_words();
    let missing: Vec<&String> = keywords.iter().filter(|k| !words.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "editors/vscode/syntaxes/bpl.tmLanguage.json does not highlight: {missing:?}"
    );
}

/// One token of a snapshot: byte range in its source and its scopes.
struct Token {
    start: usize,
    end: usize,
    scopes: Vec<String>,
}

/// A snapshot section: the source it shows and its tokens.
struct Pinned {
    title: String,
    source: String,
    tokens: Vec<Token>,
}

/// Reads a snapshot file: sections start with `## ` (book pages) or not at
/// all (one example file).
fn pinned(path: &Path) -> Vec<Pinned> {
    let text = std::fs::read_to_string(path).expect("a snapshot");
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push((title.to_string(), Vec::new()));
        } else {
            if sections.is_empty() {
                sections.push((path.display().to_string(), Vec::new()));
            }
            sections.last_mut().expect("a section").1.push(line);
        }
    }
    sections
        .into_iter()
        .map(|(title, lines)| {
            let mut source = String::new();
            let mut marks: Vec<(u32, u32, u32, Vec<String>)> = Vec::new();
            let mut line_no: Option<u32> = None;
            for l in lines {
                if let Some(src) = l.strip_prefix('>') {
                    source.push_str(src);
                    source.push('\n');
                    line_no = Some(line_no.map_or(0, |n| n + 1));
                } else {
                    let body = l.strip_prefix(' ').expect("a marker line");
                    let col = body.find('^').expect("a marker") as u32;
                    let len = body[col as usize..]
                        .chars()
                        .take_while(|&c| c == '^')
                        .count() as u32;
                    let scopes = body[(col + len) as usize..]
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    marks.push((line_no.expect("a source line first"), col, len, scopes));
                }
            }
            let index = LineIndex::new(&source);
            let tokens = marks
                .into_iter()
                .map(|(line, col, len, scopes)| Token {
                    start: index.offset(&source, Position::new(line, col)),
                    end: index.offset(&source, Position::new(line, col + len)),
                    scopes,
                })
                .collect();
            Pinned {
                title,
                source,
                tokens,
            }
        })
        .collect()
}

fn snapshots() -> Vec<PathBuf> {
    let dir = root().join("editors/vscode/test/snapshots");
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .map(|e| e.expect("readable").into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    out.sort();
    out
}

const STALE: &str = "run `npm test` in editors/vscode (`npm run update-snapshots` to accept)";

#[test]
fn the_snapshots_are_of_the_examples_as_they_are() {
    let dir = root().join("editors/vscode/test/snapshots");
    for file in bplc::project::bpl_files(&root().join("examples")).expect("examples") {
        let rel = file.strip_prefix(root()).expect("inside the repository");
        let snap = dir.join(format!("{}.snap", rel.display()));
        assert!(
            snap.is_file(),
            "no scope snapshot of {}: {STALE}",
            rel.display()
        );
        let pinned = pinned(&snap);
        let text = std::fs::read_to_string(&file).expect("readable");
        assert_eq!(
            pinned[0].source.trim_end(),
            text.trim_end(),
            "the scope snapshot of {} is stale: {STALE}",
            rel.display()
        );
    }
}

#[test]
fn names_are_never_highlighted_as_keywords_and_keywords_are_keywords() {
    let keywords = grammar_keywords();
    let mut checked = 0;
    let mut problems = Vec::new();
    for snap in snapshots() {
        for p in pinned(&snap) {
            // Words scoped as keywords are keywords.
            for t in &p.tokens {
                let text = &p.source[t.start..t.end];
                let keyword = t.scopes.iter().any(|s| {
                    (s.starts_with("keyword.") && !s.starts_with("keyword.operator."))
                        || s.starts_with("storage.")
                });
                if keyword && !text.split_whitespace().all(|w| keywords.contains(w)) {
                    problems.push(format!("{}: `{text}` is scoped {:?}", p.title, t.scopes));
                }
            }
            // Names are not: only sections that parse on their own (whole
            // files and declarations, not fragments or broken examples).
            let (module, diags) = bplc::syntax::parse(FileId(0), &p.source);
            if !diags.is_empty() || module.items.is_empty() {
                continue;
            }
            checked += 1;
            for o in FileIndex::build(&module).occurrences {
                let (start, end) = (o.start as usize, o.end as usize);
                for t in p.tokens.iter().filter(|t| t.start < end && start < t.end) {
                    let lie = t.scopes.iter().any(|s| {
                        s.starts_with("keyword.")
                            || s.starts_with("storage.")
                            || s.starts_with("constant.language")
                            || s.starts_with("comment")
                            || s.starts_with("string")
                    });
                    if lie {
                        problems.push(format!(
                            "{}: the name `{}` is scoped {:?}",
                            p.title,
                            &p.source[start..end],
                            t.scopes
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} snapshot sections parse");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A snippet body with every placeholder at its default (the first choice
/// of a choice; a repeated `$N` is what `$N` was first given).
fn expand(body: &str, values: &mut std::collections::HashMap<u32, String>) -> String {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let digits = |from: usize| {
            chars[from..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        };
        if chars.get(i + 1) == Some(&'{') {
            let n_len = digits(i + 2);
            let n: u32 = chars[i + 2..i + 2 + n_len]
                .iter()
                .collect::<String>()
                .parse()
                .expect("a placeholder number");
            // The matching `}`.
            let mut depth = 0;
            let mut j = i + 1;
            loop {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let inner: String = chars[i + 2 + n_len..j].iter().collect();
            let value = if let Some(default) = inner.strip_prefix(':') {
                expand(default, values)
            } else if let Some(choices) = inner.strip_prefix('|') {
                choices
                    .split([',', '|'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            } else {
                values.get(&n).cloned().unwrap_or_default()
            };
            values.entry(n).or_insert_with(|| value.clone());
            out.push_str(&value);
            i = j + 1;
        } else {
            let n_len = digits(i + 1);
            let n: u32 = chars[i + 1..i + 1 + n_len]
                .iter()
                .collect::<String>()
                .parse()
                .expect("a placeholder number");
            out.push_str(values.get(&n).map_or("", String::as_str));
            i += 1 + n_len;
        }
    }
    out
}

#[test]
fn every_snippet_parses_as_it_is_inserted() {
    let snippets: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/snippets/bpl.json")).expect("valid JSON");
    let snippets = snippets.as_object().expect("an object of snippets");
    assert!(snippets.len() >= 5);
    for (name, s) in snippets {
        let body: Vec<&str> = s["body"]
            .as_array()
            .expect("a body")
            .iter()
            .map(|l| l.as_str().expect("a line"))
            .collect();
        let text = expand(&body.join("\n"), &mut Default::default());
        // Declarations parse as they are; clauses and blocks inside one.
        let first_code_line = text.lines().find(|l| !l.starts_with("///")).unwrap_or("");
        let top_level = ["source ", "reference ", "dataset "]
            .iter()
            .any(|k| first_code_line.starts_with(k));
        let wrapped = if top_level {
            text.clone()
        } else {
            format!("dataset _ {{\n{text}\n}}\n")
        };
        let (_, diags) = bplc::syntax::parse(FileId(0), &wrapped);
        assert!(
            diags.is_empty(),
            "snippet `{name}` does not parse:\n{wrapped}\n{diags:?}"
        );
    }
}
