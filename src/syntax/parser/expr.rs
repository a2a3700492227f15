//! Expressions: the grammar gives a flat token list, the PrattParser gives it
//! shape. The precedence table mirrors `BinaryOp::precedence`, which the
//! formatter uses to decide where parentheses are needed.

use std::sync::LazyLock;

use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::tree::{kids, Builder, P};
use super::Rule;
use crate::syntax::ast::*;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
        .op(Op::postfix(Rule::is_null) | Op::postfix(Rule::is_not_null) | Op::postfix(Rule::member))
});

pub(super) fn build(b: &Builder<'_>, p: P<'_>) -> Expr {
    PRATT
        .map_primary(|p| primary(b, p))
        .map_prefix(|op, rhs| {
            let op_kind = if op.as_rule() == Rule::op_not {
                UnaryOp::Not
            } else {
                UnaryOp::Neg
            };
            Expr {
                span: b.span(&op).to(rhs.span),
                kind: ExprKind::Unary(op_kind, Box::new(rhs)),
            }
        })
        .map_postfix(|lhs, op| {
            let span = lhs.span.to(b.span(&op));
            let kind = match op.as_rule() {
                Rule::member => ExprKind::Member(Box::new(lhs), b.ident(kids(op).next().unwrap())),
                rule => ExprKind::IsNull {
                    expr: Box::new(lhs),
                    negated: rule == Rule::is_not_null,
                },
            };
            Expr { kind, span }
        })
        .map_infix(|lhs, op, rhs| {
            let op = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                Rule::op_eq => BinaryOp::Eq,
                Rule::op_ne => BinaryOp::Ne,
                Rule::op_lt => BinaryOp::Lt,
                Rule::op_le => BinaryOp::Le,
                Rule::op_gt => BinaryOp::Gt,
                Rule::op_ge => BinaryOp::Ge,
                Rule::op_in => BinaryOp::In,
                Rule::op_add => BinaryOp::Add,
                Rule::op_sub => BinaryOp::Sub,
                Rule::op_mul => BinaryOp::Mul,
                _ => BinaryOp::Div,
            };
            Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            }
        })
        .parse(p.into_inner())
}

fn primary(b: &Builder<'_>, p: P<'_>) -> Expr {
    let span = b.span(&p);
    let kind = match p.as_rule() {
        Rule::ident => ExprKind::Ident(p.as_str().to_string()),
        Rule::paren => ExprKind::Paren(Box::new(build(b, kids(p).next().unwrap()))),
        Rule::list => ExprKind::List(kids(p).map(|e| build(b, e)).collect()),
        Rule::if_expr => {
            let mut it = kids(p).map(|e| build(b, e));
            ExprKind::If {
                cond: Box::new(it.next().unwrap()),
                then: Box::new(it.next().unwrap()),
                otherwise: Box::new(it.next().unwrap()),
            }
        }
        Rule::call => {
            let mut name = None;
            let mut args = Vec::new();
            let mut over = None;
            for c in kids(p) {
                match c.as_rule() {
                    Rule::call_head => name = Some(b.ident(kids(c).next().unwrap())),
                    Rule::expr => args.push(build(b, c)),
                    _ => {
                        let mut o = Over {
                            partition_by: Vec::new(),
                            order_by: Vec::new(),
                        };
                        for part in kids(c) {
                            match part.as_rule() {
                                Rule::order_by => o.order_by = b.order_by(part),
                                _ => o.partition_by.push(build(b, part)),
                            }
                        }
                        over = Some(o);
                    }
                }
            }
            ExprKind::Call(Call {
                name: name.unwrap(),
                args,
                over,
            })
        }
        _ => ExprKind::Literal(b.literal(p)),
    };
    Expr { kind, span }
}
