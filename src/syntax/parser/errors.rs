//! Parse errors in the user's words. A catch-all token (a broken line or
//! region) is re-parsed with the rule its first word names; pest's error for
//! that rule tells the exact place, and this module says it without rule names.

use pest::error::{Error, ErrorVariant, InputLocation};
use pest::Parser;

use super::{BplParser, Rule};
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::span::{FileId, Span};

/// Where a broken region was found: decides which rule re-parses it and
/// which words to suggest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    TopLevel,
    Body,
    Columns,
    Compute,
    Quality,
    Reconcile,
    Corrections,
    Assignments,
}

const DECLARATIONS: &[&str] = &["source", "reference", "dataset", "function", "aggregate", "window", "check"];

/// Clause keywords and the rule that parses each.
/// The words a clause can start with.
pub(crate) const CLAUSES: &[&str] = &[
    "table", "columns", "key", "clock", "snapshot", "cursor", "max", "valid", "versioned", "versions",
    "version", "partition", "publish", "schedule", "input", "bind", "compute", "quality", "reconcile",
    "corrections", "closed", "restate", "allow",
];

/// The words a pipeline step can start with.
const STEPS: &[&str] = &["from", "where", "join", "left", "derive", "group", "aggregate", "select", "dedupe"];

fn first_word(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

fn list(words: impl Iterator<Item = &'static str>) -> String {
    let words: Vec<String> = words.map(|w| format!("`{w}`")).collect();
    join_or(&words)
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Diagnoses one region a catch-all swallowed.
pub(crate) fn diagnose_region(file: FileId, base: usize, text: &str, ctx: Context) -> Diagnostic {
    let span_of = |start: usize, end: usize| Span::new(file, base + start, base + end);
    let word = first_word(text);
    let word_span = span_of(0, word.len().max(1).min(text.len()));

    if text.starts_with("///") && ctx != Context::TopLevel {
        return Diagnostic::new(codes::E0006, "doc comments document declarations and columns")
            .primary(span_of(0, text.trim_end().len()), "nothing here to document")
            .help("use `//` for a comment inside a block");
    }
    if text.starts_with('}') {
        return Diagnostic::new(codes::E0002, "unmatched `}`")
            .primary(span_of(0, 1), "no block is open here")
            .help("remove it, or look above for a block closed twice");
    }

    let rule = match ctx {
        Context::TopLevel if text.starts_with("///") || DECLARATIONS.contains(&word) => Rule::declaration_only,
        Context::TopLevel => {
            let mut d = Diagnostic::new(codes::E0007, format!("expected a declaration, found `{}`", shown(text)))
                .primary(word_span, "not `source`, `reference` or `dataset`");
            d = if CLAUSES.contains(&word) {
                d.help(format!(
                    "`{word}` is a clause: it belongs inside a `dataset {{ ... }}` block; \
                     check the braces above for a `}}` that closes the block too early"
                ))
            } else if let Some(s) = did_you_mean(word, DECLARATIONS.iter().copied()) {
                d.help(format!("did you mean `{s}`?"))
            } else {
                d.help("a file holds `source`, `reference` and `dataset` declarations")
            };
            return d;
        }
        Context::Body if DECLARATIONS[..3].contains(&word) => {
            return Diagnostic::new(codes::E0002, format!("`{word}` starts a new declaration, but the block above is still open"))
                .primary(word_span, "a declaration cannot start inside another")
                .help("add the `}` that closes the block above");
        }
        Context::Body => match CLAUSES.contains(&word) {
            true => Rule::clause_only,
            false => {
                let mut d = Diagnostic::new(codes::E0003, format!("unknown clause `{}`", shown(text)))
                    .primary(word_span, "not a clause");
                d = match did_you_mean(word, CLAUSES.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "a declaration's clauses are {}",
                        list(CLAUSES.iter().copied())
                    )),
                };
                return d;
            }
        },
        Context::Compute => match STEPS.contains(&word) {
            true => Rule::step_only,
            false => {
                let mut d = Diagnostic::new(codes::E0003, format!("unknown pipeline step `{}`", shown(text)))
                    .primary(word_span, "not a step");
                d = match did_you_mean(word, STEPS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "a compute block is a pipeline of {}",
                        list(["from", "where", "join", "derive", "group by", "aggregate", "select", "dedupe by"].into_iter())
                    )),
                };
                return d;
            }
        },
        Context::Quality if word == "require" || word == "expect" => Rule::quality_rule_only,
        Context::Quality => {
            let mut d = Diagnostic::new(codes::E0003, format!("expected a quality rule, found `{}`", shown(text)))
                .primary(word_span, "not `require` or `expect`");
            d = match did_you_mean(word, ["require", "expect"]) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("a quality rule is `require <row condition> else <severity>` or `expect <partition condition> else <severity>`"),
            };
            return d;
        }
        Context::Columns => Rule::column_only,
        Context::Reconcile => Rule::reconcile_rule_only,
        Context::Corrections => Rule::correction_rule_only,
        Context::Assignments => Rule::assignment_only,
    };

    // Error detail costs time, so the first pass runs without it; only
    // the re-parse of a broken region, which is short, asks for it.
    pest::set_error_detail(true);
    match BplParser::parse(rule, text) {
        Err(e) => from_pest(file, base, text, &e, ctx),
        // The region parses on its own: it was cut off from what came before
        // it (an expression broken over lines where an operator ends a line).
        Ok(_) => Diagnostic::new(codes::E0001, format!("unexpected `{}`", shown(text)))
            .primary(word_span, "this does not continue the line above")
            .help("put each clause, step or rule on a line of its own, with operators at the end of a line when an expression continues"),
    }
}

/// The first word of a region, or its first character, for messages.
fn shown(text: &str) -> &str {
    let w = first_word(text);
    if w.is_empty() {
        &text[..token_at(text, 0)]
    } else {
        w
    }
}

/// Length of the token starting at `at`: a word, or one character.
fn token_at(text: &str, at: usize) -> usize {
    let rest = &text[at.min(text.len())..];
    let word = first_word(rest).len();
    if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

/// A pest error at `base + pos` in `text`, in the user's words.
pub(crate) fn from_pest(file: FileId, base: usize, text: &str, e: &Error<Rule>, ctx: Context) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let (positives, tokens) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let tokens = e
                .parse_attempts()
                .map(|a| a.expected_tokens().iter().map(|t| t.to_string()).collect::<Vec<String>>())
                .unwrap_or_default();
            (positives.clone(), tokens)
        }
        ErrorVariant::CustomError { message } => {
            return Diagnostic::new(codes::E0008, format!("the parser gave up: {message}"))
                .primary(Span::new(file, base + pos, base + pos), "here")
                .help("simplify this declaration; it is too large or too deeply nested");
        }
    };
    let expected = expected_phrase(&positives, &tokens);
    let at_end = text[pos..].trim().is_empty() || text[pos..].starts_with(['\n', '\r']);
    let tok = if at_end { 0 } else { token_at(text, pos) };
    let found = if at_end {
        if ctx == Context::TopLevel {
            "the end of the declaration".to_string()
        } else {
            "the end of the line".to_string()
        }
    } else {
        format!("`{}`", &text[pos..pos + tok])
    };
    let span = Span::new(file, base + pos, base + pos + tok);

    if at_end && tokens.iter().any(|t| t == "}") {
        if let Some(open) = unclosed_brace(text) {
            return Diagnostic::new(codes::E0002, "this `{` is never closed")
                .primary(Span::new(file, base + open, base + open + 1), "opened here")
                .secondary(span, format!("expected {expected} before here"))
                .help("add the missing `}`; every block opened with `{` closes with `}`");
        }
    }
    let mut d = Diagnostic::new(codes::E0001, format!("expected {expected}, found {found}"))
        .primary(span, format!("expected {expected}"));
    if let Some(h) = hint(&positives, ctx) {
        d = d.help(h);
    }
    d
}

/// The innermost `{` left open at the end of `text`, skipping strings and comments.
fn unclosed_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

/// A help text for the commonest mistakes, by what was expected.
fn hint(positives: &[Rule], ctx: Context) -> Option<String> {
    let has = |r: Rule| positives.contains(&r);
    if has(Rule::kw_else) && ctx == Context::Quality {
        return Some("every quality rule names what happens when it fails: `else info`, `else warn`, `else quarantine`, `else fail partition`, `else fail run` or `else manual review`".into());
    }
    if has(Rule::severity) || has(Rule::kw_quarantine) {
        return Some("severities are `info`, `warn`, `quarantine`, `fail partition`, `fail run` and `manual review`".into());
    }
    if has(Rule::kw_decimal) || has(Rule::named_type) {
        return Some("column types are `string`, `int`, `float`, `bool`, `date`, `timestamp`, `month`, `decimal(p, s)` and `enum(a, b)`; add `?` for a nullable column".into());
    }
    if has(Rule::as_of_policy) || has(Rule::kw_as) || has(Rule::kw_pinned) {
        return Some("a reference binding states how history is read: `as of ev.event_time`, `as of processing time`, `as of report close`, `pinned \"v3\"` or `latest because \"reason\"`".into());
    }
    if has(Rule::duration) {
        return Some("durations are a whole number and a unit: `30s`, `15min`, `6h`, `3d`, `2w`, `1mo`, `1y`".into());
    }
    if has(Rule::clock_kind) {
        return Some("clocks are `event`, `ingestion`, `source_commit` and `file_arrival`".into());
    }
    None
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Group {
    Expression,
    Operator,
    Other,
}

fn describe(rule: Rule) -> Option<(Group, String)> {
    use Group::*;
    let s = |x: &str| Some((Other, x.to_string()));
    match rule {
        Rule::temporal | Rule::number | Rule::percent | Rule::list | Rule::paren | Rule::op_neg
        | Rule::op_not | Rule::kw_not | Rule::call | Rule::call_head | Rule::if_expr | Rule::kw_if
        | Rule::kw_true | Rule::kw_false | Rule::kw_null | Rule::expr | Rule::named_expr => {
            Some((Expression, "an expression".into()))
        }
        Rule::op_or | Rule::op_and | Rule::op_eq | Rule::op_ne | Rule::op_lt | Rule::op_le | Rule::op_gt
        | Rule::op_ge | Rule::op_in | Rule::op_add | Rule::op_sub | Rule::op_mul | Rule::op_div
        | Rule::kw_or | Rule::kw_and | Rule::kw_in | Rule::is_null | Rule::is_not_null | Rule::kw_is
        | Rule::member => Some((Operator, "an operator".into())),
        Rule::kw_decimal | Rule::kw_enum | Rule::type_expr | Rule::named_type | Rule::decimal_type
        | Rule::enum_type | Rule::hash_partition | Rule::kw_hash => s("a column type such as `date`"),
        Rule::severity | Rule::kw_info | Rule::kw_warn | Rule::kw_quarantine | Rule::kw_fail | Rule::kw_manual => {
            s("a severity")
        }
        Rule::clock_kind => s("a clock (`event`, `ingestion`, `source_commit` or `file_arrival`)"),
        Rule::cadence => s("a cadence (`hourly`, `daily`, `weekly` or `monthly`)"),
        Rule::publish_mode => s("`replace` or `versioned`"),
        Rule::weekday => s("a weekday such as `monday`"),
        Rule::clock_time => s("a time of day such as `01:00`"),
        Rule::duration => s("a duration such as `3d`"),
        Rule::integer => s("a whole number"),
        Rule::string => s("a quoted string"),
        Rule::ident | Rule::names => s("a name"),
        Rule::code => s("a warning code such as `W0301`"),
        Rule::EOI => s("the end of the file"),
        Rule::declaration | Rule::source_decl | Rule::reference_decl | Rule::dataset_decl => {
            s("a declaration (`source`, `reference` or `dataset`)")
        }
        Rule::as_of_policy | Rule::pinned_policy | Rule::latest_policy => {
            s("a temporal policy (`as of`, `pinned` or `latest`)")
        }
        Rule::processing_time | Rule::kw_processing => s("`processing time`"),
        Rule::report_close | Rule::kw_report => s("`report close`"),
        Rule::input_clock => s("`by <clock> clock`"),
        Rule::input_bound | Rule::all_history => s("a boundary (`where ...` or `all history`)"),
        Rule::correction_class => s("a correction class (`within lookback`, `closed period` or `unknown impact`)"),
        Rule::correction_action => {
            s("an action (`recompute`, `restate`, `plan first`, `ignore` or `manual review`)")
        }
        Rule::tolerance => s("a tolerance such as `0.01`, `1%` or `1h`"),
        Rule::column => s("a column such as `event_id: string`"),
        Rule::partition_key => s("a partition key such as `business_date: date`"),
        Rule::assignment => s("`name = expression`"),
        Rule::rule_kind => s("`require` or `expect`"),
        Rule::order_by => s("`order by`"),
        Rule::over_clause => s("`over (...)`"),
        Rule::nullable | Rule::doc | Rule::rule_name | Rule::variadic | Rule::function_kind => None,
        r => {
            let name = format!("{r:?}");
            name.strip_prefix("kw_").map(|w| (Other, format!("`{w}`")))
        }
    }
}

const OPERATORS: &[&str] = &["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", ".", "%", "?", "("];

fn expected_phrase(positives: &[Rule], tokens: &[String]) -> String {
    let mut items: Vec<(Group, String)> = positives.iter().filter_map(|r| describe(*r)).collect();
    for t in tokens {
        let punct = !t.is_empty() && t.chars().all(|c| !c.is_alphanumeric() && !c.is_whitespace());
        if !punct || ["//", "///", "\"", "@", "_", "\\"].contains(&t.as_str()) {
            continue;
        }
        let group = if OPERATORS.contains(&t.as_str()) { Group::Operator } else { Group::Other };
        items.push((group, format!("`{t}`")));
    }
    // An expression that could go on is rarely what the user meant to fix.
    if items.iter().any(|(g, _)| *g != Group::Operator) {
        items.retain(|(g, _)| *g != Group::Operator);
    }
    if items.iter().any(|(g, _)| *g == Group::Expression) {
        items.retain(|(g, p)| *g == Group::Expression || !matches!(p.as_str(), "a name" | "a quoted string" | "a duration such as `3d`"));
    }
    items.sort();
    items.dedup();
    let words: Vec<String> = items.into_iter().map(|(_, p)| p).collect();
    if words.is_empty() {
        "something else".into()
    } else if words.len() > 6 {
        format!("{}, or another clause", words[..6].join(", "))
    } else {
        join_or(&words)
    }
}
