//! Reading published state the same way on every server engine: which
//! versions a partition has, what a rollback needs to know, the
//! differences between two versions, the values of a dimension key, and
//! where each input stands (the input lock). An engine supplies how a
//! statement's rows are read ([`AllRows`]) and its dialect.

use super::measure::Rows;
use super::{RollbackTarget, Value};
use crate::plan::JobPlan;
use crate::runtime::diff::{Diff, MetricDelta, RowChange};
use crate::runtime::manifest::InputLock;
use crate::runtime::RuntimeError;
use crate::semantic::hir::Lock;
use crate::semantic::T;
use crate::sql::dialect::Dialect;
use crate::sql::types::{ident, table_ref};
use crate::syntax::ast::DeclKind;

/// How an engine reads every row of a statement with `:name` values.
pub trait AllRows: Rows {
    fn all_rows(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Vec<Vec<Value>>, RuntimeError>;
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(n)) => Some(*n),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::number).unwrap_or(0.0)
}

fn named(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

fn text(v: &str) -> Value {
    Value::Text(v.to_string())
}

/// `(partition, version)` pairs of rows read as text and integer.
pub fn pairs(rows: Vec<Vec<Value>>) -> Vec<(String, i64)> {
    rows.into_iter()
        .filter_map(|r| match (r.first(), r.get(1)) {
            (Some(Value::Text(p)), Some(Value::Integer(v))) => Some((p.clone(), *v)),
            _ => None,
        })
        .collect()
}

/// The active version of a partition, and the one `scope` shadows it with.
pub fn versions(
    db: &mut dyn AllRows,
    plan: &JobPlan,
    partition: &str,
    scope: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), RuntimeError> {
    let v = named(&[
        (":d", text(&plan.dataset)),
        (":p", text(partition)),
        (":scope", scope.map_or(Value::Null, text)),
    ]);
    let active = integer(
        db.first_row(
            "SELECT version FROM _bpl_pointer WHERE dataset = :d AND partition = :p",
            &v,
        )?
        .as_ref()
        .and_then(|r| r.first()),
    );
    let shadow = match scope {
        Some(_) => integer(
            db.first_row(
                "SELECT version FROM _bpl_shadow WHERE scope = :scope AND dataset = :d AND partition = :p",
                &v,
            )?
            .as_ref()
            .and_then(|r| r.first()),
        ),
        None => None,
    };
    Ok((active, shadow))
}

/// The active version, and the run that wrote version `to` where it is
/// kept with its rows.
pub fn rollback_target(
    db: &mut dyn AllRows,
    plan: &JobPlan,
    partition: &str,
    to: i64,
) -> Result<RollbackTarget, RuntimeError> {
    let (active, _) = versions(db, plan, partition, None)?;
    if active.is_none() {
        return Ok(RollbackTarget::default());
    }
    let v = named(&[
        (":d", text(&plan.dataset)),
        (":p", text(partition)),
        (":to", Value::Integer(to)),
    ]);
    let rows = db.count(
        &format!(
            "SELECT count(*) FROM {} WHERE _bpl_partition = :p AND _bpl_version = :to",
            ident(&format!("{}__data", plan.table))
        ),
        &v,
    )?;
    let writer = match db
        .first_row(
            "SELECT run_id FROM _bpl_versions WHERE dataset = :d AND partition = :p AND version = :to",
            &v,
        )?
        .and_then(|r| r.into_iter().next())
    {
        Some(Value::Text(w)) => Some(w),
        _ => None,
    };
    Ok(RollbackTarget {
        active,
        writer: writer.filter(|_| rows > 0),
    })
}

/// Compares two stored versions of a partition (`from: None`: the active
/// one).
pub fn diff(
    db: &mut dyn AllRows,
    plan: &JobPlan,
    d: &dyn Dialect,
    partition: &str,
    from: Option<i64>,
    to: i64,
) -> Result<Diff, RuntimeError> {
    let from = match from {
        Some(v) => Some(v),
        None => versions(db, plan, partition, None)?.0,
    };
    let q = crate::sql::diff::diff(plan, d);
    let v = named(&[
        (":partition", text(partition)),
        (":from", Value::Integer(from.unwrap_or(-1))),
        (":to", Value::Integer(to)),
    ]);
    let mut out = Diff {
        dataset: plan.dataset.clone(),
        partition: partition.into(),
        from_version: from,
        to_version: to,
        ..Diff::default()
    };
    if let Some(r) = db.first_row(&q.counts, &v)? {
        let n = |i: usize| integer(r.get(i)).unwrap_or(0);
        (out.added, out.removed, out.changed, out.unchanged) = (n(0), n(1), n(2), n(3));
    }
    for (column, sql) in &q.metrics {
        if let Some(r) = db.first_row(sql, &v)? {
            let (a, b) = (number(r.first()), number(r.get(1)));
            out.metrics.push(MetricDelta {
                column: column.clone(),
                from: a,
                to: b,
                delta: b - a,
            });
        }
    }
    let json = |t: Option<&Value>| match t {
        Some(Value::Text(t)) => serde_json::from_str(t).ok(),
        _ => None,
    };
    for r in db.all_rows(&q.sample, &v)? {
        out.rows.push(RowChange {
            change: match r.first() {
                Some(Value::Text(t)) => t.clone(),
                _ => String::new(),
            },
            key: json(r.get(1)).unwrap_or_default(),
            before: json(r.get(2)),
            after: json(r.get(3)),
        });
    }
    Ok(out)
}

/// The values a dimension key takes in the inputs that pass it through.
pub fn dimension_values(
    db: &mut dyn AllRows,
    plan: &JobPlan,
    d: &dyn Dialect,
    key: &str,
) -> Result<Vec<String>, RuntimeError> {
    let mut values = std::collections::BTreeSet::new();
    for i in &plan.inputs {
        for (out, col) in &i.dimensions {
            if out != key {
                continue;
            }
            let sql = format!(
                "SELECT DISTINCT CAST({c} AS {text}) FROM {t} WHERE {c} IS NOT NULL",
                c = ident(col),
                text = d.column_type(&T::String),
                t = table_ref(&i.table.table)
            );
            for r in db.all_rows(&sql, &[])? {
                if let Some(Value::Text(v)) = r.into_iter().next() {
                    values.insert(v);
                }
            }
        }
    }
    Ok(values.into_iter().collect())
}

/// Where each input stands now (see `Engine::lock_inputs`): a dataset
/// input's published versions (a shadow scope's in their place), a
/// source's newest lock column values, or its newest row by the dialect's
/// row order; `descending` orders a lock column newest first.
pub fn lock_inputs(
    db: &mut dyn AllRows,
    plan: &JobPlan,
    d: &dyn Dialect,
    overlay: Option<&str>,
    descending: &str,
) -> Result<Vec<InputLock>, RuntimeError> {
    let mut locks = Vec::new();
    for i in &plan.inputs {
        let t = &i.table;
        let mut lock = InputLock {
            alias: t.alias.clone(),
            input: t.decl.clone(),
            high_water_mark: None,
            versions: Vec::new(),
        };
        if t.kind == DeclKind::Dataset {
            let rows = db.all_rows(
                "SELECT partition, version FROM _bpl_shadow WHERE scope = :scope AND dataset = :d
                 UNION ALL
                 SELECT partition, version FROM _bpl_pointer p WHERE dataset = :d
                   AND NOT EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = :scope
                     AND s.dataset = :d AND s.partition = p.partition)
                 ORDER BY 1",
                &named(&[
                    (":d", text(&t.decl)),
                    (":scope", text(overlay.unwrap_or(""))),
                ]),
            )?;
            lock.versions = pairs(rows);
        } else {
            let order = d.row_order();
            let cols: Vec<String> = match &i.lock {
                Some(Lock::Snapshot(c)) => vec![c.clone()],
                Some(Lock::Cursor(cs)) => cs.clone(),
                // Landing files are ingested into SQLite warehouses only.
                Some(Lock::Files) => vec!["_bpl_file".into()],
                None => vec![order.into()],
            };
            let quoted: Vec<String> = cols
                .iter()
                .map(|c| if c == order { c.clone() } else { ident(c) })
                .collect();
            let shown: Vec<String> = quoted
                .iter()
                .map(|c| {
                    if c == order {
                        format!("CAST({c} AS {})", d.column_type(&T::String))
                    } else {
                        c.clone()
                    }
                })
                .collect();
            let sql = format!(
                "SELECT {} FROM {} ORDER BY {} LIMIT 1",
                shown.join(", "),
                table_ref(&t.table),
                quoted
                    .iter()
                    .map(|c| format!("{c} {descending}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let row = db.first_row(&sql, &[])?;
            // An empty table locks at nothing: the run reads no rows.
            lock.high_water_mark = Some(
                row.unwrap_or_else(|| vec![Value::Null; cols.len()])
                    .into_iter()
                    .map(|v| v.to_json())
                    .collect(),
            );
        }
        locks.push(lock);
    }
    Ok(locks)
}
