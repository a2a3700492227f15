//! What staging a batch counted per partition, however the engine counted
//! it (a tally function, or materialized counting points: see
//! `sql::range`), and the [`Staged`] made of it with the grouped
//! statements every engine runs the same way, through a
//! [`StageConnection`].

use super::{BadRows, Quarantined, Staged, Value};
use crate::plan::JobPlan;
use crate::runtime::manifest::Counters;
use crate::runtime::RuntimeError;
use crate::sql::lower::RowRule;
use crate::sql::range::RangeStage;
use crate::syntax::ast::Severity;

/// The named values a batch's statements bind (see `batch::values`).
pub type Bound = [(String, Value)];

/// The little of a connection that shared staging code needs: run a
/// statement, read a query's rows, each with the batch's bound values.
pub trait StageConnection {
    fn execute(&mut self, sql: &str, values: &Bound) -> Result<(), RuntimeError>;
    fn query(&mut self, sql: &str, values: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError>;
}

/// What one partition's rows did on their way through the row stage.
#[derive(Debug, Clone, Default)]
pub struct PartitionTally {
    pub input: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    pub accepted: i64,
    /// Rows of the driving source that failed the typed input boundary
    /// (also counted as quarantined), and the first one's problems.
    pub bad: i64,
    pub first_bad: Option<String>,
    /// Failing rows of each row rule, by index into the job's rules.
    pub failures: Vec<i64>,
    /// Accepted rows whose join found no match, by counted alias.
    pub unmatched: Vec<i64>,
    pub records: Vec<Quarantined>,
}

impl PartitionTally {
    /// Nothing counted yet, for a job of `rules` row rules counting the
    /// unmatched rows of `unmatched` aliases.
    pub fn empty(rules: usize, unmatched: usize) -> PartitionTally {
        PartitionTally {
            failures: vec![0; rules],
            unmatched: vec![0; unmatched],
            ..PartitionTally::default()
        }
    }

    /// A row of the driving source with `problems` at the typed input
    /// boundary: counted as input, quarantined.
    pub fn bad_row(&mut self, problems: String, record: String) {
        self.input += 1;
        self.quarantined += 1;
        self.bad += 1;
        self.first_bad.get_or_insert_with(|| problems.clone());
        self.records.push(Quarantined {
            rule: "typed_input".into(),
            reason: problems,
            record,
        });
    }

    /// Quarantines a row that failed the rules `failed` (by index into
    /// `rules`), if one of them quarantines; says whether it did.
    pub fn route(
        &mut self,
        rules: &[RowRule],
        failed: &[usize],
        record: impl FnOnce() -> String,
    ) -> bool {
        let quarantining: Vec<&RowRule> = failed
            .iter()
            .map(|&k| &rules[k])
            .filter(|r| r.severity == Severity::Quarantine)
            .collect();
        if quarantining.is_empty() {
            return false;
        }
        let join = |f: fn(&RowRule) -> &str, sep: &str| {
            quarantining
                .iter()
                .map(|r| f(r))
                .collect::<Vec<_>>()
                .join(sep)
        };
        self.quarantined += 1;
        self.records.push(Quarantined {
            rule: join(|r| &r.name, ", "),
            reason: join(|r| &r.text, "; "),
            record: record(),
        });
        true
    }
}

/// An integer a count statement gave (a server may answer a sum as a
/// decimal, or as text); 0 for anything else.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(n) => *n,
        Value::Real(f) => *f as i64,
        Value::Text(t) => t
            .parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    }
}

/// The text of a value, for problems and records.
pub fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Null => "{}".into(),
        other => other.to_json().to_string(),
    }
}

/// The bad rows of the source the pipeline starts `from`, per partition of
/// the batch, from what the boundary point counted.
pub fn driving_bad_rows(plan: &JobPlan, parts: &[PartitionTally]) -> Vec<Vec<BadRows>> {
    let driving = plan.job.steps.iter().find_map(|s| match s {
        crate::semantic::hir::Step::From(a) => Some(a.as_str()),
        _ => None,
    });
    parts
        .iter()
        .map(|t| match (driving, t.bad, &t.first_bad) {
            (Some(alias), n, Some(first)) if n > 0 => vec![BadRows {
                alias: alias.to_string(),
                rows: n,
                first: first.clone(),
            }],
            _ => Vec::new(),
        })
        .collect()
}

/// Counts one bad row of `alias` in a partition's list.
pub fn count_bad_row(list: &mut Vec<BadRows>, alias: &str, problems: &str) {
    match list.iter_mut().find(|b| b.alias == alias) {
        Some(b) => b.rows += 1,
        None => list.push(BadRows {
            alias: alias.to_string(),
            rows: 1,
            first: problems.to_string(),
        }),
    }
}

/// The rows of a grouped statement (`_bpl_no, values..`), each handed with
/// its partition's tally; rows of no partition in the batch are skipped.
pub fn per_partition(
    conn: &mut dyn StageConnection,
    sql: &str,
    values: &Bound,
    tallies: &mut [PartitionTally],
    mut each: impl FnMut(&mut PartitionTally, &[Value]),
) -> Result<(), RuntimeError> {
    for row in conn.query(sql, values)? {
        let Some((no, rest)) = row.split_first() else {
            continue;
        };
        if let Some(t) = usize::try_from(int(no))
            .ok()
            .and_then(|k| tallies.get_mut(k))
        {
            each(t, rest);
        }
    }
    Ok(())
}

/// What staging a batch measured, from what its counting points counted
/// (`tallies`, by the partition's place in the batch) and the statements
/// that count the rest: inputs counted apart, gates' counters, control
/// totals, and joined sources' bad rows.
pub fn staged(
    conn: &mut dyn StageConnection,
    plan: &JobPlan,
    stage: &RangeStage,
    values: &Bound,
    mut tallies: Vec<PartitionTally>,
) -> Result<Vec<Staged>, RuntimeError> {
    let mut bad_rows = driving_bad_rows(plan, &tallies);
    for (alias, q) in &stage.joined_bad {
        for row in conn.query(q, values)? {
            let [no, problems, record] = row.as_slice() else {
                continue;
            };
            let Some(k) = usize::try_from(int(no)).ok().filter(|k| *k < tallies.len()) else {
                continue;
            };
            let problems = text(problems);
            count_bad_row(&mut bad_rows[k], alias, &problems);
            tallies[k].records.push(Quarantined {
                rule: "typed_input".into(),
                reason: format!("{alias}: {problems}"),
                record: text(record),
            });
        }
    }
    if let Some(q) = &stage.input_count {
        per_partition(conn, q, values, &mut tallies, |t, v| {
            if let Some(n) = v.first() {
                t.input = int(n);
            }
        })?;
    }
    // Grouped statements answer by the partition's place in the batch.
    let mut grouped = |queries: &[(String, String)]| {
        queries
            .iter()
            .map(|(name, q)| {
                let rows = conn
                    .query(q, values)?
                    .into_iter()
                    .filter_map(|r| {
                        let mut r = r.into_iter();
                        Some((int(&r.next()?), r.next()?))
                    })
                    .collect::<Vec<_>>();
                Ok((name.clone(), rows))
            })
            .collect::<Result<Vec<_>, RuntimeError>>()
    };
    let rows = grouped(&stage.rows)?;
    let partition_counts = grouped(&stage.partition_counts)?;
    let aggregates = grouped(&stage.input_aggregates)?;
    // An aggregate over no rows, for partitions without accepted rows.
    let empty = stage
        .input_aggregates_empty
        .iter()
        .map(|q| {
            conn.query(q, values)
                .map(|rows| rows.into_iter().flatten().next().unwrap_or(Value::Null))
        })
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
    let count = |v: Option<Value>| v.as_ref().map_or(0, int);
    Ok(tallies
        .into_iter()
        .zip(bad_rows)
        .enumerate()
        .map(|(no, (t, bad_rows))| Staged {
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
            bad_rows,
            stored: None,
        })
        .collect())
}
