//! The shaping stage of a range statement: accepted rows to output rows,
//! grouped by their partition.

use super::points::Points;
use super::{
    partition_values, parts_columns, parts_table, rejoin_parts, PLAIN, PLAIN_SINGLE, ROW,
    ROW_SINGLE,
};
use crate::plan::JobPlan;
use crate::semantic::hir::{CallKind, ExprKind, Step};
use crate::sql::dialect::Dialect;
use crate::sql::expr::{flat, partition_column, sql, Unsupported};
use crate::sql::lower::named;
use crate::sql::types::ident;

/// How the batch is computed, as shaping needs it.
pub(super) struct Batch<'a> {
    /// The partition's key names.
    pub keys: &'a [String],
    /// One partition at a time (see [`super::RangeStage::single`]).
    pub single: bool,
    pub d: &'a dyn Dialect,
}

/// The output rows, tagged with their partition, from accepted rows.
pub(super) fn shape(
    plan: &JobPlan,
    shaping: &[Step],
    first: Option<&str>,
    accepted: &str,
    mut counted_groups: Option<&mut Points<'_>>,
    batch: &Batch<'_>,
) -> Result<String, Unsupported> {
    let (keys, single, d) = (batch.keys, batch.single, batch.d);
    let batch_table = parts_table(d);
    let mut q = accepted.to_string();
    let mut shaped = false;
    let carried = parts_columns("", keys);
    for step in shaping {
        q = match step {
            Step::Group {
                keys: group,
                aggregates,
            } => {
                shaped = true;
                // The groups are formed by the partition's number and the
                // keys that read a row's columns. The partition's own
                // columns, and the keys that read none (`p`, a literal),
                // are one value per partition: they are joined back from
                // the batch table after the grouping. Sorted or hashed
                // with every row, they made each row wider (about a tenth
                // of a grouped statement's time on SQLite).
                let (early, late): (Vec<_>, Vec<_>) =
                    group.iter().cloned().partition(|k| reads_columns(&k.expr));
                let mut by = vec!["_bpl_no".to_string()];
                for k in &early {
                    by.push(sql(&k.expr, ROW.on(d))?);
                }
                let by = by.join(", ");
                let mut all = early;
                all.extend(aggregates.iter().cloned());
                let columns = if all.is_empty() {
                    "_bpl_no".to_string()
                } else {
                    format!("_bpl_no, {}", named(&all, ROW.on(d))?)
                };
                // The accepted rows are counted by the groups they go into.
                let grouped = match counted_groups.as_deref_mut() {
                    Some(points) => points.group(&columns, &q, &by),
                    None => format!("SELECT {columns} FROM ({q}) AS _bpl_q GROUP BY {by}"),
                };
                rejoin_partition(&grouped, keys, &late, d)?
            }
            Step::Aggregate(items) if single => {
                shaped = true;
                // One row even for an empty partition: its keys come from
                // the batch table, `p` from the bound parameters.
                let from_parts = std::iter::once("_bpl_no".to_string())
                    .chain(partition_values(keys))
                    .map(|c| format!("(SELECT {c} FROM {batch_table}) AS {c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT {from_parts}, {} FROM ({q}) AS _bpl_q",
                    named(items, ROW_SINGLE.on(d))?
                )
            }
            Step::Aggregate(_) => unreachable!("an aggregate runs one partition at a time"),
            Step::Select(items) => {
                shaped = true;
                format!(
                    "SELECT {carried}, {} FROM ({q}) AS _bpl_q",
                    named(items, ROW.on(d))?
                )
            }
            Step::Derive(items) => format!(
                "SELECT *, {} FROM ({q}) AS _bpl_q",
                named(items, if single { PLAIN_SINGLE } else { PLAIN }.on(d))?
            ),
            Step::Where(e) => format!(
                "SELECT * FROM ({q}) AS _bpl_q WHERE {}",
                sql(e, PLAIN.on(d))?
            ),
            other => {
                return Err(Unsupported(format!(
                    "a {} after the output is shaped is not supported by the SQLite engine",
                    match other {
                        Step::Join { .. } => "join",
                        Step::Dedupe { .. } => "dedupe",
                        _ => "step",
                    }
                )))
            }
        };
    }
    let cols = plan
        .columns
        .iter()
        .map(|c| {
            let derived = shaping.iter().chain(&plan.job.steps).any(
                |s| matches!(s, Step::Derive(items) if items.iter().any(|n| n.name == c.name)),
            );
            match (first, shaped || derived) {
                (Some(a), false) => format!("{} AS {}", flat(a, &c.name), ident(&c.name)),
                _ => ident(&c.name),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // A hash-partitioned output keeps the rows of its bucket.
    let bucket = match plan.hash_key() {
        Some((key, column, n)) => format!(
            " WHERE {} = CAST({} AS INTEGER)",
            d.function("bucket", &[ident(column), n.to_string()]),
            partition_column(Some(key))
        ),
        None => String::new(),
    };
    Ok(format!(
        "SELECT _bpl_no, {cols} FROM ({q}) AS _bpl_q{bucket}"
    ))
}

/// `grouped` (one row per group, the partition's number its only
/// partition column) with the partition's columns joined back from the
/// batch table, and `late`, group keys computed from them.
fn rejoin_partition(
    grouped: &str,
    keys: &[String],
    late: &[crate::semantic::hir::Named],
    d: &dyn Dialect,
) -> Result<String, Unsupported> {
    let computed = if late.is_empty() {
        String::new()
    } else {
        named(late, ROW.on(d))?
    };
    Ok(rejoin_parts(grouped, &partition_values(keys), &computed, d))
}

/// Whether a gate statement reads parameter `name` (not a longer one).
pub(super) fn reads_param(gates: &[&str], name: &str) -> bool {
    gates.iter().any(|g| {
        g.match_indices(name).any(|(at, _)| {
            !g[at + name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// Whether an expression reads a row's column (a derived name included):
/// one that does not is the same on every row of a partition.
fn reads_columns(e: &crate::semantic::hir::Expr) -> bool {
    let mut found = false;
    super::inputs::visit(e, &mut |x| {
        // Only what is one value per partition is left out: `p`, literals,
        // and scalar calls on them.
        found |= match &x.kind {
            ExprKind::Column { .. } | ExprKind::Alias(_) | ExprKind::Counter(_) => true,
            ExprKind::Call { kind, over, .. } => *kind != CallKind::Scalar || over.is_some(),
            _ => false,
        };
    });
    found
}
