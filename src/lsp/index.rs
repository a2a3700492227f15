//! Every name in one file and what it stands for: the table hover, go to
//! definition, find references and completion look positions up in.
//!
//! It is built from the AST alone, so it exists for every file that parses
//! even partly, and rebuilding it after an edit costs one walk over the
//! edited file. What a name means across files (which columns a dataset has,
//! where a column was computed) is decided when a request asks, by
//! [`super::resolve`], against the whole project.

use crate::syntax::ast::*;
use crate::syntax::span::Span;

/// What a name in the source stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Sym {
    /// A source, reference or dataset.
    Decl(String),
    /// An input or binding alias of a dataset.
    Alias { decl: String, alias: String },
    /// A column of a declaration: declared, or computed by its pipeline.
    Column { decl: String, column: String },
    /// A bare name in an expression of `decl`: a computed column, a column
    /// of one of its inputs, an enum value or a counter. Resolved on demand.
    Name { decl: String, name: String },
    /// A function or a check.
    Function(String),
    /// `p` (no key) or `p.key`, in `decl`.
    Partition { decl: String, key: Option<String> },
}

/// One name at one place.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub start: u32,
    pub end: u32,
    pub sym: Sym,
    /// Whether the name is defined here rather than used.
    pub def: bool,
}

#[derive(Debug, Clone, Default)]
pub struct FileIndex {
    /// Sorted by start; an occurrence never overlaps another.
    pub occurrences: Vec<Occurrence>,
}

impl FileIndex {
    pub fn build(module: &Module) -> FileIndex {
        let mut out = Vec::new();
        for item in &module.items {
            match item {
                Item::Decl(d) => Walker::new(d, &mut out).decl(d),
                Item::Function(f) => push(
                    &mut out,
                    f.name.span,
                    Sym::Function(f.name.name.clone()),
                    true,
                ),
                Item::Check(c) => {
                    push(
                        &mut out,
                        c.name.span,
                        Sym::Function(c.name.name.clone()),
                        true,
                    );
                    let mut w = Walker {
                        decl: String::new(),
                        aliases: Vec::new(),
                        out: &mut out,
                    };
                    w.expr(&c.body, None);
                }
            }
        }
        out.sort_by_key(|o| (o.start, o.end));
        FileIndex { occurrences: out }
    }

    /// The occurrence at a byte offset: the innermost one containing it,
    /// or ending right at it (the cursor just after a name).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let offset = offset as u32;
        let i = self.occurrences.partition_point(|o| o.start <= offset);
        self.occurrences[..i]
            .iter()
            .rev()
            .take(8)
            .filter(|o| o.end >= offset)
            .min_by_key(|o| o.end - o.start)
    }
}

fn push(out: &mut Vec<Occurrence>, span: Span, sym: Sym, def: bool) {
    out.push(Occurrence {
        start: span.start,
        end: span.end,
        sym,
        def,
    });
}

/// Walks one declaration, knowing its aliases.
struct Walker<'o> {
    decl: String,
    /// `(alias, target)` of every input and binding.
    aliases: Vec<(String, String)>,
    out: &'o mut Vec<Occurrence>,
}

impl<'o> Walker<'o> {
    fn new(d: &Decl, out: &'o mut Vec<Occurrence>) -> Walker<'o> {
        let aliases = aliases(d)
            .map(|(a, t)| (a.name.clone(), t.name.clone()))
            .collect();
        Walker {
            decl: d.name.name.clone(),
            aliases,
            out,
        }
    }

    fn target(&self, alias: &str) -> Option<&str> {
        self.aliases
            .iter()
            .find(|(a, _)| a == alias)
            .map(|(_, t)| t.as_str())
    }

    fn push(&mut self, span: Span, sym: Sym, def: bool) {
        push(self.out, span, sym, def);
    }

    fn column(&mut self, id: &Ident, def: bool) {
        let sym = Sym::Column {
            decl: self.decl.clone(),
            column: id.name.clone(),
        };
        self.push(id.span, sym, def);
    }

    fn alias(&mut self, id: &Ident, def: bool) {
        let sym = Sym::Alias {
            decl: self.decl.clone(),
            alias: id.name.clone(),
        };
        self.push(id.span, sym, def);
    }

    fn decl(&mut self, d: &Decl) {
        self.push(d.name.span, Sym::Decl(d.name.name.clone()), true);
        for clause in &d.clauses {
            self.clause(&clause.kind);
        }
    }

    fn clause(&mut self, kind: &ClauseKind) {
        match kind {
            ClauseKind::Columns(cols) => cols.iter().for_each(|c| self.column(&c.name, true)),
            ClauseKind::Key(ids) | ClauseKind::Cursor(ids) => {
                ids.iter().for_each(|i| self.column(i, false))
            }
            ClauseKind::Snapshot(id) | ClauseKind::VersionedBy(id) => self.column(id, false),
            ClauseKind::Validity { from, to } => {
                self.column(from, false);
                self.column(to, false);
            }
            ClauseKind::Clock(bindings) => {
                bindings.iter().for_each(|b| self.column(&b.column, false))
            }
            ClauseKind::Partition(keys) => {
                for k in keys {
                    let sym = Sym::Partition {
                        decl: self.decl.clone(),
                        key: Some(k.name.name.clone()),
                    };
                    self.push(k.name.span, sym, true);
                    if let PartitionType::Hash { column, .. } = &k.kind {
                        self.column(column, false);
                    }
                }
            }
            ClauseKind::Input(i) => {
                self.alias(&i.alias, true);
                self.push(i.target.span, Sym::Decl(i.target.name.clone()), false);
                if let InputBound::Where(e) = &i.bound {
                    // A boundary reads the input's own columns, unqualified.
                    let target = i.target.name.clone();
                    self.expr(e, Some(&target));
                }
            }
            ClauseKind::Bind(b) => {
                self.alias(&b.alias, true);
                self.push(b.target.span, Sym::Decl(b.target.name.clone()), false);
                if let BindPolicy::AsOf(e) = &b.policy {
                    self.expr(e, None);
                }
            }
            ClauseKind::Compute(steps) => steps.iter().for_each(|s| self.step(&s.kind)),
            ClauseKind::Quality(rules) => rules.iter().for_each(|r| self.expr(&r.expr, None)),
            ClauseKind::Reconcile(rules) => rules.iter().for_each(|r| self.expr(&r.expr, None)),
            ClauseKind::ClosedAfter(e) => self.expr(e, None),
            ClauseKind::Table(_)
            | ClauseKind::MaxLateness(_)
            | ClauseKind::BadRows { .. }
            | ClauseKind::Versions(_)
            | ClauseKind::Version { .. }
            | ClauseKind::Publish(_)
            | ClauseKind::Schedule(_)
            | ClauseKind::Corrections(_)
            | ClauseKind::Restate(_)
            | ClauseKind::Allow { .. }
            | ClauseKind::Files(_)
            | ClauseKind::Seed(..)
            | ClauseKind::ChangedFiles { .. } => {}
        }
    }

    fn step(&mut self, kind: &StepKind) {
        match kind {
            StepKind::From(alias) => self.alias(alias, false),
            StepKind::Where(e) => self.expr(e, None),
            StepKind::Join { alias, on, .. } => {
                self.alias(alias, false);
                self.expr(on, None);
            }
            StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => {
                assignments.iter().for_each(|a| self.assignment(a))
            }
            StepKind::Group { keys, aggregates } => {
                keys.iter().for_each(|k| self.named(k));
                aggregates.iter().for_each(|a| self.assignment(a));
            }
            StepKind::Select(items) => items.iter().for_each(|k| self.named(k)),
            StepKind::Dedupe { by, order } => {
                by.iter().for_each(|e| self.expr(e, None));
                order.iter().for_each(|k| self.expr(&k.expr, None));
            }
        }
    }

    fn assignment(&mut self, a: &Assignment) {
        self.expr(&a.expr, None);
        self.column(&a.name, true);
    }

    fn named(&mut self, n: &NamedExpr) {
        self.expr(&n.expr, None);
        if let Some(name) = &n.name {
            self.column(name, true);
        }
    }

    /// `of`: the declaration whose columns bare names are (an input's
    /// boundary); `None` for the declaration's own scope.
    fn expr(&mut self, e: &Expr, of: Option<&str>) {
        match &e.kind {
            ExprKind::Literal(_) => {}
            ExprKind::Ident(name) => {
                let sym = if self.target(name).is_some() {
                    Sym::Alias {
                        decl: self.decl.clone(),
                        alias: name.clone(),
                    }
                } else if name == "p" {
                    Sym::Partition {
                        decl: self.decl.clone(),
                        key: None,
                    }
                } else if let Some(target) = of {
                    Sym::Column {
                        decl: target.to_string(),
                        column: name.clone(),
                    }
                } else {
                    Sym::Name {
                        decl: self.decl.clone(),
                        name: name.clone(),
                    }
                };
                self.push(e.span, sym, false);
            }
            ExprKind::Member(inner, field) => match &inner.kind {
                ExprKind::Ident(name) if self.target(name).is_some() => {
                    let target = self.target(name).unwrap_or_default().to_string();
                    let alias = Sym::Alias {
                        decl: self.decl.clone(),
                        alias: name.clone(),
                    };
                    self.push(inner.span, alias, false);
                    let column = Sym::Column {
                        decl: target,
                        column: field.name.clone(),
                    };
                    self.push(field.span, column, false);
                }
                ExprKind::Ident(name) if name == "p" => {
                    let decl = self.decl.clone();
                    let p = Sym::Partition {
                        decl: decl.clone(),
                        key: None,
                    };
                    self.push(inner.span, p, false);
                    let key = Sym::Partition {
                        decl,
                        key: Some(field.name.clone()),
                    };
                    self.push(field.span, key, false);
                }
                _ => self.expr(inner, of),
            },
            ExprKind::Call(c) => {
                self.push(c.name.span, Sym::Function(c.name.name.clone()), false);
                c.args.iter().for_each(|a| self.expr(a, of));
                if let Some(over) = &c.over {
                    over.partition_by.iter().for_each(|x| self.expr(x, of));
                    over.order_by.iter().for_each(|k| self.expr(&k.expr, of));
                }
            }
            ExprKind::Unary(_, x) | ExprKind::Paren(x) => self.expr(x, of),
            ExprKind::IsNull { expr, .. } => self.expr(expr, of),
            ExprKind::Binary(_, l, r) => {
                self.expr(l, of);
                self.expr(r, of);
            }
            ExprKind::List(items) => items.iter().for_each(|x| self.expr(x, of)),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, of);
                self.expr(then, of);
                self.expr(otherwise, of);
            }
        }
    }
}

/// The `(alias, target)` of every input and binding of a declaration.
pub fn aliases(d: &Decl) -> impl Iterator<Item = (&Ident, &Ident)> {
    d.clauses.iter().filter_map(|c| match &c.kind {
        ClauseKind::Input(i) => Some((&i.alias, &i.target)),
        ClauseKind::Bind(b) => Some((&b.alias, &b.target)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::span::FileId;

    #[test]
    fn names_resolve_to_what_they_stand_for_in_their_declaration() {
        let src = "dataset d {\n  input ev = s where day in [p - 1d, p]\n  compute {\n    from ev\n    group by region = ev.region { n = count(ev.ok) }\n  }\n  quality { expect null_rate(region) < 0.1 else warn }\n}\n";
        let (module, diags) = crate::syntax::parse(FileId(0), src);
        assert!(diags.is_empty(), "{diags:?}");
        let index = FileIndex::build(&module);
        let at = |needle: &str, nth: usize| {
            let offset = src.match_indices(needle).nth(nth).expect(needle).0;
            index.at(offset).map(|o| (o.sym.clone(), o.def))
        };
        let col = |decl: &str, column: &str| Sym::Column {
            decl: decl.into(),
            column: column.into(),
        };
        assert_eq!(at("d {", 0), Some((Sym::Decl("d".into()), true)));
        assert_eq!(at("day", 0), Some((col("s", "day"), false)));
        assert_eq!(at("p -", 0).map(|x| x.1), Some(false));
        assert_eq!(at(" s ", 0).map(|_| ()), None);
        assert_eq!(at("s where", 0), Some((Sym::Decl("s".into()), false)));
        assert_eq!(at("region =", 0), Some((col("d", "region"), true)));
        assert_eq!(
            at("region)", 0).map(|x| x.0),
            Some(Sym::Name {
                decl: "d".into(),
                name: "region".into()
            })
        );
        assert_eq!(
            at(".region", 0).map(|x| x.0),
            Some(Sym::Alias {
                decl: "d".into(),
                alias: "ev".into()
            })
        );
        assert_eq!(at("region {", 0).map(|x| x.0), Some(col("s", "region")));
        assert_eq!(
            at("count", 0).map(|x| x.0),
            Some(Sym::Function("count".into()))
        );
    }
}
