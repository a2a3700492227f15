//! The VS Code extension's TextMate grammar highlights every keyword of
//! `grammar/bpl.pest`, so a new keyword cannot go unhighlighted.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect(path)
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
            || ["clock_kind", "cadence", "publish_mode", "rule_kind"].contains(&name);
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

#[test]
fn the_textmate_grammar_highlights_every_keyword() {
    let tm: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/syntaxes/bpl.tmLanguage.json"))
            .expect("valid JSON");
    let text = tm.to_string();
    let keywords = grammar_keywords();
    assert!(
        keywords.len() > 80,
        "found only {} keywords in the grammar",
        keywords.len()
    );
    let missing: Vec<&String> = keywords
        .iter()
        .filter(|k| {
            !text.contains(&format!("|{k}|"))
                && !text.contains(&format!("({k}|"))
                && !text.contains(&format!("|{k})"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "editors/vscode/syntaxes/bpl.tmLanguage.json does not highlight: {missing:?}"
    );
}
