//! The shape of one declaration: which clauses it may have, which it must
//! have, and whether the columns its clauses name are declared.

use std::collections::HashMap;

use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;

/// Whether a clause belongs in a declaration of this kind.
fn allowed(kind: DeclKind, clause: &ClauseKind) -> bool {
    use ClauseKind::*;
    match clause {
        Table(_) | Columns(_) | Key(_) | Allow { .. } => true,
        Clock(_)
        | Snapshot(_)
        | Cursor(_)
        | MaxLateness(_)
        | BadRows { .. }
        | Files(_)
        | ChangedFiles { .. } => kind == DeclKind::Source,
        Validity { .. } | VersionedBy(_) | Versions(_) | Seed(..) => kind == DeclKind::Reference,
        Partition(_) => kind != DeclKind::Reference,
        Version { .. }
        | Publish(_)
        | Schedule(_)
        | Input(_)
        | Bind(_)
        | Compute(_)
        | Quality(_)
        | Reconcile(_)
        | Corrections(_)
        | ClosedAfter(_)
        | Restate(_) => kind == DeclKind::Dataset,
    }
}

/// Clauses that may appear more than once.
fn repeatable(clause: &ClauseKind) -> bool {
    matches!(
        clause,
        ClauseKind::Input(_) | ClauseKind::Bind(_) | ClauseKind::Allow { .. }
    )
}

fn required(kind: DeclKind) -> &'static [&'static str] {
    match kind {
        DeclKind::Source | DeclKind::Reference => &["columns"],
        DeclKind::Dataset => &["version", "publish", "compute"],
    }
}

/// The declared columns of a declaration, if it has a `columns` clause.
pub fn columns(decl: &Decl) -> Option<&[Column]> {
    decl.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Columns(cols) => Some(cols.as_slice()),
        _ => None,
    })
}

pub fn check(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &Clause> = HashMap::new();
    for clause in &decl.clauses {
        let kw = clause.kind.keyword();
        if !allowed(decl.kind, &clause.kind) {
            diags.push(
                Diagnostic::new(
                    codes::E0103,
                    format!("`{kw}` does not belong in a {}", decl.kind.keyword()),
                )
                .primary(
                    clause.span,
                    format!("not allowed in a {}", decl.kind.keyword()),
                )
                .secondary(decl.name.span, format!("this is a {}", decl.kind.keyword()))
                .help(placement_help(&clause.kind)),
            );
            continue;
        }
        if repeatable(&clause.kind) {
            continue;
        }
        if let Some(first) = seen.insert(kw, clause) {
            diags.push(
                Diagnostic::new(
                    codes::E0104,
                    format!("`{kw}` is stated twice in `{}`", decl.name.name),
                )
                .primary(clause.span, "stated again here")
                .secondary(first.span, "first stated here")
                .help("a contract states each of these once; keep the one you mean"),
            );
        }
    }
    for kw in required(decl.kind) {
        if !seen.contains_key(kw) {
            diags.push(
                Diagnostic::new(
                    codes::E0105,
                    format!(
                        "{} `{}` has no `{kw}` clause",
                        decl.kind.keyword(),
                        decl.name.name
                    ),
                )
                .primary(decl.name.span, format!("missing `{kw}`"))
                .help(missing_help(kw)),
            );
        }
    }
    check_columns(decl, diags);
}

fn placement_help(clause: &ClauseKind) -> &'static str {
    use ClauseKind::*;
    match clause {
        Clock(_) | Snapshot(_) | Cursor(_) | MaxLateness(_) | BadRows { .. } | Files(_)
        | ChangedFiles { .. } => {
            "clocks, input locks, landing files, lateness and bad-row policies describe raw data: state them on the `source` the data comes from"
        }
        Validity { .. } | VersionedBy(_) | Versions(_) | Seed(..) => {
            "validity, versions and seeds describe reference data: state them on a `reference`"
        }
        Partition(_) => "references are read whole through `bind`; partition the datasets that use them",
        _ => "only a `dataset` computes, publishes and is scheduled; sources and references describe existing tables",
    }
}

fn missing_help(kw: &str) -> &'static str {
    match kw {
        "columns" => "declare the table's columns: `columns { id: string  amount: decimal(18, 2)? }`",
        "version" => "state the job version, e.g. `version 1`; it is recorded in every manifest and a bump marks outputs stale",
        "publish" => "state how a run makes its output visible: `publish replace` (swap owned partitions) or `publish versioned` (keep every version)",
        _ => "add a `compute { from ... }` block that says how the output is derived from the inputs",
    }
}

/// Columns named by key, clock, lock, validity and partition clauses exist,
/// and no column is declared twice.
fn check_columns(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    let Some(cols) = columns(decl) else { return };
    let mut by_name: HashMap<&str, &Column> = HashMap::new();
    for c in cols {
        if matches!(c.ty.ty, Type::Any | Type::Numeric | Type::Var(_)) {
            let shown = match &c.ty.ty {
                Type::Var(v) => v.clone(),
                Type::Any => "any".into(),
                _ => "numeric".into(),
            };
            diags.push(
                Diagnostic::new(codes::E0004, format!("`{shown}` is not a column type"))
                    .primary(c.ty.span, "only prelude function signatures use it")
                    .help("a column has one concrete type: `string`, `int`, `float`, `decimal(p, s)`, `bool`, `date`, `timestamp`, `month` or `enum(...)`"),
            );
        }
        if let Type::Decimal { precision, scale } = c.ty.ty {
            let max = crate::semantic::Dec::MAX_PRECISION as u32;
            let problem = if precision == 0 || precision > max {
                Some(format!("a precision from 1 to {max} digits"))
            } else if scale > precision {
                Some(format!("at most {precision} digits after the point"))
            } else {
                None
            };
            if let Some(problem) = problem {
                diags.push(
                    Diagnostic::new(
                        codes::E0342,
                        format!("`decimal({precision}, {scale})` cannot be stored exactly"),
                    )
                    .primary(c.ty.span, format!("a decimal holds {problem}"))
                    .help(format!("a decimal is stored as a 64-bit integer scaled by 10^scale, so it holds up to {max} digits, the scale of them after the point: e.g. `decimal(18, 2)` for money")),
                );
            }
        }
        if let Some(first) = by_name.insert(&c.name.name, c) {
            diags.push(
                Diagnostic::new(
                    codes::E0106,
                    format!("column `{}` is declared twice", c.name.name),
                )
                .primary(c.name.span, "declared again here")
                .secondary(first.name.span, "first declared here")
                .help("remove one of them or rename it"),
            );
        }
    }
    let mut named: Vec<&Ident> = Vec::new();
    for clause in &decl.clauses {
        match &clause.kind {
            ClauseKind::Key(ids) | ClauseKind::Cursor(ids) => named.extend(ids),
            ClauseKind::Clock(bs) => named.extend(bs.iter().map(|b| &b.column)),
            ClauseKind::Snapshot(id) | ClauseKind::VersionedBy(id) => named.push(id),
            ClauseKind::Validity { from, to } => named.extend([from, to]),
            ClauseKind::Partition(keys) => {
                named.extend(keys.iter().filter_map(|k| match &k.kind {
                    PartitionType::Hash { column, .. } => Some(column),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    for id in named {
        if !by_name.contains_key(id.name.as_str()) {
            let mut d = Diagnostic::new(
                codes::E0107,
                format!("`{}` has no column `{}`", decl.name.name, id.name),
            )
            .primary(id.span, "not a declared column");
            d = match did_you_mean(&id.name, by_name.keys().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "the columns of `{}` are {}",
                    decl.name.name,
                    cols.iter()
                        .map(|c| format!("`{}`", c.name.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            diags.push(d);
        }
    }
}
