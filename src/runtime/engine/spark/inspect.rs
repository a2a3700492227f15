//! Reading durable state on Spark: what a run left behind (for recovery:
//! the publish log's commit marker and pointers, and the data table's
//! unpublished partitions), the differences between two versions of a
//! partition, the values of a dimension key, and which versions a
//! partition has.

use super::{int, named, pairs, text, SparkEngine, SPARK};
use crate::plan::JobPlan;
use crate::runtime::diff::{Diff, MetricDelta, RowChange};
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Inspection, RollbackTarget, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::{ident, table_ref};

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(n)) => Some(*n),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::number).unwrap_or(0.0)
}

impl SparkEngine {
    pub(super) fn inspect(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
    ) -> Result<Inspection, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = named(&[(":run_id", text(run_id)), (":d", text(&plan.dataset))]);
        let committed = self.count(
            "SELECT count(*) FROM _bpl_commits WHERE run_id = :run_id",
            &rid,
        )? > 0;
        let staged_rows = if self.columns_of(&l.data_table)?.is_empty() {
            0
        } else {
            self.count(
                &format!(
                    "SELECT count(*) FROM {} AS d LEFT SEMI JOIN ({}) AS u \
                     ON d._bpl_partition = u.partition AND d._bpl_version = u.version",
                    ident(&l.data_table),
                    crate::sql::lower::unkept_versions(&plan.dataset)
                ),
                &rid,
            )?
        };
        let active = pairs(self.rows(
            "SELECT partition, version FROM _bpl_pointer WHERE dataset = :d AND run_id = :run_id
             UNION SELECT partition, version FROM _bpl_shadow WHERE dataset = :d AND run_id = :run_id
             ORDER BY 1",
            &rid,
        )?);
        Ok(Inspection {
            committed,
            staged_rows,
            active,
        })
    }

    pub(super) fn diff(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<Diff, RuntimeError> {
        let from = match from {
            Some(v) => Some(v),
            None => self.versions(plan, partition, None)?.0,
        };
        let q = crate::sql::diff::diff(plan, &SPARK);
        let v = named(&[
            (":partition", text(partition)),
            (":from", int(from.unwrap_or(-1))),
            (":to", int(to)),
        ]);
        let mut d = Diff {
            dataset: plan.dataset.clone(),
            partition: partition.into(),
            from_version: from,
            to_version: to,
            ..Diff::default()
        };
        if let Some(r) = self.row(&q.counts, &v)? {
            let n = |i: usize| integer(r.get(i)).unwrap_or(0);
            (d.added, d.removed, d.changed, d.unchanged) = (n(0), n(1), n(2), n(3));
        }
        for (column, sql) in &q.metrics {
            if let Some(r) = self.row(sql, &v)? {
                let (a, b) = (number(r.first()), number(r.get(1)));
                d.metrics.push(MetricDelta {
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
        for r in self.rows(&q.sample, &v)? {
            d.rows.push(RowChange {
                change: match r.first() {
                    Some(Value::Text(t)) => t.clone(),
                    _ => String::new(),
                },
                key: json(r.get(1)).unwrap_or_default(),
                before: json(r.get(2)),
                after: json(r.get(3)),
            });
        }
        Ok(d)
    }

    pub(super) fn dimension_values(
        &mut self,
        plan: &JobPlan,
        key: &str,
    ) -> Result<Vec<String>, RuntimeError> {
        let mut values = std::collections::BTreeSet::new();
        for i in &plan.inputs {
            for (out, col) in &i.dimensions {
                if out != key {
                    continue;
                }
                let sql = format!(
                    "SELECT DISTINCT CAST({c} AS STRING) FROM {t} WHERE {c} IS NOT NULL",
                    c = ident(col),
                    t = table_ref(&i.table.table)
                );
                for r in self.rows(&sql, &[])? {
                    if let Some(Value::Text(v)) = r.into_iter().next() {
                        values.insert(v);
                    }
                }
            }
        }
        Ok(values.into_iter().collect())
    }

    pub(super) fn versions(
        &mut self,
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
            self.row(
                "SELECT version FROM _bpl_pointer WHERE dataset = :d AND partition = :p",
                &v,
            )?
            .as_ref()
            .and_then(|r| r.first()),
        );
        let shadow = match scope {
            Some(_) => integer(
                self.row(
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
    pub(super) fn rollback_target(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
    ) -> Result<RollbackTarget, RuntimeError> {
        let (active, _) = self.versions(plan, partition, None)?;
        if active.is_none() {
            return Ok(RollbackTarget::default());
        }
        let v = named(&[
            (":d", text(&plan.dataset)),
            (":p", text(partition)),
            (":to", int(to)),
        ]);
        let rows = self.count(
            &format!(
                "SELECT count(*) FROM {} WHERE _bpl_partition = :p AND _bpl_version = :to",
                ident(&format!("{}__data", plan.table))
            ),
            &v,
        )?;
        let writer = match self
            .row(
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
}
