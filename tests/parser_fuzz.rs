//! The parser never panics and never points outside its input: random bytes,
//! random text from the grammar's own alphabet, and mutations of the example
//! files (spans of characters deleted, inserted, duplicated and swapped) all
//! go through `bplc::syntax::parse`; every diagnostic's labels must lie within
//! the input on character boundaries, and every diagnostic must render.

use std::path::Path;
use std::sync::OnceLock;

use bplc::cli::render;
use bplc::syntax::span::SourceMap;
use proptest::prelude::*;

/// Parses `src`, checks every label, renders every diagnostic.
fn check(src: &str) {
    let mut sources = SourceMap::default();
    let file = sources.add("fuzz.bpl", src);
    let (module, diags) = bplc::syntax::parse(file, src);
    for d in &diags {
        assert!(!d.message.is_empty(), "a diagnostic without a message");
        for l in &d.labels {
            let (s, e) = (l.span.start as usize, l.span.end as usize);
            assert!(
                s <= e && e <= src.len(),
                "label {s}..{e} outside {} bytes: {d:?}",
                src.len()
            );
            assert!(
                src.is_char_boundary(s) && src.is_char_boundary(e),
                "label {s}..{e} off a character boundary: {d:?}"
            );
        }
        render::text(&sources, d, false);
    }
    for item in &module.items {
        let span = item.span();
        assert!(
            span.end as usize <= src.len(),
            "item span {span:?} outside the input"
        );
    }
}

/// The grammar's alphabet: punctuation, keywords, names, literals, layout.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "=",
    "==",
    "!=",
    ":",
    ",",
    ".",
    "@",
    "/",
    "//",
    "///",
    "->",
    "=>",
    "?",
    "...",
    "+",
    "-",
    "*",
    "<",
    ">=",
    "%",
    "\n",
    "\n",
    " ",
    " ",
    "  ",
    "\t",
    "source",
    "reference",
    "dataset",
    "function",
    "aggregate",
    "window",
    "check",
    "table",
    "columns",
    "key",
    "clock",
    "snapshot",
    "cursor",
    "max",
    "lateness",
    "valid",
    "from",
    "to",
    "versioned",
    "versions",
    "version",
    "partition",
    "by",
    "hash",
    "publish",
    "replace",
    "schedule",
    "daily",
    "at",
    "on",
    "day",
    "lookback",
    "input",
    "where",
    "all",
    "history",
    "bind",
    "as",
    "of",
    "processing",
    "time",
    "report",
    "close",
    "pinned",
    "latest",
    "because",
    "compute",
    "join",
    "left",
    "derive",
    "group",
    "select",
    "dedupe",
    "order",
    "desc",
    "quality",
    "require",
    "expect",
    "else",
    "warn",
    "fail",
    "run",
    "reconcile",
    "within",
    "corrections",
    "closed",
    "after",
    "restate",
    "with",
    "reason",
    "allow",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "if",
    "then",
    "over",
    "decimal",
    "enum",
    "date",
    "string",
    "event",
    "a",
    "ev",
    "p",
    "x_1",
    "0",
    "42",
    "3d",
    "29d",
    "1.5",
    "5%",
    "01:00",
    "@2026-06-15",
    "\"UTC\"",
    "W0101",
    "é",
    "日本",
];

fn grammarish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..160).prop_map(|t| t.concat())
}

/// The example and prelude files, as characters.
fn corpus() -> &'static Vec<Vec<char>> {
    static CORPUS: OnceLock<Vec<Vec<char>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = ["examples", "stdlib"]
            .iter()
            .flat_map(|d| walkdir::WalkDir::new(root.join(d)))
            .map(|e| e.expect("readable directory entry").into_path())
            .filter(|p| p.extension().is_some_and(|x| x == "bpl"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                std::fs::read_to_string(p)
                    .expect("readable")
                    .chars()
                    .collect()
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Duplicate { at: usize, len: usize },
    Swap { a: usize, b: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), grammarish()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1..80usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), any::<usize>(), 1..30usize).prop_map(|(a, b, len)| Mutation::Swap {
            a,
            b,
            len
        }),
    ]
}

/// Applies `mutations` to a copy of `text`; positions wrap around its length.
fn mutate(text: &[char], mutations: &[Mutation]) -> String {
    let mut t = text.to_vec();
    for m in mutations {
        let n = t.len().max(1);
        match m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(t.len());
                t.drain(at.min(end)..end);
            }
            Mutation::Insert { at, text } => {
                let at = at % (t.len() + 1);
                t.splice(at..at, text.chars());
            }
            Mutation::Duplicate { at, len } => {
                let at = at % n;
                let end = (at + len).min(t.len());
                let copy: Vec<char> = t[at.min(end)..end].to_vec();
                t.splice(end..end, copy);
            }
            Mutation::Swap { a, b, len } => {
                let (a, b) = (a % n, b % n);
                let (a, b) = (a.min(b), a.max(b));
                let len = (*len).min(b - a).min(t.len() - b);
                for i in 0..len {
                    t.swap(a + i, b + i);
                }
            }
        }
    }
    t.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn grammar_alphabet_never_panics(src in grammarish()) {
        check(&src);
    }

    #[test]
    fn mutated_examples_never_panic(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let corpus = corpus();
        check(&mutate(&corpus[file.index(corpus.len())], &mutations));
    }
}

#[test]
fn mutation_helpers_keep_text_intact_without_mutations() {
    let text: Vec<char> = "source s { table \"é\" }".chars().collect();
    assert_eq!(mutate(&text, &[]), "source s { table \"é\" }");
    assert_eq!(
        mutate(&text, &[Mutation::Delete { at: 0, len: 7 }]),
        "s { table \"é\" }"
    );
}

/// Inputs that once broke the parser: a region starting with a multi-byte
/// character got a label ending inside it; a run of unclosed `{` took
/// exponential time in the catch-all rule (20 of them: 40 seconds).
#[test]
fn known_crashers() {
    for src in [
        "é",
        "日本 source",
        "source s {\n  é\n}",
        "dataset d { compute { é } }",
    ] {
        check(src);
    }
    let start = std::time::Instant::now();
    check(&format!(
        "dataset d {{ compute {{ where {} }} }}",
        "{".repeat(60)
    ));
    assert!(
        start.elapsed().as_secs() < 5,
        "unclosed braces are slow again"
    );
}

#[test]
fn deep_and_unbalanced_brackets_never_panic() {
    for open in ["(", "[", "{"] {
        for depth in [1, 50, 199, 200, 201, 5000] {
            check(&format!(
                "dataset d {{ compute {{ where {} }} }}",
                open.repeat(depth)
            ));
            check(&open.repeat(depth));
        }
    }
    for close in [")", "]", "}"] {
        check(&close.repeat(300));
    }
}
