//! Expressions: the grammar gives a flat token list
//! (`prefix* primary postfix* (infix prefix* primary postfix*)*`) and
//! precedence climbing gives it shape. The binding strengths are the ones in
//! `ast` (`BinaryOp::precedence`, `NOT_PRECEDENCE`, `NEG_PRECEDENCE`), which
//! the formatter also uses to decide where parentheses are needed, so the
//! two can never disagree. (pest's PrattParser did the same with its own
//! copy of the table and a hash lookup per token.)

use std::cell::Cell;
use std::iter::Peekable;

use super::tree::{kids, Builder, P};
use super::{Rule, MAX_EXPR_DEPTH};
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;

/// Postfix operators (`.name`, `is null`) bind tighter than anything else.
const POSTFIX_PRECEDENCE: u8 = NEG_PRECEDENCE + 1;

pub(super) fn build(b: &Builder<'_>, p: P<'_>) -> Expr {
    let depth = b.expr_depth.get();
    if depth == 0 {
        b.expr_too_deep.set(false);
    }
    let mut tokens = p.into_inner().peekable();
    climb(b, &mut tokens, 0, depth).0
}

/// Builds `p` as the operand of a node `depth` nodes deep: the brackets of
/// calls, lists, parentheses and `if`s recurse through [`build`].
fn nested(b: &Builder<'_>, p: P<'_>, depth: usize) -> (Expr, usize) {
    let outer = b.expr_depth.replace(depth);
    let mut tokens = p.into_inner().peekable();
    let built = climb(b, &mut tokens, 0, depth);
    b.expr_depth.set(outer);
    built
}

/// Stops building an expression whose tree would be deeper than
/// [`MAX_EXPR_DEPTH`]: reports it once, at `at`, and skips the tokens left.
/// Every pass after the parser walks trees by recursion, so this bound is
/// what keeps them all within their stack.
fn too_deep<'i>(b: &Builder<'_>, at: &P<'i>, tokens: &mut Peekable<impl Iterator<Item = P<'i>>>) {
    tokens.for_each(drop);
    if b.expr_too_deep.replace(true) {
        return;
    }
    b.report(
        Diagnostic::new(
            codes::E0011,
            format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
        )
        .primary(b.span(at), "the expression is too deep from here on")
        .help(
            "every operator nests one level (`a + b + c` is `(a + b) + c`): \
             compute parts of a long chain in `derive` steps and combine those",
        ),
    );
}

/// How tightly the operator token `p` binds its left operand; 0 for
/// anything that is not an infix or postfix operator.
fn left_binding(p: &P<'_>) -> u8 {
    match p.as_rule() {
        Rule::member | Rule::is_null | Rule::is_not_null => POSTFIX_PRECEDENCE,
        rule => binary_op(rule).map_or(0, BinaryOp::precedence),
    }
}

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
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
        Rule::op_div => BinaryOp::Div,
        _ => return None,
    })
}

/// One operand and every operator after it that binds tighter than `min`,
/// and the height of its tree; `depth` nodes enclose it.
/// Binary operators are left-associative: the right operand stops at an
/// operator of the same strength. A prefix operator takes everything
/// tighter than itself (`not a == b` is `not (a == b)`, `-a * b` is
/// `(-a) * b`).
fn climb<'i>(
    b: &Builder<'_>,
    tokens: &mut Peekable<impl Iterator<Item = P<'i>>>,
    min: u8,
    depth: usize,
) -> (Expr, usize) {
    let first = tokens.next().expect("the grammar puts an operand first");
    let prefix = match first.as_rule() {
        Rule::op_not => Some((UnaryOp::Not, NOT_PRECEDENCE)),
        Rule::op_neg => Some((UnaryOp::Neg, NEG_PRECEDENCE)),
        _ => None,
    };
    let (mut lhs, mut height) = match prefix {
        Some((op, strength)) if depth < MAX_EXPR_DEPTH => {
            let (operand, height) = climb(b, tokens, strength - 1, depth + 1);
            let expr = Expr {
                span: b.span(&first).to(operand.span),
                kind: ExprKind::Unary(op, Box::new(operand)),
            };
            (expr, height + 1)
        }
        Some(_) => {
            // Too deep to take an operand: the literal `null` stands in.
            too_deep(b, &first, tokens);
            let null = Expr {
                span: b.span(&first),
                kind: ExprKind::Literal(Literal::Null),
            };
            return (null, 1);
        }
        None => primary(b, first, depth),
    };
    while let Some(next) = tokens.peek() {
        let strength = left_binding(next);
        if strength <= min {
            break;
        }
        let op = tokens.next().expect("peeked");
        if depth + height >= MAX_EXPR_DEPTH || b.expr_too_deep.get() {
            too_deep(b, &op, tokens);
            break;
        }
        lhs = match binary_op(op.as_rule()) {
            Some(binary) => {
                let (rhs, rhs_height) = climb(b, tokens, strength, depth + 1);
                height = height.max(rhs_height);
                Expr {
                    span: lhs.span.to(rhs.span),
                    kind: ExprKind::Binary(binary, Box::new(lhs), Box::new(rhs)),
                }
            }
            None => postfix(b, lhs, op),
        };
        height += 1;
    }
    (lhs, height)
}

fn postfix(b: &Builder<'_>, lhs: Expr, op: P<'_>) -> Expr {
    let span = lhs.span.to(b.span(&op));
    let kind = match op.as_rule() {
        Rule::member => ExprKind::Member(Box::new(lhs), b.ident(kids(op).next().unwrap())),
        rule => ExprKind::IsNull {
            expr: Box::new(lhs),
            negated: rule == Rule::is_not_null,
        },
    };
    Expr { kind, span }
}

/// `name(args) over (...)`, from the name and the `call_args` pair.
/// `build` builds an argument one level deeper than the call; `deepest`
/// keeps the height of the deepest argument or sort key.
fn call(
    b: &Builder<'_>,
    name: Ident,
    call_args: P<'_>,
    build: &dyn Fn(&Builder<'_>, P<'_>) -> Expr,
    (depth, deepest): (usize, &Cell<usize>),
) -> ExprKind {
    // The children are the arguments and at most one `over`: sized from the
    // start, since a growing Vec of `Expr`s reserves room for four (calls
    // were a seventh of the heap of a checked project).
    let children = call_args.into_inner();
    let mut args = Vec::with_capacity(children.len());
    let mut over = None;
    for c in children {
        match c.as_rule() {
            Rule::expr => args.push(build(b, c)),
            _ => {
                let mut o = Over {
                    partition_by: Vec::new(),
                    order_by: Vec::new(),
                };
                for part in kids(c) {
                    match part.as_rule() {
                        Rule::order_by => {
                            // Sort keys are built by `Builder::expr`, which
                            // starts at the depth set here.
                            let outer = b.expr_depth.replace(depth + 1);
                            o.order_by = b.order_by(part);
                            b.expr_depth.set(outer);
                            for k in &o.order_by {
                                deepest.set(deepest.get().max(height(&k.expr)));
                            }
                        }
                        _ => o.partition_by.push(build(b, part)),
                    }
                }
                over = Some(o);
            }
        }
    }
    ExprKind::Call(Box::new(Call { name, args, over }))
}

/// The height of a tree built within [`MAX_EXPR_DEPTH`] (so this recursion
/// is bounded too).
fn height(e: &Expr) -> usize {
    let mut deepest = 0;
    crate::syntax::visit::children(e, &mut |c| deepest = deepest.max(height(c)));
    deepest + 1
}

/// An operand, and the height of its tree.
fn primary(b: &Builder<'_>, p: P<'_>, depth: usize) -> (Expr, usize) {
    let span = b.span(&p);
    // The height of the deepest expression inside the brackets.
    let inner = Cell::new(0);
    let build = |b: &Builder<'_>, p: P<'_>| {
        let (e, height) = nested(b, p, depth + 1);
        inner.set(inner.get().max(height));
        e
    };
    let kind = match p.as_rule() {
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
        Rule::name_or_call => {
            let mut parts = p.into_inner();
            let name = parts.next().expect("a name comes first");
            match parts.next() {
                None => ExprKind::Ident(name.as_str().to_string()),
                Some(call_args) => call(b, b.ident(name), call_args, &build, (depth, &inner)),
            }
        }
        _ => ExprKind::Literal(b.literal(p)),
    };
    (Expr { kind, span }, inner.get() + 1)
}

#[cfg(test)]
mod tests {
    use crate::syntax::ast::{BinaryOp, Expr, ExprKind, Item, UnaryOp};
    use crate::syntax::span::FileId;

    /// The tree of one expression as an S-expression, so a test can say
    /// exactly which operator took which operand.
    fn tree(src: &str) -> String {
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Ident(n) => n.clone(),
                ExprKind::Member(x, name) => format!("(. {} {})", show(x), name.name),
                ExprKind::Unary(UnaryOp::Not, x) => format!("(not {})", show(x)),
                ExprKind::Unary(UnaryOp::Neg, x) => format!("(neg {})", show(x)),
                ExprKind::IsNull { expr, negated } => {
                    format!(
                        "({} {})",
                        if *negated { "notnull" } else { "null" },
                        show(expr)
                    )
                }
                ExprKind::Binary(op, l, r) => {
                    let op = match op {
                        BinaryOp::Or => "or",
                        BinaryOp::And => "and",
                        BinaryOp::Eq => "==",
                        BinaryOp::Lt => "<",
                        BinaryOp::In => "in",
                        BinaryOp::Add => "+",
                        BinaryOp::Sub => "-",
                        BinaryOp::Mul => "*",
                        BinaryOp::Div => "/",
                        other => panic!("not used here: {other:?}"),
                    };
                    format!("({op} {} {})", show(l), show(r))
                }
                ExprKind::Paren(x) => show(x),
                other => panic!("not used here: {other:?}"),
            }
        }
        let (module, diags) = super::super::parse(FileId(0), &format!("check c(a: int) = {src}"));
        assert!(diags.is_empty(), "{src}: {diags:?}");
        match &module.items[0] {
            Item::Check(c) => show(&c.body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn binary_operators_bind_by_precedence_and_associate_left() {
        assert_eq!(tree("a or b and c"), "(or a (and b c))");
        assert_eq!(tree("a and b or c"), "(or (and a b) c)");
        assert_eq!(tree("a == b + c * d"), "(== a (+ b (* c d)))");
        assert_eq!(tree("a - b - c"), "(- (- a b) c)");
        assert_eq!(tree("a / b * c"), "(* (/ a b) c)");
        assert_eq!(tree("a in b and c < d"), "(and (in a b) (< c d))");
        assert_eq!(tree("(a - b) - c"), "(- (- a b) c)");
        assert_eq!(tree("a - (b - c)"), "(- a (- b c))");
    }

    #[test]
    fn prefix_operators_take_what_binds_tighter_than_themselves() {
        assert_eq!(tree("not a == b and c"), "(and (not (== a b)) c)");
        assert_eq!(tree("not a or b"), "(or (not a) b)");
        assert_eq!(tree("not not a"), "(not (not a))");
        assert_eq!(tree("-a * b"), "(* (neg a) b)");
        assert_eq!(tree("a * -b + c"), "(+ (* a (neg b)) c)");
        assert_eq!(tree("a == not b and c"), "(and (== a (not b)) c)");
    }

    /// Identifiers are read by their first letter; a reserved word is
    /// never a name, and a name that starts like one (or with any letter,
    /// `_` or a capital) still is.
    #[test]
    fn names_that_start_like_reserved_words_are_names() {
        let reserved = [
            "and", "or", "over", "not", "null", "in", "is", "if", "true", "then", "false", "else",
        ];
        for word in reserved {
            for name in [format!("{word}x"), format!("{word}_1"), format!("{word}0")] {
                assert_eq!(tree(&format!("{name} + b")), format!("(+ {name} b)"));
            }
            // A literal (`null`, `true`, `false`) or a mistake, never a name.
            let src = format!("check c(a: int) = {word}");
            let (module, _) = super::super::parse(FileId(0), &src);
            let named = match module.items.first() {
                Some(Item::Check(c)) => matches!(c.body.kind, ExprKind::Ident(_)),
                _ => false,
            };
            assert!(!named, "`{word}` is reserved");
        }
        for name in [
            "u0",
            "region",
            "sum",
            "business_date",
            "amount",
            "events",
            "org",
            "tgt",
            "i",
            "fx",
            "n",
            "o",
            "t",
            "e",
            "a",
            "g",
            "h",
            "j",
            "k",
            "l",
            "m",
            "x_",
            "_x",
            "Zed",
            "Amount",
            "ORDER",
            "ov",
            "an",
            "nu",
            "tr",
            "th",
            "fals",
            "els",
            "iso",
        ] {
            assert_eq!(tree(&format!("{name} == b")), format!("(== {name} b)"));
        }
    }

    #[test]
    fn postfix_operators_bind_tightest() {
        assert_eq!(tree("-a.b"), "(neg (. a b))");
        assert_eq!(tree("not a.b is null"), "(not (null (. a b)))");
        assert_eq!(tree("a + b is not null"), "(+ a (notnull b))");
        assert_eq!(tree("a.b.c"), "(. (. a b) c)");
    }
}
