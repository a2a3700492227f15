//! One dataset's pipeline, step by step: the class of every expression,
//! and the `sum`s that roll up a column that does not add up.

use super::{overlap, spread, Columns, Measure};
use crate::diagnostic::{codes, Diagnostic};
use crate::semantic::columns::output_name;
use crate::semantic::hir::{Additivity, Decl, PartitionKind, Program};
use crate::semantic::Symbols;
use crate::syntax::ast::{self, BinaryOp, ClauseKind, ExprKind, FunctionKind, StepKind};
use crate::syntax::span::Span;
use crate::syntax::visit::walk_expr;

/// An input or binding as one dataset reads it.
struct Alias<'p> {
    name: &'p str,
    /// The target's columns; `None` for a reference (attributes only) or a
    /// target whose columns are unknown.
    columns: Option<&'p Columns>,
    reference: bool,
    /// How one output partition reads several partitions of it, if it does.
    spread: Option<String>,
    /// How one partition of it feeds several output partitions, if it does.
    overlap: Option<String>,
}

/// Where an expression is evaluated.
#[derive(Clone, Copy, PartialEq)]
enum At {
    Row,
    /// Once per group: columns outside an aggregate are grouping keys.
    Group,
    InAggregate,
}

/// What an expression read: the first input it rolls up over several of its
/// partitions, and the first column of such an input that does not add up
/// (indices into `Walk::aliases`).
#[derive(Debug, Clone, Default)]
struct Reads {
    spread: Option<usize>,
    wrong: Option<(usize, String)>,
}

impl Reads {
    fn merge(&mut self, other: &Reads) {
        if self.spread.is_none() {
            self.spread = other.spread;
        }
        if self.wrong.is_none() {
            self.wrong.clone_from(&other.wrong);
        }
    }
}

pub(super) struct Walk<'p, 's, 'd> {
    /// The dataset's whole declaration: labels made inside it are its own.
    span: Span,
    aliases: Vec<Alias<'p>>,
    /// Indices into `aliases` of the inputs whose rows the pipeline reads.
    rows: Vec<usize>,
    /// Derived and computed columns, in order.
    names: Vec<Name>,
    /// Before the first `group`, `aggregate` or `select`.
    row_stage: bool,
    /// The name of the output's time partition key, if it has one.
    time_key: Option<&'p str>,
    symbols: &'s Symbols<'s>,
    diags: &'d mut Vec<Diagnostic>,
}

impl<'p, 's, 'd> Walk<'p, 's, 'd> {
    pub(super) fn new(
        ast: &'p ast::Decl,
        decl: &'p Decl,
        program: &'p Program,
        classes: &'p [Option<Columns>],
        symbols: &'s Symbols<'s>,
        diags: &'d mut Vec<Diagnostic>,
    ) -> Walk<'p, 's, 'd> {
        let mut aliases = Vec::new();
        for i in &decl.inputs {
            let target = program.get(i.target);
            aliases.push(Alias {
                name: &i.alias,
                columns: classes[i.target.0 as usize].as_ref(),
                reference: false,
                spread: spread(&i.mapping, decl, target, &i.alias),
                overlap: overlap(&i.mapping, decl, target, &i.alias),
            });
        }
        for b in &decl.binds {
            aliases.push(Alias {
                name: &b.alias,
                columns: None,
                reference: true,
                spread: None,
                overlap: None,
            });
        }
        Walk {
            span: ast.span,
            aliases,
            rows: Vec::new(),
            names: Vec::new(),
            row_stage: true,
            time_key: decl
                .partition
                .iter()
                .find(|k| matches!(k.kind, PartitionKind::Time(_)))
                .map(|k| k.name.as_str()),
            symbols,
            diags,
        }
    }

    /// Walks the pipeline; returns the class of each output column.
    pub(super) fn pipeline(mut self, ast: &'p ast::Decl) -> Columns {
        let steps = ast
            .clauses
            .iter()
            .find_map(|c| match &c.kind {
                ClauseKind::Compute(s) => Some(s.as_slice()),
                _ => None,
            })
            .unwrap_or(&[]);
        let mut output: Option<Vec<(String, Measure)>> = None;
        for step in steps {
            match &step.kind {
                StepKind::From(a) | StepKind::Join { alias: a, .. } => {
                    if let Some(i) = self.aliases.iter().position(|x| x.name == a.name) {
                        self.rows.push(i);
                    }
                }
                StepKind::Where(e) => self.pin(e),
                StepKind::Dedupe { .. } => {}
                StepKind::Derive { assignments } => {
                    for a in assignments {
                        let mut reads = Reads::default();
                        let m = self.eval(&a.expr, At::Row, &mut reads);
                        let shown = self.overlaid(m.clone(), a.expr.span);
                        self.names.push(Name {
                            name: a.name.name.clone(),
                            measure: m,
                            reads,
                        });
                        if let Some(out) = &mut output {
                            out.push((a.name.name.clone(), shown));
                        }
                    }
                }
                StepKind::Group { keys, aggregates } => {
                    let keys = keys
                        .iter()
                        .filter_map(output_name)
                        .map(|n| (n, Measure::of(Additivity::Key)))
                        .collect();
                    self.group(keys, aggregates, &mut output);
                }
                StepKind::Aggregate(aggregates) => {
                    self.group(Vec::new(), aggregates, &mut output);
                }
                StepKind::Select(items) => {
                    let mut cols = Vec::new();
                    for item in items {
                        let Some(name) = output_name(item) else {
                            continue;
                        };
                        let m = self.eval(&item.expr, At::Row, &mut Reads::default());
                        cols.push((name, self.overlaid(m, item.expr.span)));
                    }
                    self.shape(cols, &mut output);
                }
            }
        }
        match output {
            Some(cols) => cols.into_iter().collect(),
            // No shaping step: the first input's columns plus what was derived.
            None => {
                let mut cols = Columns::default();
                if let Some(&first) = self.rows.first() {
                    let alias = &self.aliases[first];
                    for (name, m) in alias.columns.into_iter().flatten() {
                        let span = m.origin.as_ref().map_or(Span::default(), |o| o.0);
                        cols.insert(name.clone(), self.overlaid(m.clone(), span));
                    }
                }
                for n in std::mem::take(&mut self.names) {
                    let span = n.measure.origin.as_ref().map_or(Span::default(), |o| o.0);
                    cols.insert(n.name, self.overlaid(n.measure, span));
                }
                cols
            }
        }
    }

    /// `where ledger.value_date == p` keeps, of a wider window, the rows of
    /// the partition's own: each row then feeds one output partition only.
    fn pin(&mut self, e: &ast::Expr) {
        match &e.kind {
            ExprKind::Paren(x) => self.pin(x),
            ExprKind::Binary(BinaryOp::And, l, r) => {
                self.pin(l);
                self.pin(r);
            }
            ExprKind::Binary(BinaryOp::Eq, l, r) => {
                let side = if self.is_p(r) {
                    l
                } else if self.is_p(l) {
                    r
                } else {
                    return;
                };
                let mut read = Vec::new();
                walk_expr(side, &mut |x| match &x.kind {
                    ExprKind::Ident(n) if n == "p" => read.push(usize::MAX),
                    // An unqualified column: the input that has it.
                    ExprKind::Ident(n) => read.extend(self.rows.iter().copied().filter(|&i| {
                        self.aliases[i]
                            .columns
                            .is_some_and(|c| c.contains_key(n.as_str()))
                    })),
                    ExprKind::Member(base, _) => {
                        if let ExprKind::Ident(b) = &base.kind {
                            if let Some(i) = self.aliases.iter().position(|a| a.name == b.as_str())
                            {
                                read.push(i);
                            }
                        }
                    }
                    _ => {}
                });
                read.sort_unstable();
                read.dedup();
                if let [i] = read[..] {
                    if i != usize::MAX {
                        self.aliases[i].overlap = None;
                    }
                }
            }
            _ => {}
        }
    }

    /// `p`, or `p.key` of the time key: the output partition itself.
    fn is_p(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Paren(x) => self.is_p(x),
            ExprKind::Ident(n) => n == "p" && self.time_key.is_some(),
            ExprKind::Member(base, key) => {
                matches!(&base.kind, ExprKind::Ident(n) if n == "p")
                    && self.time_key == Some(key.name.as_str())
            }
            _ => false,
        }
    }

    /// `group by` (or `aggregate`, without keys): the keys, then each
    /// aggregate's class.
    fn group(
        &mut self,
        mut cols: Vec<(String, Measure)>,
        aggregates: &[ast::Assignment],
        output: &mut Option<Vec<(String, Measure)>>,
    ) {
        for a in aggregates {
            let m = self.eval(&a.expr, At::Group, &mut Reads::default());
            cols.push((a.name.name.clone(), self.overlaid(m, a.expr.span)));
        }
        self.shape(cols, output);
    }

    /// After a shaping step only its columns are in scope.
    fn shape(&mut self, cols: Vec<(String, Measure)>, output: &mut Option<Vec<(String, Measure)>>) {
        self.row_stage = false;
        self.rows.clear();
        self.names = cols
            .iter()
            .map(|(name, measure)| Name {
                name: name.clone(),
                measure: measure.clone(),
                reads: Reads::default(),
            })
            .collect();
        *output = Some(cols);
    }

    /// A figure computed from rows that other partitions read too overlaps
    /// them, whatever it was.
    fn overlaid(&self, m: Measure, span: Span) -> Measure {
        if !self.row_stage || matches!(m.class, Additivity::Key | Additivity::Overlapping) {
            return m;
        }
        let Some(window) = self
            .rows
            .iter()
            .find_map(|&i| self.aliases[i].overlap.as_deref())
        else {
            return m;
        };
        let what = match &m.origin {
            Some((at, what)) if self.owns(*at) => what.as_str(),
            _ => "a value",
        };
        Measure::because(
            Additivity::Overlapping,
            span,
            format!("{what} over {window}"),
        )
    }

    /// Whether a span lies in this dataset's declaration.
    fn owns(&self, at: Span) -> bool {
        at.file == self.span.file && self.span.start <= at.start && at.end <= self.span.end
    }

    fn eval(&mut self, e: &ast::Expr, at: At, reads: &mut Reads) -> Measure {
        use Additivity::{Key, NonAdditive, Row};
        match &e.kind {
            ExprKind::Literal(_) => Measure::of(Key),
            ExprKind::Paren(x) => self.eval(x, at, reads),
            ExprKind::Ident(n) if n == "p" => Measure::of(Key),
            ExprKind::Ident(n) => self.name(n, at, reads),
            ExprKind::Member(base, col) => match &base.kind {
                ExprKind::Ident(b) if b == "p" => Measure::of(Key),
                ExprKind::Ident(b) => {
                    match self.aliases.iter().position(|a| a.name == b.as_str()) {
                        Some(i) => self.column(i, &col.name, at, reads),
                        None => Measure::of(Key),
                    }
                }
                _ => self.eval(base, at, reads),
            },
            ExprKind::Call(c) => self.call(c, e.span, at, reads),
            ExprKind::Unary(ast::UnaryOp::Neg, x) => self.eval(x, at, reads),
            ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } => {
                self.eval(x, at, reads);
                Measure::of(Row)
            }
            ExprKind::Binary(op, l, r) => {
                let l = self.eval(l, at, reads);
                let r = self.eval(r, at, reads);
                let made = |why: &str| Measure::because(NonAdditive, e.span, why.to_string());
                match op {
                    BinaryOp::Add | BinaryOp::Sub => l.or_worse(r),
                    BinaryOp::Mul if l.is_figure() && r.is_figure() => {
                        made("a product of two figures").or_worse(l).or_worse(r)
                    }
                    BinaryOp::Div if r.is_figure() => made("a ratio").or_worse(l).or_worse(r),
                    BinaryOp::Mul | BinaryOp::Div => l.or_worse(r),
                    _ => Measure::of(Row),
                }
            }
            ExprKind::List(items) => items
                .iter()
                .fold(Measure::of(Key), |m, x| m.or_worse(self.eval(x, at, reads))),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.eval(cond, at, reads);
                let then = self.eval(then, at, reads);
                then.or_worse(self.eval(otherwise, at, reads))
            }
        }
    }

    /// An unqualified name: a derived or computed column, or the column of
    /// the one input that has it.
    fn name(&mut self, n: &str, at: At, reads: &mut Reads) -> Measure {
        if at == At::Group {
            return Measure::of(Additivity::Key);
        }
        if let Some(found) = self.names.iter().rev().find(|x| x.name == n) {
            reads.merge(&found.reads);
            return found.measure.clone();
        }
        let owners: Vec<usize> = self
            .rows
            .iter()
            .copied()
            .filter(|&i| self.aliases[i].columns.is_some_and(|c| c.contains_key(n)))
            .collect();
        match owners.as_slice() {
            [i] => self.column(*i, n, at, reads),
            _ => Measure::of(Additivity::Key),
        }
    }

    fn column(&mut self, i: usize, col: &str, at: At, reads: &mut Reads) -> Measure {
        let alias = &self.aliases[i];
        if at == At::Group || alias.reference {
            return Measure::of(Additivity::Key);
        }
        let m = alias
            .columns
            .and_then(|c| c.get(col))
            .cloned()
            .unwrap_or(Measure::of(Additivity::Row));
        if alias.spread.is_some() {
            reads.spread.get_or_insert(i);
            if m.class.sums_wrongly() && reads.wrong.is_none() {
                reads.wrong = Some((i, col.to_string()));
            }
        }
        m
    }

    fn call(&mut self, c: &ast::Call, span: Span, at: At, reads: &mut Reads) -> Measure {
        use Additivity::{Additive, Key, NonAdditive, Row};
        let name = c.name.name.as_str();
        let kind = self
            .symbols
            .functions(name)
            .and_then(|f| f.first())
            .map(|f| f.kind);
        if c.over.is_some() || kind == Some(FunctionKind::Window) {
            for a in &c.args {
                self.eval(a, At::Row, reads);
            }
            return Measure::because(NonAdditive, span, "a window function".to_string());
        }
        if kind == Some(FunctionKind::Aggregate) && at != At::Row {
            let mut inner = Reads::default();
            let mut args: Vec<Measure> = c
                .args
                .iter()
                .map(|a| self.eval(a, At::InAggregate, &mut inner))
                .collect();
            return match name {
                "sum" => {
                    let m = if args.is_empty() {
                        Measure::of(Row)
                    } else {
                        args.swap_remove(0)
                    };
                    // Wrong when the rolled-up input's own column does not add
                    // up, or this dataset made it so (a ratio of its columns).
                    let made_here = m.origin.as_ref().is_some_and(|(at, _)| self.owns(*at));
                    if let (true, Some(rolled)) = (m.class.sums_wrongly(), inner.spread) {
                        if inner.wrong.is_some() || made_here {
                            self.report(span, &m, rolled, inner.wrong.take());
                        }
                    }
                    if m.is_figure() {
                        m
                    } else {
                        Measure::because(Additive, span, "a sum".to_string())
                    }
                }
                "count" | "row_count" => Measure::because(Additive, span, "a count".to_string()),
                _ => Measure::because(NonAdditive, span, noun(name)),
            };
        }
        if kind.is_none() && self.symbols.check(name).is_some() {
            for a in &c.args {
                self.eval(a, at, reads);
            }
            return Measure::of(Row);
        }
        c.args
            .iter()
            .fold(Measure::of(Key), |m, a| m.or_worse(self.eval(a, at, reads)))
    }

    /// E0140 or E0141 at a `sum` that rolls up a value that does not add up.
    fn report(&mut self, span: Span, m: &Measure, rolled: usize, wrong: Option<(usize, String)>) {
        let alias = &self.aliases[rolled];
        let what = match &wrong {
            Some((i, col)) => format!("`{}.{col}`", self.aliases[*i].name),
            None => m
                .origin
                .as_ref()
                .map_or_else(|| "this value".to_string(), |(_, why)| why.clone()),
        };
        let overlapping = m.class == Additivity::Overlapping;
        let (code, message, help) = if overlapping {
            (
                codes::E0141,
                format!("summing {what} across partitions counts the same rows more than once"),
                format!("each partition of `{}` already counts the rows of its whole window, so a sum over several of them counts a row once for every window it falls in: roll up from a dataset computed over each partition's own rows (`where business_date == p`), or compute the figure from the rows over the whole roll-up, e.g. `count_distinct(...)` over the source; if the sum is meant, say why: `allow E0141 because \"...\"`", alias.name),
            )
        } else {
            (
                codes::E0140,
                format!("summing {what} across partitions does not add up"),
                "a distinct count, an average, a ratio, a minimum or a maximum of several partitions is not the sum of theirs: compute it from the rows over the whole roll-up, e.g. `count_distinct(...)` over the source, or sum its additive parts and combine them after (`sum(breaches) / sum(closed)`, not `sum(breach_rate)`); if the sum is meant, say why: `allow E0140 because \"...\"`".to_string(),
            )
        };
        let mut d = Diagnostic::new(code, message).primary(
            span,
            format!(
                "adds up {}",
                alias.spread.as_deref().unwrap_or("several partitions")
            ),
        );
        if let Some((at, why)) = &m.origin {
            d = d.secondary(
                *at,
                match &wrong {
                    Some((_, col)) => format!("`{col}` is {why}"),
                    None => why.clone(),
                },
            );
        }
        self.diags.push(d.help(help));
    }
}

/// A derived or computed column in scope.
struct Name {
    name: String,
    measure: Measure,
    reads: Reads,
}

/// What an aggregate computes, for labels.
fn noun(function: &str) -> String {
    match function {
        "count_distinct" => "a distinct count".to_string(),
        "avg" => "an average".to_string(),
        "min" => "a minimum".to_string(),
        "max" => "a maximum".to_string(),
        "percentile" => "a percentile".to_string(),
        "null_rate" => "a rate".to_string(),
        other => format!("a `{other}`"),
    }
}
