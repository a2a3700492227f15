//! Staging a batch of partitions on SQLite: the batch and window tables
//! filled, the range statement run in one transaction, the counters read
//! from the tally the statement keeps (see `sql::range`).

use rusqlite::params;

use super::{bind, tally, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::{values, window_pairs};
use crate::runtime::engine::{BadRows, PartitionRun, Quarantined, RunScope, Staged, Value};
use crate::runtime::manifest::Counters;
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use crate::sql::range::RangeStage;

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
    /// the tally the statement keeps as it runs.
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
        let v = values(plan, run, first);
        self.tally.reset(
            &stage.rules,
            &stage.points,
            stage.unmatched.len(),
            parts.len(),
        );
        self.execute(&stage.stage, &v)?;
        let mut tallies = self.tally.take();
        let mut bad_rows = tally::driving_bad_rows(plan, &tallies);
        self.record_joined_bad_rows(stage, &v, &mut tallies, &mut bad_rows)?;
        // Grouped statements answer by the partition's place in the batch.
        let grouped = |q: &str| -> Result<Vec<(i64, Value)>, RuntimeError> {
            let mut stmt = self.conn.prepare_cached(q).map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                out.push((
                    r.get::<_, i64>(0).map_err(RuntimeError::sql)?,
                    r.get::<_, Value>(1).map_err(RuntimeError::sql)?,
                ));
            }
            Ok(out)
        };
        let per_partition = |queries: &[(String, String)]| {
            queries
                .iter()
                .map(|(name, q)| grouped(q).map(|rows| (name.clone(), rows)))
                .collect::<Result<Vec<_>, _>>()
        };
        if let Some(q) = &stage.input_count {
            for (no, n) in grouped(q)? {
                if let (Some(t), Value::Integer(n)) = (tallies.get_mut(no as usize), n) {
                    t.input = n;
                }
            }
        }
        let rows = per_partition(&stage.rows)?;
        let partition_counts = per_partition(&stage.partition_counts)?;
        let aggregates = per_partition(&stage.input_aggregates)?;
        // An aggregate over no rows, for partitions without accepted rows.
        let empty = stage
            .input_aggregates_empty
            .iter()
            .map(|q| self.scalar(q, &v))
            .collect::<Result<Vec<_>, _>>()?;
        let of = |measured: &[(String, Vec<(i64, Value)>)], no: usize| {
            measured
                .iter()
                .map(|(name, rows)| {
                    let value = rows
                        .iter()
                        .find(|(p, _)| *p == no as i64)
                        .map(|(_, x)| x.clone());
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        };
        let count = |v: Option<Value>| match v {
            Some(Value::Integer(n)) => n,
            _ => 0,
        };
        Ok(parts
            .iter()
            .enumerate()
            .map(|(no, _)| {
                let t = std::mem::take(&mut tallies[no]);
                Staged {
                    counters: Counters {
                        input: t.input,
                        duplicates: t.duplicates,
                        quarantined: t.quarantined,
                        accepted: t.accepted,
                        output: 0,
                    },
                    row_rule_failures: stage
                        .rules
                        .iter()
                        .enumerate()
                        .map(|(k, r)| (r.name.clone(), t.failures.get(k).copied().unwrap_or(0)))
                        .collect(),
                    rows: of(&rows, no)
                        .into_iter()
                        .map(|(a, v)| (a, count(v)))
                        .collect(),
                    partition_counts: of(&partition_counts, no)
                        .into_iter()
                        .map(|(a, v)| (a, count(v)))
                        .collect(),
                    // No row for the partition: the aggregate over no rows.
                    input_aggregates: of(&aggregates, no)
                        .into_iter()
                        .zip(&empty)
                        .map(|((a, v), e)| (a, v.unwrap_or_else(|| e.clone())))
                        .collect(),
                    unmatched: stage
                        .unmatched
                        .iter()
                        .cloned()
                        .zip(t.unmatched.iter().copied().chain(std::iter::repeat(0)))
                        .collect(),
                    quarantine: t.records,
                    bad_rows: std::mem::take(&mut bad_rows[no]),
                }
            })
            .collect())
    }

    /// Records the rows of each joined source that failed the typed input
    /// boundary: quarantined with their source named, and counted.
    fn record_joined_bad_rows(
        &self,
        stage: &RangeStage,
        v: &[(String, Value)],
        tallies: &mut [tally::PartitionTally],
        bad_rows: &mut [Vec<BadRows>],
    ) -> Result<(), RuntimeError> {
        for (alias, q) in &stage.joined_bad {
            let mut stmt = self.conn.prepare_cached(q).map_err(RuntimeError::sql)?;
            bind(&mut stmt, v)?;
            let mut rows = stmt.raw_query();
            while let Some(r) = rows.next().map_err(RuntimeError::sql)? {
                let no: i64 = r.get(0).map_err(RuntimeError::sql)?;
                let problems: String = r.get(1).map_err(RuntimeError::sql)?;
                let record: String = r.get(2).map_err(RuntimeError::sql)?;
                let Some(k) = usize::try_from(no).ok().filter(|k| *k < tallies.len()) else {
                    continue;
                };
                tally::count_bad_row(&mut bad_rows[k], alias, &problems);
                tallies[k].records.push(Quarantined {
                    rule: "typed_input".into(),
                    reason: format!("{alias}: {problems}"),
                    record,
                });
            }
        }
        Ok(())
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
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(RuntimeError::sql)?;
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
        match result {
            Ok(staged) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(RuntimeError::sql)?;
                Ok(staged)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}
