//! Staging a batch of partitions on Spark: the batch and window tables as
//! temporary views over literal rows, then materialized staging
//! (`engine::materialized`): each counting point's rows cached in a view
//! of the session, counted by grouped statements, and the data table
//! written from the last point into partitions of this run's own versions
//! (`INSERT OVERWRITE` of those partitions only: nothing a reader sees).
//! The log records which run staged each version before its rows are
//! written, so a run that fails or crashes half-way is discarded whole.

use super::client::literal;
use super::log::Entry;
use super::{int, text, SparkEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::window_pairs;
use crate::runtime::engine::counts::{Bound, StageConnection};
use crate::runtime::engine::{materialized, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;
use crate::sql::expr::partition_column;
use crate::sql::range::RangeStage;

impl StageConnection for SparkEngine {
    /// The stage statement writes into the run's own partitions, replacing
    /// whatever a crashed earlier attempt left in their directories.
    fn execute(&mut self, sql: &str, values: &Bound) -> Result<(), RuntimeError> {
        match sql.strip_prefix("INSERT INTO ") {
            Some(rest) => {
                SparkEngine::execute(self, &format!("INSERT OVERWRITE TABLE {rest}"), values)
            }
            None => SparkEngine::execute(self, sql, values),
        }
    }

    fn query(&mut self, sql: &str, values: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.rows(sql, values)
    }
}

/// A temporary view `name` of literal rows with these columns and types;
/// no rows gives an empty view of the same columns.
fn view(name: &str, columns: &[(String, &str)], rows: &[Vec<Value>]) -> String {
    let select = if rows.is_empty() {
        let nulls: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("CAST(NULL AS {t}) AS {c}"))
            .collect();
        format!("SELECT {} WHERE false", nulls.join(", "))
    } else {
        let rows: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.iter().map(literal).collect::<Vec<_>>().join(", ")))
            .collect();
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        format!(
            "SELECT * FROM VALUES {} AS t({})",
            rows.join(", "),
            names.join(", ")
        )
    };
    format!("CREATE OR REPLACE TEMPORARY VIEW {name} AS {select}")
}

impl materialized::BatchConnection for SparkEngine {
    /// The batch view and each dataset input's window view.
    fn fill_batch(
        &mut self,
        plan: &JobPlan,
        stage: &RangeStage,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<(), RuntimeError> {
        let mut columns = vec![
            ("_bpl_no".to_string(), "BIGINT"),
            ("_bpl_partition".to_string(), "STRING"),
            ("_bpl_p".to_string(), "STRING"),
            ("_bpl_version".to_string(), "BIGINT"),
        ];
        columns.extend(
            stage
                .keys
                .iter()
                .map(|k| (partition_column(Some(k)), "STRING")),
        );
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
        let parts_table = crate::sql::range::parts_table(&super::SPARK);
        self.execute(&view(&parts_table, &columns, &batch), &[])?;
        let window_columns = [
            ("_bpl_out".to_string(), "STRING"),
            ("_bpl_in".to_string(), "STRING"),
            ("_bpl_in_version".to_string(), "BIGINT"),
        ];
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
            self.execute(&view(table, &window_columns, &rows), &[])?;
        }
        Ok(())
    }
}

impl SparkEngine {
    pub(super) fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let l = self.lowered(plan)?;
        self.prefetch = Default::default();
        // Which run stages each version, and as of when: recorded before
        // any row is written, so whatever is written can be found again.
        let records: Vec<Entry> = parts
            .iter()
            .map(|p| Entry {
                as_of: Some(run.as_of.clone()),
                ..Entry::new("staged", &plan.dataset, &p.partition, p.version).by(&run.run_id)
            })
            .collect();
        self.log(&records)?;
        let staged = (|| {
            let mut staged = Vec::new();
            if l.batch.single {
                for part in parts {
                    staged.extend(materialized::stage_batch(
                        self,
                        plan,
                        &l.batch,
                        run,
                        std::slice::from_ref(part),
                    )?);
                }
            } else {
                staged = materialized::stage_batch(self, plan, &l.batch, run, parts)?;
            }
            crate::runtime::fault::point("in-staging");
            crate::runtime::cancel::check()?;
            Ok(staged)
        })();
        if staged.is_ok() {
            // Measured next, all at once (see `engine::prefetch`).
            self.prefetch.staged(plan, run, parts);
        }
        if staged.is_err() {
            // All or none: what this run wrote goes (the session may be
            // gone; then discarding or recovering the run removes it).
            let written: Vec<(String, i64)> = parts
                .iter()
                .map(|p| (p.partition.clone(), p.version))
                .collect();
            let _ = self.discard_partitions(plan, &run.run_id, &written);
        }
        staged
    }
}
