//! Reusable checks are written out where they are called (`job::expr_with`):
//! the body, with each argument in place of its parameter, and the checks
//! the body calls likewise. Without a loop (E0012) that ends, but it can
//! still grow past reason: an argument is copied once per use of its
//! parameter, so `twice(twice(twice(...)))` doubles per call, and a chain
//! of checks stacks the depths of their bodies. E0013 bounds the size and
//! the depth of what any expression becomes, so lowering stays as bounded
//! as the parser keeps the trees it reads.

use rustc_hash::FxHashMap;

use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::parser::MAX_EXPR_DEPTH;
use crate::syntax::span::Span;
use crate::syntax::visit::{children, top_level_exprs};

/// The most expressions one expression may become once written out.
pub const MAX_EXPANDED_NODES: u64 = 100_000;
/// The deepest it may become: room for a check's body under an expression.
pub const MAX_EXPANDED_DEPTH: u64 = 2 * MAX_EXPR_DEPTH as u64;

/// What writing out an expression costs, as a function of the arguments of
/// the check it is in (the check's parameters, in order).
#[derive(Clone, Debug)]
struct Cost {
    /// Expressions written, besides the arguments.
    nodes: u64,
    /// How many times each argument is written.
    copies: Vec<u64>,
    /// Depth, besides the arguments'.
    depth: u64,
    /// How deep each argument lands, if it is used.
    at: Vec<Option<u64>>,
}

impl Cost {
    fn leaf(params: usize) -> Cost {
        Cost {
            nodes: 1,
            copies: vec![0; params],
            depth: 1,
            at: vec![None; params],
        }
    }

    /// With every argument a single expression.
    fn total(&self) -> (u64, u64) {
        let nodes = self
            .copies
            .iter()
            .fold(self.nodes, |n, c| n.saturating_add(*c));
        let depth = self
            .at
            .iter()
            .flatten()
            .fold(self.depth, |d, a| d.max(a + 1));
        (nodes, depth)
    }

    /// This check's body written out with `args` in place.
    fn apply(&self, args: &[Cost], params: usize) -> Cost {
        let mut out = Cost {
            nodes: self.nodes,
            copies: vec![0; params],
            depth: self.depth,
            at: vec![None; params],
        };
        for ((copies, at), arg) in self.copies.iter().zip(&self.at).zip(args) {
            out.nodes = out.nodes.saturating_add(copies.saturating_mul(arg.nodes));
            for (i, c) in arg.copies.iter().enumerate() {
                out.copies[i] = out.copies[i].saturating_add(copies.saturating_mul(*c));
            }
            if let Some(at) = at {
                out.depth = out.depth.max(at.saturating_add(arg.depth));
                for (i, a) in arg.at.iter().enumerate() {
                    if let Some(a) = a {
                        let deeper = at.saturating_add(*a);
                        out.at[i] = Some(out.at[i].map_or(deeper, |x| x.max(deeper)));
                    }
                }
            }
        }
        out
    }
}

struct Measure<'a, 'c> {
    /// The cost of each check's body, in terms of its parameters.
    bodies: &'c FxHashMap<&'a str, Cost>,
    params: &'c [&'a str],
    /// The first call whose expansion is too large.
    too_large: Option<(Span, &'a str, u64, u64)>,
}

impl<'a> Measure<'a, '_> {
    fn cost(&mut self, e: &'a Expr) -> Cost {
        let n = self.params.len();
        match &e.kind {
            ExprKind::Ident(name) => match self.params.iter().position(|p| p == name) {
                Some(i) => {
                    let mut c = Cost::leaf(n);
                    c.nodes = 0;
                    c.depth = 0;
                    c.copies[i] = 1;
                    c.at[i] = Some(0);
                    c
                }
                None => Cost::leaf(n),
            },
            ExprKind::Call(call) if self.bodies.contains_key(call.name.name.as_str()) => {
                let args: Vec<Cost> = call.args.iter().map(|a| self.cost(a)).collect();
                let body = &self.bodies[call.name.name.as_str()];
                let written = body.apply(&args, n);
                let (nodes, depth) = written.total();
                if self.too_large.is_none()
                    && (nodes > MAX_EXPANDED_NODES || depth > MAX_EXPANDED_DEPTH)
                {
                    self.too_large = Some((call.name.span, call.name.name.as_str(), nodes, depth));
                }
                written
            }
            _ => {
                let mut out = Cost::leaf(n);
                children(e, &mut |c| {
                    let c = self.cost(c);
                    out.nodes = out.nodes.saturating_add(c.nodes);
                    out.depth = out.depth.max(c.depth.saturating_add(1));
                    for i in 0..n {
                        out.copies[i] = out.copies[i].saturating_add(c.copies[i]);
                        if let Some(a) = c.at[i] {
                            out.at[i] = Some(out.at[i].map_or(a + 1, |x| x.max(a + 1)));
                        }
                    }
                });
                out
            }
        }
    }
}

/// What each reusable check's body costs written out: [`check_bodies`]
/// measures them once, [`check_decl`] reads them for every declaration.
pub struct Bodies<'a>(FxHashMap<&'a str, Cost>);

/// `order` lists the checks with each after every check it calls.
pub fn check_bodies<'a>(order: &[&'a CheckDecl], diags: &mut Vec<Diagnostic>) -> Bodies<'a> {
    let mut bodies: FxHashMap<&str, Cost> = FxHashMap::default();
    for c in order {
        let params: Vec<&str> = c.params.iter().map(|p| p.name.name.as_str()).collect();
        let mut m = Measure {
            bodies: &bodies,
            params: &params,
            too_large: None,
        };
        let cost = m.cost(&c.body);
        if let Some(found) = m.too_large {
            diags.push(too_large(found));
        }
        bodies.insert(c.name.name.as_str(), cost);
    }
    Bodies(bodies)
}

/// Every expression of one declaration, written out. Declarations are
/// independent, so the checker measures them on every core.
pub fn check_decl<'a>(decl: &'a Decl, bodies: &Bodies<'a>, diags: &mut Vec<Diagnostic>) {
    for clause in &decl.clauses {
        top_level_exprs(clause, &mut |e| {
            let mut m = Measure {
                bodies: &bodies.0,
                params: &[],
                too_large: None,
            };
            m.cost(e);
            if let Some(found) = m.too_large {
                diags.push(too_large(found));
            }
        });
    }
}

fn too_large((span, name, nodes, depth): (Span, &str, u64, u64)) -> Diagnostic {
    let what = if nodes > MAX_EXPANDED_NODES {
        format!("more than {MAX_EXPANDED_NODES} expressions")
    } else {
        format!("{depth} levels deep, more than {MAX_EXPANDED_DEPTH}")
    };
    Diagnostic::new(
        codes::E0013,
        format!("the check `{name}` written out here is {what}"),
    )
    .primary(span, "written out in full here")
    .help("a check is copied where it is used, each argument once per use of its parameter; call it on a column computed in a `derive` step instead of on nested calls, or state the rule without the inner checks")
}
