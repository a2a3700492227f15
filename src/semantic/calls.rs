//! Function calls: the function exists in the prelude (or is a reusable
//! check), takes that many arguments, and is deterministic.

use super::Symbols;
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::visit::{clause_exprs, walk_expr};

/// Functions other tools offer that make a run depend on when or where it
/// ran; each with what to write instead.
const NONDETERMINISTIC: &[(&str, &str)] = &[
    ("now", "use the partition `p`, or a timestamp column of the input; a rerun must compute the same output"),
    ("current_timestamp", "use the partition `p`, or a timestamp column of the input; a rerun must compute the same output"),
    ("current_date", "use the partition `p`: a run for 2026-07-04 must compute the same output whenever it runs"),
    ("today", "use the partition `p`: a run for 2026-07-04 must compute the same output whenever it runs"),
    ("sysdate", "use the partition `p`: a run for 2026-07-04 must compute the same output whenever it runs"),
    ("localtime", "convert with an explicit zone: `to_date(ts, \"Asia/Jakarta\")`; the host's zone differs between machines"),
    ("random", "random values differ on every run; derive what you need from the data"),
    ("rand", "random values differ on every run; derive what you need from the data"),
    ("uuid", "random ids differ on every run; use `stable_id(key columns...)`, a hash of the business key"),
    ("gen_random_uuid", "random ids differ on every run; use `stable_id(key columns...)`, a hash of the business key"),
];

pub fn check(decl: &Decl, symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    for clause in &decl.clauses {
        clause_exprs(clause, &mut |e| check_call(e, symbols, diags));
    }
}

/// The bodies of reusable checks call functions too. Without a loop among
/// them, returns what each costs written out, for
/// [`super::expansion::check_decl`] to measure every declaration with.
pub fn check_prelude_checks<'a>(
    symbols: &Symbols<'a>,
    diags: &mut Vec<Diagnostic>,
) -> Option<super::expansion::Bodies<'a>> {
    for c in symbols.checks() {
        walk_expr(&c.body, &mut |e| check_call(e, symbols, diags));
    }
    let order = check_recursion(symbols, diags)?;
    Some(super::expansion::check_bodies(&order, diags))
}

/// A reusable check is expanded in place where it is called, so one that
/// reaches itself through the checks it calls would expand forever. A
/// depth-first walk with its own stack: a chain of ten thousand checks is
/// no deeper for it than one. Without a loop, returns the checks with each
/// after every check it calls.
fn check_recursion<'a>(
    symbols: &Symbols<'a>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<&'a CheckDecl>> {
    // Each check with the calls of checks in its body, in source order.
    let mut checks: Vec<&'a CheckDecl> = symbols.checks().collect();
    checks.sort_by_key(|c| c.span);
    let calls = |c: &'a CheckDecl| {
        let mut out: Vec<(&Ident, usize)> = Vec::new();
        walk_expr(&c.body, &mut |e| {
            // As lowering does (`job::expr_with`): a check's name wins.
            if let ExprKind::Call(call) = &e.kind {
                if let Some(i) = checks.iter().position(|d| d.name.name == call.name.name) {
                    out.push((&call.name, i));
                }
            }
        });
        out
    };
    let edges: Vec<Vec<(&Ident, usize)>> = checks.iter().map(|c| calls(c)).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnPath,
        Done,
    }
    let mut state = vec![State::New; checks.len()];
    let mut order = Vec::with_capacity(checks.len());
    let mut looped = false;
    for root in 0..checks.len() {
        if state[root] != State::New {
            continue;
        }
        // The path from `root`: each check and how many of its calls were followed.
        let mut path = vec![(root, 0usize)];
        state[root] = State::OnPath;
        while let Some((at, next)) = path.last_mut() {
            let Some(&(call, target)) = edges[*at].get(*next) else {
                state[*at] = State::Done;
                order.push(checks[*at]);
                path.pop();
                continue;
            };
            *next += 1;
            match state[target] {
                State::Done => {}
                State::New => {
                    state[target] = State::OnPath;
                    path.push((target, 0));
                }
                State::OnPath => {
                    looped = true;
                    let start = path.iter().position(|(c, _)| *c == target).unwrap_or(0);
                    let names: Vec<&str> = path[start..]
                        .iter()
                        .map(|(c, _)| checks[*c].name.name.as_str())
                        .chain([call.name.as_str()])
                        .collect();
                    diags.push(
                        Diagnostic::new(
                            codes::E0012,
                            format!("the check `{}` calls itself: {}", call.name, names.join(" -> ")),
                        )
                        .primary(call.span, "this call closes the loop")
                        .help("a check is written out in full where it is used, so it cannot call itself; state the rule without the loop"),
                    );
                }
            }
        }
    }
    (!looped).then_some(order)
}

fn check_call(e: &Expr, symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    let ExprKind::Call(call) = &e.kind else {
        return;
    };
    let name = call.name.name.as_str();
    if let Some((_, help)) = NONDETERMINISTIC.iter().find(|(n, _)| *n == name) {
        diags.push(
            Diagnostic::new(
                codes::E0118,
                format!("`{name}()` makes the output depend on when or where the job runs"),
            )
            .primary(call.name.span, "not deterministic")
            .help(*help),
        );
        return;
    }
    let arities: Vec<(usize, bool)> = match (symbols.functions(name), symbols.check(name)) {
        (Some(overloads), _) => overloads.iter().map(|f| arity(&f.params)).collect(),
        (None, Some(check)) => vec![arity(&check.params)],
        (None, None) => {
            let mut d = Diagnostic::new(codes::E0116, format!("unknown function `{name}`"))
                .primary(call.name.span, "not in the prelude");
            d = match symbols.suggest_callable(name) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("the book's prelude chapter lists every function and check"),
            };
            diags.push(d);
            return;
        }
    };
    let n = call.args.len();
    if !arities
        .iter()
        .any(|&(min, variadic)| n == min || (variadic && n >= min))
    {
        let expected = arities
            .iter()
            .map(|&(min, variadic)| match variadic {
                true => format!("at least {min}"),
                false => min.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" or ");
        diags.push(
            Diagnostic::new(
                codes::E0117,
                format!(
                    "`{name}` takes {expected} argument{}, not {n}",
                    if expected == "1" { "" } else { "s" }
                ),
            )
            .primary(
                e.span,
                format!("{n} argument{} given", if n == 1 { "" } else { "s" }),
            )
            .help(signature_help(name, symbols)),
        );
        return;
    }
    super::time_zones::zone_arguments(call, symbols, diags);
}

/// Parameter count and whether the last one is variadic.
fn arity(params: &[Param]) -> (usize, bool) {
    (params.len(), params.last().is_some_and(|p| p.variadic))
}

fn signature_help(name: &str, symbols: &Symbols<'_>) -> String {
    let params = |ps: &[Param]| {
        ps.iter()
            .map(|p| format!("{}{}", p.name.name, if p.variadic { "..." } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sigs: Vec<String> = match (symbols.functions(name), symbols.check(name)) {
        (Some(fs), _) => fs
            .iter()
            .map(|f| format!("`{name}({})`", params(&f.params)))
            .collect(),
        (None, Some(c)) => vec![format!("`{name}({})`", params(&c.params))],
        _ => Vec::new(),
    };
    format!("the signature is {}", sigs.join(" or "))
}
