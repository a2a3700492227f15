//! A borrowing walk over expressions, so passes that look at every expression
//! (determinism, name resolution, types) do not each repeat the recursion.

use super::ast::*;

/// Calls `f` on every expression of a declaration body, outermost first, with
/// the clause it belongs to.
pub fn clause_exprs<'a>(clause: &'a Clause, f: &mut impl FnMut(&'a Expr)) {
    top_level_exprs(clause, &mut |e| walk_expr(e, f));
}

/// Calls `f` on each whole expression of a clause (not those inside them).
pub fn top_level_exprs<'a>(clause: &'a Clause, each: &mut impl FnMut(&'a Expr)) {
    match &clause.kind {
        ClauseKind::Input(i) => {
            if let InputBound::Where(e) = &i.bound {
                each(e)
            }
        }
        ClauseKind::Bind(b) => {
            if let BindPolicy::AsOf(e) = &b.policy {
                each(e)
            }
        }
        ClauseKind::Compute(steps) => {
            for s in steps {
                step_exprs(s, each);
            }
        }
        ClauseKind::Quality(rules) => rules.iter().for_each(|r| each(&r.expr)),
        ClauseKind::Reconcile(rules) => rules.iter().for_each(|r| each(&r.expr)),
        ClauseKind::ClosedAfter(e) => each(e),
        _ => {}
    }
}

/// Calls `f` on the top-level expressions of one pipeline step.
pub fn step_exprs<'a>(step: &'a Step, f: &mut impl FnMut(&'a Expr)) {
    match &step.kind {
        StepKind::From(_) => {}
        StepKind::Where(e) => f(e),
        StepKind::Join { on, .. } => f(on),
        StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => {
            assignments.iter().for_each(|a| f(&a.expr))
        }
        StepKind::Group { keys, aggregates } => {
            keys.iter().for_each(|k| f(&k.expr));
            aggregates.iter().for_each(|a| f(&a.expr));
        }
        StepKind::Select(items) => items.iter().for_each(|k| f(&k.expr)),
        StepKind::Dedupe { by, order } => {
            by.iter().for_each(&mut *f);
            order.iter().for_each(|k| f(&k.expr));
        }
    }
}

/// Calls `f` on `e` and every expression inside it, outermost first.
/// Recursive: the parser bounds every tree's height (`MAX_EXPR_DEPTH`).
pub fn walk_expr<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(e);
    children(e, &mut |c| walk_expr(c, f));
}

/// Calls `f` on each expression directly inside `e`, in source order.
pub fn children<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Ident(_) => {}
        ExprKind::Member(inner, _) | ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => f(inner),
        ExprKind::IsNull { expr, .. } => f(expr),
        ExprKind::Binary(_, l, r) => {
            f(l);
            f(r);
        }
        ExprKind::List(items) => items.iter().for_each(f),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            f(cond);
            f(then);
            f(otherwise);
        }
        ExprKind::Call(c) => {
            c.args.iter().for_each(&mut *f);
            if let Some(o) = &c.over {
                o.partition_by.iter().for_each(&mut *f);
                o.order_by.iter().for_each(|k| f(&k.expr));
            }
        }
    }
}
