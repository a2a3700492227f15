//! Expressions, types and literals as text. Expressions always print on one
//! line; parentheses appear where the tree has a `Paren` node (the user's)
//! and, for trees the parser could not have built, where precedence demands.

use crate::syntax::ast::*;

/// Binds tighter than any operator: postfix `.name` and `is [not] null`.
const POSTFIX: u8 = 8;
/// Literals, names, calls, lists, `if` and parentheses.
const PRIMARY: u8 = 9;
/// Nothing open on the right.
const CLOSED: u8 = u8::MAX;

pub fn expr(e: &Expr) -> String {
    let mut s = String::new();
    write(&mut s, e);
    s
}

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => op.precedence(),
        ExprKind::Unary(UnaryOp::Not, _) => NOT_PRECEDENCE,
        ExprKind::Unary(UnaryOp::Neg, _) => NEG_PRECEDENCE,
        ExprKind::Member(..) | ExprKind::IsNull { .. } => POSTFIX,
        _ => PRIMARY,
    }
}

/// How weakly the right end of `e` binds: a trailing `not x` or `if … else x`
/// swallows any operator that follows it printed without parentheses, so an
/// expression open on the right at a level at or below the next operator's
/// must be wrapped.
fn right_open(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(_, _, r) => right_open(r),
        ExprKind::Unary(UnaryOp::Not, x) => NOT_PRECEDENCE.min(right_open(x)),
        ExprKind::Unary(UnaryOp::Neg, x) => NEG_PRECEDENCE.min(right_open(x)),
        ExprKind::If { .. } => 0,
        _ => CLOSED,
    }
}

fn wrapped(s: &mut String, e: &Expr, parens: bool) {
    if parens {
        s.push('(');
        write(s, e);
        s.push(')');
    } else {
        write(s, e);
    }
}

fn write(s: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Literal(l) => s.push_str(&literal(l)),
        ExprKind::Ident(name) => s.push_str(name),
        ExprKind::Member(x, name) => {
            wrapped(s, x, precedence(x) < POSTFIX || right_open(x) != CLOSED);
            s.push('.');
            s.push_str(&name.name);
        }
        ExprKind::IsNull { expr: x, negated } => {
            wrapped(s, x, precedence(x) < POSTFIX || right_open(x) != CLOSED);
            s.push_str(if *negated { " is not null" } else { " is null" });
        }
        ExprKind::Call(c) => call(s, c),
        ExprKind::Unary(op, x) => {
            let own = precedence(e);
            s.push_str(match op {
                UnaryOp::Not => "not ",
                UnaryOp::Neg => "-",
            });
            // A prefix operator takes everything binding tighter than itself.
            let parens = matches!(x.kind, ExprKind::Binary(..)) && precedence(x) < own;
            wrapped(s, x, parens);
        }
        ExprKind::Binary(op, l, r) => {
            let own = op.precedence();
            // Left-associative: an equal operator on the left needs nothing.
            wrapped(s, l, precedence(l) < own || right_open(l) <= own);
            s.push(' ');
            s.push_str(op.symbol());
            s.push(' ');
            // A prefix operator or `if` on the right starts afresh.
            let parens = matches!(r.kind, ExprKind::Binary(..)) && precedence(r) <= own;
            wrapped(s, r, parens);
        }
        ExprKind::List(items) => {
            s.push('[');
            list(s, items);
            s.push(']');
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            s.push_str("if ");
            write(s, cond);
            s.push_str(" then ");
            write(s, then);
            s.push_str(" else ");
            write(s, otherwise);
        }
        ExprKind::Paren(x) => wrapped(s, x, true),
    }
}

fn list(s: &mut String, items: &[Expr]) {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        write(s, x);
    }
}

fn call(s: &mut String, c: &Call) {
    s.push_str(&c.name.name);
    s.push('(');
    list(s, &c.args);
    s.push(')');
    if let Some(over) = &c.over {
        let mut parts = Vec::new();
        if !over.partition_by.is_empty() {
            let mut p = String::from("partition by ");
            list(&mut p, &over.partition_by);
            parts.push(p);
        }
        if !over.order_by.is_empty() {
            parts.push(order_by(&over.order_by));
        }
        s.push_str(" over (");
        s.push_str(&parts.join(" "));
        s.push(')');
    }
}

/// `order by a, b desc`; `asc` is the default and is not written.
pub fn order_by(keys: &[SortKey]) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| {
            let e = expr(&k.expr);
            if k.descending {
                format!("{e} desc")
            } else {
                e
            }
        })
        .collect();
    format!("order by {}", keys.join(", "))
}

pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Integer(n) => n.to_string(),
        Literal::Decimal(text) => text.clone(),
        Literal::Percent(text) => format!("{text}%"),
        Literal::Duration(d) => duration(d),
        Literal::Date(d) => format!("@{}", d.format("%Y-%m-%d")),
        Literal::Month { year, month } => format!("@{year:04}-{month:02}"),
        Literal::Timestamp(text) => format!("@{text}"),
        Literal::String(value) => string(value),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".to_string(),
    }
}

pub fn duration(d: &DurationLit) -> String {
    format!("{}{}", d.amount, d.unit.suffix())
}

/// A string literal, re-escaped: `\\`, `\"`, `\n` and `\t`.
pub fn string(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

pub fn type_expr(t: &TypeExpr) -> String {
    let base = match &t.ty {
        Type::String => "string".to_string(),
        Type::Int => "int".to_string(),
        Type::Float => "float".to_string(),
        Type::Bool => "bool".to_string(),
        Type::Date => "date".to_string(),
        Type::Timestamp => "timestamp".to_string(),
        Type::Month => "month".to_string(),
        Type::Week => "week".to_string(),
        Type::Quarter => "quarter".to_string(),
        Type::Year => "year".to_string(),
        Type::Duration => "duration".to_string(),
        Type::Decimal { precision, scale } => format!("decimal({precision}, {scale})"),
        Type::Enum(values) => {
            let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
            format!("enum({})", names.join(", "))
        }
        Type::Any => "any".to_string(),
        Type::Numeric => "numeric".to_string(),
        Type::Var(name) => name.clone(),
        // Reported by the parser; `format` never prints a tree with errors.
        Type::Error => "error".to_string(),
    };
    if t.nullable {
        format!("{base}?")
    } else {
        base
    }
}

pub fn params(params: &[Param]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|p| {
            let dots = if p.variadic { "..." } else { "" };
            format!("{}: {}{dots}", p.name.name, type_expr(&p.ty))
        })
        .collect();
    parts.join(", ")
}
