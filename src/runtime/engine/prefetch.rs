//! Measuring the partitions a batch staged with few statements, on a
//! server engine (PostgreSQL, Spark), where each statement costs a round
//! trip or a job: the statements that read one staged partition and
//! nothing the run measured (its checksum, typed output, key duplicates,
//! rows outside their partition, a gate such as `row_count() > 0`) are
//! sent once per batch, every partition's copy of a statement one branch
//! of a `UNION ALL`. [`measure`](super::measure::measure) then asks for
//! them one by one as on every engine, and is answered from what came
//! back; a statement not fetched so (a gate reading the run's counters)
//! goes to the server as before.
//!
//! An answer is keyed by the statement's text with its values written in
//! (the engine's [`Prefetching::inline`]), so it is the answer to exactly
//! that statement. Each branch keeps its statement's own column types:
//! every partition's copy of a statement is the same text with other
//! literals, so the branches' types agree.

use std::collections::HashMap;

use super::measure::Rows;
use super::{Measured, PartitionRun, RunScope, Staged, Value};
use crate::plan::JobPlan;
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;

/// The values `engine::measure` binds from what staging and the checksum
/// measured (`:counter_input`, `:rows_ev`, ...): a statement naming one is
/// not fetched ahead.
const MEASURED: [&str; 5] = [
    ":counter_",
    ":rows_",
    ":partition_count_",
    ":unmatched_",
    ":p_prev",
];

/// What a server engine supplies to have a batch's statements fetched
/// ahead.
pub trait Prefetching {
    /// Partitions per prefetching statement: its text grows with them.
    const CHUNK: usize;

    /// `sql`, in standard SQL with `:name` values, as the engine sends it:
    /// in its lexical form, the values written in as literals.
    fn inline(sql: &str, values: &[(String, Value)]) -> String;

    /// Every row of a statement already in the engine's form
    /// ([`Prefetching::inline`]'s).
    fn rows_inlined(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, RuntimeError>;

    /// The first row of a statement already in the engine's form, for a
    /// statement not fetched ahead: by default its first row from the
    /// server; an engine that answers some statements itself says so here.
    fn first_row_inlined(&mut self, sql: &str) -> Result<Option<Vec<Value>>, RuntimeError> {
        Ok(self.rows_inlined(sql)?.into_iter().next())
    }

    /// The engine's batch and answers.
    fn prefetch(&mut self) -> &mut Prefetch;
}

/// A batch staged and not yet measured, and the answers fetched for it.
#[derive(Default)]
pub struct Prefetch {
    staged: Option<StagedBatch>,
    answers: HashMap<String, Vec<Value>>,
}

/// The partitions a batch staged, until they are measured.
struct StagedBatch {
    dataset: String,
    run_id: String,
    parts: Vec<PartitionRun>,
}

impl Prefetch {
    /// Records the partitions a batch staged: the first of them measured
    /// fetches every partition's answers.
    pub fn staged(&mut self, plan: &JobPlan, run: &RunScope, parts: &[PartitionRun]) {
        self.staged = Some(StagedBatch {
            dataset: plan.dataset.clone(),
            run_id: run.run_id.clone(),
            parts: parts.to_vec(),
        });
    }
}

/// Measures a staged partition of job `l` (as `engine::measure` does),
/// fetching the batch's answers first when it is the first partition of a
/// staged batch to be measured.
pub fn measure<E: Prefetching>(
    engine: &mut E,
    plan: &JobPlan,
    l: &LoweredJob,
    run: &RunScope,
    part: &PartitionRun,
    staged: &Staged,
) -> Result<Measured, RuntimeError> {
    if let Some(batch) = engine.prefetch().staged.take() {
        if batch.dataset == plan.dataset && batch.run_id == run.run_id {
            // An engine that measured the rows as it staged them (every
            // partition of the batch, as it stages them all alike) is not
            // asked for their checksum.
            let checksum = staged.stored.is_none();
            let answers = fetch(engine, plan, run, &batch.parts, &statements(l, checksum))?;
            engine.prefetch().answers = answers;
        }
    }
    // Kept after use: partitions may ask the same text (a constant).
    let answers = std::mem::take(&mut engine.prefetch().answers);
    let measured = super::measure::measure(
        &mut Answered {
            engine: &mut *engine,
            answers: &answers,
        },
        plan,
        l,
        run,
        part,
        staged,
    );
    engine.prefetch().answers = answers;
    measured
}

/// The statements of `l` fetched ahead: each reads one staged partition
/// and nothing the run measured; the checksum's only if `checksum`.
fn statements(l: &LoweredJob, checksum: bool) -> Vec<&str> {
    let mut statements = vec![l.typed_output.as_str()];
    if checksum {
        statements.push(l.checksum.as_str());
    }
    statements.extend(l.key_duplicates.as_deref());
    statements.extend(l.out_of_partition.as_deref());
    for g in l.expectations.iter().chain(&l.reconciliations) {
        match &g.sides {
            Some((left, right)) => statements.extend([left.as_str(), right.as_str()]),
            None => statements.push(&g.sql),
        }
    }
    // A statement reading what the run measured is asked with the
    // measures written in: not fetched ahead.
    statements.retain(|s| !MEASURED.iter().any(|m| s.contains(m)));
    statements.sort_unstable();
    statements.dedup();
    statements
}

/// The first row of each of `statements` for every partition of `parts`,
/// by its text as the engine writes it: one statement per statement and
/// chunk of partitions.
fn fetch<E: Prefetching>(
    engine: &mut E,
    plan: &JobPlan,
    run: &RunScope,
    parts: &[PartitionRun],
    statements: &[&str],
) -> Result<HashMap<String, Vec<Value>>, RuntimeError> {
    let mut answers = HashMap::new();
    for sql in statements {
        for chunk in parts.chunks(E::CHUNK.max(1)) {
            let texts: Vec<String> = chunk
                .iter()
                .map(|p| E::inline(sql, &super::batch::values(plan, run, p)))
                .collect();
            let union = union(&texts);
            for row in engine.rows_inlined(&union)? {
                let Some((Value::Integer(k), rest)) = row.split_first() else {
                    continue;
                };
                if let Some(t) = usize::try_from(*k).ok().and_then(|k| texts.get(k)) {
                    // A statement's first row is its answer.
                    answers.entry(t.clone()).or_insert_with(|| rest.to_vec());
                }
            }
        }
    }
    Ok(answers)
}

/// One statement of `texts` (each in the engine's form): each one's rows
/// after its number in `texts`.
fn union(texts: &[String]) -> String {
    texts
        .iter()
        .enumerate()
        .map(|(k, t)| format!("SELECT {k} AS _bpl_k, _bpl_m.* FROM ({t}) AS _bpl_m"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The engine answering from what was prefetched, else from the server.
struct Answered<'a, E> {
    engine: &'a mut E,
    answers: &'a HashMap<String, Vec<Value>>,
}

impl<E: Prefetching> Rows for Answered<'_, E> {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        let text = E::inline(sql, values);
        if let Some(row) = self.answers.get(&text) {
            return Ok(Some(row.clone()));
        }
        self.engine.first_row_inlined(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_branch_is_numbered_by_its_place() {
        assert_eq!(
            union(&["SELECT 1".into(), "SELECT 2".into()]),
            "SELECT 0 AS _bpl_k, _bpl_m.* FROM (SELECT 1) AS _bpl_m UNION ALL \
             SELECT 1 AS _bpl_k, _bpl_m.* FROM (SELECT 2) AS _bpl_m"
        );
    }
}
