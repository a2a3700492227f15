//! A dataset's inputs and reference bindings: what they read, that every
//! input is bounded in terms of the output partition `p`, and that every
//! binding reads reference history by a policy the reference supports.

use std::collections::HashMap;

use super::Symbols;
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::visit::walk_expr;

pub fn check(decl: &Decl, symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    if decl.kind != DeclKind::Dataset {
        return;
    }
    let partitioned = decl
        .clauses
        .iter()
        .any(|c| matches!(c.kind, ClauseKind::Partition(_)));
    let mut aliases: HashMap<&str, &Ident> = HashMap::new();
    for clause in &decl.clauses {
        let (alias, target) = match &clause.kind {
            ClauseKind::Input(i) => (&i.alias, &i.target),
            ClauseKind::Bind(b) => (&b.alias, &b.target),
            _ => continue,
        };
        if let Some(first) = aliases.insert(&alias.name, alias) {
            diags.push(
                Diagnostic::new(
                    codes::E0109,
                    format!("the name `{}` is bound twice", alias.name),
                )
                .primary(alias.span, "bound again here")
                .secondary(first.span, "first bound here")
                .help("give each input and binding its own alias"),
            );
        }
        let Some(found) = resolve(target, symbols, diags) else {
            continue;
        };
        match &clause.kind {
            ClauseKind::Input(i) => check_input(i, found, partitioned, diags),
            ClauseKind::Bind(b) => check_bind(b, found, diags),
            _ => {}
        }
    }
}

fn resolve<'a>(
    target: &Ident,
    symbols: &Symbols<'a>,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'a Decl> {
    let found = symbols.decl(&target.name);
    if found.is_none() {
        let mut d = Diagnostic::new(
            codes::E0102,
            format!(
                "no source, reference or dataset is called `{}`",
                target.name
            ),
        )
        .primary(target.span, "not declared anywhere in the project");
        d = match symbols.suggest_decl(&target.name) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help("declare it in any `.bpl` file of the project; names are global"),
        };
        diags.push(d);
    }
    found
}

fn check_input(input: &Input, target: &Decl, partitioned: bool, diags: &mut Vec<Diagnostic>) {
    if target.kind == DeclKind::Reference {
        diags.push(
            Diagnostic::new(codes::E0108, format!("`{}` is a reference: read it with `bind`, not `input`", target.name.name))
                .primary(input.target.span, "a reference, not a source or dataset")
                .secondary(target.name.span, "declared as a reference here")
                .help(format!(
                    "write `bind {} = {} as of <event time>` (or `pinned`, `as of processing time`, `as of report close`) so the run records which version it read",
                    input.alias.name, target.name.name
                )),
        );
        return;
    }
    match &input.bound {
        InputBound::AllHistory(_) => {}
        InputBound::Unbounded if partitioned => diags.push(
            Diagnostic::new(codes::E0110, format!("input `{}` has no boundary", input.alias.name))
                .primary(input.alias.span.to(input.target.span), "which partitions of this input feed partition `p`?")
                .help(format!(
                    "state it in terms of the output partition `p`, e.g. `input {} = {} where business_date in [p - 29d, p]`, or write `all history` if every run really reads everything",
                    input.alias.name, input.target.name
                )),
        ),
        InputBound::Unbounded => {}
        InputBound::Where(e) => {
            if partitioned && !mentions_p(e) {
                diags.push(
                    Diagnostic::new(codes::E0110, format!("the boundary of input `{}` does not depend on the output partition", input.alias.name))
                        .primary(e.span, "every run would read the same rows")
                        .help("relate the input to the output partition `p`, e.g. `business_date == p` or `business_date in [p - 6d, p]`"),
                );
            }
            check_windows(e, diags);
        }
    }
}

fn mentions_p(e: &Expr) -> bool {
    let mut found = false;
    walk_expr(e, &mut |x| {
        if matches!(&x.kind, ExprKind::Ident(n) if n == "p") {
            found = true;
        }
    });
    found
}

/// `x in [lo, hi]` has two bounds; their order is checked where the boundary
/// is read as a mapping (`lower`).
fn check_windows(e: &Expr, diags: &mut Vec<Diagnostic>) {
    walk_expr(e, &mut |x| {
        let ExprKind::Binary(BinaryOp::In, _, rhs) = &x.kind else {
            return;
        };
        let ExprKind::List(bounds) = &rhs.kind else {
            return;
        };
        if bounds.len() != 2 {
            diags.push(
                Diagnostic::new(
                    codes::E0111,
                    format!("a window has two bounds, this one has {}", bounds.len()),
                )
                .primary(rhs.span, "expected `[lower, upper]`")
                .help("write the window as `[p - 29d, p]`: both ends included"),
            );
        }
    });
}

fn has_clause(decl: &Decl, f: impl Fn(&ClauseKind) -> bool) -> bool {
    decl.clauses.iter().any(|c| f(&c.kind))
}

fn check_bind(bind: &Bind, target: &Decl, diags: &mut Vec<Diagnostic>) {
    if target.kind != DeclKind::Reference {
        diags.push(
            Diagnostic::new(
                codes::E0108,
                format!(
                    "`{}` is a {}: read it with `input`, not `bind`",
                    target.name.name,
                    target.kind.keyword()
                ),
            )
            .primary(
                bind.target.span,
                format!("a {}, not a reference", target.kind.keyword()),
            )
            .secondary(
                target.name.span,
                format!("declared as a {} here", target.kind.keyword()),
            )
            .help(format!(
                "write `input {} = {} where ...` with a boundary in terms of `p`",
                bind.alias.name, target.name.name
            )),
        );
        return;
    }
    let name = &target.name.name;
    match &bind.policy {
        // A seed without a version column is pinned by its content hash,
        // checked when a run loads it (E0318).
        BindPolicy::Pinned(_)
            if has_clause(target, |c| matches!(c, ClauseKind::Seed(..)))
                && !has_clause(target, |c| matches!(c, ClauseKind::VersionedBy(_))) => {}
        BindPolicy::Pinned(version) => {
            if !has_clause(target, |c| matches!(c, ClauseKind::VersionedBy(_))) {
                diags.push(
                    Diagnostic::new(codes::E0112, format!("`{name}` has no versions to pin"))
                        .primary(bind.policy_span, "pins a version")
                        .secondary(target.name.span, "declares no `versioned by` column")
                        .help(format!("add `versioned by <column>` and `versions \"...\"` to `{name}`, or bind it `as of` a time if its rows are effective-dated")),
                );
                return;
            }
            let known: Vec<&str> = target
                .clauses
                .iter()
                .filter_map(|c| match &c.kind {
                    ClauseKind::Versions(v) => Some(v),
                    _ => None,
                })
                .flatten()
                .map(|s| s.value.as_str())
                .collect();
            if !known.contains(&version.value.as_str()) {
                let mut d = Diagnostic::new(codes::E0113, format!("`{name}` has no version \"{}\"", version.value))
                    .primary(version.span, "not a declared version")
                    .secondary(target.name.span, "versions are declared here");
                d = match did_you_mean(&version.value, known.iter().copied()) {
                    Some(s) => d.help(format!("did you mean \"{s}\"?")),
                    None if known.is_empty() => d.help(format!("declare the versions that exist: `versions \"{}\"` in `{name}`", version.value)),
                    None => d.help(format!(
                        "the declared versions are {}",
                        known.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                    )),
                };
                diags.push(d);
            }
        }
        BindPolicy::AsOf(_) | BindPolicy::ProcessingTime | BindPolicy::ReportClose => {
            if !has_clause(target, |c| matches!(c, ClauseKind::Validity { .. })) {
                diags.push(
                    Diagnostic::new(codes::E0114, format!("`{name}` is not effective-dated, so it cannot be read `as of` a time"))
                        .primary(bind.policy_span, "reads history as of a time")
                        .secondary(target.name.span, "declares no `valid from ... to ...` columns")
                        .help(format!("add `valid from <column> to <column>` to `{name}`, or pin a version with `pinned \"...\"`")),
                );
            }
        }
        BindPolicy::Latest { reason: None } => diags.push(
            Diagnostic::new(codes::E0115, format!("binding `{}` reads the latest `{name}` without saying why", bind.alias.name))
                .primary(bind.policy_span, "a backfill will not reproduce history")
                .help("prefer `as of <event time>` or `pinned \"...\"`; if latest is really meant, say why: `latest because \"...\"`"),
        ),
        BindPolicy::Latest { reason: Some(_) } => {}
    }
}
