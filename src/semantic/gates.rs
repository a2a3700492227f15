//! Counters that must be able to fail. `rows(a)`, `partition_count(a)`,
//! `unmatched(a)` and `freshness(ts)` measure something the run counts
//! about an input; where they would measure nothing — the unmatched rows
//! of an inner join (it drops them), the partitions of a source (it has
//! none), a counter of a column instead of an input — a check over them
//! could never fail, so the checker refuses them:
//!
//! * E0142: `unmatched(b)` where `b` is not joined with `left join`;
//! * E0143: `partition_count(a)` where `a` is not a dataset input read
//!   through a window of its time partitions;
//! * E0144: a counter outside `quality` and `reconcile`, or of something
//!   that is not an input or binding.
//!
//! `drift(x)` compares a partition with the previous one of its dataset:
//! it needs time partitions (split by static dimensions at most, not by a
//! hash or a run) and reads the output's columns, not an input's (E0146).
//!
//! A source's `bad rows` policy must keep its bad rows out of the output:
//! `quarantine`, `fail partition` or `fail run`, never `info` or `warn`
//! (which would publish them) or `manual review` (E0145).
//!
//! Runs after lowering, on the AST for spans and the program for mappings.

use super::hir::{Program, TimeMapping};
use super::Symbols;
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::span::Span;
use crate::syntax::visit::clause_exprs;

/// The prelude's counters that take an input or binding alias.
const ALIAS_COUNTERS: &[&str] = &["rows", "partition_count", "unmatched"];

/// How an alias takes part in a dataset's pipeline.
enum Role {
    /// The input the pipeline starts `from`.
    From(Span),
    /// Joined: with `left join` or not.
    Joined { left: bool, span: Span },
    /// Declared but never read by the pipeline.
    Unread,
}

pub fn check(symbols: &Symbols<'_>, program: &Program, diags: &mut Vec<Diagnostic>) {
    for decl in symbols.decls() {
        match decl.kind {
            DeclKind::Dataset => dataset(decl, program, diags),
            DeclKind::Source => bad_rows(decl, diags),
            _ => {}
        }
    }
}

fn bad_rows(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    for c in &decl.clauses {
        let ClauseKind::BadRows { severity, span } = &c.kind else {
            continue;
        };
        if matches!(
            severity,
            Severity::Quarantine | Severity::FailPartition | Severity::FailRun
        ) {
            continue;
        }
        diags.push(
            Diagnostic::new(
                codes::E0145,
                format!("bad rows cannot be routed with `{}`", severity.words()),
            )
            .primary(*span, "a bad row is never published")
            .help("say `bad rows quarantine` (the default: the row is set aside, the rest publishes), `bad rows fail partition` or `bad rows fail run`"),
        );
    }
}

fn dataset(decl: &Decl, program: &Program, diags: &mut Vec<Diagnostic>) {
    let role = |alias: &str| -> Role {
        let mut role = Role::Unread;
        for c in &decl.clauses {
            let ClauseKind::Compute(steps) = &c.kind else {
                continue;
            };
            for s in steps {
                match &s.kind {
                    StepKind::From(a) if a.name == alias => role = Role::From(s.span),
                    StepKind::Join { left, alias: a, .. } if a.name == alias => {
                        role = Role::Joined {
                            left: *left,
                            span: s.span,
                        }
                    }
                    _ => {}
                }
            }
        }
        role
    };
    let input = |alias: &str| {
        decl.clauses.iter().find_map(|c| match &c.kind {
            ClauseKind::Input(i) if i.alias.name == alias => Some(i),
            _ => None,
        })
    };
    let bound = |alias: &str| {
        input(alias).is_some()
            || decl
                .clauses
                .iter()
                .any(|c| matches!(&c.kind, ClauseKind::Bind(b) if b.alias.name == alias))
    };
    for clause in &decl.clauses {
        let gate = matches!(
            clause.kind,
            ClauseKind::Quality(_) | ClauseKind::Reconcile(_)
        );
        clause_exprs(clause, &mut |e| {
            let ExprKind::Call(call) = &e.kind else {
                return;
            };
            let name = call.name.name.as_str();
            if !ALIAS_COUNTERS.contains(&name) && name != "freshness" && name != "drift" {
                return;
            }
            if !gate {
                diags.push(
                    Diagnostic::new(
                        codes::E0144,
                        format!("`{name}` is a counter of the run, read only by checks"),
                    )
                    .primary(e.span, "not a value of the rows")
                    .help("the run measures counters as it stages a partition; read them in `quality` (`expect`) or `reconcile`, not in the pipeline"),
                );
                return;
            }
            if name == "drift" {
                drift(e.span, call, decl, program, &bound, diags);
                return;
            }
            if !ALIAS_COUNTERS.contains(&name) || call.args.len() != 1 {
                return;
            }
            let arg = &call.args[0];
            let alias = match &arg.kind {
                ExprKind::Ident(a) if bound(a) => a.as_str(),
                _ => {
                    diags.push(
                        Diagnostic::new(
                            codes::E0144,
                            format!("`{name}` counts an input or binding, not a value"),
                        )
                        .primary(arg.span, "not an input or binding of this dataset")
                        .help(format!(
                            "name the input or binding by its alias, e.g. `{name}(ev)`"
                        )),
                    );
                    return;
                }
            };
            match name {
                "unmatched" => unmatched(e.span, alias, role(alias), diags),
                "partition_count" => {
                    partition_count(e.span, alias, input(alias), decl, program, diags)
                }
                _ => {}
            }
        });
    }
}

/// E0146 where `drift` has no previous partition to compare with, or reads
/// an input's columns rather than the output's.
fn drift(
    at: Span,
    call: &Call,
    decl: &Decl,
    program: &Program,
    bound: &dyn Fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) {
    use super::hir::PartitionKind;
    let keys = program
        .lookup(&decl.name.name)
        .map(|d| d.partition.clone())
        .unwrap_or_default();
    let timed = keys
        .iter()
        .any(|k| matches!(k.kind, PartitionKind::Time(_)))
        && keys
            .iter()
            .all(|k| matches!(k.kind, PartitionKind::Time(_) | PartitionKind::Dimension));
    let mut input_column = None;
    for a in &call.args {
        crate::syntax::visit::walk_expr(a, &mut |x| {
            if let ExprKind::Member(base, _) = &x.kind {
                if matches!(&base.kind, ExprKind::Ident(b) if bound(b)) {
                    input_column.get_or_insert(x.span);
                }
            }
        });
    }
    let (span, label, help) = match (timed, input_column) {
        (false, _) => (
            at,
            "no previous partition to compare with",
            "`drift` compares a partition with the one before it on the time key: partition the dataset by a date or month (and static dimensions at most), or check the figure against a fixed bound",
        ),
        (true, Some(span)) => (
            span,
            "a column of an input",
            "`drift` compares the output with its previous published partition, whose input rows are not kept: drift an output column (`drift(amount)`)",
        ),
        (true, None) => return,
    };
    diags.push(
        Diagnostic::new(codes::E0146, "`drift` here has nothing to compare")
            .primary(span, label)
            .help(help),
    );
}

fn unmatched(at: Span, alias: &str, role: Role, diags: &mut Vec<Diagnostic>) {
    let (why, span) = match role {
        Role::Joined { left: true, .. } => return,
        Role::Unread => ("the pipeline never joins it", None),
        Role::Joined { left: false, span } => (
            "an inner join keeps only the rows that found a match: there is nothing unmatched to count",
            Some(span),
        ),
        Role::From(span) => (
            "the pipeline starts from it: nothing is joined to it",
            Some(span),
        ),
    };
    let mut d = Diagnostic::new(
        codes::E0142,
        format!("`unmatched({alias})` is always 0: `{alias}` is not left-joined"),
    )
    .primary(
        at,
        match span {
            Some(_) => "this check can never fail",
            None => "this check can never fail: the pipeline never joins it",
        },
    );
    if let Some(span) = span {
        d = d.secondary(span, why);
    }
    diags.push(d.help(format!(
        "write `left join {alias} on ...` to keep the rows that find no match and count them; with an inner join, compare `input` with `accepted` to see the rows the join dropped"
    )));
}

fn partition_count(
    at: Span,
    alias: &str,
    input: Option<&Input>,
    decl: &Decl,
    program: &Program,
    diags: &mut Vec<Diagnostic>,
) {
    let windowed = input.is_some_and(|_| {
        program
            .lookup(&decl.name.name)
            .and_then(|d| d.inputs.iter().find(|x| x.alias == alias))
            .is_some_and(|x| {
                matches!(x.mapping.time, TimeMapping::Window { .. })
                    && program.get(x.target).kind == DeclKind::Dataset
                    && program.get(x.target).grain().is_some()
            })
    });
    if windowed {
        return;
    }
    let why = match input {
        None => "a binding reads a reference, which has no partitions".to_string(),
        Some(i) => format!(
            "`{}` is not a dataset with time partitions read through a window (`where <date> in [p - 29d, p]`)",
            i.target.name
        ),
    };
    diags.push(
        Diagnostic::new(
            codes::E0143,
            format!("`partition_count({alias})` has no partitions to count"),
        )
        .primary(at, "this check can never be measured")
        .help(format!(
            "{why}; count what the input has instead, e.g. `rows({alias}) > 0`, or read a partitioned dataset through a window to check its completeness"
        )),
    );
}
