//! Which columns share a value domain, read from the specs: two columns a
//! join compares, a column a dataset copies from its input (`unit_id =
//! ev.unit_id`), and an input column a boundary ties to a partition key
//! (`tenant_id == p.tenant_id`) hold the same values. The pairs are joined
//! with union-find over `(declaration, column)`, then each domain is
//! classified:
//!
//! - **enum**: a member is an enum; values are its variants.
//! - **rows**: every member is the (last) key column of a source, as an
//!   event id is; one source (the one a job reads `from`) issues one id per
//!   row, the others are its children and reuse its ids.
//! - **entities**: shared, or a key column: a population of units,
//!   accounts, regions. A domain that is an attribute of a reference
//!   (`org_units.region`) or the leading column of a composite key
//!   (`tenant_id` before `account_id`) is coarse: a handful of values.
//! - **free**: a column of its own, drawn by its type.
//!
//! A composite key `(tenant_id, account_id)` also says that an account
//! belongs to one tenant: the tenant domain is *determined* by the account
//! domain, so every table that has both columns derives the tenant from the
//! account and the pairs agree everywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::semantic::hir::{Decl, DeclId, Expr, ExprKind, Lit, Program, Step};
use crate::semantic::T;
use crate::syntax::ast::{BinaryOp, DeclKind, UnaryOp};

pub type Node = (DeclId, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainKind {
    Enum(Arc<[String]>),
    Rows { owner: DeclId },
    Entities { card: u64 },
    Free,
}

#[derive(Debug, Clone)]
pub struct Domain {
    pub kind: DomainKind,
    /// The id prefix: `unit` for `unit_id`.
    pub prefix: String,
    /// This domain's index is a function of that domain's index.
    pub determinant: Option<usize>,
    /// Whether any member is an `int` column (ids are numbers then).
    pub int: bool,
}

#[derive(Debug, Default)]
pub struct Analysis {
    /// The domain of every source and reference column.
    pub domain_of: BTreeMap<Node, usize>,
    pub domains: Vec<Domain>,
    /// Sources some job reads `from`: the owners of the ids they share.
    pub driving: BTreeSet<DeclId>,
    /// Columns a job compares with zero or negates: signed amounts.
    pub signed: BTreeSet<Node>,
}

impl Analysis {
    pub fn domain(&self, decl: DeclId, column: &str) -> Option<&Domain> {
        self.domain_of
            .get(&(decl, column.to_string()))
            .map(|d| &self.domains[*d])
    }

    pub fn id(&self, decl: DeclId, column: &str) -> Option<usize> {
        self.domain_of.get(&(decl, column.to_string())).copied()
    }
}

/// How many entities a domain has for `rows` rows per event source.
pub fn entity_count(rows: u64) -> u64 {
    (rows / 50).clamp(8, 5000)
}

/// How many values a coarse domain (regions, tenants) has.
pub fn coarse_count(rows: u64) -> u64 {
    (entity_count(rows) / 20).clamp(3, 12)
}

#[derive(Default)]
struct UnionFind {
    nodes: BTreeMap<Node, usize>,
    parent: Vec<usize>,
}

impl UnionFind {
    fn node(&mut self, n: Node) -> usize {
        let next = self.parent.len();
        let i = *self.nodes.entry(n).or_insert(next);
        if i == next {
            self.parent.push(i);
        }
        i
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: Node, b: Node) {
        let (a, b) = (self.node(a), self.node(b));
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// The conjuncts of `a and b and ...`.
fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, l, r) => {
            conjuncts(l, out);
            conjuncts(r, out);
        }
        _ => out.push(e),
    }
}

/// Calls `f` on `e` and every expression inside it.
fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Call { args, over, .. } => {
            args.iter().for_each(|a| walk(a, f));
            if let Some(o) = over {
                o.partition_by.iter().for_each(|a| walk(a, f));
                o.order_by.iter().for_each(|k| walk(&k.expr, f));
            }
        }
        ExprKind::Unary(_, a) => walk(a, f),
        ExprKind::Binary(_, a, b) => {
            walk(a, f);
            walk(b, f);
        }
        ExprKind::IsNull { expr, .. } => walk(expr, f),
        ExprKind::List(items) => items.iter().for_each(|a| walk(a, f)),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            walk(cond, f);
            walk(then, f);
            walk(otherwise, f);
        }
        _ => {}
    }
}

fn is_zero(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(Lit::Int(0)) => true,
        ExprKind::Lit(Lit::Number(n)) => n
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.'),
        _ => false,
    }
}

/// Reads one dataset's pipeline: aliases, then the column pairs it equates.
struct Reader<'p> {
    decl: &'p Decl,
    aliases: BTreeMap<&'p str, DeclId>,
}

impl<'p> Reader<'p> {
    fn new(decl: &'p Decl) -> Reader<'p> {
        let aliases = decl
            .inputs
            .iter()
            .map(|i| (i.alias.as_str(), i.target))
            .chain(decl.binds.iter().map(|b| (b.alias.as_str(), b.target)))
            .collect();
        Reader { decl, aliases }
    }

    /// The `(declaration, column)` an expression is, if it is a column or
    /// a partition key.
    fn node(&self, e: &Expr) -> Option<Node> {
        match &e.kind {
            ExprKind::Column {
                alias: Some(a),
                name,
            } => Some((*self.aliases.get(a.as_str())?, name.clone())),
            ExprKind::Column { alias: None, name } => Some((self.decl.id, name.clone())),
            ExprKind::Partition { key: Some(k) } => Some((self.decl.id, k.clone())),
            ExprKind::Partition { key: None } => self
                .decl
                .partition
                .first()
                .map(|k| (self.decl.id, k.name.clone())),
            _ => None,
        }
    }

    fn equalities(&self, e: &Expr, uf: &mut UnionFind) {
        let mut parts = Vec::new();
        conjuncts(e, &mut parts);
        for p in parts {
            if let ExprKind::Binary(BinaryOp::Eq, l, r) = &p.kind {
                if let (Some(a), Some(b)) = (self.node(l), self.node(r)) {
                    uf.union(a, b);
                }
            }
        }
    }

    fn copies(&self, named: &[crate::semantic::hir::Named], uf: &mut UnionFind) {
        for n in named {
            if let Some(from) = self.node(&n.expr) {
                uf.union((self.decl.id, n.name.clone()), from);
            }
        }
    }

    fn signed(&self, e: &Expr, out: &mut BTreeSet<Node>) {
        walk(e, &mut |x| match &x.kind {
            ExprKind::Binary(BinaryOp::Lt | BinaryOp::Gt, l, r) => {
                for (c, z) in [(l, r), (r, l)] {
                    if is_zero(z) {
                        if let Some(n) = self.node(c) {
                            out.insert(n);
                        }
                    }
                }
            }
            ExprKind::Unary(UnaryOp::Neg, c) => {
                if let Some(n) = self.node(c) {
                    out.insert(n);
                }
            }
            _ => {}
        });
    }
}

/// Reads every job of the program and classifies the domains of the
/// columns of its sources and references.
pub fn analyse(program: &Program, rows: u64) -> Analysis {
    let mut uf = UnionFind::default();
    let mut a = Analysis::default();
    for d in &program.decls {
        for c in &d.columns {
            uf.node((d.id, c.name.clone()));
        }
    }
    for d in program.datasets() {
        let Some(job) = &d.job else { continue };
        let r = Reader::new(d);
        for step in &job.steps {
            match step {
                Step::From(alias) => {
                    if let Some(t) = r.aliases.get(alias.as_str()) {
                        a.driving.insert(*t);
                    }
                }
                Step::Join { on, .. } => r.equalities(on, &mut uf),
                Step::Select(named) | Step::Derive(named) | Step::Aggregate(named) => {
                    r.copies(named, &mut uf)
                }
                Step::Group { keys, aggregates } => {
                    r.copies(keys, &mut uf);
                    r.copies(aggregates, &mut uf);
                }
                Step::Where(_) | Step::Dedupe { .. } => {}
            }
            let exprs: Vec<&Expr> = match step {
                Step::Where(e) | Step::Join { on: e, .. } => vec![e],
                Step::Select(n) | Step::Derive(n) | Step::Aggregate(n) => {
                    n.iter().map(|n| &n.expr).collect()
                }
                Step::Group { keys, aggregates } => {
                    keys.iter().chain(aggregates).map(|n| &n.expr).collect()
                }
                Step::From(_) | Step::Dedupe { .. } => Vec::new(),
            };
            for e in exprs {
                r.signed(e, &mut a.signed);
            }
        }
        // A boundary `tenant_id == p.tenant_id` ties the input's column to
        // the partition key, which the dataset's output column copies.
        for (alias, boundary) in &job.boundaries {
            let (Some(target), Some(b)) = (r.aliases.get(alias.as_str()), boundary) else {
                continue;
            };
            let mut parts = Vec::new();
            conjuncts(b, &mut parts);
            for p in parts {
                if let ExprKind::Binary(BinaryOp::Eq, l, rhs) = &p.kind {
                    for (c, k) in [(l, rhs), (rhs, l)] {
                        if let (
                            ExprKind::Column { alias: None, name },
                            ExprKind::Partition { .. },
                        ) = (&c.kind, &k.kind)
                        {
                            if let Some(key) = r.node(k) {
                                uf.union((*target, name.clone()), key);
                            }
                        }
                    }
                }
            }
        }
    }
    classify(program, &mut uf, &mut a, rows);
    a
}

fn is_data(d: &Decl) -> bool {
    matches!(d.kind, DeclKind::Source | DeclKind::Reference)
}

fn column_type<'d>(d: &'d Decl, name: &str) -> Option<&'d T> {
    d.columns.iter().find(|c| c.name == name).map(|c| &c.ty.t)
}

fn prefix_of(column: &str) -> String {
    let stem = ["_id", "_code", "_key", "_no"]
        .iter()
        .find_map(|s| column.strip_suffix(s))
        .filter(|s| !s.is_empty())
        .unwrap_or(column);
    stem.replace('_', "-")
}

fn classify(program: &Program, uf: &mut UnionFind, a: &mut Analysis, rows: u64) {
    // Group the source and reference columns by class, in a fixed order.
    let nodes: Vec<(Node, usize)> = uf.nodes.iter().map(|(n, i)| (n.clone(), *i)).collect();
    let mut classes: BTreeMap<usize, Vec<Node>> = BTreeMap::new();
    for (n, i) in nodes {
        if is_data(program.get(n.0)) && column_type(program.get(n.0), &n.1).is_some() {
            classes.entry(uf.find(i)).or_default().push(n);
        }
    }
    for members in classes.into_values() {
        let id = a.domains.len();
        let types: Vec<&T> = members
            .iter()
            .filter_map(|(d, c)| column_type(program.get(*d), c))
            .collect();
        let idish = types.iter().all(|t| matches!(t, T::String | T::Int));
        let in_key = |(d, c): &Node| program.get(*d).key.iter().any(|k| k == c);
        let last_key = |(d, c): &Node| {
            let d = program.get(*d);
            d.kind == DeclKind::Source && d.key.last() == Some(c)
        };
        let enum_variants = types.iter().find_map(|t| match t {
            T::Enum(v) => Some(v.clone()),
            _ => None,
        });
        let kind = if let Some(v) = enum_variants {
            DomainKind::Enum(v)
        } else if idish && members.iter().all(last_key) {
            let owner = members
                .iter()
                .map(|(d, _)| *d)
                .find(|d| a.driving.contains(d))
                .unwrap_or(members[0].0);
            DomainKind::Rows { owner }
        } else if idish && (members.len() > 1 || members.iter().any(in_key)) {
            DomainKind::Entities {
                card: entity_count(rows),
            }
        } else {
            DomainKind::Free
        };
        // Name the ids after the column that defines them: the owner's, a
        // reference's key, or the first.
        let namer = match &kind {
            DomainKind::Rows { owner } => members.iter().find(|(d, _)| d == owner),
            _ => members
                .iter()
                .find(|n| program.get(n.0).kind == DeclKind::Reference && in_key(n))
                .or_else(|| members.iter().find(|n| in_key(n))),
        }
        .unwrap_or(&members[0]);
        a.domains.push(Domain {
            kind,
            prefix: prefix_of(&namer.1),
            determinant: None,
            int: types.iter().any(|t| matches!(t, T::Int)),
        });
        for m in members {
            a.domain_of.insert(m, id);
        }
    }
    let entities =
        |a: &Analysis, d: usize| matches!(a.domains[d].kind, DomainKind::Entities { .. });
    // Coarse domains, and which domain determines which.
    let mut coarse = BTreeSet::new();
    for d in program.decls.iter().filter(|d| is_data(d)) {
        let key: Vec<usize> = d.key.iter().filter_map(|k| a.id(d.id, k)).collect();
        if let Some((&last, init)) = key.split_last() {
            // A leading column before a finer id (a tenant before an
            // account or an entry) is coarse; before an enum it is not.
            let finer = !matches!(a.domains[last].kind, DomainKind::Enum(_) | DomainKind::Free);
            for &k in init {
                if entities(a, k) && k != last && finer {
                    coarse.insert(k);
                    if entities(a, last)
                        && !reaches(a, last, k)
                        && a.domains[k].determinant.is_none()
                    {
                        a.domains[k].determinant = Some(last);
                    }
                }
            }
        }
        if d.kind == DeclKind::Reference {
            for c in d.columns.iter().filter(|c| !d.key.contains(&c.name)) {
                if let Some(k) = a.id(d.id, &c.name) {
                    if entities(a, k) && !key.contains(&k) {
                        coarse.insert(k);
                    }
                }
            }
        }
    }
    for k in coarse {
        a.domains[k].kind = DomainKind::Entities {
            card: coarse_count(rows),
        };
    }
}

/// Whether `from`'s chain of determinants reaches `to` (or is `to`).
fn reaches(a: &Analysis, mut from: usize, to: usize) -> bool {
    for _ in 0..=a.domains.len() {
        if from == to {
            return true;
        }
        match a.domains[from].determinant {
            Some(next) => from = next,
            None => return false,
        }
    }
    true
}
