//! Additivity: how each output column combines across partitions, and the
//! error of summing one that does not add up.
//!
//! A `sum` or `count` over a partition's own rows adds up: June's figure is
//! the sum of June's days. A distinct count, an average, a ratio, a minimum
//! or a maximum does not (a case open on two days is one case, not two), and
//! nor does any figure computed over a window wider than its partition (a
//! 30-day rolling count counts each case on thirty days). Every column of
//! every dataset gets a class ([`Additivity`]), upstream first; a dataset
//! that reads several partitions of an input into one (a month of days, a
//! window of days) may `sum` only the columns of it that add up: E0140 for a
//! non-additive one, E0141 for an overlapping one, unless the dataset allows
//! it with a reason (`allow E0141 because "..."`, see `allow`).
//!
//! Runs after lowering, on the AST for spans and the program for mappings.

mod walk;

use rustc_hash::FxHashMap as HashMap;

use super::hir::{Additivity, Decl, DeclId, Grain, Mapping, PartitionKind, Program, TimeMapping};
use super::Symbols;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::DeclKind;
use crate::syntax::span::Span;
use walk::Walk;

/// A class, and where and why it was decided, for the secondary label.
#[derive(Debug, Clone)]
struct Measure {
    class: Additivity,
    origin: Option<(Span, String)>,
}

impl Measure {
    fn of(class: Additivity) -> Measure {
        Measure {
            class,
            origin: None,
        }
    }

    fn because(class: Additivity, span: Span, why: String) -> Measure {
        Measure {
            class,
            origin: Some((span, why)),
        }
    }

    /// The worse of two; on a tie, `self`.
    fn or_worse(self, other: Measure) -> Measure {
        if other.class > self.class {
            other
        } else {
            self
        }
    }

    /// An aggregate's figure, as opposed to a value of one row.
    fn is_figure(&self) -> bool {
        self.class >= Additivity::Additive
    }
}

type Columns = HashMap<String, Measure>;

/// Classifies every dataset's columns, upstream first, and reports sums
/// that do not add up. Datasets on a dependency cycle (reported elsewhere)
/// are left unclassified.
pub fn check(symbols: &Symbols<'_>, program: &mut Program, diags: &mut Vec<Diagnostic>) {
    let n = program.decls.len();
    let mut classes: Vec<Option<Columns>> = vec![None; n];
    let mut waiting = vec![0usize; n];
    let mut readers: Vec<Vec<DeclId>> = vec![Vec::new(); n];
    let mut ready = Vec::new();
    for d in &program.decls {
        if d.kind != DeclKind::Dataset {
            let class = match d.kind {
                DeclKind::Reference => Additivity::Key,
                _ => Additivity::Row,
            };
            classes[d.id.0 as usize] = Some(
                d.columns
                    .iter()
                    .map(|c| (c.name.clone(), Measure::of(class)))
                    .collect(),
            );
            continue;
        }
        for i in &d.inputs {
            if program.get(i.target).kind == DeclKind::Dataset {
                waiting[d.id.0 as usize] += 1;
                readers[i.target.0 as usize].push(d.id);
            }
        }
        if waiting[d.id.0 as usize] == 0 {
            ready.push(d.id);
        }
    }
    ready.reverse();
    while let Some(id) = ready.pop() {
        let decl = program.get(id);
        let columns = match symbols.decl(&decl.name) {
            Some(ast) => Walk::new(ast, decl, program, &classes, symbols, diags).pipeline(ast),
            None => Columns::default(),
        };
        program.decls[id.0 as usize].additivity = program
            .get(id)
            .columns
            .iter()
            .map(|c| {
                let class = columns.get(&c.name).map_or(Additivity::Row, |m| m.class);
                (c.name.clone(), class)
            })
            .collect();
        classes[id.0 as usize] = Some(columns);
        for r in std::mem::take(&mut readers[id.0 as usize]) {
            let w = &mut waiting[r.0 as usize];
            *w -= 1;
            if *w == 0 {
                ready.push(r);
            }
        }
    }
}

fn unit(g: Option<Grain>) -> &'static str {
    match g.unwrap_or(Grain::Day) {
        Grain::Day => "day",
        Grain::Week => "week",
        Grain::Month => "month",
        Grain::Quarter => "quarter",
        Grain::Year => "year",
    }
}

/// A window of more than one partition, described (`a window of 30 days of
/// `ev``): both a roll-up and an overlap.
fn wide_window(m: &Mapping, out: &Decl, alias: &str) -> Option<String> {
    match m.time {
        TimeMapping::Window { lo, hi } if hi > lo => Some(format!(
            "a window of {} {}s of `{alias}`",
            hi - lo + 1,
            unit(out.grain())
        )),
        _ => None,
    }
}

/// How one output partition reads several partitions of an input, if it
/// does: a roll-up (the days of a month) or a window.
fn spread(m: &Mapping, out: &Decl, input: &Decl, alias: &str) -> Option<String> {
    let partitioned = input
        .partition
        .iter()
        .any(|k| !matches!(k.kind, PartitionKind::Run));
    if !partitioned {
        return None;
    }
    match (m.time, input.grain(), out.grain()) {
        (TimeMapping::All, g, _) if g.is_some() || m.dimensions.is_empty() => {
            Some(format!("every partition of `{alias}`"))
        }
        (TimeMapping::Window { lo, hi }, Some(i), Some(o)) if lo == hi && i < o => Some(format!(
            "the {}s of each {} from `{alias}`",
            unit(Some(i)),
            unit(Some(o))
        )),
        _ => wide_window(m, out, alias),
    }
}

/// How one partition of an input feeds several output partitions, if it
/// does: a window wider than the output partition, or a coarser input.
fn overlap(m: &Mapping, out: &Decl, input: &Decl, alias: &str) -> Option<String> {
    if out.partition.is_empty() {
        return None;
    }
    match (m.time, input.grain(), out.grain()) {
        (TimeMapping::All, _, g) if g.is_some() || m.dimensions.is_empty() => {
            Some(format!("all history of `{alias}`"))
        }
        (TimeMapping::Window { lo, hi }, Some(i), Some(o)) if lo == hi && i > o => {
            Some(format!("whole {}s of `{alias}`", unit(Some(i))))
        }
        _ => wide_window(m, out, alias),
    }
}
