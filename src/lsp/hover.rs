//! `textDocument/hover`: what the name under the cursor is.
//!
//! * a source, reference or dataset: its doc comment, its columns with
//!   their types, and its contract as one block of `.bpl` (partitioning,
//!   publish mode, schedule, every input boundary and binding, quality
//!   rules with their severities, reconciliation, corrections, closing),
//!   followed by a count of rules per severity;
//! * an input or binding alias: the clause that binds it and the columns it
//!   brings into scope;
//! * a column: its type and the declaration it belongs to;
//! * `p` or `p.key`: the partition keys and their types;
//! * a function or check: its signatures and documentation.
//!
//! Clauses are printed by the formatter's own line printer, so the hover
//! shows them exactly as `bplc fmt` would write them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use super::diagnostics::range;
use super::index::Sym;
use super::resolve::declared_columns;
use super::workspace::ProjectState;
use crate::syntax::ast::{ClauseKind, FunctionKind, Item, Severity};
use crate::syntax::fmt::expr::{params, type_expr};
use crate::syntax::fmt::line::{clause_line, correction_rule, quality_rule, reconcile_rule};
use crate::syntax::span::{FileId, Span};

pub fn hover(p: &ProjectState, file: FileId, offset: usize) -> Option<Hover> {
    let occurrence = p.occurrence(file, offset)?;
    let sym = p.resolve(&occurrence.sym)?;
    let text = markdown(p, &sym)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(range(
            p,
            Span::new(file, occurrence.start as usize, occurrence.end as usize),
        )),
    })
}

/// The hover text of a resolved symbol.
pub fn markdown(p: &ProjectState, sym: &Sym) -> Option<String> {
    match sym {
        Sym::Decl(name) => declaration(p, name),
        Sym::Alias { decl, alias } => alias_text(p, decl, alias),
        Sym::Column { decl, column } => column_text(p, decl, column),
        Sym::Partition { decl, key } => partition(p, decl, key.as_deref()),
        Sym::Function(name) => function(p, name),
        Sym::Name { .. } => None,
    }
}

fn code(out: &mut String, text: &str) {
    let _ = write!(out, "```bpl\n{text}\n```\n");
}

fn docs(out: &mut String, docs: &[String]) {
    if !docs.is_empty() {
        out.push('\n');
        out.push_str(&docs.join("\n"));
        out.push('\n');
    }
}

fn columns_table(out: &mut String, p: &ProjectState, decl: &str) {
    let columns = p.columns(decl);
    if columns.is_empty() {
        return;
    }
    out.push_str("\n| column | type |\n| --- | --- |\n");
    for c in columns {
        let _ = writeln!(out, "| `{}` | `{}` |", c.name, c.ty);
    }
}

/// Doc comment, columns and the contract of a declaration.
fn declaration(p: &ProjectState, name: &str) -> Option<String> {
    let d = p.decl(name)?;
    let mut out = String::new();
    let mut contract = format!("{} {} {{", d.kind.keyword(), d.name.name);
    let mut severities: BTreeMap<Severity, usize> = BTreeMap::new();
    fn block(contract: &mut String, title: &str, lines: Vec<String>) {
        let _ = write!(contract, "\n  {title} {{");
        for l in lines {
            let _ = write!(contract, "\n    {l}");
        }
        contract.push_str("\n  }");
    }
    for clause in &d.clauses {
        match &clause.kind {
            // Shown as the table, or not part of the contract's summary.
            ClauseKind::Columns(_) | ClauseKind::Compute(_) => {}
            ClauseKind::Quality(rules) => {
                for r in rules {
                    *severities.entry(r.severity).or_default() += 1;
                }
                block(
                    &mut contract,
                    "quality",
                    rules.iter().map(quality_rule).collect(),
                );
            }
            ClauseKind::Reconcile(rules) => block(
                &mut contract,
                "reconcile",
                rules.iter().map(reconcile_rule).collect(),
            ),
            ClauseKind::Corrections(rules) => block(
                &mut contract,
                "corrections",
                rules.iter().map(correction_rule).collect(),
            ),
            kind => {
                let _ = write!(contract, "\n  {}", clause_line(kind));
            }
        }
    }
    contract.push_str("\n}");
    code(&mut out, &contract);
    docs(&mut out, &d.docs);
    columns_table(&mut out, p, name);
    if !severities.is_empty() {
        let counts: Vec<String> = severities
            .iter()
            .map(|(s, n)| format!("{n} × `{}`", s.words()))
            .collect();
        let _ = write!(out, "\nQuality rules: {}\n", counts.join(", "));
    }
    Some(out)
}

fn alias_text(p: &ProjectState, decl: &str, alias: &str) -> Option<String> {
    let d = p.decl(decl)?;
    let clause = d.clauses.iter().find(|c| match &c.kind {
        ClauseKind::Input(i) => i.alias.name == alias,
        ClauseKind::Bind(b) => b.alias.name == alias,
        _ => false,
    })?;
    let mut out = String::new();
    code(&mut out, &clause_line(&clause.kind));
    let target = p.alias_target(decl, alias)?;
    if let Some(t) = p.decl(&target) {
        let _ = writeln!(out, "\n`{target}` is a {}.", t.kind.keyword());
        docs(&mut out, &t.docs);
    }
    columns_table(&mut out, p, &target);
    Some(out)
}

fn column_text(p: &ProjectState, decl: &str, column: &str) -> Option<String> {
    let d = p.decl(decl)?;
    let ty = p.column_type(decl, column);
    let mut out = String::new();
    match &ty {
        Some(ty) => code(&mut out, &format!("{column}: {ty}")),
        None => code(&mut out, column),
    }
    let _ = writeln!(out, "\nColumn of {} `{decl}`.", d.kind.keyword());
    // Only a dataset's columns are computed, so only theirs have a class
    // worth showing (what a roll-up may sum).
    if let Some((_, class)) = p
        .hir(decl)
        .filter(|h| h.kind == crate::syntax::ast::DeclKind::Dataset)
        .and_then(|h| h.additivity.iter().find(|(name, _)| name == column))
    {
        let _ = writeln!(out, "\nAdditivity: {}.", class.name());
    }
    if let Some(c) =
        declared_columns(d).and_then(|cols| cols.iter().find(|c| c.name.name == column))
    {
        docs(&mut out, &c.docs);
    }
    Some(out)
}

fn partition(p: &ProjectState, decl: &str, key: Option<&str>) -> Option<String> {
    let d = p.decl(decl)?;
    let keys = d.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Partition(keys) => Some(keys),
        _ => None,
    });
    let mut out = String::new();
    match (keys, key) {
        (Some(keys), Some(k)) => {
            let key = keys.iter().find(|x| x.name.name == k)?;
            code(
                &mut out,
                &clause_line(&ClauseKind::Partition(vec![key.clone()]))["partition by ".len()..],
            );
            let _ = writeln!(out, "\nA partition key of `{decl}`.");
        }
        (Some(keys), None) => {
            code(&mut out, &clause_line(&ClauseKind::Partition(keys.clone())));
            let _ = writeln!(
                out,
                "\n`p`: the output partition of `{decl}` a run computes."
            );
        }
        (None, _) => {
            let _ = writeln!(
                out,
                "`p`: the output partition; `{decl}` declares no `partition by`."
            );
        }
    }
    Some(out)
}

fn function(p: &ProjectState, name: &str) -> Option<String> {
    let items = p.callables(name);
    if items.is_empty() {
        return None;
    }
    let mut out = String::new();
    for item in items {
        match item {
            Item::Function(f) => {
                let kind = match f.kind {
                    FunctionKind::Scalar => "function",
                    FunctionKind::Aggregate => "aggregate function",
                    FunctionKind::Window => "window function",
                };
                code(
                    &mut out,
                    &format!(
                        "{kind} {}({}) -> {}",
                        f.name.name,
                        params(&f.params),
                        type_expr(&f.ret)
                    ),
                );
                docs(&mut out, &f.docs);
            }
            Item::Check(c) => {
                code(
                    &mut out,
                    &format!("check {}({})", c.name.name, params(&c.params)),
                );
                docs(&mut out, &c.docs);
            }
            Item::Decl(_) => {}
        }
    }
    Some(out)
}

/// The one-line signature of a function or check, for completion.
pub fn signature(item: &Item) -> Option<String> {
    match item {
        Item::Function(f) => Some(format!(
            "{}({}) -> {}",
            f.name.name,
            params(&f.params),
            type_expr(&f.ret)
        )),
        Item::Check(c) => Some(format!("check {}({})", c.name.name, params(&c.params))),
        Item::Decl(_) => None,
    }
}
