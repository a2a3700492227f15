//! Gate queries: how a partition rule or a reconciliation is measured.
//! Counters a gate reads (`drift(x)`, an aggregate over input columns in a
//! control total) are lifted out of it into statements of their own, and
//! each side of a comparison is shown as written and queried as lowered.

use super::dialect::Dialect;
use super::expr::{sql, Unsupported};
use super::lower::{data_table, PLAIN};
use super::types::{ident, natural, string};
use crate::plan::JobPlan;

/// Whether a gate's expression reads the staged rows (an aggregate over
/// them, or one of their columns) rather than counters and parameters only.
pub(super) fn reads_staged_rows(e: &crate::semantic::hir::Expr) -> bool {
    use crate::semantic::hir::{CallKind, ExprKind as K};
    e.any(&|x| match &x.kind {
        K::Column { .. } => true,
        K::Call { name, kind, .. } => {
            *kind == CallKind::Aggregate
                && !matches!(name.as_str(), "rows" | "partition_count" | "unmatched")
        }
        _ => false,
    })
}

/// The two sides of a comparison, as queries over the staged partition.
/// Each side is shown as written (`written`) and measured as lowered
/// (`e`, with counters lifted out of it: `drift0`, `agg0`).
pub(super) fn operands(
    written: &crate::semantic::hir::Expr,
    e: &crate::semantic::hir::Expr,
    gate: &dyn Fn(&crate::semantic::hir::Expr) -> Result<String, Unsupported>,
    d: &dyn Dialect,
) -> Result<Option<[(String, String); 2]>, Unsupported> {
    use crate::semantic::hir::ExprKind::Binary;
    use crate::syntax::ast::BinaryOp::*;
    Ok(match (&written.kind, &e.kind) {
        (Binary(_, wl, wr), Binary(Eq | Ne | Lt | Le | Gt | Ge, l, r)) => {
            // A literal side is itself; only the measured side is queried.
            let side = |w: &crate::semantic::hir::Expr,
                        x: &crate::semantic::hir::Expr|
             -> Result<(String, String), Unsupported> {
                Ok(match &x.kind {
                    crate::semantic::hir::ExprKind::Lit(_) => (
                        show(w),
                        format!("SELECT {}", natural(&sql(x, PLAIN.on(d))?, &x.ty)),
                    ),
                    _ => (show(w), gate(x)?),
                })
            };
            Some([side(wl, l)?, side(wr, r)?])
        }
        _ => None,
    })
}

/// An expression as the user would write it, for reports.
pub(super) fn show(e: &crate::semantic::hir::Expr) -> String {
    use crate::semantic::hir::{ExprKind as K, Lit};
    match &e.kind {
        K::Lit(Lit::Int(i)) => i.to_string(),
        K::Lit(Lit::Number(n)) => n.clone(),
        K::Lit(Lit::String(s)) => format!("{s:?}"),
        K::Column {
            alias: Some(a),
            name,
        } => format!("{a}.{name}"),
        K::Column { alias: None, name } | K::Counter(name) | K::Variant(name) | K::Alias(name) => {
            name.clone()
        }
        K::Partition { key: None } => "p".into(),
        K::Partition { key: Some(k) } => format!("p.{k}"),
        K::Call { name, args, .. } => format!(
            "{name}({})",
            args.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        K::Binary(op, l, r) => format!("{} {} {}", show(l), op.symbol(), show(r)),
        _ => "…".into(),
    }
}

/// Replaces each `drift(x)` with a counter, and adds the statement that
/// measures it: `(sum(x) - previous) / |previous|`, where `previous` is
/// `sum(x)` over the published rows of the previous partition (the time key
/// one grain back, the same dimension values). No value when that partition
/// is not published or its sum is 0.
pub(super) fn lift_drifts(
    e: &mut crate::semantic::hir::Expr,
    plan: &JobPlan,
    drifts: &mut Vec<(String, String)>,
    d: &dyn Dialect,
) -> Result<(), Unsupported> {
    use crate::semantic::hir::{ExprKind as K, PartitionKind};
    let mut failed = None;
    e.walk_mut(&mut |x| {
        let K::Call { name, args, .. } = &x.kind else {
            return;
        };
        if name != "drift" || failed.is_some() {
            return;
        }
        let Some((time_key, _)) = &plan.time_key else {
            failed = Some(Unsupported(
                "`drift` compares a partition with the previous one: the dataset has no time partitions".into(),
            ));
            return;
        };
        let metric = match args.first().map(|a| sql(a, PLAIN.on(d))) {
            Some(Ok(m)) => m,
            Some(Err(err)) => {
                failed = Some(err);
                return;
            }
            None => "NULL".into(),
        };
        let mut same = vec![format!("{} = :p_prev", ident(time_key))];
        same.extend(
            plan.partition
                .iter()
                .filter(|k| k.kind == PartitionKind::Dimension)
                .map(|k| format!("{} = :p_{}", ident(&k.name), k.name)),
        );
        let name = format!("drift{}", drifts.len());
        drifts.push((
            name.clone(),
            format!(
                "SELECT (cur - prev) * 1.0 / abs(prev) FROM (SELECT \
                 (SELECT coalesce(sum({metric}), 0) FROM {data} WHERE _bpl_partition = :partition AND _bpl_version = :version) AS cur, \
                 (SELECT sum({metric}) FROM (SELECT d.* FROM {data} AS d JOIN _bpl_pointer AS ptr \
                 ON ptr.dataset = {name} AND ptr.partition = d._bpl_partition AND ptr.version = d._bpl_version) AS published \
                 WHERE {same}) AS prev) AS sums WHERE prev <> 0",
                data = ident(&data_table(&plan.table)),
                name = string(&plan.dataset),
                same = same.join(" AND "),
            ),
        ));
        x.kind = K::Counter(name);
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Replaces each aggregate call over an input's columns with the counter
/// `name_of(call)` returns.
pub(super) fn lift_input_aggregates(
    e: &mut crate::semantic::hir::Expr,
    name_of: &mut dyn FnMut(&crate::semantic::hir::Expr) -> Result<String, Unsupported>,
) -> Result<(), Unsupported> {
    use crate::semantic::hir::{CallKind, ExprKind as K};
    fn reads_input(e: &crate::semantic::hir::Expr) -> bool {
        match &e.kind {
            K::Column { alias: Some(_), .. } => true,
            K::Call { args, .. } | K::List(args) => args.iter().any(reads_input),
            K::Unary(_, x) | K::IsNull { expr: x, .. } => reads_input(x),
            K::Binary(_, l, r) => reads_input(l) || reads_input(r),
            K::If {
                cond,
                then,
                otherwise,
            } => reads_input(cond) || reads_input(then) || reads_input(otherwise),
            _ => false,
        }
    }
    match &mut e.kind {
        K::Call {
            kind: CallKind::Aggregate,
            args,
            ..
        } if args.iter().any(reads_input) => {
            let name = name_of(e)?;
            e.kind = K::Counter(name);
        }
        K::Call { args, .. } | K::List(args) => {
            for a in args {
                lift_input_aggregates(a, name_of)?;
            }
        }
        K::Unary(_, x) | K::IsNull { expr: x, .. } => lift_input_aggregates(x, name_of)?,
        K::Binary(_, l, r) => {
            lift_input_aggregates(l, name_of)?;
            lift_input_aggregates(r, name_of)?;
        }
        K::If {
            cond,
            then,
            otherwise,
        } => {
            lift_input_aggregates(cond, name_of)?;
            lift_input_aggregates(then, name_of)?;
            lift_input_aggregates(otherwise, name_of)?;
        }
        _ => {}
    }
    Ok(())
}
