//! A job plan as the statements an engine runs, written once for every
//! dialect (what differs is asked of a [`Dialect`]). The pipeline becomes one query over
//! common table expressions — one per input and binding, bounded and locked
//! by parameters — in two stages: the *row stage* (`from`, `where`, `join`,
//! `derive`, `dedupe`) whose columns are flattened to `alias__column`, and
//! the *shaping stage* (`group`, `aggregate`, `select`) that turns accepted
//! rows into output rows. Row rules are evaluated on the row stage; when a
//! rule quarantines, the row stage is materialised once so routing, counting
//! and shaping read the same rows. Otherwise each rule counts its failures in
//! one scan, and counts that are the same statement (`rows(alias)`, input,
//! accepted) are lowered to the same text, so the engine runs them once.
//!
//! Parameters the runtime binds: `:p` and `:p_<key>` (the partition),
//! `:lo_<alias>`/`:hi_<alias>` (a dataset input's window), `:hwm_<alias>` or
//! `:hwm_<alias>_<i>` (a source's lock), `:as_of`, `:report_close`,
//! `:run_id`, `:version`, `:partition`, and, in gates, `:counter_<name>`,
//! `:rows_<alias>` and `:partition_count_<alias>`.

use serde::Serialize;

use super::counted::Counted;
use super::dialect::Dialect;
use super::expr::{sql, Columns, Ctx, Place, Unsupported};
use super::gates::{lift_drifts, lift_input_aggregates, operands, reads_staged_rows};
use super::types::{ident, natural, string, table_ref};
use crate::plan::{BindPlan, JobPlan, Table};
use crate::semantic::hir::{BindPolicyKind, Named};
use crate::syntax::ast::{RuleLevel, Severity};

pub(super) const PLAIN: Place = Place {
    columns: Columns::Plain,
    ranges: false,
    range: false,
};

/// Columns every stored row carries besides its own.
pub const META_COLUMNS: &[(&str, &str)] = &[
    ("_bpl_partition", "TEXT NOT NULL"),
    ("_bpl_version", "INTEGER NOT NULL"),
    ("_bpl_row_id", "TEXT NOT NULL"),
];

#[derive(Debug, Clone, Serialize)]
pub struct RowRule {
    pub name: String,
    pub severity: Severity,
    /// The flag column in the materialised row stage (1 when the row passes).
    pub flag: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    pub name: String,
    pub severity: Severity,
    pub text: String,
    /// `SELECT <condition>` over the staged rows of one partition.
    pub sql: String,
    /// For a tolerated equality: the two sides, compared in Rust.
    pub sides: Option<(String, String)>,
    /// For a comparison: each side with its text, so a report can say
    /// what was measured (`partition_count(daily) = 29`).
    pub operands: Option<[(String, String); 2]>,
    /// The condition, when it reads the run's counters only: the runtime
    /// computes it instead of sending `sql` (see [`super::counted`]).
    pub counted: Option<Counted>,
}

/// Every statement a job's runs need: storage, staging a batch of
/// partitions ([`super::range`]), and the gates and checksums measured on
/// each staged partition.
#[derive(Debug, Clone, Serialize)]
pub struct LoweredJob {
    /// The physical table of stored rows (all versions).
    pub data_table: String,
    /// The view of active versions consumers read.
    pub view: String,
    pub create_data: String,
    pub create_view: String,
    pub row_rules: Vec<RowRule>,
    /// Stages a batch of partitions.
    pub batch: super::range::RangeStage,
    /// `SELECT count(*), bpl_checksum(..)` of each binding's rows, by alias.
    pub bindings: Vec<(String, String)>,
    pub expectations: Vec<Gate>,
    pub reconciliations: Vec<Gate>,
    /// Built-in reconciliation: rows sharing a key.
    pub key_duplicates: Option<String>,
    /// Built-in reconciliation: rows outside the partition they were written to.
    pub out_of_partition: Option<String>,
    /// Built-in check: the staged rows whose values are not of their
    /// column's type, or null in a column that may not be (count, and the
    /// first problem), from the typed boundary's own tests.
    pub typed_output: String,
    /// `(counter, SELECT)`: each `drift(x)` of a gate, the relative change
    /// of `sum(x)` against the previous partition's published rows (`:p_prev`).
    pub drifts: Vec<(String, String)>,
    pub checksum: String,
    /// Removes a run's staged rows that were never published.
    pub discard: String,
}

/// The CTE name of an input or binding.
pub(super) fn cte(alias: &str) -> String {
    ident(&format!("src_{alias}"))
}

pub(super) fn data_table(table: &str) -> String {
    format!("{table}__data")
}

/// A data table as a `FROM` item the lowering reads `columns` of, aliased
/// `alias` (`None`: unaliased where it needs none): the table itself, or,
/// where the engine stores some of their types natively, a subquery
/// giving each column in the form the lowering computes on (the planner
/// flattens it, so the index on partition and version still serves).
pub(super) fn computed_rows(
    table: &str,
    columns: &[crate::plan::Column],
    d: &dyn Dialect,
    alias: Option<&str>,
) -> String {
    let converted: Vec<Option<String>> = columns
        .iter()
        .map(|c| d.computed_value(&ident(&c.name), &c.ty))
        .collect();
    if converted.iter().all(Option::is_none) {
        return match alias {
            Some(a) => format!("{} AS {a}", ident(table)),
            None => ident(table),
        };
    }
    let cols: Vec<String> = columns
        .iter()
        .zip(converted)
        .map(|(c, x)| match x {
            Some(x) => format!("{x} AS {}", ident(&c.name)),
            None => ident(&c.name),
        })
        .collect();
    format!(
        "(SELECT {}, _bpl_partition, _bpl_version, _bpl_row_id FROM {}) AS {}",
        cols.join(", "),
        ident(table),
        alias.unwrap_or("_bpl_rows")
    )
}

/// The rows of a binding, as its temporal policy selects them. A binding
/// as of event time keeps every row; its join adds the validity test.
pub(super) fn bind_sql(b: &BindPlan, d: &dyn Dialect) -> String {
    let t = &b.table;
    let at = |param: &str| {
        b.validity.as_ref().map(|(from, to)| {
            format!(
                "{f} <= {param} AND ({t} IS NULL OR {param} < {t})",
                f = ident(from),
                t = ident(to)
            )
        })
    };
    let newest = || {
        b.versioned_by.as_ref().map(|v| {
            format!(
                "{v} = (SELECT max({v}) FROM {})",
                table_ref(&t.table),
                v = ident(v)
            )
        })
    };
    let filter = match &b.policy {
        BindPolicyKind::Pinned(version) => b
            .versioned_by
            .as_ref()
            .map(|v| format!("{} = {}", ident(v), string(version))),
        BindPolicyKind::AsOfProcessingTime => at(":as_of").or_else(newest),
        BindPolicyKind::AsOfReportClose => at(":report_close").or_else(newest),
        BindPolicyKind::Latest { .. } => b
            .validity
            .as_ref()
            .map(|(_, to)| format!("{} IS NULL", ident(to)))
            .or_else(newest),
        BindPolicyKind::AsOfEventTime => newest(),
    };
    let mut converted = false;
    let cols = t
        .columns
        .iter()
        .map(|c| match c.ty.decimal_scale() {
            Some(_) => format!("{} AS {}", d.reference_value("_bpl_ref", c), ident(&c.name)),
            None => match d.reference_converted("_bpl_ref", c) {
                Some(v) => {
                    converted = true;
                    format!("{v} AS {}", ident(&c.name))
                }
                None => ident(&c.name),
            },
        })
        .collect::<Vec<_>>()
        .join(", ");
    let select = match filter {
        Some(f) => format!(
            "SELECT {cols} FROM {} AS _bpl_ref WHERE {f}",
            table_ref(&t.table)
        ),
        None => format!("SELECT {cols} FROM {} AS _bpl_ref", table_ref(&t.table)),
    };
    // A converted column is converted once per reference row, not once per
    // row it is compared with: flattened into an as-of join, PostgreSQL
    // converted `valid_from` and `valid_to` for each of a million joined
    // pairs (0.46 s of `region_daily`'s statement in the benchmark).
    if converted {
        d.unflattened(&select)
    } else {
        select
    }
}

pub(super) fn table_of<'a>(plan: &'a JobPlan, alias: &str) -> Option<&'a Table> {
    plan.inputs
        .iter()
        .map(|i| &i.table)
        .chain(plan.binds.iter().map(|b| &b.table))
        .find(|t| t.alias == alias)
}

pub(super) fn named(items: &[Named], ctx: Ctx) -> Result<String, Unsupported> {
    Ok(items
        .iter()
        .map(|n| sql(&n.expr, ctx).map(|s| format!("{s} AS {}", ident(&n.name))))
        .collect::<Result<Vec<_>, _>>()?
        .join(", "))
}

/// Lowers a job plan to the statements of dialect `d`.
pub fn lower(plan: &JobPlan, d: &dyn Dialect) -> Result<LoweredJob, Unsupported> {
    let row_rules: Vec<RowRule> = plan
        .job
        .rules
        .iter()
        .filter(|r| r.level == RuleLevel::Row)
        .enumerate()
        .map(|(k, r)| RowRule {
            name: r.name.clone(),
            severity: r.severity,
            flag: format!("_bpl_rule{k}"),
            text: r.text.clone(),
        })
        .collect();
    let data = data_table(&plan.table);
    let this_version = "_bpl_partition = :partition AND _bpl_version = :version";
    let out_cols: Vec<String> = plan.columns.iter().map(|c| ident(&c.name)).collect();
    let computed = computed_rows(&data, &plan.columns, d, None);
    let gate = |rule_sql: String| format!("SELECT {rule_sql} FROM {computed} WHERE {this_version}");
    // A condition over counters and parameters only has a value on an
    // empty partition too: it is not read from the staged rows, which would
    // give it no row (and so no value) to be computed on.
    let gate_sql = |e: &crate::semantic::hir::Expr, cond: String| -> String {
        if reads_staged_rows(e) {
            gate(cond)
        } else {
            format!("SELECT {cond} FROM (SELECT 1) AS counters")
        }
    };
    let gate_of = |e: &crate::semantic::hir::Expr| -> Result<String, Unsupported> {
        Ok(gate_sql(e, sql(e, PLAIN.on(d))?))
    };
    // A value shown to a person or compared within a tolerance: a
    // decimal's scaled integer divided back to its units.
    let value_of = |e: &crate::semantic::hir::Expr| -> Result<String, Unsupported> {
        Ok(gate_sql(e, natural(&sql(e, PLAIN.on(d))?, &e.ty)))
    };
    // `drift(x)` compares the partition with the previous one: measured on
    // the staged and the published rows, read back as a counter (`drift0`, ...).
    let mut drifts: Vec<(String, String)> = Vec::new();
    // An aggregate over an input's columns in a gate (`sum(ledger.amount)`
    // in a control total) is measured on the accepted rows during staging
    // and read back as a counter (`agg0`, `agg1`, ...).
    let mut aggregates: Vec<crate::semantic::hir::Expr> = Vec::new();
    let mut lift =
        |e: &crate::semantic::hir::Expr| -> Result<crate::semantic::hir::Expr, Unsupported> {
            let mut e = e.clone();
            lift_drifts(&mut e, plan, &mut drifts, d)?;
            lift_input_aggregates(&mut e, &mut |call| {
                aggregates.push(call.clone());
                Ok(format!("agg{}", aggregates.len() - 1))
            })?;
            Ok(e)
        };
    let mut expectations = Vec::new();
    for r in plan
        .job
        .rules
        .iter()
        .filter(|r| r.level == RuleLevel::Partition)
    {
        let expr = lift(&r.expr)?;
        expectations.push(Gate {
            name: r.name.clone(),
            severity: r.severity,
            text: r.text.clone(),
            sql: gate_of(&expr)?,
            sides: None,
            operands: operands(&r.expr, &expr, &value_of, d)?,
            counted: Counted::of(&expr),
        });
    }
    let mut reconciliations = Vec::new();
    for r in &plan.job.reconcile {
        let written = &r.expr;
        let r = &crate::semantic::hir::Reconciliation {
            expr: lift(&r.expr)?,
            ..r.clone()
        };
        let sides = match (&r.tolerance, &r.expr.kind) {
            (
                Some(_),
                crate::semantic::hir::ExprKind::Binary(crate::syntax::ast::BinaryOp::Eq, l, rr),
            ) => Some((value_of(l)?, value_of(rr)?)),
            _ => None,
        };
        reconciliations.push(Gate {
            name: r.name.clone(),
            severity: r.severity,
            text: r.text.clone(),
            counted: sides.is_none().then(|| Counted::of(&r.expr)).flatten(),
            sql: gate_of(&r.expr)?,
            sides,
            operands: operands(written, &r.expr, &value_of, d)?,
        });
    }
    let key_duplicates = (!plan.key.is_empty() && !keys_proved_unique(plan)).then(|| {
        format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {this_version} GROUP BY {} HAVING count(*) > 1) AS repeated",
            ident(&data),
            plan.key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
        )
    });
    let out_of_partition = plan
        .time_key
        .as_ref()
        .filter(|(k, _)| !proved_partition_value(plan, k))
        .map(|(k, _)| {
            format!(
                "SELECT count(*) FROM {} WHERE {this_version} AND {}",
                ident(&data),
                d.differs(&ident(k), ":p")
            )
        });
    // Columns copied from a typed input need no second look.
    let unproven: Vec<crate::plan::Column> = plan
        .columns
        .iter()
        .filter(|c| !typed_by_inputs(plan, c))
        .cloned()
        .collect();
    let typed_output = if unproven.is_empty() {
        "SELECT 0, NULL".to_string()
    } else {
        format!(
            "SELECT count(_bpl_problem), min(_bpl_problem) FROM (SELECT {} AS _bpl_problem \
             FROM {} AS d WHERE {this_version} AND ({})) AS problems",
            d.stored_problems("d", &unproven, &|c| !c.nullable),
            ident(&data),
            d.stored_misfit("d", &unproven, &|c| !c.nullable),
        )
    };
    let gate_sql: Vec<&str> = expectations
        .iter()
        .chain(&reconciliations)
        .flat_map(|g: &Gate| {
            let mut v = vec![g.sql.as_str()];
            if let Some((l, r)) = &g.sides {
                v.extend([l.as_str(), r.as_str()]);
            }
            v
        })
        .collect();
    let batch = super::range::lower(plan, &row_rules, &gate_sql, &aggregates, d)?;
    let bindings = plan
        .binds
        .iter()
        .map(|b| {
            let cols: Vec<String> = b.table.columns.iter().map(|c| ident(&c.name)).collect();
            (
                b.table.alias.clone(),
                d.count_and_checksum(&cols, "", &format!("({}) AS bound", bind_sql(b, d))),
            )
        })
        .collect();
    let mut create_cols: Vec<String> = plan
        .columns
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), d.column_type(&c.ty)))
        .collect();
    create_cols.extend(META_COLUMNS.iter().map(|(n, t)| format!("{n} {t}")));
    let view_cols = plan
        .columns
        .iter()
        .map(|c| match c.ty.decimal_scale() {
            // Readers get a decimal in its units; the stored integer stays
            // exact (see the book's decimals section).
            Some(_) => format!(
                "{} AS {}",
                natural(&format!("d.{}", ident(&c.name)), &c.ty),
                ident(&c.name)
            ),
            None => format!("d.{}", ident(&c.name)),
        })
        .chain(
            [
                "s.run_id AS _bpl_run_id",
                "s.as_of AS _bpl_as_of",
                "d._bpl_row_id",
            ]
            .map(String::from),
        )
        .collect::<Vec<_>>()
        .join(", ");
    Ok(LoweredJob {
        create_data: format!(
            "CREATE TABLE IF NOT EXISTS {d} ({}); \
             CREATE INDEX IF NOT EXISTS {} ON {d} (_bpl_partition, _bpl_version)",
            create_cols.join(", "),
            ident(&format!("{data}_partition")),
            d = ident(&data),
        ),
        create_view: d.create_view(
            &ident(&plan.table),
            &format!(
                "SELECT {view_cols} FROM {} AS d JOIN _bpl_pointer AS p \
                 ON p.dataset = {} AND p.partition = d._bpl_partition AND p.version = d._bpl_version \
                 JOIN _bpl_staged AS s ON s.dataset = p.dataset AND s.partition = p.partition \
                 AND s.version = p.version",
                ident(&data),
                string(&plan.dataset)
            ),
        ),
        data_table: data.clone(),
        view: plan.table.clone(),
        row_rules,
        batch,
        bindings,
        expectations,
        reconciliations,
        key_duplicates,
        out_of_partition,
        typed_output,
        drifts,
        // The size beside the count and checksum, in the same scan: the
        // bytes of text values, 8 per number (measuring a number's text
        // would convert every one of them).
        checksum: d.count_and_checksum(
            &out_cols,
            &format!(", {}", plan.columns
                .iter()
                .map(|c| match d.column_type(&c.ty).to_ascii_uppercase().as_str() {
                    // Spark names its text type STRING.
                    "TEXT" | "STRING" => format!("coalesce(sum(octet_length({})), 0)", ident(&c.name)),
                    // A native date or timestamp counts as the bytes of
                    // its canonical text, as where it is stored as text.
                    "DATE" => format!("10 * count({})", ident(&c.name)),
                    "TIMESTAMP WITH TIME ZONE" => format!("19 * count({})", ident(&c.name)),
                    _ => format!("8 * count({})", ident(&c.name)),
                })
                .collect::<Vec<_>>()
                .join(" + ")),
            &format!("{} WHERE {this_version}", ident(&data)),
        ),
        discard: format!(
            "DELETE FROM {data} WHERE (_bpl_partition, _bpl_version) IN ({})",
            unkept_versions(&plan.dataset),
            data = ident(&data),
        ),
    })
}

/// `SELECT partition, version` of the versions run `:run_id` staged for
/// `dataset` that are neither published nor a shadow: what a failed or
/// abandoned run leaves, and what discarding it removes.
pub fn unkept_versions(dataset: &str) -> String {
    format!(
        "SELECT s.partition, s.version FROM _bpl_staged s \
         WHERE s.dataset = {name} AND s.run_id = :run_id \
         AND NOT EXISTS (SELECT 1 FROM _bpl_pointer p WHERE p.dataset = s.dataset \
           AND p.partition = s.partition AND p.version = s.version) \
         AND NOT EXISTS (SELECT 1 FROM _bpl_shadow h WHERE h.dataset = s.dataset \
           AND h.partition = s.partition AND h.version = s.version)",
        name = string(dataset),
    )
}

/// Forgets the records of the versions [`unkept_versions`] names, run
/// after a discard has removed their rows: were they left behind alone, a
/// later discard would find nothing to remove. Every engine runs it.
pub fn forget_unkept_versions(dataset: &str) -> String {
    format!(
        "DELETE FROM _bpl_staged WHERE dataset = {} AND (partition, version) IN ({})",
        string(dataset),
        unkept_versions(dataset)
    )
}

/// Whether the job's own steps prove its output key unique in a
/// partition, so validation need not look: a `dedupe` keeps one row per
/// value of its columns, and the final `select` passes each of them on
/// unchanged into a key column, with nothing in between that could repeat
/// a row (a join) or change a value (a derive).
fn keys_proved_unique(plan: &JobPlan) -> bool {
    use crate::semantic::hir::{ExprKind, Step};
    let steps = &plan.job.steps;
    let Some(last) = steps.iter().rposition(|s| matches!(s, Step::Dedupe { .. })) else {
        return false;
    };
    let (Step::Dedupe { by, .. }, [between @ .., Step::Select(items)]) =
        (&steps[last], &steps[last + 1..])
    else {
        return false;
    };
    if !between.iter().all(|s| matches!(s, Step::Where(_))) || by.is_empty() {
        return false;
    }
    by.iter().all(|b| {
        matches!(b.kind, ExprKind::Column { .. })
            && items
                .iter()
                .any(|i| plan.key.contains(&i.name) && i.expr.kind == b.kind)
    })
}

/// Whether the step that shapes the output sets the time key column to
/// `p` itself, so no row can land outside its partition.
fn proved_partition_value(plan: &JobPlan, key: &str) -> bool {
    use crate::semantic::hir::ExprKind;
    shaped_as(plan, key).is_some_and(|e| match &e.kind {
        ExprKind::Partition { key: None } => plan.partition.len() == 1,
        ExprKind::Partition { key: Some(k) } => k == key,
        _ => false,
    })
}

/// What the step that shapes the output sets column `name` to, unless a
/// later `derive` sets it again.
fn shaped_as<'a>(plan: &'a JobPlan, name: &str) -> Option<&'a crate::semantic::hir::Expr> {
    use crate::semantic::hir::Step;
    let steps = &plan.job.steps;
    let shaping = steps.iter().rposition(|s| s.shapes())?;
    let items = match &steps[shaping] {
        Step::Select(items) | Step::Aggregate(items) => items,
        Step::Group { keys, .. } => keys,
        _ => return None,
    };
    let redefined = steps[shaping + 1..]
        .iter()
        .any(|s| matches!(s, Step::Derive(d) if d.iter().any(|n| n.name == name)));
    if redefined {
        return None;
    }
    items.iter().find(|i| i.name == name).map(|i| &i.expr)
}

/// Whether an output column is proved of its type by where it comes from,
/// so the typed output check need not read it: the shaping step copies it
/// unchanged from a column of an input of the same type (a source's values
/// passed the typed input boundary, a dataset's its own output check), not
/// nullable unless the output may be null (a left join makes it so), or
/// sets it to a partition key of its type.
fn typed_by_inputs(plan: &JobPlan, c: &crate::plan::Column) -> bool {
    use crate::semantic::hir::{ExprKind, Grain, PartitionKind, Step};
    use crate::semantic::T;
    let steps = &plan.job.steps;
    let Some(expr) = shaped_as(plan, &c.name) else {
        return false;
    };
    match &expr.kind {
        ExprKind::Column {
            alias: Some(a),
            name,
        } => {
            let Some(input) = plan.inputs.iter().find(|i| i.table.alias == *a) else {
                return false;
            };
            let left_joined = steps
                .iter()
                .any(|s| matches!(s, Step::Join { left: true, alias, .. } if alias == a));
            input.table.columns.iter().any(|ic| {
                ic.name == *name && ic.ty == c.ty && (c.nullable || (!ic.nullable && !left_joined))
            })
        }
        // `p` of a daily partition is a canonical date; a dimension key's
        // value is text.
        ExprKind::Partition { key: None } => {
            plan.partition.len() == 1
                && c.ty == T::Date
                && matches!(plan.time_key, Some((_, Grain::Day)))
        }
        ExprKind::Partition { key: Some(k) } => plan.partition.iter().any(|key| {
            key.name == *k
                && match key.kind {
                    PartitionKind::Time(Grain::Day) => c.ty == T::Date,
                    PartitionKind::Dimension => c.ty == T::String,
                    _ => false,
                }
        }),
        _ => false,
    }
}
