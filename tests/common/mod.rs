//! Shared by the parse-error tests: parse one input, check every diagnostic
//! is well-formed, and render them the way `bplc check` shows them.

use std::sync::OnceLock;

use bplc::cli::render;
use bplc::diagnostic::Diagnostic;
use bplc::syntax::span::SourceMap;

/// Parses `src` as `test.bpl`; returns the snapshot text (source, a rule,
/// then every diagnostic as the terminal shows it) and how many there were.
pub fn report(src: &str) -> (String, usize) {
    let mut sources = SourceMap::default();
    let file = sources.add("test.bpl", src);
    let (_, diags) = bplc::syntax::parse(file, src);
    for d in &diags {
        assert_well_formed(src, d);
    }
    let mut out = format!("{src}\n----\n");
    for d in &diags {
        out.push_str(&render::text(&sources, d, false));
    }
    (out, diags.len())
}

/// Every label lies within the input on character boundaries, and no text
/// shown to the user names a grammar rule.
pub fn assert_well_formed(src: &str, d: &Diagnostic) {
    for l in &d.labels {
        let (s, e) = (l.span.start as usize, l.span.end as usize);
        assert!(
            s <= e && e <= src.len(),
            "label {s}..{e} outside the input: {d:?}"
        );
        assert!(
            src.is_char_boundary(s) && src.is_char_boundary(e),
            "label {s}..{e} off a character boundary: {d:?}"
        );
    }
    let shown = std::iter::once(d.message.as_str())
        .chain(d.labels.iter().map(|l| l.message.as_str()))
        .chain(d.help.as_deref());
    for text in shown {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            assert!(
                !rule_names().contains(&word) || src.contains(word),
                "the grammar rule `{word}` leaks into a message: {text:?}"
            );
        }
    }
}

/// The grammar's rule names a user could not have written: those with an
/// underscore, pest's built-ins and the expression machinery.
pub fn rule_names() -> &'static Vec<&'static str> {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let grammar = include_str!("../../grammar/bpl.pest");
        let mut names: Vec<&str> = grammar
            .lines()
            .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim()))
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .filter(|n| n.contains('_'))
            .collect();
        names.extend([
            "EOI", "SOI", "ident", "expr", "primary", "prefix", "postfix", "infix", "paren",
        ]);
        names
    })
}

/// `assert_parse_error! { name, "source" }` is one test: `source` must produce
/// at least one diagnostic (`count = n`: exactly `n`), and the rendered
/// report is pinned as the snapshot `name`.
macro_rules! assert_parse_error {
    ($name:ident, count = $n:expr, $src:expr) => {
        #[test]
        fn $name() {
            let src: &str = &$src;
            let (out, count) = crate::common::report(src);
            assert_eq!(count, $n, "expected {} diagnostics:\n{out}", $n);
            insta::assert_snapshot!(stringify!($name), out);
        }
    };
    ($name:ident, $src:expr) => {
        #[test]
        fn $name() {
            let src: &str = &$src;
            let (out, count) = crate::common::report(src);
            assert!(count > 0, "expected a diagnostic:\n{out}");
            insta::assert_snapshot!(stringify!($name), out);
        }
    };
}

pub(crate) use assert_parse_error;
