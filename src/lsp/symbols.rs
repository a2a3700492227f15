//! `textDocument/documentSymbol`: the outline of a file. Each source,
//! reference and dataset, with its declared columns, its inputs and
//! bindings, and its `compute`, `quality` and `reconcile` blocks holding
//! the columns they compute and the rules they name; each function and
//! check with its signature.

use lsp_types::{DocumentSymbol, SymbolKind};

use super::diagnostics::range;
use super::hover::signature;
use super::workspace::ProjectState;
use crate::syntax::ast::{ClauseKind, Decl, DeclKind, Item, StepKind};
use crate::syntax::fmt::expr::type_expr;
use crate::syntax::fmt::line::clause_line;
use crate::syntax::span::{FileId, Span};

pub fn document_symbols(p: &ProjectState, file: FileId) -> Vec<DocumentSymbol> {
    let Some(module) = p.module(file) else {
        return Vec::new();
    };
    let symbol =
        |name: &str, detail: Option<String>, kind, span: Span, name_span: Span, children| {
            #[allow(deprecated)] // `deprecated` is a required field, itself deprecated.
            DocumentSymbol {
                name: if name.is_empty() {
                    "_".to_string()
                } else {
                    name.to_string()
                },
                detail,
                kind,
                tags: None,
                deprecated: None,
                range: range(p, span),
                selection_range: range(p, name_span),
                children,
            }
        };
    module
        .items
        .iter()
        .map(|item| match item {
            Item::Decl(d) => {
                let kind = match d.kind {
                    DeclKind::Source => SymbolKind::INTERFACE,
                    DeclKind::Reference => SymbolKind::STRUCT,
                    DeclKind::Dataset => SymbolKind::CLASS,
                };
                let children = children(d, &symbol);
                symbol(
                    &d.name.name,
                    Some(d.kind.keyword().to_string()),
                    kind,
                    d.span,
                    d.name.span,
                    Some(children),
                )
            }
            Item::Function(f) => symbol(
                &f.name.name,
                signature(item),
                SymbolKind::FUNCTION,
                f.span,
                f.name.span,
                None,
            ),
            Item::Check(c) => symbol(
                &c.name.name,
                signature(item),
                SymbolKind::FUNCTION,
                c.span,
                c.name.span,
                None,
            ),
        })
        .collect()
}

type Make<'a> = dyn Fn(&str, Option<String>, SymbolKind, Span, Span, Option<Vec<DocumentSymbol>>) -> DocumentSymbol
    + 'a;

fn children(d: &Decl, symbol: &Make<'_>) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for clause in &d.clauses {
        match &clause.kind {
            ClauseKind::Columns(cols) => {
                for c in cols {
                    out.push(symbol(
                        &c.name.name,
                        Some(type_expr(&c.ty)),
                        SymbolKind::FIELD,
                        c.span,
                        c.name.span,
                        None,
                    ));
                }
            }
            ClauseKind::Input(i) => out.push(symbol(
                &i.alias.name,
                Some(clause_line(&clause.kind)),
                SymbolKind::VARIABLE,
                clause.span,
                i.alias.span,
                None,
            )),
            ClauseKind::Bind(b) => out.push(symbol(
                &b.alias.name,
                Some(clause_line(&clause.kind)),
                SymbolKind::VARIABLE,
                clause.span,
                b.alias.span,
                None,
            )),
            ClauseKind::Compute(steps) => {
                let mut computed = Vec::new();
                for s in steps {
                    let names: Vec<(&str, Span, Span)> = match &s.kind {
                        StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => {
                            assignments
                                .iter()
                                .map(|a| (a.name.name.as_str(), a.span, a.name.span))
                                .collect()
                        }
                        StepKind::Group { keys, aggregates } => keys
                            .iter()
                            .filter_map(|k| {
                                k.name.as_ref().map(|n| (n.name.as_str(), k.span, n.span))
                            })
                            .chain(
                                aggregates
                                    .iter()
                                    .map(|a| (a.name.name.as_str(), a.span, a.name.span)),
                            )
                            .collect(),
                        StepKind::Select(items) => items
                            .iter()
                            .filter_map(|k| {
                                k.name.as_ref().map(|n| (n.name.as_str(), k.span, n.span))
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (name, span, name_span) in names {
                        computed.push(symbol(
                            name,
                            None,
                            SymbolKind::FIELD,
                            span.to(name_span),
                            name_span,
                            None,
                        ));
                    }
                }
                out.push(block("compute", clause.span, computed, symbol));
            }
            ClauseKind::Quality(rules) => {
                let named = rules
                    .iter()
                    .filter_map(|r| {
                        let n = r.name.as_ref()?;
                        Some(symbol(
                            &n.name,
                            Some(r.severity.words().to_string()),
                            SymbolKind::EVENT,
                            r.span.to(n.span),
                            n.span,
                            None,
                        ))
                    })
                    .collect();
                out.push(block("quality", clause.span, named, symbol));
            }
            ClauseKind::Reconcile(rules) => {
                let named = rules
                    .iter()
                    .filter_map(|r| {
                        let n = r.name.as_ref()?;
                        Some(symbol(
                            &n.name,
                            None,
                            SymbolKind::EVENT,
                            r.span.to(n.span),
                            n.span,
                            None,
                        ))
                    })
                    .collect();
                out.push(block("reconcile", clause.span, named, symbol));
            }
            _ => {}
        }
    }
    out
}

fn block(
    name: &str,
    span: Span,
    children: Vec<DocumentSymbol>,
    symbol: &Make<'_>,
) -> DocumentSymbol {
    let head = Span {
        end: span.end.min(span.start + name.len() as u32),
        ..span
    };
    symbol(
        name,
        None,
        SymbolKind::NAMESPACE,
        span,
        head,
        Some(children),
    )
}
