//! Staging a batch of partitions on PostgreSQL: the batch and window
//! tables filled, then materialized staging (`engine::materialized`): each
//! counting point's rows in a table of the session, counted by grouped
//! statements, the data table filled from the last point — all in one
//! transaction with the record of what the run staged.

use super::client::literal;
use super::{int, text, PostgresEngine, POSTGRES};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::window_pairs;
use crate::runtime::engine::counts::{Bound, StageConnection};
use crate::runtime::engine::{materialized, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;
use crate::sql::range::RangeStage;

impl StageConnection for PostgresEngine {
    fn execute(&mut self, sql: &str, values: &Bound) -> Result<(), RuntimeError> {
        PostgresEngine::execute(self, sql, values).map(drop)
    }

    fn query(&mut self, sql: &str, values: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.rows(sql, values)
    }
}

/// `INSERT INTO table VALUES (..), (..)` of rows of literals, or nothing.
fn insert(table: &str, rows: &[Vec<Value>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("({})", r.iter().map(literal).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("INSERT INTO {table} VALUES {};", rows.join(", "))
}

impl materialized::BatchConnection for PostgresEngine {
    /// Fills the batch table and each dataset input's window table.
    fn fill_batch(
        &mut self,
        plan: &JobPlan,
        stage: &RangeStage,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<(), RuntimeError> {
        let parts_table = crate::sql::range::parts_table(&POSTGRES);
        let mut sql = format!("DELETE FROM {parts_table};");
        for (_, table) in &stage.windows {
            sql.push_str(&format!("DELETE FROM {table};"));
        }
        let batch: Vec<Vec<Value>> = parts
            .iter()
            .enumerate()
            .map(|(no, part)| {
                let mut row = vec![
                    int(no as i64),
                    text(&part.partition),
                    text(&part.p),
                    int(part.version),
                ];
                for k in &stage.keys {
                    row.push(
                        part.keys
                            .iter()
                            .find(|(n, _)| n == k)
                            .map_or(Value::Null, |(_, v)| text(v)),
                    );
                }
                row
            })
            .collect();
        sql.push_str(&insert(&parts_table, &batch));
        for (alias, table) in &stage.windows {
            let (Some(input), Some(lock)) = (
                plan.inputs.iter().find(|i| i.table.alias == *alias),
                run.lock.iter().find(|l| l.alias == *alias),
            ) else {
                continue;
            };
            let mut rows = Vec::new();
            for part in parts {
                for (input_partition, version) in window_pairs(input, lock, part) {
                    rows.push(vec![
                        text(&part.partition),
                        text(input_partition),
                        int(version),
                    ]);
                }
            }
            sql.push_str(&insert(table, &rows));
        }
        self.batch(&sql)
    }
}

impl PostgresEngine {
    pub(super) fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let l = self.lowered(plan)?;
        self.batch(&crate::sql::range::batch_tables(&l.batch, &POSTGRES))?;
        self.transaction(|db| {
            let mut staged = Vec::new();
            if l.batch.single {
                for part in parts {
                    staged.extend(materialized::stage_batch(
                        db,
                        plan,
                        &l.batch,
                        run,
                        std::slice::from_ref(part),
                    )?);
                }
            } else {
                staged = materialized::stage_batch(db, plan, &l.batch, run, parts)?;
            }
            // Which run staged each version, and as of when: the same
            // transaction as the rows.
            let records: Vec<Vec<Value>> = parts
                .iter()
                .map(|p| {
                    vec![
                        text(&plan.dataset),
                        text(&p.partition),
                        int(p.version),
                        text(&run.run_id),
                        text(&run.as_of),
                    ]
                })
                .collect();
            let record = insert("_bpl_staged", &records);
            if !record.is_empty() {
                db.batch(&format!(
                    "{} ON CONFLICT (dataset, partition, version) DO UPDATE SET \
                     run_id = excluded.run_id, as_of = excluded.as_of",
                    record.trim_end_matches(';')
                ))?;
            }
            // Inside the transaction: the server rolls it all back.
            crate::runtime::fault::point("in-staging");
            crate::runtime::cancel::check()?;
            Ok(staged)
        })
    }
}
