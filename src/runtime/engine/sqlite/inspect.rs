//! Reading durable state on SQLite: what a run left behind (for
//! recovery), the differences between two versions of a partition, the
//! values of a dimension key, and which versions a partition has.

use rusqlite::{params, OptionalExtension};

use super::{bind, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::diff::{Diff, MetricDelta, RowChange};
use crate::runtime::engine::{Inspection, RollbackTarget, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::{ident, table_ref};

impl SqliteEngine {
    pub(super) fn inspect(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
    ) -> Result<Inspection, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = || vec![(":run_id".to_string(), Value::Text(run_id.into()))];
        let committed = self.count(
            "SELECT count(*) FROM _bpl_commits WHERE run_id = :run_id",
            &rid(),
        )? > 0;
        let staged_rows = if self.columns_of(&l.data_table)?.is_empty() {
            0
        } else {
            self.count(
                &l.discard.replacen("DELETE FROM", "SELECT count(*) FROM", 1),
                &rid(),
            )?
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT partition, version FROM _bpl_pointer WHERE dataset = ?1 AND run_id = ?2
                 UNION SELECT partition, version FROM _bpl_shadow WHERE dataset = ?1 AND run_id = ?2
                 ORDER BY 1",
            )
            .map_err(RuntimeError::sql)?;
        let active = stmt
            .query_map(params![plan.dataset, run_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(RuntimeError::sql)?
            .collect::<Result<_, _>>()
            .map_err(RuntimeError::sql)?;
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
        let q = crate::sql::diff::diff(plan, &super::SQLITE);
        let v = vec![
            (":partition".to_string(), Value::Text(partition.into())),
            (":from".to_string(), Value::Integer(from.unwrap_or(-1))),
            (":to".to_string(), Value::Integer(to)),
        ];
        let mut d = Diff {
            dataset: plan.dataset.clone(),
            partition: partition.into(),
            from_version: from,
            to_version: to,
            ..Diff::default()
        };
        let mut stmt = self.conn.prepare(&q.counts).map_err(RuntimeError::sql)?;
        bind(&mut stmt, &v)?;
        let mut rows = stmt.raw_query();
        if let Some(r) = rows.next().map_err(RuntimeError::sql)? {
            let n = |i: usize| r.get::<_, i64>(i).map_err(RuntimeError::sql);
            (d.added, d.removed, d.changed, d.unchanged) = (n(0)?, n(1)?, n(2)?, n(3)?);
        }
        drop(rows);
        for (column, sql) in &q.metrics {
            let mut stmt = self.conn.prepare(sql).map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            if let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                let (a, b): (f64, f64) = (
                    r.get(0).map_err(RuntimeError::sql)?,
                    r.get(1).map_err(RuntimeError::sql)?,
                );
                d.metrics.push(MetricDelta {
                    column: column.clone(),
                    from: a,
                    to: b,
                    delta: b - a,
                });
            }
        }
        let mut stmt = self.conn.prepare(&q.sample).map_err(RuntimeError::sql)?;
        bind(&mut stmt, &v)?;
        let mut rows = stmt.raw_query();
        let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
        while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
            d.rows.push(RowChange {
                change: r.get(0).map_err(RuntimeError::sql)?,
                key: json(r.get(1).map_err(RuntimeError::sql)?).unwrap_or_default(),
                before: json(r.get(2).map_err(RuntimeError::sql)?),
                after: json(r.get(3).map_err(RuntimeError::sql)?),
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
                    "SELECT DISTINCT CAST({c} AS TEXT) FROM {t} WHERE {c} IS NOT NULL",
                    c = ident(col),
                    t = table_ref(&i.table.table)
                );
                let mut stmt = self.conn.prepare(&sql).map_err(RuntimeError::sql)?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(RuntimeError::sql)?;
                for v in rows {
                    values.insert(v.map_err(RuntimeError::sql)?);
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
        let active = self
            .conn
            .query_row(
                "SELECT version FROM _bpl_pointer WHERE dataset = ?1 AND partition = ?2",
                params![plan.dataset, partition],
                |r| r.get(0),
            )
            .optional()
            .map_err(RuntimeError::sql)?;
        let shadow = match scope {
            Some(scope) => self
                .conn
                .query_row(
                    "SELECT version FROM _bpl_shadow WHERE scope = ?1 AND dataset = ?2 AND partition = ?3",
                    params![scope, plan.dataset, partition],
                    |r| r.get(0),
                )
                .optional()
                .map_err(RuntimeError::sql)?,
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
        let rows: i64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE _bpl_partition = ?1 AND _bpl_version = ?2",
                    ident(&format!("{}__data", plan.table))
                ),
                params![partition, to],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        let writer: Option<String> = self
            .conn
            .query_row(
                "SELECT run_id FROM _bpl_versions WHERE dataset = ?1 AND partition = ?2 AND version = ?3",
                params![plan.dataset, partition, to],
                |r| r.get(0),
            )
            .optional()
            .map_err(RuntimeError::sql)?;
        Ok(RollbackTarget {
            active,
            writer: writer.filter(|_| rows > 0),
        })
    }
}
