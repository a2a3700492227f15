//! Whole-project contract checks: the dependency graph has no cycle, every
//! table has one owner, closed periods have a restatement path, schedules
//! name a time zone, and lookbacks cover the lateness of their sources.

use std::collections::HashMap;

use super::{Options, Symbols};
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::span::Span;

pub fn check(symbols: &Symbols<'_>, options: &Options, diags: &mut Vec<Diagnostic>) {
    cycles(symbols, diags);
    owners(symbols, diags);
    for decl in symbols.decls().filter(|d| d.kind == DeclKind::Dataset) {
        closed_periods(decl, diags);
        severities(decl, diags);
        schedule(decl, options, diags);
        lookback(decl, symbols, diags);
    }
}

fn inputs(decl: &Decl) -> impl Iterator<Item = &Input> {
    decl.clauses.iter().filter_map(|c| match &c.kind {
        ClauseKind::Input(i) => Some(i),
        _ => None,
    })
}

fn find<'a, T>(decl: &'a Decl, f: impl Fn(&'a ClauseKind) -> Option<T>) -> Option<(T, Span)> {
    decl.clauses
        .iter()
        .find_map(|c| f(&c.kind).map(|t| (t, c.span)))
}

/// A cycle through inputs, reported once with every edge of it.
fn cycles(symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Visiting,
        Done,
    }
    let mut state: HashMap<&str, State> = HashMap::new();
    // An explicit stack of (dataset, the input through which we reached it).
    for root in symbols.decls() {
        if state.contains_key(root.name.name.as_str()) {
            continue;
        }
        let mut path: Vec<(&Decl, Option<&Input>)> = vec![(root, None)];
        let mut next: Vec<Vec<&Input>> = vec![inputs(root).collect()];
        state.insert(&root.name.name, State::Visiting);
        while let Some(pending) = next.last_mut() {
            let Some(input) = pending.pop() else {
                let (done, _) = path.pop().expect("path and next have equal length");
                state.insert(&done.name.name, State::Done);
                next.pop();
                continue;
            };
            let Some(target) = symbols.decl(&input.target.name) else {
                continue;
            };
            match state.get(target.name.name.as_str()) {
                Some(State::Done) => {}
                Some(State::Visiting) => {
                    let start = path
                        .iter()
                        .position(|(d, _)| d.name.name == target.name.name)
                        .unwrap_or(0);
                    let mut cycle: Vec<(&Decl, &Input)> = path[start + 1..]
                        .iter()
                        .map(|(d, via)| (*d, via.expect("only the root has no edge")))
                        .collect();
                    cycle.push((target, input));
                    diags.push(cycle_diagnostic(&cycle));
                }
                None => {
                    state.insert(&target.name.name, State::Visiting);
                    path.push((target, Some(input)));
                    next.push(inputs(target).collect());
                }
            }
        }
    }
}

/// `cycle` lists each dataset on the cycle with the input that leads to it.
fn cycle_diagnostic(cycle: &[(&Decl, &Input)]) -> Diagnostic {
    let names: Vec<&str> = cycle.iter().map(|(d, _)| d.name.name.as_str()).collect();
    let first = names.last().copied().unwrap_or_default();
    let shown = std::iter::once(first)
        .chain(names.iter().copied())
        .collect::<Vec<_>>()
        .join(" -> ");
    let (_, closing) = cycle.last().expect("a cycle has an edge");
    let mut d = Diagnostic::new(codes::E0119, format!("dependency cycle: {shown}"))
        .primary(closing.target.span, "this input closes the cycle");
    for (decl, via) in &cycle[..cycle.len() - 1] {
        d = d.secondary(via.target.span, format!("reads `{}`", decl.name.name));
    }
    d.help("a partition cannot depend on itself; break the cycle by reading an earlier partition of a source, or split the dataset in two")
}

/// The table each declaration reads or writes.
fn table_of(decl: &Decl) -> (String, Span) {
    find(decl, |c| match c {
        ClauseKind::Table(t) => Some(t.value.clone()),
        _ => None,
    })
    .unwrap_or_else(|| (decl.name.name.clone(), decl.name.span))
}

/// Two declarations on one table: a dataset would overwrite someone else's data.
fn owners(symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    let mut owner: HashMap<String, (&Decl, Span)> = HashMap::new();
    for decl in symbols.decls() {
        let (table, span) = table_of(decl);
        match owner.get(&table) {
            Some((first, first_span))
                if decl.kind == DeclKind::Dataset || first.kind == DeclKind::Dataset =>
            {
                let (writer, other, other_span) = if decl.kind == DeclKind::Dataset {
                    (decl, *first, *first_span)
                } else {
                    (*first, decl, span)
                };
                diags.push(
                    Diagnostic::new(codes::E0120, format!("table `{table}` has two owners"))
                        .primary(span, format!("`{}` uses table `{table}`", decl.name.name))
                        .secondary(other_span, format!("so does {} `{}`", other.kind.keyword(), other.name.name))
                        .help(format!(
                            "a run of `{}` replaces partitions of `{table}`; give it a table of its own with `table \"...\"`",
                            writer.name.name
                        )),
                );
            }
            Some(_) => {}
            None => {
                owner.insert(table, (decl, span));
            }
        }
    }
}

fn closed_periods(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    let Some((_, closed_span)) = find(decl, |c| {
        matches!(c, ClauseKind::ClosedAfter(_)).then_some(())
    }) else {
        return;
    };
    let replace = find(decl, |c| match c {
        ClauseKind::Publish(PublishMode::Replace) => Some(()),
        _ => None,
    });
    let restate = find(decl, |c| matches!(c, ClauseKind::Restate(_)).then_some(()));
    if let (Some((_, publish_span)), None) = (replace, restate) {
        diags.push(
            Diagnostic::new(codes::E0121, format!("`{}` closes periods but says nothing of restating them", decl.name.name))
                .primary(closed_span, "partitions close here")
                .secondary(publish_span, "and runs replace partitions in place")
                .help("add `restate with reason` so a closed period can be corrected as a new version with a reason, or `restate never` to refuse corrections after close"),
        );
    }
}

fn schedule(decl: &Decl, options: &Options, diags: &mut Vec<Diagnostic>) {
    let Some((s, span)) = find(decl, |c| match c {
        ClauseKind::Schedule(s) => Some(s),
        _ => None,
    }) else {
        return;
    };
    if s.time_zone.is_none() && options.default_time_zone.is_none() {
        diags.push(
            Diagnostic::new(codes::E0122, format!("the schedule of `{}` names no time zone", decl.name.name))
                .primary(span, "01:00 where?")
                .help("name the zone the business day is counted in, e.g. `schedule daily at 01:00 \"Asia/Jakarta\"`, or set `time_zone` in bpl.toml; the host's zone is never used"),
        );
    }
}

fn lookback(decl: &Decl, symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    let Some((s, schedule_span)) = find(decl, |c| match c {
        ClauseKind::Schedule(s) => Some(s),
        _ => None,
    }) else {
        return;
    };
    let covered = s.lookback.map_or(0, |l| l.seconds(Reckon::Shortest));
    for input in inputs(decl) {
        let Some(source) = symbols
            .decl(&input.target.name)
            .filter(|d| d.kind == DeclKind::Source)
        else {
            continue;
        };
        let Some((late, late_span)) = find(source, |c| match c {
            ClauseKind::MaxLateness(d) => Some(*d),
            _ => None,
        }) else {
            continue;
        };
        if covered < late.seconds(Reckon::Longest) {
            let at = s.lookback.map_or(schedule_span, |l| l.span);
            diags.push(
                Diagnostic::new(
                    codes::W0101,
                    format!("`{}` looks back less far than `{}` arrives late", decl.name.name, source.name.name),
                )
                .primary(at, match s.lookback {
                    Some(l) => format!("recomputes {}{} back", l.amount, l.unit.suffix()),
                    None => "recomputes only the run date".to_string(),
                })
                .secondary(late_span, format!("rows arrive up to {}{} late", late.amount, late.unit.suffix()))
                .help(format!(
                    "late rows past the lookback are never picked up by a scheduled run; use `lookback {}{}` or more, or plan a backfill for them",
                    late.amount,
                    late.unit.suffix()
                )),
            );
        }
    }
}

/// A row rule can quarantine the row; only a partition-level expectation can
/// hold the partition.
fn severities(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    for clause in &decl.clauses {
        if let ClauseKind::Reconcile(rules) = &clause.kind {
            for r in rules {
                if let Some((Severity::Quarantine, span)) = r.severity {
                    diags.push(
                        Diagnostic::new(codes::E0132, "`quarantine` cannot route a reconciliation")
                            .primary(span, "`else quarantine`")
                            .secondary(r.span, "a reconciliation judges the whole partition")
                            .help("a failed reconciliation fails the run by default; say `else warn`, `else fail partition` or `else manual review` to route it otherwise"),
                    );
                }
            }
        }
        let ClauseKind::Quality(rules) = &clause.kind else {
            continue;
        };
        for r in rules {
            let help = match (r.level, r.severity) {
                (RuleLevel::Row, Severity::FailPartition) => {
                    "a `require` rule judges one row: quarantine the row (`else quarantine`), or state the partition-level condition with `expect`, e.g. `expect count(<bad>) == 0 else fail partition`"
                }
                (RuleLevel::Partition, Severity::Quarantine) => {
                    "an `expect` rule judges the whole partition, so there is no row to quarantine: use `fail partition`, `warn` or `manual review`, or write a row rule with `require`"
                }
                _ => continue,
            };
            let level = match r.level {
                RuleLevel::Row => "a row rule (`require`)",
                RuleLevel::Partition => "a partition expectation (`expect`)",
            };
            diags.push(
                Diagnostic::new(
                    codes::E0132,
                    format!("`{}` cannot route {level}", r.severity.words()),
                )
                .primary(r.severity_span, format!("`else {}`", r.severity.words()))
                .secondary(r.span, level)
                .help(help),
            );
        }
    }
}
