//! Parsing one declaration again instead of its whole file.
//!
//! A keystroke changes one declaration. Parsing a file of a hundred
//! datasets takes tens of milliseconds, most of a keystroke's budget; one
//! dataset takes a fraction of one. So when an edit lies inside a single
//! top-level item of a file that parsed cleanly, only that item's new text
//! is parsed, its spans are moved to where it sits in the file, the items
//! after it are moved by the edit's length, and everything else is kept.
//!
//! The result must be the tree a full parse gives, or nothing: the item's
//! text must parse on its own into exactly one item, with no diagnostic,
//! ending where it ended before (moved by the edit). Anything else, an
//! edit touching an item's first or last character, an edit between items,
//! a file that had errors, falls back to the full parse. A test compares
//! the two on edits all over the example files.
//!
//! [`shift`] moves every span of an item. It destructures every node
//! without `..`, so a span added to the AST later is a compile error here,
//! not a position silently left behind.

use crate::syntax::ast::*;
use crate::syntax::span::Span;

/// Brings `module`, the tree of `old_text` (which parsed with no
/// diagnostic), up to date with `new_text` by parsing only the item the
/// edit falls in. Returns `false`, leaving `module` as it was, if the edit
/// is not strictly inside one item or the item does not parse cleanly on
/// its own: then the caller parses the whole file.
pub fn reparse(module: &mut Module, old_text: &str, new_text: &str) -> bool {
    let file = module.file;
    let (old_b, new_b) = (old_text.as_bytes(), new_text.as_bytes());
    let prefix = old_b.iter().zip(new_b).take_while(|(a, b)| a == b).count();
    let max_suffix = old_b.len().min(new_b.len()) - prefix;
    let suffix = old_b
        .iter()
        .rev()
        .zip(new_b.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let old_end = old_b.len() - suffix;
    let delta = new_b.len() as i64 - old_b.len() as i64;
    // The one item the edit lies strictly inside.
    let Some(index) = module.items.iter().position(|item| {
        let s = item.span();
        (s.start as usize) < prefix && old_end < s.end as usize
    }) else {
        return false;
    };
    let span = module.items[index].span();
    let start = span.start as usize;
    let Ok(end) = usize::try_from(span.end as i64 + delta) else {
        return false;
    };
    let Some(text) = new_text.get(start..end) else {
        return false;
    };
    let (mut parsed, diagnostics) = crate::syntax::parse(file, text);
    if !diagnostics.is_empty() || parsed.items.len() != 1 {
        return false;
    }
    let Some(mut item) = parsed.items.pop() else {
        return false;
    };
    if item.span() != Span::new(file, 0, text.len()) {
        return false;
    }
    shift_item(&mut item, start as i64);
    module.items[index] = item;
    for later in &mut module.items[index + 1..] {
        shift_item(later, delta);
    }
    true
}

/// Moves every span of an item by `delta` bytes.
pub fn shift_item(item: &mut Item, delta: i64) {
    if delta == 0 {
        return;
    }
    let mut s = Shift(delta);
    match item {
        Item::Decl(d) => s.decl(d),
        Item::Function(f) => s.function(f),
        Item::Check(c) => s.check(c),
    }
}

struct Shift(i64);

impl Shift {
    fn span(&mut self, span: &mut Span) {
        span.start = (span.start as i64 + self.0).max(0) as u32;
        span.end = (span.end as i64 + self.0).max(0) as u32;
    }

    fn ident(&mut self, i: &mut Ident) {
        let Ident { name: _, span } = i;
        self.span(span);
    }

    fn idents(&mut self, ids: &mut [Ident]) {
        ids.iter_mut().for_each(|i| self.ident(i));
    }

    fn csv_options(&mut self, o: &mut CsvOptions) {
        let CsvOptions {
            delimiter,
            quote,
            null,
            encoding,
            no_header,
        } = o;
        for v in [delimiter, quote, null, encoding].into_iter().flatten() {
            self.str_lit(v);
        }
        if let Some(s) = no_header {
            self.span(s);
        }
    }

    fn str_lit(&mut self, s: &mut StrLit) {
        let StrLit { value: _, span } = s;
        self.span(span);
    }

    fn duration(&mut self, d: &mut DurationLit) {
        let DurationLit {
            amount: _,
            unit: _,
            span,
        } = d;
        self.span(span);
    }

    fn type_expr(&mut self, t: &mut TypeExpr) {
        let TypeExpr {
            ty,
            nullable: _,
            span,
        } = t;
        self.span(span);
        match ty {
            Type::Enum(values) => self.idents(values),
            Type::String
            | Type::Int
            | Type::Float
            | Type::Bool
            | Type::Date
            | Type::Timestamp
            | Type::Month
            | Type::Week
            | Type::Quarter
            | Type::Year
            | Type::Duration
            | Type::Decimal { .. }
            | Type::Any
            | Type::Numeric
            | Type::Var(_)
            | Type::Error => {}
        }
    }

    fn params(&mut self, params: &mut [Param]) {
        for p in params {
            let Param {
                name,
                ty,
                variadic: _,
            } = p;
            self.ident(name);
            self.type_expr(ty);
        }
    }

    fn function(&mut self, f: &mut FunctionDecl) {
        let FunctionDecl {
            docs: _,
            kind: _,
            name,
            params,
            ret,
            span,
        } = f;
        self.ident(name);
        self.params(params);
        self.type_expr(ret);
        self.span(span);
    }

    fn check(&mut self, c: &mut CheckDecl) {
        let CheckDecl {
            docs: _,
            name,
            params,
            body,
            span,
        } = c;
        self.ident(name);
        self.params(params);
        self.expr(body);
        self.span(span);
    }

    fn decl(&mut self, d: &mut Decl) {
        let Decl {
            kind: _,
            docs: _,
            name,
            clauses,
            span,
        } = d;
        self.ident(name);
        self.span(span);
        for c in clauses {
            let Clause { kind, span } = c;
            self.span(span);
            self.clause(kind);
        }
    }

    fn clause(&mut self, kind: &mut ClauseKind) {
        match kind {
            ClauseKind::Table(s) => self.str_lit(s),
            ClauseKind::Columns(cols) => {
                for c in cols {
                    let Column {
                        docs: _,
                        name,
                        ty,
                        span,
                    } = c;
                    self.ident(name);
                    self.type_expr(ty);
                    self.span(span);
                }
            }
            ClauseKind::Key(ids) | ClauseKind::Cursor(ids) => self.idents(ids),
            ClauseKind::Clock(bindings) => {
                for b in bindings {
                    let ClockBinding {
                        kind: _,
                        column,
                        span,
                    } = b;
                    self.ident(column);
                    self.span(span);
                }
            }
            ClauseKind::Snapshot(id) | ClauseKind::VersionedBy(id) => self.ident(id),
            ClauseKind::MaxLateness(d) => self.duration(d),
            ClauseKind::Validity { from, to } => {
                self.ident(from);
                self.ident(to);
            }
            ClauseKind::Versions(vs) => vs.iter_mut().for_each(|v| self.str_lit(v)),
            ClauseKind::Version { number: _, span } => self.span(span),
            ClauseKind::BadRows { severity: _, span } => self.span(span),
            ClauseKind::ChangedFiles { replace: _, span } => self.span(span),
            ClauseKind::Seed(path, o) => {
                self.str_lit(path);
                self.csv_options(o);
            }
            ClauseKind::Files(FileSpec { glob, format }) => {
                self.str_lit(glob);
                if let FileFormat::Csv(o) = format {
                    self.csv_options(o);
                }
            }
            ClauseKind::Partition(keys) => {
                for k in keys {
                    let PartitionKey { name, kind, span } = k;
                    self.ident(name);
                    self.span(span);
                    match kind {
                        PartitionType::Column(t) => self.type_expr(t),
                        PartitionType::Hash { column, buckets: _ } => self.ident(column),
                        PartitionType::Run(span) => self.span(span),
                    }
                }
            }
            ClauseKind::Publish(_) | ClauseKind::Restate(_) => {}
            ClauseKind::Schedule(s) => {
                let Schedule {
                    cadence: _,
                    on,
                    at,
                    time_zone,
                    lookback,
                    sla,
                } = s;
                match on {
                    Some(ScheduleDay::DayOfMonth(_, span)) => self.span(span),
                    Some(ScheduleDay::Weekday(day)) => self.ident(day),
                    None => {}
                }
                if let Some(at) = at {
                    self.str_lit(at);
                }
                if let Some(tz) = time_zone {
                    self.str_lit(tz);
                }
                if let Some(d) = lookback {
                    self.duration(d);
                }
                if let Some(d) = sla {
                    self.duration(d);
                }
            }
            ClauseKind::Input(i) => {
                let Input {
                    alias,
                    target,
                    clock,
                    bound,
                } = i;
                self.ident(alias);
                self.ident(target);
                if let Some((_, span)) = clock {
                    self.span(span);
                }
                match bound {
                    InputBound::Unbounded => {}
                    InputBound::Where(e) => self.expr(e),
                    InputBound::AllHistory(span) => self.span(span),
                }
            }
            ClauseKind::Bind(b) => {
                let Bind {
                    alias,
                    target,
                    policy,
                    policy_span,
                } = b;
                self.ident(alias);
                self.ident(target);
                self.span(policy_span);
                match policy {
                    BindPolicy::AsOf(e) => self.expr(e),
                    BindPolicy::Pinned(v) => self.str_lit(v),
                    BindPolicy::Latest { reason } => {
                        if let Some(r) = reason {
                            self.str_lit(r);
                        }
                    }
                    BindPolicy::ProcessingTime | BindPolicy::ReportClose => {}
                }
            }
            ClauseKind::Compute(steps) => {
                for s in steps {
                    let Step { kind, span } = s;
                    self.span(span);
                    self.step(kind);
                }
            }
            ClauseKind::Quality(rules) => {
                for r in rules {
                    let QualityRule {
                        level: _,
                        name,
                        expr,
                        severity: _,
                        severity_span,
                        span,
                    } = r;
                    if let Some(n) = name {
                        self.ident(n);
                    }
                    self.expr(expr);
                    self.span(severity_span);
                    self.span(span);
                }
            }
            ClauseKind::Reconcile(rules) => {
                for r in rules {
                    let ReconcileRule {
                        name,
                        expr,
                        tolerance,
                        tolerance_span,
                        severity,
                        span,
                    } = r;
                    if let Some(n) = name {
                        self.ident(n);
                    }
                    self.expr(expr);
                    if let Some(t) = tolerance {
                        self.literal(t);
                    }
                    if let Some(s) = tolerance_span {
                        self.span(s);
                    }
                    if let Some((_, s)) = severity {
                        self.span(s);
                    }
                    self.span(span);
                }
            }
            ClauseKind::Corrections(rules) => {
                for r in rules {
                    let CorrectionRule {
                        class: _,
                        action: _,
                        span,
                    } = r;
                    self.span(span);
                }
            }
            ClauseKind::ClosedAfter(e) => self.expr(e),
            ClauseKind::Allow { code, reason } => {
                self.ident(code);
                self.str_lit(reason);
            }
        }
    }

    fn assignment(&mut self, a: &mut Assignment) {
        let Assignment { name, expr, span } = a;
        self.ident(name);
        self.expr(expr);
        self.span(span);
    }

    fn named(&mut self, n: &mut NamedExpr) {
        let NamedExpr { name, expr, span } = n;
        if let Some(name) = name {
            self.ident(name);
        }
        self.expr(expr);
        self.span(span);
    }

    fn sort_keys(&mut self, keys: &mut [SortKey]) {
        for k in keys {
            let SortKey {
                expr,
                descending: _,
            } = k;
            self.expr(expr);
        }
    }

    fn step(&mut self, kind: &mut StepKind) {
        match kind {
            StepKind::From(alias) => self.ident(alias),
            StepKind::Where(e) => self.expr(e),
            StepKind::Join { left: _, alias, on } => {
                self.ident(alias);
                self.expr(on);
            }
            StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => {
                assignments.iter_mut().for_each(|a| self.assignment(a))
            }
            StepKind::Group { keys, aggregates } => {
                keys.iter_mut().for_each(|k| self.named(k));
                aggregates.iter_mut().for_each(|a| self.assignment(a));
            }
            StepKind::Select(items) => items.iter_mut().for_each(|k| self.named(k)),
            StepKind::Dedupe { by, order } => {
                by.iter_mut().for_each(|e| self.expr(e));
                self.sort_keys(order);
            }
        }
    }

    fn literal(&mut self, l: &mut Literal) {
        match l {
            Literal::Duration(d) => self.duration(d),
            Literal::Integer(_)
            | Literal::Decimal(_)
            | Literal::Percent(_)
            | Literal::Date(_)
            | Literal::Month { .. }
            | Literal::Timestamp(_)
            | Literal::String(_)
            | Literal::Bool(_)
            | Literal::Null => {}
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        let Expr { kind, span } = e;
        self.span(span);
        match kind {
            ExprKind::Literal(l) => self.literal(l),
            ExprKind::Ident(_) => {}
            ExprKind::Member(inner, field) => {
                self.expr(inner);
                self.ident(field);
            }
            ExprKind::Call(c) => {
                let Call { name, args, over } = &mut **c;
                self.ident(name);
                args.iter_mut().for_each(|a| self.expr(a));
                if let Some(o) = over {
                    let Over {
                        partition_by,
                        order_by,
                    } = o;
                    partition_by.iter_mut().for_each(|x| self.expr(x));
                    self.sort_keys(order_by);
                }
            }
            ExprKind::Unary(_, x) | ExprKind::Paren(x) => self.expr(x),
            ExprKind::IsNull { expr, negated: _ } => self.expr(expr),
            ExprKind::Binary(_, l, r) => {
                self.expr(l);
                self.expr(r);
            }
            ExprKind::List(items) => items.iter_mut().for_each(|x| self.expr(x)),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::span::FileId;

    fn full(text: &str) -> (serde_json::Value, bool) {
        let (m, d) = crate::syntax::parse(FileId(3), text);
        (serde_json::to_value(&m).expect("serializes"), d.is_empty())
    }

    /// Every example file, edited at many places in several ways: wherever
    /// the incremental path answers, it answers what a full parse does.
    #[test]
    fn reparsing_one_item_gives_the_tree_of_a_full_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for dir in ["examples", "stdlib"] {
            for path in crate::project::bpl_files(&root.join(dir)).expect("readable") {
                texts.push(std::fs::read_to_string(path).expect("readable"));
            }
        }
        assert!(texts.len() > 10);
        let edits: &[(&str, usize)] = &[
            ("x", 0),
            ("", 1),
            ("\n  ", 0),
            ("é", 0),
            ("", 3),
            (" }", 0),
            ("(", 0),
        ];
        let (mut fast, mut slow) = (0, 0);
        for text in &texts {
            let (old, clean) = crate::syntax::parse(FileId(3), text);
            assert!(clean.is_empty());
            let step = (text.len() / 30).max(1);
            for at in (0..text.len())
                .step_by(step)
                .filter(|&i| text.is_char_boundary(i))
            {
                for (insert, remove) in edits {
                    let cut = (at + remove).min(text.len());
                    if !text.is_char_boundary(cut) {
                        continue;
                    }
                    let new = format!("{}{insert}{}", &text[..at], &text[cut..]);
                    let mut m = old.clone();
                    if reparse(&mut m, text, &new) {
                        fast += 1;
                        let (expected, expected_clean) = full(&new);
                        assert!(
                            expected_clean,
                            "a clean reparse of a text with errors:\n{new}"
                        );
                        assert_eq!(
                            serde_json::to_value(&m).expect("serializes"),
                            expected,
                            "edit at {at}: {insert:?}"
                        );
                    } else {
                        slow += 1;
                    }
                }
            }
        }
        // Many of these edits break the syntax (those take the full parse),
        // but most keystrokes inside a declaration take the fast path.
        assert!(
            fast * 3 > fast + slow,
            "the fast path ran {fast} times, the full parse {slow}"
        );
    }
}
