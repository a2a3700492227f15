//! Measuring the partitions a batch staged, on PostgreSQL, with few round
//! trips: the statements that read one staged partition and nothing the
//! run measured (its checksum, typed output, key duplicates, rows outside
//! their partition, a gate such as `row_count() > 0`) are sent once per
//! batch, every partition's copy of a statement one branch of a `UNION
//! ALL`. `engine::measure` then asks for them one by one as on every
//! engine, and is answered from what came back; a statement not fetched so
//! (a gate reading the run's counters) goes to the server as before.
//!
//! An answer is keyed by the statement's text with its values written in,
//! so it is the answer to exactly that statement.

use std::collections::HashMap;

use super::client::inline;
use super::PostgresEngine;
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Measured, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;

/// Partitions per prefetching statement: its text grows with them.
const CHUNK: usize = 100;

/// The values `engine::measure` binds from what staging and the checksum
/// measured (`:counter_input`, `:rows_ev`, ...).
const MEASURED: [&str; 5] = [
    ":counter_",
    ":rows_",
    ":partition_count_",
    ":unmatched_",
    ":p_prev",
];

/// The partitions a batch staged, until they are measured.
pub(super) struct StagedBatch {
    pub dataset: String,
    pub run_id: String,
    pub parts: Vec<PartitionRun>,
}

/// Answers fetched for a batch, by statement text (values written in).
#[derive(Default)]
pub(super) struct Prefetched {
    rows: HashMap<String, Vec<Value>>,
}

impl PostgresEngine {
    pub(super) fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        let l = self.lowered(plan)?;
        if let Some(batch) = self.staged_batch.take() {
            if batch.dataset == plan.dataset && batch.run_id == run.run_id {
                let mut statements = vec![l.checksum.as_str(), l.typed_output.as_str()];
                statements.extend(l.key_duplicates.as_deref());
                statements.extend(l.out_of_partition.as_deref());
                for g in l.expectations.iter().chain(&l.reconciliations) {
                    match &g.sides {
                        Some((left, right)) => statements.extend([left.as_str(), right.as_str()]),
                        None => statements.push(&g.sql),
                    }
                }
                // A statement reading what the run measured is asked with
                // the measures written in: not fetched ahead.
                statements.retain(|s| !MEASURED.iter().any(|m| s.contains(m)));
                statements.dedup();
                self.prefetch(plan, run, &batch.parts, &statements)?;
            }
        }
        crate::runtime::engine::measure::measure(&mut Answered(self), plan, &l, run, part, staged)
    }

    /// Fetches each of `statements` for every partition of `parts`, one
    /// statement per statement and chunk of partitions.
    fn prefetch(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
        statements: &[&str],
    ) -> Result<(), RuntimeError> {
        let mut fetched = Prefetched::default();
        for sql in statements {
            for chunk in parts.chunks(CHUNK) {
                let texts: Vec<String> = chunk
                    .iter()
                    .map(|p| inline(sql, &crate::runtime::engine::batch::values(plan, run, p)))
                    .collect();
                let union = texts
                    .iter()
                    .enumerate()
                    .map(|(k, t)| format!("SELECT {k} AS _bpl_k, _bpl_m.* FROM ({t}) AS _bpl_m"))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                for row in self.rows(&union, &[])? {
                    let Some((Value::Integer(k), rest)) = row.split_first() else {
                        continue;
                    };
                    if let Some(t) = usize::try_from(*k).ok().and_then(|k| texts.get(k)) {
                        // A statement's first row is its answer.
                        fetched
                            .rows
                            .entry(t.clone())
                            .or_insert_with(|| rest.to_vec());
                    }
                }
            }
        }
        self.prefetched = fetched;
        Ok(())
    }
}

/// The engine answering from what was prefetched, else from the server.
struct Answered<'a>(&'a mut PostgresEngine);

impl Rows for Answered<'_> {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        // Kept after use: partitions may ask the same text (a constant).
        if let Some(row) = self.0.prefetched.rows.get(&inline(sql, values)) {
            return Ok(Some(row.clone()));
        }
        self.0.row(sql, values)
    }
}
