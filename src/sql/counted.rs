//! Gates over the run's counters alone, answered without a statement.
//!
//! `input == accepted + quarantined + duplicates` reads nothing but numbers
//! the run already holds. Sent to an engine it costs a statement per
//! partition and gate: a few microseconds on SQLite, a round trip on
//! PostgreSQL, a whole job on Spark. Such a condition is kept here as a
//! small tree and the runtime computes it, for every engine alike.
//!
//! Only what every engine computes the same way is taken: integer literals,
//! counters (`input`, `rows(ev)`, `partition_count(daily)`, ...), `+`, `-`,
//! `*`, unary minus, comparisons, `and`, `or`, `not`. Anything else makes
//! the gate a statement as before. When answering would leave exact
//! integer arithmetic (an overflow), or a counter has no integer value (a
//! null sum, a decimal aggregate), [`Counted::evaluate`] gives no answer and
//! the engine is asked, so no answer can differ from the engine's.

use serde::Serialize;

use crate::semantic::hir::{CallKind, Expr, ExprKind, Lit};
use crate::semantic::T;
use crate::sql::expr::{counter_param, input_counter_param};
use crate::syntax::ast::{BinaryOp, UnaryOp};

/// A gate condition over counters only (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    Int(i64),
    /// A counter, by the parameter name its statement binds (`:counter_input`).
    Param(String),
    Neg(Box<Counted>),
    Not(Box<Counted>),
    Binary(BinaryOp, Box<Counted>, Box<Counted>),
}

impl Counted {
    /// The condition of `e`, when it compares counters only (see the
    /// module doc); parameter names as `sql::expr` prints them.
    pub fn of(e: &Expr) -> Option<Counted> {
        if e.ty != T::Bool {
            return None;
        }
        Some(match &e.kind {
            ExprKind::Unary(UnaryOp::Not, x) => Counted::Not(Box::new(Counted::of(x)?)),
            ExprKind::Binary(op @ (BinaryOp::And | BinaryOp::Or), l, r) => {
                Counted::Binary(*op, Box::new(Counted::of(l)?), Box::new(Counted::of(r)?))
            }
            ExprKind::Binary(
                op @ (BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge),
                l,
                r,
            ) => Counted::Binary(*op, Box::new(number(l)?), Box::new(number(r)?)),
            _ => return None,
        })
    }

    /// The value of the condition with counters read by `counter` (by
    /// parameter name): a comparison or a logical operator gives 0 or 1, as
    /// an engine's boolean reads. `None` where exact integer arithmetic
    /// ends or a counter has no integer value: then the engine answers.
    pub fn evaluate(&self, counter: &dyn Fn(&str) -> Option<i64>) -> Option<i64> {
        Some(match self {
            Counted::Int(n) => *n,
            Counted::Param(name) => counter(name)?,
            Counted::Neg(x) => x.evaluate(counter)?.checked_neg()?,
            Counted::Not(x) => i64::from(x.evaluate(counter)? == 0),
            Counted::Binary(op, l, r) => {
                let (a, b) = (l.evaluate(counter)?, r.evaluate(counter)?);
                match op {
                    BinaryOp::Add => a.checked_add(b)?,
                    BinaryOp::Sub => a.checked_sub(b)?,
                    BinaryOp::Mul => a.checked_mul(b)?,
                    BinaryOp::Eq => i64::from(a == b),
                    BinaryOp::Ne => i64::from(a != b),
                    BinaryOp::Lt => i64::from(a < b),
                    BinaryOp::Le => i64::from(a <= b),
                    BinaryOp::Gt => i64::from(a > b),
                    BinaryOp::Ge => i64::from(a >= b),
                    BinaryOp::And => i64::from(a != 0 && b != 0),
                    BinaryOp::Or => i64::from(a != 0 || b != 0),
                    BinaryOp::Div | BinaryOp::In => return None,
                }
            }
        })
    }
}

/// An integer over counters. Only `int`s: a decimal counter holds its
/// scaled integer, which the engine's statement compares at its scale.
fn number(e: &Expr) -> Option<Counted> {
    if e.ty != T::Int {
        return None;
    }
    Some(match &e.kind {
        ExprKind::Lit(Lit::Int(n)) => Counted::Int(*n),
        ExprKind::Counter(c) => Counted::Param(counter_param(c)),
        ExprKind::Call {
            name,
            kind: CallKind::Aggregate,
            args,
            over: None,
        } if matches!(name.as_str(), "rows" | "partition_count" | "unmatched") => {
            match args.as_slice() {
                [Expr {
                    kind: ExprKind::Alias(alias),
                    ..
                }] => Counted::Param(input_counter_param(name, alias)),
                _ => return None,
            }
        }
        ExprKind::Unary(UnaryOp::Neg, x) => Counted::Neg(Box::new(number(x)?)),
        ExprKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul), l, r) => {
            Counted::Binary(*op, Box::new(number(l)?), Box::new(number(r)?))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(name: &str) -> Option<i64> {
        match name {
            ":counter_input" => Some(10_990),
            ":counter_accepted" => Some(10_716),
            ":counter_quarantined" => Some(104),
            ":counter_duplicates" => Some(170),
            ":rows_ev" => Some(i64::MAX),
            _ => None,
        }
    }

    fn p(name: &str) -> Box<Counted> {
        Box::new(Counted::Param(name.into()))
    }

    fn bin(op: BinaryOp, l: Box<Counted>, r: Box<Counted>) -> Box<Counted> {
        Box::new(Counted::Binary(op, l, r))
    }

    #[test]
    fn a_balance_of_counters_is_computed_as_an_engine_would() {
        let sum = bin(
            BinaryOp::Add,
            bin(
                BinaryOp::Add,
                p(":counter_accepted"),
                p(":counter_quarantined"),
            ),
            p(":counter_duplicates"),
        );
        let balanced = bin(BinaryOp::Eq, p(":counter_input"), sum.clone());
        assert_eq!(balanced.evaluate(&counters), Some(1));
        let off = bin(
            BinaryOp::Eq,
            p(":counter_input"),
            bin(BinaryOp::Sub, sum, Box::new(Counted::Int(1))),
        );
        assert_eq!(off.evaluate(&counters), Some(0));
        let not = Counted::Not(off);
        assert_eq!(not.evaluate(&counters), Some(1));
        let some = bin(
            BinaryOp::Gt,
            p(":counter_quarantined"),
            Box::new(Counted::Int(0)),
        );
        let both = bin(BinaryOp::And, some.clone(), Box::new(not));
        assert_eq!(both.evaluate(&counters), Some(1));
        let neg = bin(
            BinaryOp::Lt,
            Box::new(Counted::Neg(p(":counter_input"))),
            Box::new(Counted::Int(0)),
        );
        assert_eq!(neg.evaluate(&counters), Some(1));
    }

    #[test]
    fn overflow_or_a_counter_without_an_integer_leaves_the_answer_to_the_engine() {
        let over = bin(BinaryOp::Add, p(":rows_ev"), Box::new(Counted::Int(1)));
        assert_eq!(over.evaluate(&counters), None);
        let twice = bin(BinaryOp::Mul, p(":rows_ev"), Box::new(Counted::Int(2)));
        assert_eq!(twice.evaluate(&counters), None);
        let unknown = bin(BinaryOp::Eq, p(":counter_agg0"), Box::new(Counted::Int(0)));
        assert_eq!(unknown.evaluate(&counters), None);
        // Even where the other side would decide it: the engine's null
        // logic is not repeated here.
        let or = bin(BinaryOp::Or, Box::new(Counted::Int(1)), unknown);
        assert_eq!(or.evaluate(&counters), None);
    }
}
