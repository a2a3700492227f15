//! A job plan as SQLite statements. The pipeline becomes one query over
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

use super::expr::{flat, order_by, sql, Columns, Ctx, Unsupported};
use super::types::{ident, string};
use crate::plan::{BindPlan, Boundary, InputPlan, JobPlan, Table};
use crate::semantic::hir::{BindPolicyKind, Lock, Named, Step};
use crate::syntax::ast::{DeclKind, RuleLevel, Severity};

const ROW: Ctx = Ctx {
    columns: Columns::Flat,
    ranges: false,
};
const PLAIN: Ctx = Ctx {
    columns: Columns::Plain,
    ranges: false,
};
const BOUNDARY: Ctx = Ctx {
    columns: Columns::Plain,
    ranges: true,
};

/// Columns every stored row carries besides its own.
pub const META_COLUMNS: &[(&str, &str)] = &[
    ("_bpl_partition", "TEXT NOT NULL"),
    ("_bpl_version", "INTEGER NOT NULL"),
    ("_bpl_run_id", "TEXT NOT NULL"),
    ("_bpl_as_of", "TEXT NOT NULL"),
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
}

/// The two sides of a comparison, as queries over the staged partition.
fn operands(
    e: &crate::semantic::hir::Expr,
    gate: &dyn Fn(String) -> String,
) -> Result<Option<[(String, String); 2]>, Unsupported> {
    use crate::syntax::ast::BinaryOp::*;
    Ok(match &e.kind {
        crate::semantic::hir::ExprKind::Binary(Eq | Ne | Lt | Le | Gt | Ge, l, r) => {
            // A literal side is itself; only the measured side is queried.
            let side = |x: &crate::semantic::hir::Expr| -> Result<(String, String), Unsupported> {
                Ok(match &x.kind {
                    crate::semantic::hir::ExprKind::Lit(_) => {
                        (show(x), format!("SELECT {}", sql(x, PLAIN)?))
                    }
                    _ => (show(x), gate(sql(x, PLAIN)?)),
                })
            };
            Some([side(l)?, side(r)?])
        }
        _ => None,
    })
}

/// An expression as the user would write it, for reports.
fn show(e: &crate::semantic::hir::Expr) -> String {
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

/// Every statement one run of a job needs, for one partition at a time.
#[derive(Debug, Clone, Serialize)]
pub struct LoweredJob {
    /// The physical table of stored rows (all versions).
    pub data_table: String,
    /// The view of active versions consumers read.
    pub view: String,
    pub create_data: String,
    pub create_view: String,
    /// `SELECT count(*)` of each input and binding, by alias.
    pub rows: Vec<(String, String)>,
    /// `SELECT count(DISTINCT partition)` of each dataset input, by alias.
    pub partition_counts: Vec<(String, String)>,
    /// Rows of the first input inside its boundary and leading filters.
    pub input_count: String,
    /// Rows `dedupe` dropped.
    pub duplicates: Option<String>,
    /// Materialises the row stage with one flag per row rule, if any.
    pub materialize: Option<String>,
    pub row_rules: Vec<RowRule>,
    /// `SELECT count(*)` of rows failing each row rule, by rule name.
    pub row_rule_failures: Vec<(String, String)>,
    /// Copies quarantined rows to the ledger (attached as `ledger`).
    pub quarantine: Option<String>,
    pub quarantined_count: Option<String>,
    pub accepted_count: String,
    /// Aggregates over input columns that gates read, measured on the
    /// accepted rows: `(counter name, SELECT)`.
    pub input_aggregates: Vec<(String, String)>,
    /// Computes the partition and writes it as an unpublished version.
    pub stage: String,
    pub output_count: String,
    pub expectations: Vec<Gate>,
    pub reconciliations: Vec<Gate>,
    /// Built-in reconciliation: rows sharing a key.
    pub key_duplicates: Option<String>,
    /// Built-in reconciliation: rows outside the partition they were written to.
    pub out_of_partition: Option<String>,
    pub checksum: String,
    /// Removes a run's staged rows that were never published.
    pub discard: String,
}

/// The CTE name of an input or binding.
fn cte(alias: &str) -> String {
    ident(&format!("src_{alias}"))
}

fn data_table(table: &str) -> String {
    format!("{table}__data")
}

/// The rows of an input that feed partition `p`, locked.
fn input_sql(i: &InputPlan) -> Result<String, Unsupported> {
    let t = &i.table;
    let mut conditions = Vec::new();
    let from = if t.kind == DeclKind::Dataset {
        // Exactly the versions that were active when the run locked its inputs.
        let lock = ident(&format!("bpl_lock_{}", t.alias));
        conditions.push(format!(
            "(d._bpl_partition, d._bpl_version) IN (SELECT partition, version FROM temp.{lock})"
        ));
        format!("{} AS d", ident(&data_table(&t.table)))
    } else {
        ident(&t.table)
    };
    match &i.boundary {
        Boundary::Partitions { column, .. } => {
            conditions.push(format!(
                "{} BETWEEN :lo_{a} AND :hi_{a}",
                ident(column),
                a = t.alias
            ));
            // `tenant_id == p.tenant_id`: the same tenant's partitions only.
            for (out, col) in &i.dimensions {
                conditions.push(format!("{} = :p_{out}", ident(col)));
            }
        }
        Boundary::Filter(e) => conditions.push(sql(e, BOUNDARY)?),
        Boundary::All => {}
    }
    if t.kind != DeclKind::Dataset {
        conditions.push(match &i.lock {
            Some(Lock::Snapshot(col)) => format!("{} <= :hwm_{}", ident(col), t.alias),
            Some(Lock::Cursor(cols)) => format!(
                "({}) <= ({})",
                cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "),
                (0..cols.len())
                    .map(|k| format!(":hwm_{}_{k}", t.alias))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("rowid <= :hwm_{}", t.alias),
        });
    }
    let cols = t
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    Ok(format!("SELECT {cols} FROM {from}{filter}"))
}

/// The rows of a binding, as its temporal policy selects them. A binding
/// as of event time keeps every row; its join adds the validity test.
fn bind_sql(b: &BindPlan) -> String {
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
                ident(&t.table),
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
    let cols = t
        .columns
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    match filter {
        Some(f) => format!("SELECT {cols} FROM {} WHERE {f}", ident(&t.table)),
        None => format!("SELECT {cols} FROM {}", ident(&t.table)),
    }
}

/// `SELECT a AS a__x, ... FROM src_a`: an alias's columns, flattened.
fn flattened(t: &Table) -> String {
    let cols = t
        .columns
        .iter()
        .map(|c| format!("{} AS {}", ident(&c.name), flat(&t.alias, &c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {cols} FROM {}", cte(&t.alias))
}

fn table_of<'a>(plan: &'a JobPlan, alias: &str) -> Option<&'a Table> {
    plan.inputs
        .iter()
        .map(|i| &i.table)
        .chain(plan.binds.iter().map(|b| &b.table))
        .find(|t| t.alias == alias)
}

fn named(items: &[Named], ctx: Ctx) -> Result<String, Unsupported> {
    Ok(items
        .iter()
        .map(|n| sql(&n.expr, ctx).map(|s| format!("{s} AS {}", ident(&n.name))))
        .collect::<Result<Vec<_>, _>>()?
        .join(", "))
}

struct Stages {
    /// The row stage, as a query.
    rows: String,
    /// The row stage up to its first join or dedupe: what `input` counts.
    leading: String,
    /// `(before, after)` of each dedupe.
    dedupes: Vec<(String, String)>,
    /// Shaping steps, applied to accepted rows.
    shaping: Vec<Step>,
    /// The first input's alias, for an unshaped output.
    first: Option<String>,
}

fn row_stage(plan: &JobPlan) -> Result<Stages, Unsupported> {
    let mut rows = String::new();
    let mut leading: Option<String> = None;
    let mut dedupes = Vec::new();
    let mut first = None;
    let mut steps = plan.job.steps.iter().peekable();
    while let Some(step) = steps.next() {
        if step.shapes() {
            let mut shaping = vec![step.clone()];
            shaping.extend(steps.cloned());
            return Ok(Stages {
                leading: leading.unwrap_or_else(|| rows.clone()),
                rows,
                dedupes,
                shaping,
                first,
            });
        }
        rows = match step {
            Step::From(a) => {
                first = Some(a.clone());
                let t = table_of(plan, a)
                    .ok_or_else(|| Unsupported(format!("no input called `{a}`")))?;
                flattened(t)
            }
            Step::Where(e) => format!("SELECT * FROM ({rows}) WHERE {}", sql(e, ROW)?),
            Step::Join { left, alias, on } => {
                leading.get_or_insert_with(|| rows.clone());
                let t = table_of(plan, alias)
                    .ok_or_else(|| Unsupported(format!("no input or binding called `{alias}`")))?;
                let mut condition = sql(on, ROW)?;
                if let Some(b) = plan.binds.iter().find(|b| b.table.alias == *alias) {
                    if let (Some(at), Some((from, to))) = (&b.as_of, &b.validity) {
                        let at = sql(at, ROW)?;
                        condition = format!(
                            "{condition} AND {f} <= {at} AND ({t} IS NULL OR {at} < {t})",
                            f = flat(alias, from),
                            t = flat(alias, to)
                        );
                    }
                }
                format!(
                    "SELECT * FROM ({rows}) {}JOIN ({}) ON {condition}",
                    if *left { "LEFT " } else { "" },
                    flattened(t)
                )
            }
            Step::Derive(items) => format!("SELECT *, {} FROM ({rows})", named(items, ROW)?),
            Step::Dedupe { by, order } => {
                leading.get_or_insert_with(|| rows.clone());
                let n = dedupes.len();
                let rn = ident(&format!("_bpl_rn{n}"));
                let order = if order.is_empty() {
                    String::new()
                } else {
                    format!(" ORDER BY {}", order_by(order, ROW)?)
                };
                let after = format!(
                    "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY {}{order}) AS {rn} FROM ({rows})) WHERE {rn} = 1",
                    super::expr::list(by, ROW)?
                );
                dedupes.push((rows.clone(), after.clone()));
                after
            }
            _ => unreachable!("shaping steps end the row stage"),
        };
    }
    Ok(Stages {
        leading: leading.unwrap_or_else(|| rows.clone()),
        rows,
        dedupes,
        shaping: Vec::new(),
        first,
    })
}

/// The output rows computed from `accepted` rows.
fn shape(plan: &JobPlan, stages: &Stages, accepted: &str) -> Result<String, Unsupported> {
    let mut q = accepted.to_string();
    let mut shaped = false;
    for step in &stages.shaping {
        q = match step {
            Step::Group { keys, aggregates } => {
                shaped = true;
                let group: Vec<String> = keys
                    .iter()
                    .filter(|k| !matches!(k.expr.kind, crate::semantic::hir::ExprKind::Lit(_)))
                    .map(|k| sql(&k.expr, ROW))
                    .collect::<Result<_, _>>()?;
                let mut all = keys.clone();
                all.extend(aggregates.iter().cloned());
                let by = if group.is_empty() {
                    String::new()
                } else {
                    format!(" GROUP BY {}", group.join(", "))
                };
                format!("SELECT {} FROM ({q}){by}", named(&all, ROW)?)
            }
            Step::Aggregate(items) => {
                shaped = true;
                format!("SELECT {} FROM ({q})", named(items, ROW)?)
            }
            Step::Select(items) => {
                shaped = true;
                format!("SELECT {} FROM ({q})", named(items, ROW)?)
            }
            Step::Derive(items) => format!("SELECT *, {} FROM ({q})", named(items, PLAIN)?),
            Step::Where(e) => format!("SELECT * FROM ({q}) WHERE {}", sql(e, PLAIN)?),
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
    // Output columns in the declared order; unshaped output renames the
    // first input's flattened columns back.
    let cols = plan
        .columns
        .iter()
        .map(|c| {
            let derived = stages.shaping.iter().chain(&plan.job.steps).any(
                |s| matches!(s, Step::Derive(items) if items.iter().any(|n| n.name == c.name)),
            );
            match (&stages.first, shaped || derived) {
                (Some(a), false) => format!("{} AS {}", flat(a, &c.name), ident(&c.name)),
                _ => ident(&c.name),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // A hash-partitioned output keeps the rows of its bucket.
    let bucket = match plan.hash_key() {
        Some((key, column, n)) => format!(
            " WHERE bpl_bucket({}, {n}) = CAST(:p_{key} AS INTEGER)",
            ident(column)
        ),
        None => String::new(),
    };
    Ok(format!("SELECT {cols} FROM ({q}){bucket}"))
}

pub fn lower(plan: &JobPlan) -> Result<LoweredJob, Unsupported> {
    let mut ctes = Vec::new();
    let mut rows = Vec::new();
    let mut partition_counts = Vec::new();
    for i in &plan.inputs {
        let body = input_sql(i)?;
        ctes.push(format!("{} AS ({body})", cte(&i.table.alias)));
        rows.push((
            i.table.alias.clone(),
            format!("SELECT count(*) FROM ({body})"),
        ));
        if let Boundary::Partitions { column, .. } = &i.boundary {
            partition_counts.push((
                i.table.alias.clone(),
                format!("SELECT count(DISTINCT {}) FROM ({body})", ident(column)),
            ));
        }
    }
    for b in &plan.binds {
        let body = bind_sql(b);
        ctes.push(format!("{} AS ({body})", cte(&b.table.alias)));
        rows.push((
            b.table.alias.clone(),
            format!("SELECT count(*) FROM ({body})"),
        ));
    }
    let with = if ctes.is_empty() {
        String::new()
    } else {
        format!("WITH {} ", ctes.join(", "))
    };
    let stages = row_stage(plan)?;
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
    let (materialize, accepted, row_rule_failures, quarantine, quarantined_count);
    if !row_rules.iter().any(|r| r.severity == Severity::Quarantine) {
        // Rules that route no rows only count their failures: one scan of
        // the row stage each, cheaper than copying it to a temp table.
        materialize = None;
        accepted = format!("{with}SELECT * FROM ({})", stages.rows);
        row_rule_failures = plan
            .job
            .rules
            .iter()
            .filter(|r| r.level == RuleLevel::Row)
            .zip(&row_rules)
            .map(|(r, rr)| {
                sql(&r.expr, ROW).map(|s| {
                    (
                        rr.name.clone(),
                        format!(
                            "{with}SELECT count(*) FROM ({}) WHERE coalesce({s}, 0) = 0",
                            stages.rows
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        quarantine = None;
        quarantined_count = None;
    } else {
        let flags = plan
            .job
            .rules
            .iter()
            .filter(|r| r.level == RuleLevel::Row)
            .zip(&row_rules)
            .map(|(r, rr)| {
                sql(&r.expr, ROW).map(|s| format!("coalesce({s}, 0) AS {}", ident(&rr.flag)))
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        materialize = Some(format!(
            "CREATE TEMP TABLE bpl_rows AS {with}SELECT *, {flags} FROM ({})",
            stages.rows
        ));
        let quarantining: Vec<&RowRule> = row_rules
            .iter()
            .filter(|r| r.severity == Severity::Quarantine)
            .collect();
        let passes = |rs: &[&RowRule]| {
            if rs.is_empty() {
                "1".to_string()
            } else {
                rs.iter()
                    .map(|r| format!("{} = 1", ident(&r.flag)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            }
        };
        accepted = format!(
            "SELECT * FROM temp.bpl_rows WHERE {}",
            passes(&quarantining)
        );
        row_rule_failures = row_rules
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    format!(
                        "SELECT count(*) FROM temp.bpl_rows WHERE {} = 0",
                        ident(&r.flag)
                    ),
                )
            })
            .collect();
        if quarantining.is_empty() {
            quarantine = None;
            quarantined_count = None;
        } else {
            // The record keeps every column of the row stage, by `alias.column`.
            let record = plan
                .inputs
                .iter()
                .map(|i| &i.table)
                .chain(plan.binds.iter().map(|b| &b.table))
                .filter(|t| stage_has(&plan.job.steps, &t.alias))
                .flat_map(|t| {
                    t.columns.iter().map(move |c| {
                        format!(
                            "{}, {}",
                            string(&format!("{}.{}", t.alias, c.name)),
                            flat(&t.alias, &c.name)
                        )
                    })
                })
                .collect::<Vec<_>>()
                .join(", ");
            let reason = quarantining
                .iter()
                .map(|r| {
                    format!(
                        "CASE WHEN {} = 0 THEN {} END",
                        ident(&r.flag),
                        string(&r.text)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let rule = quarantining
                .iter()
                .map(|r| {
                    format!(
                        "CASE WHEN {} = 0 THEN {} END",
                        ident(&r.flag),
                        string(&r.name)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let (rule, reason) = if quarantining.len() == 1 {
                (rule, reason)
            } else {
                (
                    format!("concat_ws(', ', {rule})"),
                    format!("concat_ws('; ', {reason})"),
                )
            };
            quarantine = Some(format!(
                "INSERT INTO ledger.quarantine (run_id, dataset, partition, rule, reason, record) \
                 SELECT :run_id, {}, :partition, {rule}, {reason}, json_object({record}) \
                 FROM temp.bpl_rows WHERE NOT ({})",
                string(&plan.dataset),
                passes(&quarantining)
            ));
            quarantined_count = Some(format!(
                "SELECT count(*) FROM temp.bpl_rows WHERE NOT ({})",
                passes(&quarantining)
            ));
        }
    }
    // A row stage that starts with a plain `from` counts the same rows as
    // `rows(alias)`, and with no join, dedupe or routing rule every input row
    // is accepted: the same statement, which the engine runs once.
    let input_count = match stages.first.as_deref().and_then(|a| {
        table_of(plan, a)
            .filter(|t| stages.leading == flattened(t))
            .and_then(|_| rows.iter().find(|(x, _)| x == a))
    }) {
        Some((_, q)) => format!("{with}{q}"),
        None => format!("{with}SELECT count(*) FROM ({})", stages.leading),
    };
    let accepted_count = if materialize.is_none() && stages.rows == stages.leading {
        input_count.clone()
    } else {
        format!("SELECT count(*) FROM ({accepted})")
    };
    let output = shape(plan, &stages, &accepted)?;
    let out_cols: Vec<String> = plan.columns.iter().map(|c| ident(&c.name)).collect();
    let row_id_parts = if plan.key.is_empty() {
        out_cols.join(", ")
    } else {
        plan.key
            .iter()
            .map(|k| ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stage = format!(
        "INSERT INTO {} ({cols}, _bpl_partition, _bpl_version, _bpl_run_id, _bpl_as_of, _bpl_row_id) \
         SELECT {cols}, :partition, :version, :run_id, :as_of, \
         bpl_stable_id({}, {}, {row_id_parts}) FROM ({output})",
        ident(&data),
        string(&plan.dataset),
        plan.version,
        cols = out_cols.join(", "),
    );
    let gate = |rule_sql: String| {
        format!(
            "SELECT {rule_sql} FROM {} WHERE {this_version}",
            ident(&data)
        )
    };
    // An aggregate over an input's columns in a gate (`sum(ledger.amount)`
    // in a control total) is measured on the accepted rows while they
    // exist, during staging, and read back as a counter.
    let mut input_aggregates: Vec<(String, String)> = Vec::new();
    let mut lift =
        |e: &crate::semantic::hir::Expr| -> Result<crate::semantic::hir::Expr, Unsupported> {
            let mut e = e.clone();
            lift_input_aggregates(&mut e, &mut |call| {
                let name = format!("agg{}", input_aggregates.len());
                input_aggregates.push((
                    name.clone(),
                    format!("SELECT {} FROM ({accepted})", sql(call, ROW)?),
                ));
                Ok(name)
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
            sql: gate(sql(&expr, PLAIN)?),
            sides: None,
            operands: operands(&expr, &gate)?,
        });
    }
    let mut reconciliations = Vec::new();
    for r in &plan.job.reconcile {
        let r = &crate::semantic::hir::Reconciliation {
            expr: lift(&r.expr)?,
            ..r.clone()
        };
        let sides = match (&r.tolerance, &r.expr.kind) {
            (
                Some(_),
                crate::semantic::hir::ExprKind::Binary(crate::syntax::ast::BinaryOp::Eq, l, rr),
            ) => Some((gate(sql(l, PLAIN)?), gate(sql(rr, PLAIN)?))),
            _ => None,
        };
        reconciliations.push(Gate {
            name: r.name.clone(),
            severity: r.severity,
            text: r.text.clone(),
            sql: gate(sql(&r.expr, PLAIN)?),
            sides,
            operands: operands(&r.expr, &gate)?,
        });
    }
    let key_duplicates = (!plan.key.is_empty()).then(|| {
        format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {this_version} GROUP BY {} HAVING count(*) > 1)",
            ident(&data),
            plan.key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
        )
    });
    let out_of_partition = plan.time_key.as_ref().map(|(k, _)| {
        format!(
            "SELECT count(*) FROM {} WHERE {this_version} AND {} IS NOT :p",
            ident(&data),
            ident(k)
        )
    });
    let duplicates = if stages.dedupes.is_empty() {
        None
    } else {
        Some(format!(
            "{with}SELECT {}",
            stages
                .dedupes
                .iter()
                .map(|(b, a)| format!(
                    "((SELECT count(*) FROM ({b})) - (SELECT count(*) FROM ({a})))"
                ))
                .collect::<Vec<_>>()
                .join(" + ")
        ))
    };
    let mut create_cols: Vec<String> = plan
        .columns
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), super::types::sqlite_type(&c.ty)))
        .collect();
    create_cols.extend(META_COLUMNS.iter().map(|(n, t)| format!("{n} {t}")));
    let view_cols = plan
        .columns
        .iter()
        .map(|c| format!("d.{}", ident(&c.name)))
        .chain(["d._bpl_run_id", "d._bpl_as_of", "d._bpl_row_id"].map(String::from))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(LoweredJob {
        create_data: format!(
            "CREATE TABLE IF NOT EXISTS {} ({}); CREATE INDEX IF NOT EXISTS {} ON {} (_bpl_partition, _bpl_version)",
            ident(&data),
            create_cols.join(", "),
            ident(&format!("{data}_partition")),
            ident(&data)
        ),
        create_view: format!(
            "CREATE VIEW IF NOT EXISTS {} AS SELECT {view_cols} FROM {} AS d JOIN _bpl_pointer AS p \
             ON p.dataset = {} AND p.partition = d._bpl_partition AND p.version = d._bpl_version",
            ident(&plan.table),
            ident(&data),
            string(&plan.dataset)
        ),
        data_table: data.clone(),
        view: plan.table.clone(),
        rows: rows
            .into_iter()
            .map(|(a, q)| (a, format!("{with}{q}")))
            .collect(),
        partition_counts: partition_counts
            .into_iter()
            .map(|(a, q)| (a, format!("{with}{q}")))
            .collect(),
        input_count,
        duplicates,
        materialize,
        row_rules,
        row_rule_failures,
        quarantine,
        quarantined_count,
        accepted_count,
        input_aggregates,
        stage,
        output_count: format!("SELECT count(*) FROM {} WHERE {this_version}", ident(&data)),
        expectations,
        reconciliations,
        key_duplicates,
        out_of_partition,
        checksum: format!(
            "SELECT count(*), bpl_checksum({}) FROM {} WHERE {this_version}",
            out_cols.join(", "),
            ident(&data)
        ),
        discard: format!(
            "DELETE FROM {data} WHERE _bpl_run_id = :run_id \
             AND NOT EXISTS (SELECT 1 FROM _bpl_pointer p WHERE p.dataset = {name} \
               AND p.partition = {data}._bpl_partition AND p.version = {data}._bpl_version) \
             AND NOT EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.dataset = {name} \
               AND s.partition = {data}._bpl_partition AND s.version = {data}._bpl_version)",
            data = ident(&data),
            name = string(&plan.dataset),
        ),
    })
}

/// Replaces each aggregate call over an input's columns with the counter
/// `name_of(call)` returns.
fn lift_input_aggregates(
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

/// Whether the row stage reads an alias (as `from` or `join`).
fn stage_has(steps: &[Step], alias: &str) -> bool {
    steps.iter().any(|s| match s {
        Step::From(a) => a == alias,
        Step::Join { alias: a, .. } => a == alias,
        _ => false,
    })
}
