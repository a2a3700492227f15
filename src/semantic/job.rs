//! Lowers what a dataset computes — `compute`, `quality`, `reconcile`, the
//! input boundaries and `as of` bindings — to the checked [`Job`], and what a
//! source or reference says about reading it to [`Access`]. Runs after the
//! checks, on a program that checked clean, so every name resolves; types
//! come from the table the checker filled in.

use rustc_hash::FxHashMap as HashMap;

use super::hir::{self, Access, CallKind, Job, Lit, Lock, Named, Step, Tolerance};
use super::ty::T;
use super::Symbols;
use crate::syntax::ast::{
    self, BindPolicy, ClauseKind, DurationUnit, ExprKind, FunctionKind, InputBound, Literal,
    Severity, StepKind,
};
use crate::syntax::fmt::expr::expr as show;
use crate::syntax::span::Span;

/// Counters a quality rule or reconciliation may read.
const COUNTERS: &[&str] = &["input", "accepted", "quarantined", "duplicates", "output"];

pub fn access(d: &ast::Decl) -> Access {
    let mut a = Access::default();
    for c in &d.clauses {
        match &c.kind {
            ClauseKind::Snapshot(col) => a.lock = Some(Lock::Snapshot(col.name.clone())),
            ClauseKind::Cursor(cols) => {
                a.lock = Some(Lock::Cursor(cols.iter().map(|c| c.name.clone()).collect()))
            }
            ClauseKind::Clock(bindings) => a
                .clocks
                .extend(bindings.iter().map(|b| (b.kind, b.column.name.clone()))),
            ClauseKind::Validity { from, to } => {
                a.validity = Some((from.name.clone(), to.name.clone()))
            }
            ClauseKind::VersionedBy(col) => a.versioned_by = Some(col.name.clone()),
            ClauseKind::Versions(vs) => a.versions = vs.iter().map(|v| v.value.clone()).collect(),
            ClauseKind::BadRows { severity, .. } => a.bad_rows = Some(*severity),
            ClauseKind::Seed(path, o) => {
                a.seed = Some(path.value.clone());
                a.seed_format = Some(super::files::csv_format(o));
            }
            _ => {}
        }
    }
    a.files = super::files::lower(d);
    if a.files.is_some() {
        a.lock = Some(Lock::Files);
    }
    a
}

/// What names mean where an expression is lowered.
struct Scope<'a> {
    /// Aliases in scope with their columns.
    aliases: Vec<(&'a str, &'a [super::Col])>,
    /// Columns the pipeline computed, unqualified.
    names: Vec<String>,
    counters: bool,
}

pub struct Lowering<'a> {
    pub symbols: &'a Symbols<'a>,
    pub types: &'a HashMap<Span, T>,
    /// Every declaration's columns, by name.
    pub columns: &'a dyn Fn(&str) -> &'a [super::Col],
}

impl<'a> Lowering<'a> {
    pub fn job(&self, d: &'a ast::Decl) -> Job {
        let mut all: Vec<(&'a str, &'a [super::Col])> = Vec::new();
        let mut job = Job::default();
        for c in &d.clauses {
            match &c.kind {
                ClauseKind::Input(i) => {
                    let cols = (self.columns)(&i.target.name);
                    all.push((&i.alias.name, cols));
                    let own = Scope {
                        aliases: vec![(&i.alias.name, cols)],
                        names: Vec::new(),
                        counters: false,
                    };
                    let bound = match &i.bound {
                        InputBound::Where(e) => Some(strip_alias(self.expr(e, &own))),
                        _ => None,
                    };
                    job.boundaries.push((i.alias.name.clone(), bound));
                }
                ClauseKind::Bind(b) => all.push((&b.alias.name, (self.columns)(&b.target.name))),
                _ => {}
            }
        }
        for c in &d.clauses {
            if let ClauseKind::Bind(b) = &c.kind {
                if let BindPolicy::AsOf(e) = &b.policy {
                    let scope = Scope {
                        aliases: all.clone(),
                        names: Vec::new(),
                        counters: false,
                    };
                    job.as_of.push((b.alias.name.clone(), self.expr(e, &scope)));
                }
            }
        }
        let mut scope = Scope {
            aliases: Vec::new(),
            names: Vec::new(),
            counters: false,
        };
        let mut output: Vec<String> = Vec::new();
        for c in &d.clauses {
            let ClauseKind::Compute(steps) = &c.kind else {
                continue;
            };
            for s in steps {
                let step = match &s.kind {
                    StepKind::From(a) => {
                        scope.aliases.extend(all.iter().filter(|x| x.0 == a.name));
                        Step::From(a.name.clone())
                    }
                    StepKind::Join { left, alias, on } => {
                        scope
                            .aliases
                            .extend(all.iter().filter(|x| x.0 == alias.name));
                        Step::Join {
                            left: *left,
                            alias: alias.name.clone(),
                            on: self.expr(on, &scope),
                        }
                    }
                    StepKind::Where(e) => Step::Where(self.expr(e, &scope)),
                    StepKind::Dedupe { by, order } => Step::Dedupe {
                        by: by.iter().map(|e| self.expr(e, &scope)).collect(),
                        order: self.sort_keys(order, &scope),
                    },
                    StepKind::Derive { assignments } => {
                        let mut named = Vec::new();
                        for a in assignments {
                            named.push(Named {
                                name: a.name.name.clone(),
                                expr: self.expr(&a.expr, &scope),
                            });
                            scope.names.push(a.name.name.clone());
                            output.push(a.name.name.clone());
                        }
                        Step::Derive(named)
                    }
                    StepKind::Group { keys, aggregates } => {
                        let keys = self.named(keys, &scope);
                        let aggregates = self.assignments(aggregates, &scope);
                        output = keys
                            .iter()
                            .chain(&aggregates)
                            .map(|n| n.name.clone())
                            .collect();
                        scope.aliases.clear();
                        scope.names = output.clone();
                        Step::Group { keys, aggregates }
                    }
                    StepKind::Aggregate(aggregates) => {
                        let aggregates = self.assignments(aggregates, &scope);
                        output = aggregates.iter().map(|n| n.name.clone()).collect();
                        scope.aliases.clear();
                        scope.names = output.clone();
                        Step::Aggregate(aggregates)
                    }
                    StepKind::Select(items) => {
                        let items = self.named(items, &scope);
                        output = items.iter().map(|n| n.name.clone()).collect();
                        scope.aliases.clear();
                        scope.names = output.clone();
                        Step::Select(items)
                    }
                };
                job.steps.push(step);
            }
        }
        // Rules and reconciliations see the inputs, the output and the counters.
        let output_scope = Scope {
            aliases: all.clone(),
            names: output_names(d, &job, &all),
            counters: true,
        };
        let mut n = 0;
        for c in &d.clauses {
            match &c.kind {
                ClauseKind::Quality(rules) => {
                    for r in rules {
                        n += 1;
                        job.rules.push(hir::Rule {
                            name: r
                                .name
                                .as_ref()
                                .map_or(format!("rule_{n}"), |i| i.name.clone()),
                            level: r.level,
                            expr: self.expr(&r.expr, &output_scope),
                            severity: r.severity,
                            text: crate::syntax::fmt::line::quality_rule(r),
                        })
                    }
                }
                ClauseKind::Reconcile(rules) => {
                    for r in rules {
                        n += 1;
                        job.reconcile.push(hir::Reconciliation {
                            name: r
                                .name
                                .as_ref()
                                .map_or(format!("reconcile_{n}"), |i| i.name.clone()),
                            expr: self.expr(&r.expr, &output_scope),
                            tolerance: r.tolerance.as_ref().and_then(tolerance),
                            severity: r.severity.map_or(Severity::FailRun, |(s, _)| s),
                            text: show(&r.expr),
                        })
                    }
                }
                _ => {}
            }
        }
        job
    }

    fn named(&self, items: &[ast::NamedExpr], scope: &Scope<'_>) -> Vec<Named> {
        items
            .iter()
            .map(|n| Named {
                name: n
                    .name
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_else(|| self_name(&n.expr)),
                expr: self.expr(&n.expr, scope),
            })
            .collect()
    }

    fn assignments(&self, items: &[ast::Assignment], scope: &Scope<'_>) -> Vec<Named> {
        items
            .iter()
            .map(|a| Named {
                name: a.name.name.clone(),
                expr: self.expr(&a.expr, scope),
            })
            .collect()
    }

    fn sort_keys(&self, keys: &[ast::SortKey], scope: &Scope<'_>) -> Vec<hir::SortKey> {
        keys.iter()
            .map(|k| hir::SortKey {
                expr: self.expr(&k.expr, scope),
                descending: k.descending,
            })
            .collect()
    }

    fn ty(&self, e: &ast::Expr) -> T {
        self.types.get(&e.span).cloned().unwrap_or(T::Unknown)
    }

    fn expr(&self, e: &ast::Expr, scope: &Scope<'_>) -> hir::Expr {
        self.expr_with(e, scope, &[])
    }

    /// Lowers `e`; `params` substitutes the parameters of a reusable check.
    fn expr_with(
        &self,
        e: &ast::Expr,
        scope: &Scope<'_>,
        params: &[(&str, hir::Expr)],
    ) -> hir::Expr {
        let ty = self.ty(e);
        let kind = match &e.kind {
            ExprKind::Paren(inner) => return self.expr_with(inner, scope, params),
            ExprKind::Literal(l) => hir::ExprKind::Lit(literal(l)),
            ExprKind::Ident(name) => {
                if let Some((_, value)) = params.iter().find(|(p, _)| p == name) {
                    return value.clone();
                }
                return ident(name, ty, scope);
            }
            ExprKind::Member(base, col) => match &base.kind {
                ExprKind::Ident(b) if b == "p" => hir::ExprKind::Partition {
                    key: Some(col.name.clone()),
                },
                ExprKind::Ident(b) => hir::ExprKind::Column {
                    alias: Some(b.clone()),
                    name: col.name.clone(),
                },
                _ => hir::ExprKind::Lit(Lit::Null),
            },
            ExprKind::Call(call) => {
                let args: Vec<hir::Expr> = call
                    .args
                    .iter()
                    .map(|a| self.expr_with(a, scope, params))
                    .collect();
                if let Some(check) = self.symbols.check(&call.name.name) {
                    // A reusable check is its body with the arguments in
                    // place; a variadic parameter takes every argument left,
                    // as a list (`x in values`).
                    let mut args = args.into_iter();
                    let bound: Vec<(&str, hir::Expr)> = check
                        .params
                        .iter()
                        .map_while(|p| {
                            let value = if p.variadic {
                                let items: Vec<hir::Expr> = args.by_ref().collect();
                                let ty = items.first().map_or(T::Unknown, |x| x.ty.clone());
                                hir::Expr {
                                    kind: hir::ExprKind::List(items),
                                    ty,
                                }
                            } else {
                                args.next()?
                            };
                            Some((p.name.name.as_str(), value))
                        })
                        .collect();
                    let mut body = self.expr_with(&check.body, scope, &bound);
                    body.ty = T::Bool;
                    return body;
                }
                let kind = match self
                    .symbols
                    .functions(&call.name.name)
                    .and_then(|f| f.first())
                    .map(|f| f.kind)
                {
                    Some(FunctionKind::Aggregate) => CallKind::Aggregate,
                    Some(FunctionKind::Window) => CallKind::Window,
                    _ => CallKind::Scalar,
                };
                hir::ExprKind::Call {
                    name: call.name.name.clone(),
                    kind,
                    args,
                    over: call.over.as_ref().map(|o| hir::Over {
                        partition_by: o
                            .partition_by
                            .iter()
                            .map(|x| self.expr_with(x, scope, params))
                            .collect(),
                        order_by: self.sort_keys(&o.order_by, scope),
                    }),
                }
            }
            ExprKind::Unary(op, inner) => {
                hir::ExprKind::Unary(*op, Box::new(self.expr_with(inner, scope, params)))
            }
            ExprKind::Binary(op, l, r) => hir::ExprKind::Binary(
                *op,
                Box::new(self.expr_with(l, scope, params)),
                Box::new(self.expr_with(r, scope, params)),
            ),
            ExprKind::IsNull { expr, negated } => hir::ExprKind::IsNull {
                expr: Box::new(self.expr_with(expr, scope, params)),
                negated: *negated,
            },
            ExprKind::List(items) => hir::ExprKind::List(
                items
                    .iter()
                    .map(|x| self.expr_with(x, scope, params))
                    .collect(),
            ),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => hir::ExprKind::If {
                cond: Box::new(self.expr_with(cond, scope, params)),
                then: Box::new(self.expr_with(then, scope, params)),
                otherwise: Box::new(self.expr_with(otherwise, scope, params)),
            },
        };
        hir::Expr { kind, ty }
    }
}

/// The name a plain column gives itself in `select units.region`.
fn self_name(e: &ast::Expr) -> String {
    match &e.kind {
        ExprKind::Ident(n) => n.clone(),
        ExprKind::Member(_, c) => c.name.clone(),
        _ => String::new(),
    }
}

/// The columns the output has, for rules: computed, or the first input's
/// plus what was derived when nothing shaped the rows.
fn output_names(d: &ast::Decl, job: &Job, all: &[(&str, &[super::Col])]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut shaped = false;
    for s in &job.steps {
        match s {
            Step::Group { keys, aggregates } => {
                names = keys
                    .iter()
                    .chain(aggregates)
                    .map(|n| n.name.clone())
                    .collect();
                shaped = true;
            }
            Step::Aggregate(a) | Step::Select(a) => {
                names = a.iter().map(|n| n.name.clone()).collect();
                shaped = true;
            }
            Step::Derive(a) => names.extend(a.iter().map(|n| n.name.clone())),
            _ => {}
        }
    }
    if !shaped {
        let first = job.steps.iter().find_map(|s| match s {
            Step::From(a) => Some(a.as_str()),
            _ => None,
        });
        let mut cols: Vec<String> = all
            .iter()
            .find(|x| Some(x.0) == first)
            .map(|x| x.1.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        cols.extend(names);
        names = cols;
    }
    let _ = d;
    names
}

fn ident(name: &str, ty: T, scope: &Scope<'_>) -> hir::Expr {
    let kind = if name == "p" {
        hir::ExprKind::Partition { key: None }
    } else if scope.aliases.iter().any(|a| a.0 == name) {
        hir::ExprKind::Alias(name.to_string())
    } else if scope.counters && COUNTERS.contains(&name) {
        hir::ExprKind::Counter(name.to_string())
    } else if scope.names.iter().any(|n| n == name) {
        hir::ExprKind::Column {
            alias: None,
            name: name.to_string(),
        }
    } else if let Some(a) = scope
        .aliases
        .iter()
        .find(|a| a.1.iter().any(|c| c.name == name))
    {
        hir::ExprKind::Column {
            alias: Some(a.0.to_string()),
            name: name.to_string(),
        }
    } else {
        hir::ExprKind::Variant(name.to_string())
    };
    hir::Expr { kind, ty }
}

/// A boundary speaks of its input's own columns: drop the alias.
fn strip_alias(mut e: hir::Expr) -> hir::Expr {
    e.walk_mut(&mut |x| {
        if let hir::ExprKind::Column { alias, .. } = &mut x.kind {
            *alias = None;
        }
    });
    e
}

fn literal(l: &Literal) -> Lit {
    match l {
        Literal::Integer(i) => Lit::Int(*i),
        Literal::Decimal(d) => Lit::Number(d.clone()),
        Literal::Percent(p) => Lit::Number(percent(p)),
        Literal::Duration(d) => {
            let amount = d.amount as i64;
            let (amount, unit) = match d.unit {
                DurationUnit::Seconds => (amount, hir::DurationUnit::Seconds),
                DurationUnit::Minutes => (amount * 60, hir::DurationUnit::Seconds),
                DurationUnit::Hours => (amount * 3600, hir::DurationUnit::Seconds),
                DurationUnit::Days => (amount, hir::DurationUnit::Days),
                DurationUnit::Weeks => (amount * 7, hir::DurationUnit::Days),
                DurationUnit::Months => (amount, hir::DurationUnit::Months),
                DurationUnit::Years => (amount * 12, hir::DurationUnit::Months),
            };
            Lit::Duration { amount, unit }
        }
        Literal::Date(d) => Lit::Date(d.format("%Y-%m-%d").to_string()),
        Literal::Month { year, month } => Lit::Month(format!("{year:04}-{month:02}")),
        Literal::Timestamp(t) => Lit::Timestamp(t.clone()),
        Literal::String(s) => Lit::String(s.clone()),
        Literal::Bool(b) => Lit::Bool(*b),
        Literal::Null => Lit::Null,
    }
}

/// `20` of `20%` as the exact fraction `0.20`.
fn percent(p: &str) -> String {
    let v: f64 = p.parse().unwrap_or(0.0);
    format!("{}", v / 100.0)
}

fn tolerance(l: &Literal) -> Option<Tolerance> {
    match l {
        Literal::Percent(p) => p
            .parse::<f64>()
            .ok()
            .map(|v| Tolerance::Relative(v / 100.0)),
        Literal::Integer(i) => Some(Tolerance::Absolute(*i as f64)),
        Literal::Decimal(d) => d.parse().ok().map(Tolerance::Absolute),
        _ => None,
    }
}
