//! Staging a batch of partitions on SQLite: the batch and window tables
//! filled, the range statement run in one transaction, the counters read
//! from the tally the statement keeps (see `sql::range`) or, with
//! materialized staging, from its counting points' tables.

use rusqlite::params;

use super::{bind, inserted, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::{bounds, values, window_pairs};
use crate::runtime::engine::counts::{self, Bound, StageConnection};
use crate::runtime::engine::{materialized, PartitionRun, RunScope, Staged, StoredRows, Value};
use crate::runtime::RuntimeError;
use crate::sql::dialect::Staging;
use crate::sql::lower::LoweredJob;
use crate::sql::range::RangeStage;

/// The engine's connection as shared staging code speaks to it.
struct Stager<'a>(&'a SqliteEngine);

impl StageConnection for Stager<'_> {
    fn execute(&mut self, sql: &str, values: &Bound) -> Result<(), RuntimeError> {
        self.0.execute(sql, values).map(|_| ())
    }

    fn query(&mut self, sql: &str, values: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError> {
        tracing::debug!(sql, "query");
        let mut stmt = self.0.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        let n = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
            out.push(
                (0..n)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<_, _>>()
                    .map_err(RuntimeError::sql)?,
            );
        }
        Ok(out)
    }
}

impl SqliteEngine {
    /// Fills the batch table and each dataset input's window table.
    fn fill_batch(
        &self,
        plan: &JobPlan,
        stage: &RangeStage,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<(), RuntimeError> {
        let parts_table = crate::sql::range::parts_table(&super::SQLITE);
        let mut sql = format!("DELETE FROM {parts_table};");
        for (_, table) in &stage.windows {
            sql.push_str(&format!("DELETE FROM {table};"));
        }
        self.conn.execute_batch(&sql).map_err(RuntimeError::sql)?;
        let mut insert = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO {} VALUES (?1, ?2, ?3, ?4{})",
                parts_table,
                (0..stage.keys.len())
                    .map(|k| format!(", ?{}", k + 5))
                    .collect::<String>()
            ))
            .map_err(RuntimeError::sql)?;
        for (no, part) in parts.iter().enumerate() {
            let mut row: Vec<Value> = vec![
                Value::Integer(no as i64),
                Value::Text(part.partition.clone()),
                Value::Text(part.p.clone()),
                Value::Integer(part.version),
            ];
            for k in &stage.keys {
                row.push(
                    part.keys
                        .iter()
                        .find(|(n, _)| n == k)
                        .map_or(Value::Null, |(_, v)| Value::Text(v.clone())),
                );
            }
            insert
                .execute(rusqlite::params_from_iter(row))
                .map_err(RuntimeError::sql)?;
        }
        for (alias, table) in &stage.windows {
            let Some(input) = plan.inputs.iter().find(|i| i.table.alias == *alias) else {
                continue;
            };
            let Some(lock) = run.lock.iter().find(|l| l.alias == *alias) else {
                continue;
            };
            let mut insert = self
                .conn
                .prepare_cached(&format!("INSERT INTO {table} VALUES (?1, ?2, ?3)"))
                .map_err(RuntimeError::sql)?;
            for part in parts {
                for (input_partition, version) in window_pairs(input, lock, part) {
                    insert
                        .execute(params![part.partition, input_partition, version])
                        .map_err(RuntimeError::sql)?;
                }
            }
        }
        Ok(())
    }

    /// Stages one batch with the job's range statement; counters come from
    /// the tally the statement keeps as it runs, or from the counting
    /// points' tables (see `engine::materialized`).
    fn stage_batch(
        &self,
        plan: &JobPlan,
        l: &LoweredJob,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let Some(first) = parts.first() else {
            return Ok(Vec::new());
        };
        if let Some(bad) = parts
            .iter()
            .find(|p| crate::runtime::fault::fails(&plan.dataset, &p.partition))
        {
            return Err(RuntimeError::Engine(format!(
                "fault injected: {}:{}",
                plan.dataset, bad.partition
            )));
        }
        let stage = &l.batch;
        self.fill_batch(plan, stage, run, parts)?;
        // A batch of one binds its partition's values (`:p`, report close).
        let mut v = values(plan, run, first);
        v.extend(bounds(parts));
        if stage.staging == Staging::Materialized {
            return materialized::staged(&mut Stager(self), plan, stage, &v, parts.len());
        }
        if stage.measured {
            v.push((inserted::ROW_TYPES.into(), self.row_types(plan, l)?));
        }
        self.tally.reset(
            &stage.rules,
            &stage.points,
            stage.unmatched.len(),
            parts.len(),
        );
        self.inserted.reset(parts.len());
        self.execute(&stage.stage, &v)?;
        let mut tallies = self.tally.take();
        let written = self.inserted.take();
        if stage.accept_at_insert {
            for (t, w) in tallies.iter_mut().zip(&written) {
                t.accepted = w.rows;
            }
        }
        let mut staged = counts::staged(&mut Stager(self), plan, stage, &v, tallies)?;
        if stage.measured {
            for (s, w) in staged.iter_mut().zip(written) {
                s.stored = (!w.unmeasured).then(|| StoredRows {
                    rows: w.rows,
                    checksum: w.sums.hex(),
                    bytes: w.bytes,
                });
            }
        }
        Ok(staged)
    }

    /// The affinity of each output column as the data table declares it,
    /// a letter each (see [`inserted::affinity`]), in the output's order.
    fn row_types(&self, plan: &JobPlan, l: &LoweredJob) -> Result<Value, RuntimeError> {
        let declared = self.columns_of(&l.data_table)?;
        // A column not found (never, once prepared): null, and every
        // partition is measured by reading it back.
        let letters: Option<String> = plan
            .columns
            .iter()
            .map(|c| {
                declared
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, t)| inserted::affinity(t))
            })
            .collect();
        Ok(letters.map_or(Value::Null, Value::Text))
    }

    pub(super) fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let l = self.lowered(plan)?;
        self.conn
            .execute_batch(&crate::sql::range::batch_tables(&l.batch, &super::SQLITE))
            .map_err(RuntimeError::sql)?;
        // Staged rows are not published: their commit need not reach the
        // disk before the call returns. The publish commits with
        // `synchronous = FULL`, which syncs the write-ahead log and with it
        // every earlier commit; a power cut before it loses at most staged
        // versions no pointer names, which a retry stages again.
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(RuntimeError::sql)?;
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let _ = self.conn.execute_batch("PRAGMA synchronous = FULL");
            return Err(RuntimeError::sql(e));
        }
        let result = (|| -> Result<Vec<Staged>, RuntimeError> {
            let mut staged = Vec::new();
            if l.batch.single {
                for part in parts {
                    staged.extend(self.stage_batch(plan, &l, run, std::slice::from_ref(part))?);
                }
            } else {
                staged = self.stage_batch(plan, &l, run, parts)?;
            }
            // Which run staged each version, and as of when: kept once per
            // version here, not on every row, and what discarding a failed
            // run finds its rows by. Same transaction as the rows.
            let mut record = self
                .conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO _bpl_staged (dataset, partition, version, run_id, as_of)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(RuntimeError::sql)?;
            for part in parts {
                record
                    .execute(params![
                        plan.dataset,
                        part.partition,
                        part.version,
                        run.run_id,
                        run.as_of
                    ])
                    .map_err(RuntimeError::sql)?;
            }
            drop(record);
            // Inside the batch transaction: SQLite rolls it all back.
            crate::runtime::fault::point("in-staging");
            crate::runtime::cancel::check()?;
            Ok(staged)
        })();
        let outcome = match result {
            Ok(staged) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(RuntimeError::sql)
                .map(|()| staged),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        };
        // Outside the transaction: back to the connection's setting (an
        // error of staging itself is the one reported).
        let reset = self.conn.execute_batch("PRAGMA synchronous = FULL");
        outcome.and_then(|staged| reset.map(|()| staged).map_err(RuntimeError::sql))
    }
}
