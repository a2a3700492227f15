//! Parse errors in the user's words. A catch-all token (a broken line or
//! region) is re-parsed with the rule its first word names; pest's error for
//! that rule tells the exact place, and this module says it without rule names.
//!
//! A pest error becomes a diagnostic in three steps: [`Expected::of`] reads
//! where the text goes wrong and what could have come there; [`targeted`]
//! recognises the common mistakes that deserve a message of their own (an
//! unclosed bracket, `=` for `==`, `&&` for `and`, `3x` for a duration);
//! anything else is "expected X, found Y" with a [`hint`] chosen by what was
//! found, the construct it is in, and what was expected.

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

/// The words a declaration starts with (`item_start` in the grammar).
pub(super) const DECLARATIONS: &[&str] = &[
    "source",
    "reference",
    "dataset",
    "function",
    "aggregate",
    "window",
    "check",
];

/// The words a clause can start with.
pub(crate) const CLAUSES: &[&str] = &[
    "table",
    "files",
    "changed",
    "seed",
    "columns",
    "key",
    "clock",
    "snapshot",
    "cursor",
    "max",
    "bad",
    "valid",
    "versioned",
    "versions",
    "version",
    "partition",
    "publish",
    "schedule",
    "input",
    "bind",
    "compute",
    "quality",
    "reconcile",
    "corrections",
    "closed",
    "restate",
    "allow",
];

/// The clauses as they are written, for help texts.
const CLAUSE_FORMS: &[&str] = &[
    "table",
    "files",
    "changed files",
    "seed",
    "columns",
    "key",
    "clock",
    "snapshot by",
    "cursor by",
    "max lateness",
    "bad rows",
    "valid from",
    "versioned by",
    "versions",
    "version",
    "partition by",
    "publish",
    "schedule",
    "input",
    "bind",
    "compute",
    "quality",
    "reconcile",
    "corrections",
    "closed after",
    "restate",
    "allow",
];

/// The words a pipeline step can start with.
const STEPS: &[&str] = &[
    "from",
    "where",
    "join",
    "left",
    "derive",
    "group",
    "aggregate",
    "select",
    "dedupe",
];

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
    let word_span = span_of(
        0,
        if word.is_empty() {
            token_len(text, 0)
        } else {
            word.len()
        },
    );

    if text.starts_with("///") && ctx != Context::TopLevel {
        return Diagnostic::new(
            codes::E0006,
            "doc comments document declarations and columns",
        )
        .primary(
            span_of(0, text.trim_end().len()),
            "nothing here to document",
        )
        .help("use `//` for a comment inside a block");
    }
    if text.starts_with("///") && ctx == Context::TopLevel && only_docs(text) {
        return Diagnostic::new(codes::E0006, "this doc comment documents nothing")
            .primary(
                span_of(0, text.trim_end().len()),
                "no declaration follows it",
            )
            .help("put it right above a declaration, or use `//` for a plain comment");
    }
    if text.starts_with('"') && string_len(text).is_none() {
        return Diagnostic::new(codes::E0002, "this string is never closed")
            .primary(span_of(0, 1), "opened here")
            .help("end the string with `\"` on the same line; strings cannot span lines");
    }
    if text.starts_with('}') {
        return Diagnostic::new(codes::E0002, "unmatched `}`")
            .primary(span_of(0, 1), "no block is open here")
            .help("remove it, or look above for a block closed twice");
    }

    let rule = match ctx {
        Context::TopLevel if text.starts_with("///") || DECLARATIONS.contains(&word) => {
            Rule::declaration_only
        }
        Context::TopLevel => {
            let mut d = Diagnostic::new(
                codes::E0007,
                format!("expected a declaration, found `{}`", shown(text)),
            )
            .primary(word_span, "a file holds declarations");
            d = if CLAUSES.contains(&word) {
                d.help(format!(
                    "`{word}` is a clause: it belongs inside a `source`, `reference` or `dataset` block; \
                     check the braces above for a `}}` that closes the block too early"
                ))
            } else if let Some(s) = did_you_mean(word, DECLARATIONS.iter().copied()) {
                d.help(format!("did you mean `{s}`?"))
            } else {
                d.help("a file holds `source`, `reference` and `dataset` declarations (and, in the prelude, `function` and `check`)")
            };
            return d;
        }
        Context::Body if DECLARATIONS[..3].contains(&word) => {
            return Diagnostic::new(
                codes::E0002,
                format!("`{word}` starts a new declaration, but the block above is still open"),
            )
            .primary(word_span, "a declaration cannot start inside another")
            .help("add the `}` that closes the block above");
        }
        Context::Body => match CLAUSES.contains(&word) {
            true => Rule::clause_only,
            false => {
                let mut d =
                    Diagnostic::new(codes::E0003, format!("unknown clause `{}`", shown(text)))
                        .primary(word_span, "not a clause");
                let block = match word {
                    "require" | "expect" => Some("quality"),
                    w if STEPS.contains(&w) => Some("compute"),
                    _ => None,
                };
                d = match (block, did_you_mean(word, CLAUSES.iter().copied())) {
                    (Some(b), _) => d.help(format!(
                        "`{word}` belongs inside a `{b} {{ ... }}` block; check that the block is opened with `{{`"
                    )),
                    (None, Some(s)) => d.help(format!("did you mean `{s}`?")),
                    (None, None) => d.help(format!(
                        "a declaration's clauses are {}",
                        list(CLAUSE_FORMS.iter().copied())
                    )),
                };
                return d;
            }
        },
        Context::Compute => match STEPS.contains(&word) {
            true => Rule::step_only,
            false => {
                let mut d = Diagnostic::new(
                    codes::E0003,
                    format!("unknown pipeline step `{}`", shown(text)),
                )
                .primary(word_span, "not a step");
                d = match did_you_mean(word, STEPS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "a compute block is a pipeline of {}",
                        list(
                            [
                                "from",
                                "where",
                                "join",
                                "derive",
                                "group by",
                                "aggregate",
                                "select",
                                "dedupe by"
                            ]
                            .into_iter()
                        )
                    )),
                };
                return d;
            }
        },
        Context::Quality if word == "require" || word == "expect" => Rule::quality_rule_only,
        Context::Quality => {
            let mut d = Diagnostic::new(
                codes::E0003,
                format!("expected a quality rule, found `{}`", shown(text)),
            )
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

    if let Some(d) = keyword_alone_on_its_line(file, base, text, ctx) {
        return d;
    }
    // Error detail costs time, so the first pass runs without it; only
    // the re-parse of a broken region, which is short, asks for it. pest's
    // switch is one global flag, not a per-parse option, so once a region
    // has been diagnosed every later parse in the process keeps the detail
    // (slower, same result). It is never switched off again: that could
    // race a diagnosis on another thread and change its message.
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

/// A keyword alone on its line (`from`), or a line ending in an operator
/// (`where a >`), takes the first word of the next line as its argument,
/// since newlines are only whitespace: `from` then `group by day` reads as
/// `from group`, and the error shows up at `by`. Said the way the user sees
/// it: the first line is incomplete.
fn keyword_alone_on_its_line(
    file: FileId,
    base: usize,
    text: &str,
    ctx: Context,
) -> Option<Diagnostic> {
    let first_line = text.find('\n').map(|n| &text[..n])?;
    let next = text[first_line.len()..].trim_start();
    let next_word = first_word(next);
    let is_keyword =
        |w: &str| CLAUSES.contains(&w) || STEPS.contains(&w) || w == "require" || w == "expect";
    let line = first_line.trim_end();
    let last = line
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    let dangling = line == first_word(text)
        || [
            "+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "not", "in",
        ]
        .contains(&last);
    if ctx == Context::TopLevel || !dangling || !is_keyword(next_word) {
        return None;
    }
    let d = diagnose_region(file, base, first_line.trim_end(), ctx);
    let at = base + text.len() - next.len();
    Some(
        d.secondary(
            Span::new(file, at, at + next_word.len()),
            format!("`{next_word}` is read as part of the line above"),
        )
        .help("a line break does not end a clause or a step: finish the line above, or remove it"),
    )
}

/// Whether a region is nothing but doc comments (and plain ones).
fn only_docs(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("//"))
}

/// The first word of a region, or its first token, for messages.
fn shown(text: &str) -> &str {
    let w = first_word(text);
    if w.is_empty() {
        &text[..token_len(text, 0)]
    } else {
        w
    }
}

/// Length of the token starting at `at`, as a user would see it: a word, a
/// number with whatever letters are glued to it (`3x`, `1am`, `3.1`), a
/// string up to its closing quote or the end of the line, a temporal
/// literal, a two-character operator, or one character.
fn token_len(text: &str, at: usize) -> usize {
    let rest = &text[at.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return 0;
    };
    let run = |skip: usize, keep: &dyn Fn(char) -> bool| {
        skip + rest[skip..]
            .find(|c: char| !keep(c))
            .unwrap_or(rest.len() - skip)
    };
    match c {
        '"' => string_len(rest).unwrap_or_else(|| rest.find(['\n', '\r']).unwrap_or(rest.len())),
        '@' => run(1, &|c| c.is_ascii_alphanumeric() || "-:+".contains(c)),
        '0'..='9' => run(0, &|c| c.is_ascii_alphanumeric() || "_.:%".contains(c)),
        c if c.is_ascii_alphabetic() || c == '_' => first_word(rest).len(),
        _ => ["==", "!=", "<=", ">=", "=>", "->", "..."]
            .iter()
            .find(|op| rest.starts_with(**op))
            .map_or(c.len_utf8(), |op| op.len()),
    }
}

/// Length of the string literal `rest` starts with, if it closes on its line.
fn string_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(i + 1),
            '\\' => {
                chars.next();
            }
            '\n' | '\r' => return None,
            _ => {}
        }
    }
    None
}

/// What pest expected, and where, read from one error.
struct Expected {
    /// Offset in the region where the text goes wrong.
    pos: usize,
    /// Rules tried at `pos` (`ident`, `kw_else`, `op_eq`, `EOI`).
    rules: Vec<Rule>,
    /// Literal tokens tried at `pos` (`=`, `)`, `->`).
    tokens: Vec<String>,
}

impl Expected {
    /// Pest records rules where they were last tried and failed, and literal
    /// tokens where the parser got furthest. The furthest point is where the
    /// text goes wrong, unless it lies inside the token the rules were tried
    /// at: then an atomic rule read part of a token (`3` of `3.1`, a string
    /// to its missing quote) before giving up, and the token is the culprit.
    fn of(e: &Error<Rule>, text: &str) -> Expected {
        let rule_pos = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        }
        .min(text.len());
        let rules = match &e.variant {
            ErrorVariant::ParsingError { positives, .. } => put_back_words(positives.clone()),
            ErrorVariant::CustomError { .. } => Vec::new(),
        };
        let Some(attempts) = e.parse_attempts() else {
            return Expected {
                pos: rule_pos,
                rules,
                tokens: Vec::new(),
            };
        };
        // Character ranges are digits, letters and the one-character ranges
        // the grammar uses for speed on whitespace, comments and `_`: never
        // punctuation a message should name.
        let tokens: Vec<String> = attempts
            .expected_tokens()
            .iter()
            // (pest does not export the token type, so its Debug form tells.)
            .filter(|t| !format!("{t:?}").starts_with("Range"))
            .map(|t| t.to_string())
            .collect();
        let token_pos = attempts.max_position.min(text.len());
        let inside_token = token_pos < rule_pos + token_len(text, rule_pos).max(1);
        if token_pos > rule_pos && !inside_token && tokens.iter().any(|t| is_punct(t)) {
            Expected {
                pos: token_pos,
                rules: Vec::new(),
                tokens,
            }
        } else if token_pos == rule_pos {
            Expected {
                pos: rule_pos,
                rules,
                tokens,
            }
        } else {
            Expected {
                pos: rule_pos,
                rules,
                tokens: Vec::new(),
            }
        }
    }

    fn has(&self, rule: Rule) -> bool {
        self.rules.contains(&rule)
    }

    fn has_token(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    fn wants_expression(&self) -> bool {
        self.rules
            .iter()
            .any(|r| describe(*r, Context::Body).is_some_and(|(g, _)| g == Group::Expression))
    }
}

/// The rules pest reports, with the word operators put back where the
/// grammar no longer tries them.
///
/// After every operand the grammar tries `is` (`postfix`) and `or`, `and`,
/// `in` (`infix`) only where the next character could start one of them,
/// which saves entering and leaving four rules after most operands. Where
/// they were tried and failed they were among the rules pest reports, and a
/// message uses them: as "an operator" and as a "did you mean" (`3and` is
/// offered `and`). `op_eq` is tried first after every operand, and only
/// there, so where pest reports `op_eq` an operand ended and all four were
/// tried before: they are put back, in pest's order (sorted, no repeats),
/// and every message is what it was when the grammar tried them all.
fn put_back_words(mut rules: Vec<Rule>) -> Vec<Rule> {
    if rules.contains(&Rule::op_eq) {
        rules.extend([Rule::kw_or, Rule::kw_and, Rule::kw_in, Rule::kw_is]);
        rules.sort();
        rules.dedup();
    }
    rules
}

/// A token of punctuation worth naming in a message (not the inside of a
/// string or a number).
fn is_punct(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace())
        && !["//", "///", "\"", "@", "_", "\\", "."].contains(&t)
}

/// A pest error at `base + pos` in `text`, in the user's words.
pub(crate) fn from_pest(
    file: FileId,
    base: usize,
    text: &str,
    e: &Error<Rule>,
    ctx: Context,
) -> Diagnostic {
    if let ErrorVariant::CustomError { message } = &e.variant {
        let pos = match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
        return Diagnostic::new(codes::E0008, format!("the parser gave up: {message}"))
            .primary(Span::new(file, base + pos, base + pos), "here")
            .help("simplify this declaration; it is too large or too deeply nested");
    }
    let exp = Expected::of(e, text);
    let span_of = |start: usize, end: usize| Span::new(file, base + start, base + end);
    let pos = exp.pos;
    let rest = &text[pos..];
    let at_end = rest.trim().is_empty() || rest.starts_with(['\n', '\r']);
    let tok = if at_end { 0 } else { token_len(text, pos) };
    let found_text = &text[pos..pos + tok];

    if let Some(d) = targeted(&exp, text, at_end, tok, span_of) {
        return d;
    }

    let expected = expected_phrase(&exp, ctx);
    let found = if at_end {
        match ctx {
            Context::TopLevel => "the end of the declaration".to_string(),
            _ => "the end of the line".to_string(),
        }
    } else {
        format!("`{found_text}`")
    };
    let mut d = Diagnostic::new(codes::E0001, format!("expected {expected}, found {found}"));
    d = match at_end.then(|| token_before(text, pos)).flatten() {
        // Nothing to point at after the end: point at what came last.
        Some((start, end)) => d.primary(
            span_of(start, end),
            format!("expected {expected} after this"),
        ),
        None => d.primary(span_of(pos, pos + tok), format!("expected {expected}")),
    };
    if let Some(h) = hint(&exp, &Place::new(text, pos, tok, ctx)) {
        d = d.help(h);
    }
    d
}

/// The common mistakes that deserve a message of their own, at the place
/// `exp` found; `tok` is the length of the token there (0 at the end).
fn targeted(
    exp: &Expected,
    text: &str,
    at_end: bool,
    tok: usize,
    span_of: impl Fn(usize, usize) -> Span,
) -> Option<Diagnostic> {
    let pos = exp.pos;
    let rest = &text[pos..];
    let found = &text[pos..pos + tok];
    let d = |code, message: String| Diagnostic::new(code, message);

    if found.starts_with('"') && string_len(rest).is_none() {
        return Some(
            d(codes::E0002, "this string is never closed".into())
                .primary(span_of(pos, pos + 1), "opened here")
                .help("end the string with `\"` on the same line; strings cannot span lines"),
        );
    }
    if let Some((open, close)) = unclosed(&text[..pos]).filter(|_| at_end) {
        if exp.has_token(&close.to_string()) {
            let help = match close {
                '}' => "add the missing `}`; every block opened with `{` closes with `}`",
                ')' => "add the missing `)`",
                _ => "add the missing `]`",
            };
            return Some(
                d(
                    codes::E0002,
                    format!("this `{}` is never closed", &text[open..open + 1]),
                )
                .primary(span_of(open, open + 1), "opened here")
                .secondary(span_of(pos, pos), format!("expected `{close}` before here"))
                .help(help),
            );
        }
    }
    if let Some((start, end, advice)) = foreign_operator(text, pos) {
        let message = format!("`{}` is not an operator in bpl", &text[start..end]);
        return Some(d(codes::E0001, message).primary(span_of(start, end), advice));
    }
    if found.starts_with('\'') {
        let end = rest[1..].find(['\'', '\n']).map_or(tok, |e| e + 2);
        return Some(
            d(codes::E0001, "strings are written in double quotes".into())
                .primary(span_of(pos, pos + end), "write `\"` for `'`"),
        );
    }
    if let Some(open) = match found {
        ")" => Some('('),
        "]" => Some('['),
        "}" => Some('{'),
        _ => None,
    } {
        let closes = unclosed(&text[..pos]).is_some_and(|(at, _)| text[at..].starts_with(open));
        if !closes {
            return Some(
                d(codes::E0002, format!("unmatched `{found}`"))
                    .primary(span_of(pos, pos + 1), format!("no `{open}` is open here"))
                    .help(format!(
                        "remove it, or add the `{open}` it was meant to close"
                    )),
            );
        }
    }
    if found == "=" && (exp.has(Rule::op_eq) || exp.has_token("==")) {
        return Some(
            d(codes::E0001, "`=` does not compare values".into())
                .primary(span_of(pos, pos + 1), "write `==` to compare")
                .help("`=` names a value, as in `derive total = a + b`; `==` compares two values"),
        );
    }
    // `derive rate == 1`: a name, then `==` where `=` was meant.
    let after = rest[tok..].trim_start();
    if exp.has(Rule::assignment) && first_word(rest).len() == tok && after.starts_with("==") {
        let at = text.len() - after.len();
        return Some(
            d(
                codes::E0001,
                "`==` compares values; a name is given with `=`".into(),
            )
            .primary(span_of(at, at + 2), "write `=` here")
            .help(DERIVE),
        );
    }
    if let Some(unit) = bad_duration_unit(found) {
        if exp.has(Rule::duration) || exp.wants_expression() {
            let unit_at = pos + found.len() - unit.len();
            return Some(
                d(codes::E0005, format!("`{found}` is not a duration"))
                    .primary(
                        span_of(unit_at, pos + tok),
                        format!("unknown unit `{unit}`"),
                    )
                    .help(DURATIONS),
            );
        }
    }
    None
}

const DERIVE: &str =
    "a derived value is `name = expression`, as in `derive rate = breaches / cases`";

const DURATIONS: &str =
    "durations are a whole number and a unit: `30s`, `15min`, `6h`, `3d`, `2w`, `1mo`, `1y`";

/// The unit of a would-be duration (`3x`, `29days`) that has no such unit.
fn bad_duration_unit(token: &str) -> Option<&str> {
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &token[digits..];
    let known = ["s", "min", "h", "d", "w", "mo", "y"];
    (digits > 0
        && !unit.is_empty()
        && unit.bytes().all(|b| b.is_ascii_alphabetic())
        && !known.contains(&unit))
    .then_some(unit)
}

/// The last token before `pos`, skipping whitespace: where a label goes when
/// the text ends too early.
fn token_before(text: &str, pos: usize) -> Option<(usize, usize)> {
    let end = text[..pos].trim_end().len();
    let last = text[..end].chars().next_back()?;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = if word(last) {
        text[..end].trim_end_matches(word).len()
    } else if last == '"' {
        text[..end - 1].rfind('"').unwrap_or(end - 1)
    } else {
        text[..end]
            .trim_end_matches(|c: char| "=<>!+-*/".contains(c))
            .len()
            .min(end - last.len_utf8())
    };
    Some((start, end))
}

/// The bracket left open at the end of `text`, and the one that closes it,
/// skipping strings and comments. For `{`, a block whose `}` sits at another
/// indentation than the line that opened it is the likelier culprit: the
/// `}` that closes it was meant for the block around it.
fn unclosed(text: &str) -> Option<(usize, char)> {
    let bytes = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut misclosed = None;
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
            b'(' | b'[' | b'{' => open.push(i),
            b')' | b']' | b'}' => {
                if let Some(o) = open.pop() {
                    let own_line = text[line_start(text, i)..i].trim().is_empty();
                    if bytes[o] == b'{'
                        && own_line
                        && misclosed.is_none()
                        && indent(text, o) != indent(text, i)
                    {
                        misclosed = Some(o);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    let innermost = open.pop()?;
    let at = match misclosed {
        Some(m) if bytes[innermost] == b'{' && m > innermost => m,
        _ => innermost,
    };
    let close = match bytes[at] {
        b'(' => ')',
        b'[' => ']',
        _ => '}',
    };
    Some((at, close))
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn indent(text: &str, at: usize) -> usize {
    let line = &text[line_start(text, at)..];
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "else", "over",
];

/// A help text for the commonest mistakes: by what was found, then by the
/// construct the error is in, then by what was expected.
fn hint(exp: &Expected, at: &Place<'_>) -> Option<String> {
    let (found, first) = (at.found, at.first);
    let found_word = first_word(found);
    let expression = exp.wants_expression();
    let name = exp.has(Rule::ident) && !expression;

    // What was found.
    if name && RESERVED.contains(&found) {
        return Some(format!(
            "`{found}` is a word of the expression language and cannot be a name; choose another"
        ));
    }
    if name && found.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("names start with a letter or `_`".into());
    }
    if exp.has(Rule::string) && !expression && !found_word.is_empty() {
        return Some(format!(
            "write it in double quotes: `\"{}\"`",
            bare_text(at.rest)
        ));
    }
    if found.starts_with('@') {
        return Some(
            "dates are `@YYYY-MM-DD`, months `@YYYY-MM`, timestamps `@YYYY-MM-DDThh:mm:ssZ`".into(),
        );
    }
    if exp.has(Rule::integer) && found.starts_with('"') {
        return Some("write the number without quotes".into());
    }
    if found == "?" {
        return Some("one `?` makes a type nullable".into());
    }
    if found.is_empty() && at.before.ends_with(',') && (expression || exp.has(Rule::ident)) {
        return Some("remove the trailing `,`, or write the item that should follow it".into());
    }
    if found == "," && exp.has(Rule::EOI) {
        return Some("clauses, steps and rules are not separated by commas; start the next one on a line of its own".into());
    }
    if found == "," && at.open_call == Some("") {
        return Some("a list of values is written in brackets: `[1, 2, 3]`".into());
    }
    if expression && found.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("numbers are written out (`1000000`, `0.25`, `5%`); durations are a number and a unit (`3d`)".into());
    }
    let keywords = expected_keywords(exp);
    let close = did_you_mean(found_word, keywords.iter().map(String::as_str));
    if let Some(s) = close.filter(|_| found_word.len() >= 3) {
        return Some(format!("did you mean `{s}`?"));
    }

    // The construct the error is in.
    match at.open_call {
        Some("decimal") => return Some("a decimal states precision and scale: `decimal(18, 2)` holds 18 digits, 2 of them after the point".into()),
        Some("enum") => return Some("an enum lists its values as names: `enum(opened, assigned, closed)`".into()),
        Some("hash") => return Some("a hash partition names a column and a number of buckets: `hash(case_id, 16)`".into()),
        _ => {}
    }
    if at.in_if {
        return Some("`if` has both branches: `if condition then value else other`".into());
    }
    let top = ctx_is(at, Context::TopLevel);
    match first {
        "function" | "aggregate" | "window" if top => {
            return Some("a function signature is `function name(param: type, ...) -> type`".into())
        }
        "check" if top => {
            return Some("a check is `check name(param: type, ...) = condition`".into())
        }
        "partition" if exp.has_token(":") || exp.has(Rule::partition_key) => {
            return Some("a partition key is a name and its type: `business_date: date`, `tenant: string`, `bucket: hash(case_id, 16)` or `run_id: run`".into())
        }
        "group" if exp.has_token("{") => {
            return Some("the keys are followed by a block of aggregates: `group by region { cases = row_count() }`".into())
        }
        "aggregate" if exp.has_token("{") => {
            return Some("`aggregate` takes a block: `aggregate { cases = row_count() }`".into())
        }
        "input" if exp.has_token("=") || exp.has(Rule::ident) => {
            return Some("an input is `input alias = dataset where <boundary>`, as in `input ev = silver_cases where business_date == p`".into())
        }
        "clock" if exp.has_token("=") => {
            return Some("a clock names the column that carries it: `clock event = event_time, ingestion = ingested_at`".into())
        }
        "version" if exp.has(Rule::integer) => {
            return Some("a version is a whole number, raised when the dataset's logic changes: `version 4`".into())
        }
        _ => {}
    }
    if (first == "derive" || ctx_is(at, Context::Assignments))
        && (exp.has_token("=") || exp.has(Rule::assignment))
    {
        return Some(DERIVE.into());
    }
    if ctx_is(at, Context::Columns) && CLAUSES.contains(&first) {
        return Some(format!(
            "`{first}` is a clause, not a column: close the `columns` block with `}}` before it"
        ));
    }
    if ctx_is(at, Context::Columns) {
        if exp.has(Rule::kw_decimal) || exp.has(Rule::named_type) || exp.has(Rule::type_expr) {
            return Some(TYPES.into());
        }
        return Some("a column is `name: type`, one to a line, as in `event_id: string`".into());
    }
    if ctx_is(at, Context::Corrections) {
        return Some(
            "a correction rule is `<class> => <action>`, as in `within lookback => recompute`"
                .into(),
        );
    }

    // What was expected.
    if exp.has(Rule::severity) || exp.has(Rule::kw_quarantine) {
        return Some("severities are `info`, `warn`, `quarantine`, `fail partition`, `fail run` and `manual review`".into());
    }
    if exp.has_token(":") && ctx_is(at, Context::Quality) {
        return Some(
            "a rule's name is followed by `:`, as in `require positive: amount > 0 else warn`"
                .into(),
        );
    }
    if exp.has(Rule::kw_else) && ctx_is(at, Context::Quality) {
        return Some("every quality rule names what happens when it fails: `else info`, `else warn`, `else quarantine`, `else fail partition`, `else fail run` or `else manual review`".into());
    }
    if expression && ctx_is(at, Context::Quality) {
        return Some(
            "a quality rule states what must hold: `require amount >= 0 else quarantine`".into(),
        );
    }
    if ctx_is(at, Context::Reconcile) {
        return Some("a reconcile rule is one comparison to a line, then optionally `within <tolerance>` and `else <severity>`, as in `input == accepted + quarantined within 0.1%`".into());
    }
    if exp.has(Rule::kw_decimal) || exp.has(Rule::named_type) || exp.has(Rule::type_expr) {
        return Some(TYPES.into());
    }
    if exp.has(Rule::as_of_policy) || exp.has(Rule::kw_as) || exp.has(Rule::kw_pinned) {
        return Some("a reference binding states how history is read: `as of ev.event_time`, `as of processing time`, `as of report close`, `pinned \"v3\"` or `latest because \"reason\"`".into());
    }
    if exp.has(Rule::publish_mode) {
        return Some("`publish replace` swaps in the partitions a run owns; `publish versioned` keeps every run's output as a new version".into());
    }
    if exp.has(Rule::clock_time) {
        return Some(
            "a time of day is `hh:mm` on the 24-hour clock, as in `01:00` or `13:30`".into(),
        );
    }
    if exp.has(Rule::duration) && !expression {
        return Some(DURATIONS.into());
    }
    None
}

/// An operator from another language around `pos` (`&&`, `<>`, `!==`):
/// its range and what to write instead.
fn foreign_operator(text: &str, pos: usize) -> Option<(usize, usize, &'static str)> {
    let is_op = |c: char| "=<>!&|".contains(c);
    let start = text[..pos].trim_end_matches(is_op).len();
    let end = pos + (text[pos..].len() - text[pos..].trim_start_matches(is_op).len());
    let advice = match &text[start..end] {
        "<>" | "!==" => "write `!=` for \"not equal\"",
        "===" => "write `==` to compare",
        "&&" | "&" => "write `and` to require both",
        "||" | "|" => "write `or` to accept either",
        "!" => "write `not` to negate",
        _ => return None,
    };
    Some((start, end, advice))
}

fn ctx_is(at: &Place<'_>, ctx: Context) -> bool {
    at.ctx == ctx
}

/// Where in the region an error is, as the hints need it.
struct Place<'t> {
    ctx: Context,
    /// The region's first word: the clause, step or declaration keyword.
    first: &'t str,
    /// The token found, empty at the end.
    found: &'t str,
    /// The text from the error on.
    rest: &'t str,
    /// The text before the error, trailing whitespace trimmed.
    before: &'t str,
    /// The word glued to the innermost `(` still open (`decimal`, `hash`;
    /// empty for a bare parenthesis).
    open_call: Option<&'t str>,
    /// Whether an `if` is still waiting for its `else`.
    in_if: bool,
}

impl<'t> Place<'t> {
    fn new(text: &'t str, pos: usize, tok: usize, ctx: Context) -> Place<'t> {
        let before = &text[..pos];
        let code = code_only(before);
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let count = |w: &str| words.iter().filter(|x| **x == w).count();
        let open_call = unclosed(before)
            .filter(|(_, close)| *close == ')')
            .map(|(open, _)| {
                let head = &text[..open];
                &head[head
                    .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    .len()..]
            });
        Place {
            ctx,
            first: first_word(text),
            found: &text[pos..pos + tok],
            rest: &text[pos..],
            before: before.trim_end(),
            open_call,
            in_if: count("if") > count("else"),
        }
    }
}

/// `text` with strings and comments blanked out, so words in them do not count.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
                out.push(' ');
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push('\n');
            }
            c => out.push(c),
        }
    }
    out
}

const TYPES: &str = "column types are `string`, `int`, `float`, `bool`, `date`, `timestamp`, `month`, `decimal(p, s)` and `enum(a, b)`; add `?` for a nullable column";

/// The text a user meant as a string: up to the next space, comma or brace.
fn bare_text(rest: &str) -> &str {
    let end = rest
        .find(|c: char| c.is_whitespace() || ",{}".contains(c))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The single words among what was expected, for "did you mean".
fn expected_keywords(exp: &Expected) -> Vec<String> {
    let mut words: Vec<String> = exp
        .rules
        .iter()
        .filter_map(|r| format!("{r:?}").strip_prefix("kw_").map(str::to_string))
        .collect();
    let fixed: &[(Rule, &[&str])] = &[
        (Rule::cadence, &["hourly", "daily", "weekly", "monthly"]),
        (
            Rule::weekday,
            &[
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ],
        ),
        (Rule::publish_mode, &["replace", "versioned"]),
        (
            Rule::clock_kind,
            &["event", "ingestion", "source_commit", "file_arrival"],
        ),
        (
            Rule::severity,
            &["info", "warn", "quarantine", "fail", "manual"],
        ),
    ];
    for (rule, list) in fixed {
        if exp.has(*rule) {
            words.extend(list.iter().map(|w| w.to_string()));
        }
    }
    words
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Group {
    Expression,
    Operator,
    Other,
}

fn describe(rule: Rule, ctx: Context) -> Option<(Group, String)> {
    use Group::*;
    let s = |x: &str| Some((Other, x.to_string()));
    match rule {
        Rule::temporal
        | Rule::number
        | Rule::percent
        | Rule::list
        | Rule::paren
        | Rule::op_neg
        | Rule::op_not
        | Rule::kw_not
        | Rule::name_or_call
        | Rule::if_expr
        | Rule::kw_if
        | Rule::kw_true
        | Rule::kw_false
        | Rule::kw_null
        | Rule::expr
        | Rule::named_expr => Some((Expression, "an expression".into())),
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_lt
        | Rule::op_le
        | Rule::op_gt
        | Rule::op_ge
        | Rule::op_in
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::kw_or
        | Rule::kw_and
        | Rule::kw_in
        | Rule::is_null
        | Rule::is_not_null
        | Rule::kw_is
        | Rule::member => Some((Operator, "an operator".into())),
        Rule::kw_decimal
        | Rule::kw_enum
        | Rule::type_expr
        | Rule::named_type
        | Rule::decimal_type
        | Rule::enum_type
        | Rule::hash_partition
        | Rule::kw_hash => s("a type such as `date`"),
        Rule::severity
        | Rule::kw_info
        | Rule::kw_warn
        | Rule::kw_quarantine
        | Rule::kw_fail
        | Rule::kw_manual => s("a severity"),
        Rule::clock_kind => s("a clock (`event`, `ingestion`, `source_commit` or `file_arrival`)"),
        Rule::cadence => s("a cadence (`hourly`, `daily`, `weekly` or `monthly`)"),
        Rule::publish_mode => s("`replace` or `versioned`"),
        Rule::weekday => s("a weekday such as `monday`"),
        Rule::clock_time => s("a time of day such as `01:00`"),
        Rule::duration => s("a duration such as `3d`"),
        Rule::integer => s("a whole number"),
        Rule::string => s("a quoted string"),
        Rule::ident | Rule::names => s("a name"),
        Rule::code => s("a warning code such as `W0101`"),
        Rule::EOI if ctx == Context::TopLevel => s("the end of the declaration"),
        Rule::EOI => s("the end of the line"),
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
        Rule::correction_class => {
            s("a correction class (`within lookback`, `closed period` or `unknown impact`)")
        }
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
        // `call_args` is tried right after every name in an expression, so it
        // is among the rules expected after any name; naming it would only
        // add noise (`(` glued to a name is rarely what was missing).
        Rule::nullable
        | Rule::doc
        | Rule::rule_name
        | Rule::variadic
        | Rule::function_kind
        | Rule::call_args => None,
        r => {
            let name = format!("{r:?}");
            name.strip_prefix("kw_").map(|w| (Other, format!("`{w}`")))
        }
    }
}

const OPERATORS: &[&str] = &[
    "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", ".", "%", "?", "(",
];

/// Punctuation that starts an expression: said by "an expression".
const EXPRESSION_START: &[&str] = &["[", "(", "-"];

fn expected_phrase(exp: &Expected, ctx: Context) -> String {
    let mut items: Vec<(Group, String)> =
        exp.rules.iter().filter_map(|r| describe(*r, ctx)).collect();
    for t in exp.tokens.iter().filter(|t| is_punct(t)) {
        let group = if OPERATORS.contains(&t.as_str()) {
            Group::Operator
        } else {
            Group::Other
        };
        items.push((group, format!("`{t}`")));
    }
    // An expression that could go on is rarely what the user meant to fix.
    if items.iter().any(|(g, _)| *g != Group::Operator) {
        items.retain(|(g, _)| *g != Group::Operator);
    }
    if items.iter().any(|(g, _)| *g == Group::Expression) {
        items.retain(|(g, p)| {
            *g == Group::Expression
                || !(matches!(
                    p.as_str(),
                    "a name" | "a quoted string" | "a duration such as `3d`"
                ) || EXPRESSION_START.iter().any(|t| p == &format!("`{t}`")))
        });
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
