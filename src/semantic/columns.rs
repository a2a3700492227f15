//! Column resolution: every name in a boundary, binding, pipeline step,
//! quality rule and reconciliation resolves to a column of an input, a
//! binding, a derived column, the output or the partition `p`; the output a
//! pipeline computes matches the columns the dataset declares.
//!
//! A dataset that declares no columns gets the columns its pipeline
//! computes, and downstream datasets are resolved against those, so names
//! are checked across the whole graph.

use std::collections::HashMap;

use super::declarations::columns as declared_columns;
use super::Symbols;
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::span::Span;
use crate::syntax::visit::walk_expr;

/// Reconciliation counters every run keeps.
const COUNTERS: &[&str] = &["input", "accepted", "quarantined", "duplicates", "output"];

/// The column names of every declaration: declared, or computed.
pub struct Schemas<'a> {
    names: HashMap<&'a str, Vec<String>>,
}

impl<'a> Schemas<'a> {
    pub fn build(symbols: &Symbols<'a>) -> Schemas<'a> {
        let mut s = Schemas {
            names: HashMap::new(),
        };
        for d in symbols.decls() {
            if let Some(cols) = declared_columns(d) {
                s.names.insert(
                    &d.name.name,
                    cols.iter().map(|c| c.name.name.clone()).collect(),
                );
            }
        }
        // Computed schemas may read other computed schemas: settle them in
        // as many rounds as the longest chain (cycles are reported elsewhere).
        let pending: Vec<&Decl> = symbols
            .decls()
            .filter(|d| !s.names.contains_key(d.name.name.as_str()))
            .collect();
        for _ in 0..=pending.len() {
            let mut changed = false;
            for d in &pending {
                if s.names.contains_key(d.name.name.as_str()) {
                    continue;
                }
                if let Some(cols) = computed_columns(d, &s, symbols) {
                    s.names.insert(&d.name.name, cols);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        s
    }

    pub fn of(&self, decl: &str) -> Option<&[String]> {
        self.names.get(decl).map(Vec::as_slice)
    }
}

fn steps(decl: &Decl) -> &[Step] {
    decl.clauses
        .iter()
        .find_map(|c| match &c.kind {
            ClauseKind::Compute(s) => Some(s.as_slice()),
            _ => None,
        })
        .unwrap_or(&[])
}

/// The name an output expression gets: its own, or the column it reads.
fn output_name(n: &NamedExpr) -> Option<&str> {
    match (&n.name, &n.expr.kind) {
        (Some(id), _) => Some(&id.name),
        (None, ExprKind::Ident(x)) => Some(x),
        (None, ExprKind::Member(_, id)) => Some(&id.name),
        _ => None,
    }
}

/// The output columns of a pipeline, or `None` while an input's schema is
/// still unknown.
fn computed_columns(
    decl: &Decl,
    schemas: &Schemas<'_>,
    symbols: &Symbols<'_>,
) -> Option<Vec<String>> {
    let aliases = aliases(decl);
    let mut cols: Vec<String> = Vec::new();
    for step in steps(decl) {
        match &step.kind {
            StepKind::From(a) => {
                let target = aliases.get(a.name.as_str())?;
                cols = schemas.of(target)?.to_vec();
                symbols.decl(target)?;
            }
            StepKind::Derive { assignments } => {
                cols.extend(assignments.iter().map(|a| a.name.name.clone()))
            }
            StepKind::Group { keys, aggregates } => {
                cols = keys
                    .iter()
                    .filter_map(output_name)
                    .map(str::to_string)
                    .collect();
                cols.extend(aggregates.iter().map(|a| a.name.name.clone()));
            }
            StepKind::Aggregate(aggregates) => {
                cols = aggregates.iter().map(|a| a.name.name.clone()).collect()
            }
            StepKind::Select(items) => {
                cols = items
                    .iter()
                    .filter_map(output_name)
                    .map(str::to_string)
                    .collect()
            }
            StepKind::Where(_) | StepKind::Join { .. } | StepKind::Dedupe { .. } => {}
        }
    }
    Some(cols)
}

/// Input and binding aliases of a dataset, to the names they read.
fn aliases(decl: &Decl) -> HashMap<&str, &str> {
    decl.clauses
        .iter()
        .filter_map(|c| match &c.kind {
            ClauseKind::Input(i) => Some((i.alias.name.as_str(), i.target.name.as_str())),
            ClauseKind::Bind(b) => Some((b.alias.name.as_str(), b.target.name.as_str())),
            _ => None,
        })
        .collect()
}

/// What names mean at one point of a dataset.
struct Scope<'s> {
    /// Aliases in scope, to their column names (`None`: schema unknown, so
    /// nothing about it is reported).
    aliases: Vec<(&'s str, Option<&'s [String]>)>,
    /// Unqualified names: derived columns, the output, counters.
    names: Vec<String>,
    /// Enum variants of any column in reach: bare words compare with them.
    variants: &'s [String],
    /// Partition key names, for `p.tenant_id`.
    partition: &'s [String],
}

impl Scope<'_> {
    fn alias(&self, name: &str) -> Option<Option<&[String]>> {
        self.aliases
            .iter()
            .find(|(a, _)| *a == name)
            .map(|(_, c)| *c)
    }

    fn check(&self, e: &Expr, decl: &Decl, diags: &mut Vec<Diagnostic>) {
        walk_expr(e, &mut |x| match &x.kind {
            ExprKind::Ident(name) => self.check_bare(name, x.span, decl, diags),
            ExprKind::Member(base, col) => {
                let ExprKind::Ident(base_name) = &base.kind else {
                    return;
                };
                if base_name == "p" {
                    if !self.partition.contains(&col.name) {
                        diags.push(unknown_column(
                            &col.name,
                            col.span,
                            "the partition `p`",
                            self.partition.iter().map(String::as_str),
                        ));
                    }
                    return;
                }
                if let Some(Some(cols)) = self.alias(base_name) {
                    if !cols.contains(&col.name) {
                        let what = format!("`{base_name}`");
                        diags.push(unknown_column(
                            &col.name,
                            col.span,
                            &what,
                            cols.iter().map(String::as_str),
                        ));
                    }
                }
            }
            _ => {}
        });
    }

    /// A bare name: `p`, an alias (as a function argument), a derived or
    /// output column, a counter, an enum variant, or a column of exactly one
    /// alias in scope.
    fn check_bare(&self, name: &str, span: Span, decl: &Decl, diags: &mut Vec<Diagnostic>) {
        if name == "p"
            || self.alias(name).is_some()
            || self.names.iter().any(|n| n == name)
            || self.variants.iter().any(|v| v == name)
        {
            return;
        }
        let owners: Vec<&str> = self
            .aliases
            .iter()
            .filter(|(_, cols)| cols.is_none_or(|c| c.iter().any(|x| x == name)))
            .map(|(a, _)| *a)
            .collect();
        let known: Vec<&str> = self
            .aliases
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(a, _)| *a)
            .collect();
        match owners.as_slice() {
            [_] => {}
            [] => {
                let mut candidates: Vec<&str> = self.names.iter().map(String::as_str).collect();
                for (_, cols) in &self.aliases {
                    candidates.extend(cols.unwrap_or(&[]).iter().map(String::as_str));
                }
                let mut d = Diagnostic::new(codes::E0124, format!("no column `{name}` in scope"))
                    .primary(
                        span,
                        format!("not a column of {}", scope_words(&known, decl)),
                    );
                if let Some(s) = did_you_mean(name, candidates) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else {
                    d = d.help("qualify a column with the input it comes from, e.g. `ev.case_id`; derive new columns with `derive name = ...`");
                }
                diags.push(d);
            }
            many if many.len() == known.len() || many.iter().all(|a| known.contains(a)) => diags
                .push(
                    Diagnostic::new(codes::E0125, format!("`{name}` is ambiguous"))
                        .primary(
                            span,
                            format!(
                                "a column of {}",
                                many.iter()
                                    .map(|a| format!("`{a}`"))
                                    .collect::<Vec<_>>()
                                    .join(" and ")
                            ),
                        )
                        .help(format!(
                            "qualify it: {}",
                            many.iter()
                                .map(|a| format!("`{a}.{name}`"))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        )),
                ),
            _ => {}
        }
    }
}

fn scope_words(aliases: &[&str], decl: &Decl) -> String {
    match aliases {
        [] => format!("`{}`", decl.name.name),
        _ => aliases
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn unknown_column<'a>(
    name: &str,
    span: Span,
    of: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Diagnostic {
    let candidates: Vec<&str> = candidates.collect();
    let d = Diagnostic::new(codes::E0124, format!("{of} has no column `{name}`"))
        .primary(span, "no such column");
    match did_you_mean(name, candidates.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!(
            "its columns are {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Every enum variant declared anywhere: a bare word equal to one is a literal.
pub fn variants(symbols: &Symbols<'_>) -> Vec<String> {
    let mut v = Vec::new();
    for d in symbols.decls() {
        for c in declared_columns(d).unwrap_or(&[]) {
            if let Type::Enum(vs) = &c.ty.ty {
                v.extend(vs.iter().map(|i| i.name.clone()));
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

pub fn check(
    decl: &Decl,
    symbols: &Symbols<'_>,
    schemas: &Schemas<'_>,
    variants: &[String],
    diags: &mut Vec<Diagnostic>,
) {
    if decl.kind != DeclKind::Dataset {
        return;
    }
    let alias_map = aliases(decl);
    let schema_of = |alias: &str| alias_map.get(alias).and_then(|t| schemas.of(t));
    let partition: Vec<String> = decl
        .clauses
        .iter()
        .filter_map(|c| match &c.kind {
            ClauseKind::Partition(keys) => Some(keys.iter().map(|k| k.name.name.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let all_aliases: Vec<(&str, Option<&[String]>)> =
        alias_map.keys().map(|a| (*a, schema_of(a))).collect();
    let output: Vec<String> = schemas
        .of(&decl.name.name)
        .map(<[String]>::to_vec)
        .unwrap_or_default();

    for clause in &decl.clauses {
        match &clause.kind {
            ClauseKind::Input(i) => {
                // A boundary speaks of the input's own columns, unqualified.
                if let InputBound::Where(e) = &i.bound {
                    let scope = Scope {
                        aliases: vec![(i.alias.name.as_str(), schema_of(&i.alias.name))],
                        names: Vec::new(),
                        variants,
                        partition: &partition,
                    };
                    scope.check(e, decl, diags);
                }
            }
            ClauseKind::Bind(b) => {
                if let BindPolicy::AsOf(e) = &b.policy {
                    let scope = Scope {
                        aliases: all_aliases.clone(),
                        names: Vec::new(),
                        variants,
                        partition: &partition,
                    };
                    scope.check(e, decl, diags);
                }
            }
            ClauseKind::Compute(steps) => {
                check_pipeline(decl, steps, &all_aliases, &partition, variants, diags)
            }
            ClauseKind::Quality(rules) => {
                let scope = Scope {
                    aliases: all_aliases.clone(),
                    names: output.clone(),
                    variants,
                    partition: &partition,
                };
                rules.iter().for_each(|r| scope.check(&r.expr, decl, diags));
            }
            ClauseKind::Reconcile(rules) => {
                let mut names = output.clone();
                names.extend(COUNTERS.iter().map(|c| c.to_string()));
                let scope = Scope {
                    aliases: all_aliases.clone(),
                    names,
                    variants,
                    partition: &partition,
                };
                rules.iter().for_each(|r| scope.check(&r.expr, decl, diags));
            }
            _ => {}
        }
    }
    check_declared_output(decl, symbols, schemas, diags);
}

/// Walks the pipeline, keeping what each step can see.
fn check_pipeline<'s>(
    decl: &Decl,
    steps: &[Step],
    all_aliases: &[(&'s str, Option<&'s [String]>)],
    partition: &'s [String],
    variants: &'s [String],
    diags: &mut Vec<Diagnostic>,
) {
    let mut scope = Scope {
        aliases: Vec::new(),
        names: Vec::new(),
        variants,
        partition,
    };
    let lookup = |name: &str| all_aliases.iter().find(|(a, _)| *a == name).copied();
    for step in steps {
        match &step.kind {
            StepKind::From(a) | StepKind::Join { alias: a, .. } => {
                match lookup(&a.name) {
                    Some(entry) => scope.aliases.push(entry),
                    None => diags.push(
                        Diagnostic::new(
                            codes::E0124,
                            format!("no input or binding is called `{}`", a.name),
                        )
                        .primary(a.span, "not an alias of this dataset")
                        .help(format!(
                            "the pipeline reads the dataset's inputs and bindings by alias: {}",
                            all_aliases
                                .iter()
                                .map(|(a, _)| format!("`{a}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    ),
                }
                if let StepKind::Join { on, .. } = &step.kind {
                    scope.check(on, decl, diags);
                }
            }
            StepKind::Where(e) => scope.check(e, decl, diags),
            StepKind::Dedupe { by, order } => {
                by.iter().for_each(|e| scope.check(e, decl, diags));
                order.iter().for_each(|k| scope.check(&k.expr, decl, diags));
            }
            StepKind::Derive { assignments } => {
                for a in assignments {
                    scope.check(&a.expr, decl, diags);
                    scope.names.push(a.name.name.clone());
                }
            }
            StepKind::Group { keys, aggregates } => {
                keys.iter().for_each(|k| scope.check(&k.expr, decl, diags));
                aggregates
                    .iter()
                    .for_each(|a| scope.check(&a.expr, decl, diags));
                scope.aliases.clear();
                scope.names = keys
                    .iter()
                    .filter_map(output_name)
                    .map(str::to_string)
                    .collect();
                scope
                    .names
                    .extend(aggregates.iter().map(|a| a.name.name.clone()));
            }
            StepKind::Aggregate(aggregates) => {
                aggregates
                    .iter()
                    .for_each(|a| scope.check(&a.expr, decl, diags));
                scope.aliases.clear();
                scope.names = aggregates.iter().map(|a| a.name.name.clone()).collect();
            }
            StepKind::Select(items) => {
                for item in items {
                    scope.check(&item.expr, decl, diags);
                    if output_name(item).is_none() {
                        diags.push(
                            Diagnostic::new(codes::E0126, "this output column has no name")
                                .primary(item.expr.span, "name it")
                                .help(
                                    "write `name = expression`; only a plain column names itself",
                                ),
                        );
                    }
                }
                scope.aliases.clear();
                scope.names = items
                    .iter()
                    .filter_map(output_name)
                    .map(str::to_string)
                    .collect();
            }
        }
    }
    for k in steps.iter().filter_map(|s| match &s.kind {
        StepKind::Group { keys, .. } => Some(keys),
        _ => None,
    }) {
        for key in k.iter().filter(|k| output_name(k).is_none()) {
            diags.push(
                Diagnostic::new(codes::E0126, "this grouping key has no name")
                    .primary(key.expr.span, "name it")
                    .help(
                        "write `name = expression`, e.g. `group by day = to_date(ev.at, \"UTC\")`",
                    ),
            );
        }
    }
}

/// A dataset that declares its columns computes exactly those.
fn check_declared_output(
    decl: &Decl,
    symbols: &Symbols<'_>,
    schemas: &Schemas<'_>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(declared) = declared_columns(decl) else {
        return;
    };
    if steps(decl).is_empty() {
        return;
    }
    let Some(computed) = computed_columns(decl, schemas, symbols) else {
        return;
    };
    let compute_span = decl
        .clauses
        .iter()
        .find(|c| matches!(c.kind, ClauseKind::Compute(_)))
        .map_or(decl.name.span, |c| c.span);
    for c in declared {
        if !computed.contains(&c.name.name) {
            diags.push(
                Diagnostic::new(
                    codes::E0127,
                    format!("declared column `{}` is not computed", c.name.name),
                )
                .primary(c.name.span, "declared here")
                .secondary(compute_span, "the pipeline does not produce it")
                .help(format!(
                    "compute it (e.g. in the final `select`), or remove `{}` from `columns`",
                    c.name.name
                )),
            );
        }
    }
    for name in &computed {
        if !declared.iter().any(|c| c.name.name == *name) {
            diags.push(
                Diagnostic::new(
                    codes::E0127,
                    format!("the pipeline computes `{name}`, which `columns` does not declare"),
                )
                .primary(compute_span, format!("produces `{name}`"))
                .secondary(
                    decl.name.span,
                    "declares its columns, so the output must match them",
                )
                .help(format!(
                    "declare `{name}` in `columns`, or leave it out of the output"
                )),
            );
        }
    }
}
