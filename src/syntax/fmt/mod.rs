//! The canonical formatter behind `bplc fmt`: parse, then print the tree in
//! one layout, carrying over the `//` comments the tree does not hold.
//!
//! # Layout
//!
//! * Two spaces of indentation per block; one declaration, clause, column,
//!   pipeline step, quality / reconcile / corrections rule or assignment per
//!   line; a block with nothing in it is `{}`.
//! * One blank line between top-level declarations. Consecutive `function`
//!   signatures (the prelude's one-liners) keep the user's choice of none or
//!   one, so related signatures stay grouped.
//! * Inside blocks, a single blank line the user left between two items (or
//!   around a comment) is kept; more collapse to one; blank lines right after
//!   `{` and right before `}` are dropped.
//! * Expressions print on one line and are never broken: single spaces
//!   around binary operators, parentheses only where the user wrote them (or,
//!   for a tree no parse could give, where precedence needs them). Strings
//!   are re-escaped, numbers and percentages keep their text, durations are
//!   amount and suffix, `asc` is dropped, `key a, b` has no parentheses and
//!   `cursor by (a, b)` always has them.
//! * Comma lists: `select` items, `group by` keys and `derive` assignments
//!   stay on the step's line when that whole line, indentation included, is
//!   at most [`WIDTH`] characters and no comment sits inside the step.
//!   Otherwise each item gets a line of its own, one level deeper: `select`
//!   alone then the items with trailing commas; `group by` alone, the keys,
//!   then `{` alone; `derive` becomes a `derive { … }` block.
//!
//! # Comments
//!
//! Every `//` comment is kept ([`comments`] finds them). Before each
//! line-level node the comments that start before it are printed on lines of
//! their own at the node's indentation; a comment inside a one-line node
//! (say, between two lines of one expression) moves above it; a comment on
//! the same line as the code before it stays at the end of that line;
//! comments before a `}` stay inside the block; the rest end the file.

pub mod comments;
pub mod expr;
pub mod line;

use self::comments::{blank_line_between, open_brace, Comment, Comments};
use self::expr::{params, type_expr};
use self::line::{
    assignment, clause_line, correction_rule, named, quality_rule, reconcile_rule, step_line,
};
use super::ast::*;
use super::span::{FileId, Span};
use crate::diagnostic::{Diagnostic, Level};

/// The widest a comma list may make its line before it goes one item a line.
pub const WIDTH: usize = 100;

/// Parses `src` and prints it canonically. A file with a syntax error is
/// never formatted: its diagnostics come back instead.
pub fn format(file: FileId, src: &str) -> Result<String, Vec<Diagnostic>> {
    let (module, diags) = super::parse(file, src);
    if diags.iter().any(|d| d.level == Level::Error) {
        return Err(diags);
    }
    let mut p = Printer::new(src);
    p.module(&module);
    let out = p.finish();
    debug_assert!(
        comments::scan(src)
            .iter()
            .all(|c| out.contains(c.text.as_str())),
        "the formatter lost a comment"
    );
    Ok(out)
}

/// Whether two trees are the same but for their spans: what formatting must
/// never change.
pub fn same_ast(a: &Module, b: &Module) -> bool {
    fn strip(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(map) => {
                let is_span = map.len() == 3
                    && ["file", "start", "end"]
                        .iter()
                        .all(|k| map.contains_key(*k));
                if is_span {
                    return Value::Null;
                }
                map.into_iter().map(|(k, v)| (k, strip(v))).collect()
            }
            Value::Array(items) => Value::Array(items.into_iter().map(strip).collect()),
            other => other,
        }
    }
    let json = |m: &Module| strip(serde_json::to_value(&m.items).expect("the AST serializes"));
    json(a) == json(b)
}

struct Printer<'s> {
    src: &'s str,
    comments: Comments,
    out: String,
    /// Source offset up to which everything is printed; the user's blank
    /// lines are looked for after it.
    last_end: usize,
    /// Right after `{` or at the start of the file: no blank line may follow.
    fresh: bool,
    /// The next line must be preceded by a blank line (between declarations).
    force_blank: bool,
}

impl<'s> Printer<'s> {
    fn new(src: &'s str) -> Printer<'s> {
        Printer {
            src,
            comments: Comments::new(src),
            out: String::new(),
            last_end: 0,
            fresh: true,
            force_blank: false,
        }
    }

    fn finish(mut self) -> String {
        for c in self.comments.rest().collect::<Vec<_>>() {
            self.blank_if_gap(c.offset);
            self.comment_line(0, &c);
        }
        self.out
    }

    // ---------------------------------------------------------- lines and trivia

    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.fresh = false;
        self.force_blank = false;
    }

    fn comment_line(&mut self, indent: usize, c: &Comment) {
        self.line(indent, &c.text);
        self.last_end = c.end;
    }

    /// A blank line if the user left one before `pos`, or one is owed.
    /// Everything before `pos` counts as seen, so asking twice adds nothing.
    fn blank_if_gap(&mut self, pos: usize) {
        let gap = !self.fresh && blank_line_between(self.src, self.last_end, pos);
        if self.force_blank || gap {
            self.out.push('\n');
        }
        self.force_blank = false;
        self.last_end = self.last_end.max(pos);
    }

    /// The comments before a node starting at `pos`, then the blank line the
    /// user left before the node, if any.
    fn leading(&mut self, indent: usize, pos: usize) {
        while let Some(c) = self.comments.take_before(pos) {
            self.blank_if_gap(c.offset);
            self.comment_line(indent, &c);
        }
        self.blank_if_gap(pos);
    }

    /// Comments before `pos` that sit inside a node already begun: printed
    /// above its line, with no blank lines.
    fn inner(&mut self, indent: usize, pos: usize) {
        while let Some(c) = self.comments.take_before(pos) {
            self.comment_line(indent, &c);
        }
    }

    /// The node printed last ended at `end`: a comment trailing it on the
    /// same source line goes at the end of the line just printed.
    fn done(&mut self, end: usize) {
        self.last_end = self.last_end.max(end);
        if let Some(c) = self.comments.take_trailing(self.src, end) {
            self.out.pop();
            self.out.push(' ');
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.last_end = c.end;
        }
    }

    /// A node printed on one line: comments inside it go above it.
    fn leaf(&mut self, indent: usize, text: &str, span: Span) {
        self.leading(indent, span.start as usize);
        self.inner(indent, span.end as usize);
        self.line(indent, text);
        self.done(span.end as usize);
    }

    /// `header {`, the body one level deeper, `}`. `after` is where the
    /// header's words end (the `{` is looked for from there); `end` is the
    /// node's end, the `}` just before it if the source has one.
    fn block(
        &mut self,
        indent: usize,
        header: &str,
        after: usize,
        end: usize,
        empty: bool,
        body: impl FnOnce(&mut Self),
    ) {
        let open = open_brace(self.src, after);
        let open_end = open.map_or(after, |o| o + 1);
        let close = if self.src[..end].ends_with('}') {
            end - 1
        } else {
            end
        };
        self.inner(indent, open.unwrap_or(after));
        let brace = if header.is_empty() { "{" } else { " {" };
        if empty && !self.comments.any_in(0, close) {
            self.line(indent, &format!("{header}{brace}}}"));
            self.done(end);
            return;
        }
        self.line(indent, &format!("{header}{brace}"));
        self.done(open_end);
        self.fresh = true;
        body(self);
        while let Some(c) = self.comments.take_before(close) {
            self.blank_if_gap(c.offset);
            self.comment_line(indent + 1, &c);
        }
        self.line(indent, "}");
        self.last_end = end;
        self.done(end);
    }

    /// A comma list one item a line: the keyword alone (it ends at
    /// `keyword_end` in the source), then each item with a trailing comma but
    /// the last, one level deeper.
    fn list(&mut self, indent: usize, keyword: &str, keyword_end: usize, items: &[(String, Span)]) {
        self.line(indent, keyword);
        self.done(keyword_end);
        self.fresh = true;
        for (i, (text, span)) in items.iter().enumerate() {
            let comma = if i + 1 < items.len() { "," } else { "" };
            self.leaf(indent + 1, &format!("{text}{comma}"), *span);
        }
    }

    fn fits(indent: usize, line: &str) -> bool {
        indent * 2 + line.chars().count() <= WIDTH
    }

    // ------------------------------------------------------------- declarations

    fn module(&mut self, m: &Module) {
        let mut prev: Option<&Item> = None;
        for item in &m.items {
            let grouped = matches!((prev, item), (Some(Item::Function(_)), Item::Function(_)));
            self.force_blank = prev.is_some() && !grouped;
            self.item(item);
            prev = Some(item);
        }
    }

    fn docs(&mut self, indent: usize, docs: &[String]) {
        for d in docs {
            if d.is_empty() {
                self.line(indent, "///");
            } else {
                self.line(indent, &format!("/// {d}"));
            }
        }
    }

    fn item(&mut self, item: &Item) {
        let span = item.span();
        self.leading(0, span.start as usize);
        match item {
            Item::Decl(d) => {
                self.docs(0, &d.docs);
                let header = format!("{} {}", d.kind.keyword(), d.name.name);
                let after = d.name.span.end as usize;
                self.block(
                    0,
                    &header,
                    after,
                    span.end as usize,
                    d.clauses.is_empty(),
                    |p| {
                        for c in &d.clauses {
                            p.clause(1, c);
                        }
                    },
                );
            }
            Item::Function(f) => {
                self.docs(0, &f.docs);
                let kind = match f.kind {
                    FunctionKind::Scalar => "",
                    FunctionKind::Aggregate => "aggregate ",
                    FunctionKind::Window => "window ",
                };
                let text = format!(
                    "{kind}function {}({}) -> {}",
                    f.name.name,
                    params(&f.params),
                    type_expr(&f.ret)
                );
                self.inner(0, span.end as usize);
                self.line(0, &text);
                self.done(span.end as usize);
            }
            Item::Check(c) => {
                self.docs(0, &c.docs);
                let text = format!(
                    "check {}({}) = {}",
                    c.name.name,
                    params(&c.params),
                    expr::expr(&c.body)
                );
                self.inner(0, span.end as usize);
                self.line(0, &text);
                self.done(span.end as usize);
            }
        }
    }

    // ------------------------------------------------------------------ clauses

    fn clause(&mut self, indent: usize, c: &Clause) {
        let (start, end) = (c.span.start as usize, c.span.end as usize);
        let after = start + c.kind.keyword().len();
        match &c.kind {
            ClauseKind::Columns(cols) => {
                self.leading(indent, start);
                self.block(indent, "columns", after, end, cols.is_empty(), |p| {
                    for col in cols {
                        p.column(indent + 1, col);
                    }
                });
            }
            ClauseKind::Compute(steps) => {
                self.leading(indent, start);
                self.block(indent, "compute", after, end, steps.is_empty(), |p| {
                    for s in steps {
                        p.step(indent + 1, s);
                    }
                });
            }
            ClauseKind::Quality(rules) => {
                self.leading(indent, start);
                self.block(indent, "quality", after, end, rules.is_empty(), |p| {
                    for r in rules {
                        p.leaf(indent + 1, &quality_rule(r), r.span);
                    }
                });
            }
            ClauseKind::Reconcile(rules) => {
                self.leading(indent, start);
                self.block(indent, "reconcile", after, end, rules.is_empty(), |p| {
                    for r in rules {
                        p.leaf(indent + 1, &reconcile_rule(r), r.span);
                    }
                });
            }
            ClauseKind::Corrections(rules) => {
                self.leading(indent, start);
                self.block(indent, "corrections", after, end, rules.is_empty(), |p| {
                    for r in rules {
                        p.leaf(indent + 1, &correction_rule(r), r.span);
                    }
                });
            }
            kind => self.leaf(indent, &clause_line(kind), c.span),
        }
    }

    fn column(&mut self, indent: usize, col: &Column) {
        self.leading(indent, col.span.start as usize);
        self.docs(indent, &col.docs);
        let text = format!("{}: {}", col.name.name, type_expr(&col.ty));
        self.inner(indent, col.span.end as usize);
        self.line(indent, &text);
        self.done(col.span.end as usize);
    }

    // -------------------------------------------------------------------- steps

    fn step(&mut self, indent: usize, s: &Step) {
        let (start, end) = (s.span.start as usize, s.span.end as usize);
        match &s.kind {
            StepKind::Select(items) => {
                let items: Vec<(String, Span)> = items.iter().map(named).collect();
                let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
                let one = format!("select {}", texts.join(", "));
                let one_line = Self::fits(indent, &one) && !self.comments.any_in(start, end);
                if one_line {
                    self.leaf(indent, &one, s.span);
                } else {
                    self.leading(indent, start);
                    self.list(indent, "select", start + "select".len(), &items);
                }
            }
            StepKind::Derive { assignments } => {
                let items: Vec<(String, Span)> = assignments.iter().map(assignment).collect();
                let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
                let one = format!("derive {}", texts.join(", "));
                let one_line = !items.is_empty()
                    && Self::fits(indent, &one)
                    && !self.comments.any_in(start, end);
                self.leading(indent, start);
                if one_line {
                    self.leaf(indent, &one, s.span);
                } else {
                    let after = start + "derive".len();
                    self.block(indent, "derive", after, end, items.is_empty(), |p| {
                        for (text, span) in &items {
                            p.leaf(indent + 1, text, *span);
                        }
                    });
                }
            }
            StepKind::Group { keys, aggregates } => {
                let keys: Vec<(String, Span)> = keys.iter().map(named).collect();
                let texts: Vec<&str> = keys.iter().map(|(t, _)| t.as_str()).collect();
                let one = format!("group by {} {{", texts.join(", "));
                let keys_end = keys.last().map_or(start, |(_, sp)| sp.end as usize);
                let one_line = Self::fits(indent, &one) && !self.comments.any_in(start, keys_end);
                self.leading(indent, start);
                let header = if one_line {
                    format!("group by {}", texts.join(", "))
                } else {
                    let by = self.src[start..]
                        .find("by")
                        .map_or(start, |i| start + i + 2);
                    self.list(indent, "group by", by, &keys);
                    String::new()
                };
                let aggs: Vec<(String, Span)> = aggregates.iter().map(assignment).collect();
                self.block(indent, &header, keys_end, end, aggs.is_empty(), |p| {
                    for (text, span) in &aggs {
                        p.leaf(indent + 1, text, *span);
                    }
                });
            }
            StepKind::Aggregate(aggregates) => {
                let aggs: Vec<(String, Span)> = aggregates.iter().map(assignment).collect();
                self.leading(indent, start);
                let after = start + "aggregate".len();
                self.block(indent, "aggregate", after, end, aggs.is_empty(), |p| {
                    for (text, span) in &aggs {
                        p.leaf(indent + 1, text, *span);
                    }
                });
            }
            kind => self.leaf(indent, &step_line(kind), s.span),
        }
    }
}
