//! What a name means across the project: the columns of a declaration and
//! their types, which declaration a bare name in an expression reads, and
//! where each thing is defined. Hover, definition, references and
//! completion all ask here, so they always agree.
//!
//! Declared columns come from the AST, with their types as written; the
//! columns a dataset computes, and their types, from the checked program
//! (`hir`) of the last check that produced one.

use super::index::{self, Occurrence, Sym};
use super::workspace::ProjectState;
use crate::semantic::hir;
use crate::syntax::ast::{self, ClauseKind, StepKind};
use crate::syntax::fmt::expr::type_expr;
use crate::syntax::span::{FileId, Span};

/// A column and its type, as the user would write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: String,
}

impl ProjectState {
    /// The checked form of a declaration, if the last program has it.
    pub fn hir(&self, name: &str) -> Option<&hir::Decl> {
        self.program.as_ref()?.lookup(name)
    }

    /// The columns of a source, reference or dataset: as declared in its
    /// `columns` (types as written, `decimal(18, 2)` and all), else as the
    /// checker inferred them from its pipeline.
    pub fn columns(&self, decl: &str) -> Vec<Column> {
        if let Some(cols) = self.decl(decl).and_then(declared_columns) {
            return cols
                .iter()
                .map(|c| Column {
                    name: c.name.name.clone(),
                    ty: type_expr(&c.ty),
                })
                .collect();
        }
        self.hir(decl)
            .map(|d| {
                d.columns
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        ty: c.ty.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `decl` has a column `name` (without building the list).
    pub fn has_column(&self, decl: &str, name: &str) -> bool {
        match self.decl(decl).and_then(declared_columns) {
            Some(cols) => cols.iter().any(|c| c.name.name == name),
            None => self
                .hir(decl)
                .is_some_and(|d| d.columns.iter().any(|c| c.name == name)),
        }
    }

    /// The type of a column of `decl`: an output column, or one its
    /// pipeline computes on the way (`derive`).
    pub fn column_type(&self, decl: &str, column: &str) -> Option<String> {
        if let Some(c) = self.columns(decl).into_iter().find(|c| c.name == column) {
            return Some(c.ty);
        }
        let job = self.hir(decl)?.job.as_ref()?;
        job.steps.iter().rev().find_map(|s| {
            let named: &[hir::Named] = match s {
                hir::Step::Derive(n) | hir::Step::Aggregate(n) | hir::Step::Select(n) => n,
                hir::Step::Group { keys, aggregates } => {
                    return keys
                        .iter()
                        .chain(aggregates)
                        .find(|n| n.name == column)
                        .map(|n| n.expr.ty.to_string())
                }
                _ => return None,
            };
            named
                .iter()
                .find(|n| n.name == column)
                .map(|n| n.expr.ty.to_string())
        })
    }

    /// The target of an alias of `decl`.
    pub fn alias_target(&self, decl: &str, alias: &str) -> Option<String> {
        let d = self.decl(decl)?;
        index::aliases(d)
            .find(|(a, _)| a.name == alias)
            .map(|(_, t)| t.name.clone())
    }

    /// A bare name resolved: a column `decl` computes, else a column of
    /// the first of its inputs and bindings that has one by that name, else
    /// a column `decl` declares. Other symbols resolve to themselves;
    /// `None` for a name that is none of these (an enum value, a counter).
    pub fn resolve(&self, sym: &Sym) -> Option<Sym> {
        let Sym::Name { decl, name } = sym else {
            return Some(sym.clone());
        };
        let d = self.decl(decl)?;
        let column = |decl: &str| Sym::Column {
            decl: decl.to_string(),
            column: name.clone(),
        };
        if computed(d, name).is_some() {
            return Some(column(decl));
        }
        for (_, target) in index::aliases(d) {
            if self.has_column(&target.name, name) {
                return Some(column(&target.name));
            }
        }
        if declared_columns(d).is_some_and(|cols| cols.iter().any(|c| &c.name.name == name)) {
            return Some(column(decl));
        }
        None
    }

    /// Where a (resolved) symbol is defined.
    pub fn definition(&self, sym: &Sym) -> Option<Span> {
        match sym {
            Sym::Decl(name) => self.decl(name).map(|d| d.name.span),
            Sym::Alias { decl, alias } => index::aliases(self.decl(decl)?)
                .find(|(a, _)| &a.name == alias)
                .map(|(a, _)| a.span),
            Sym::Column { decl, column } => self.column_definition(decl, column, 0),
            Sym::Function(name) => {
                let item = self.callables(name).into_iter().next()?;
                let span = item.name().span;
                // The prelude is compiled in: there is no file to open.
                (!self.is_prelude(span.file)).then_some(span)
            }
            Sym::Partition { decl, key } => {
                let d = self.decl(decl)?;
                let keys = d.clauses.iter().find_map(|c| match &c.kind {
                    ClauseKind::Partition(keys) => Some((keys, c.span)),
                    _ => None,
                })?;
                match key {
                    None => Some(keys.1),
                    Some(k) => keys
                        .0
                        .iter()
                        .find(|x| &x.name.name == k)
                        .map(|x| x.name.span),
                }
            }
            Sym::Name { .. } => self.definition(&self.resolve(sym)?),
        }
    }

    /// A declared column, or where the pipeline computes it last; a column
    /// a pipeline passes through from its `from` input is defined there.
    fn column_definition(&self, decl: &str, column: &str, depth: usize) -> Option<Span> {
        let d = self.decl(decl)?;
        if let Some(c) =
            declared_columns(d).and_then(|cols| cols.iter().find(|c| c.name.name == column))
        {
            return Some(c.name.span);
        }
        if let Some(span) = computed(d, column) {
            return Some(span);
        }
        if depth > 64 {
            return None;
        }
        let from = steps(d).find_map(|s| match &s.kind {
            StepKind::From(alias) => Some(alias.name.clone()),
            _ => None,
        })?;
        let target = self.alias_target(decl, &from)?;
        self.column_definition(&target, column, depth + 1)
    }

    /// Every occurrence of a resolved symbol in the project, in file order.
    pub fn references(&self, sym: &Sym) -> Vec<(FileId, &Occurrence)> {
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            if f.module.is_none_or(|m| m < self.prelude_len) {
                continue;
            }
            for o in &f.index.occurrences {
                let same = match &o.sym {
                    s @ Sym::Name { .. } => self.resolve(s).as_ref() == Some(sym),
                    s => s == sym,
                };
                if same {
                    out.push((FileId(i as u32), o));
                }
            }
        }
        out
    }

    /// The occurrence at a byte offset of a file.
    pub fn occurrence(&self, file: FileId, offset: usize) -> Option<&Occurrence> {
        self.file(file).index.at(offset)
    }
}

/// The `columns { ... }` of a declaration.
pub fn declared_columns(d: &ast::Decl) -> Option<&[ast::Column]> {
    d.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Columns(cols) => Some(cols.as_slice()),
        _ => None,
    })
}

/// The steps of a declaration's `compute`.
pub fn steps(d: &ast::Decl) -> impl Iterator<Item = &ast::Step> {
    d.clauses
        .iter()
        .filter_map(|c| match &c.kind {
            ClauseKind::Compute(steps) => Some(steps),
            _ => None,
        })
        .flatten()
}

/// Where the pipeline of `d` last computes `name`.
pub fn computed(d: &ast::Decl, name: &str) -> Option<Span> {
    let mut found = None;
    for s in steps(d) {
        let names: Vec<(&str, Span)> = match &s.kind {
            StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => assignments
                .iter()
                .map(|a| (a.name.name.as_str(), a.name.span))
                .collect(),
            StepKind::Group { keys, aggregates } => keys
                .iter()
                .filter_map(named)
                .chain(
                    aggregates
                        .iter()
                        .map(|a| (a.name.name.as_str(), a.name.span)),
                )
                .collect(),
            StepKind::Select(items) => items.iter().filter_map(named).collect(),
            _ => Vec::new(),
        };
        if let Some((_, span)) = names.into_iter().find(|(n, _)| *n == name) {
            found = Some(span);
        }
    }
    found
}

/// The name a `group by` key or `select` item gives its column: its own,
/// or that of the column it reads (`units.region` is `region`).
fn named(n: &ast::NamedExpr) -> Option<(&str, Span)> {
    if let Some(name) = &n.name {
        return Some((&name.name, name.span));
    }
    match &n.expr.kind {
        ast::ExprKind::Member(_, field) => Some((&field.name, field.span)),
        ast::ExprKind::Ident(name) => Some((name, n.expr.span)),
        _ => None,
    }
}
