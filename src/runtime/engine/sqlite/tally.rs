//! `bpl_tally`: the counters of a staging statement, taken in the same scan
//! that stages the rows (see `sql::range`). The statement calls it at fixed
//! points of its row stage; it counts per partition, keeps quarantined
//! records, and answers whether the row goes on.

use std::sync::{Arc, Mutex};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::runtime::engine::{BadRows, Quarantined};
use crate::sql::lower::RowRule;
use crate::sql::range::tally;
use crate::syntax::ast::Severity;

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

#[derive(Default)]
struct State {
    rules: Vec<RowRule>,
    points: Vec<Vec<usize>>,
    /// By the partition's place in the batch (`_bpl_no`).
    parts: Vec<PartitionTally>,
}

impl State {
    fn part(&mut self, no: i64) -> rusqlite::Result<&mut PartitionTally> {
        usize::try_from(no)
            .ok()
            .and_then(|k| self.parts.get_mut(k))
            .ok_or_else(|| {
                rusqlite::Error::UserFunctionError(
                    format!("bpl_tally: no partition {no} in the batch").into(),
                )
            })
    }
}

/// The counters of one connection's staging statements.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<State>>);

impl Tally {
    /// Registers `bpl_tally` on a connection, counting into this tally.
    pub fn register(&self, conn: &Connection) -> rusqlite::Result<()> {
        let state = self.0.clone();
        // Not deterministic: SQLite must call it for every row, never reuse
        // a result.
        conn.create_scalar_function("bpl_tally", -1, FunctionFlags::SQLITE_UTF8, move |ctx| {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            step(&mut s, ctx)
        })
    }

    /// Starts counting a statement over `parts` partitions with these
    /// rules, route points and number of aliases whose unmatched rows are
    /// counted.
    pub fn reset(&self, rules: &[RowRule], points: &[Vec<usize>], unmatched: usize, parts: usize) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let empty = PartitionTally {
            failures: vec![0; rules.len()],
            unmatched: vec![0; unmatched],
            ..PartitionTally::default()
        };
        *s = State {
            rules: rules.to_vec(),
            points: points.to_vec(),
            parts: vec![empty; parts],
        };
    }

    /// What was counted since the last reset, by the partition's place in
    /// the batch.
    pub fn take(&self) -> Vec<PartitionTally> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut s.parts)
    }
}

/// The bad rows of the source the pipeline starts `from`, per partition of
/// the batch, from the tally's boundary point.
pub fn driving_bad_rows(
    plan: &crate::plan::JobPlan,
    parts: &[PartitionTally],
) -> Vec<Vec<BadRows>> {
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

fn int(ctx: &Context<'_>, i: usize) -> i64 {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => n,
        ValueRef::Real(f) => f as i64,
        _ => 0,
    }
}

fn step(s: &mut State, ctx: &Context<'_>) -> rusqlite::Result<bool> {
    match int(ctx, 0) {
        tally::INPUT => {
            s.part(int(ctx, 1))?.input += 1;
            Ok(true)
        }
        tally::ACCEPT => {
            let t = s.part(int(ctx, 1))?;
            t.accepted += 1;
            for (k, n) in t.unmatched.iter_mut().enumerate() {
                if int(ctx, 2 + k) != 0 {
                    *n += 1;
                }
            }
            Ok(true)
        }
        tally::DEDUPE_ACCEPT => {
            let first = int(ctx, 2) == 1;
            let t = s.part(int(ctx, 1))?;
            if first {
                t.accepted += 1;
            } else {
                t.duplicates += 1;
            }
            Ok(first)
        }
        tally::ACCEPT_GROUP => {
            s.part(int(ctx, 1))?.accepted += int(ctx, 2);
            Ok(true)
        }
        tally::BOUNDARY => {
            let partition = int(ctx, 1);
            let problems = match ctx.get_raw(2) {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => {
                    s.part(partition)?.input += 1;
                    return Ok(true);
                }
            };
            let record = match ctx.get_raw(3) {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => "{}".into(),
            };
            let t = s.part(partition)?;
            t.input += 1;
            t.quarantined += 1;
            t.bad += 1;
            t.first_bad.get_or_insert_with(|| problems.clone());
            t.records.push(Quarantined {
                rule: "typed_input".into(),
                reason: problems,
                record,
            });
            Ok(false)
        }
        tally::DEDUPE => {
            let first = int(ctx, 2) == 1;
            if !first {
                s.part(int(ctx, 1))?.duplicates += 1;
            }
            Ok(first)
        }
        tally::ROUTE => {
            let point = int(ctx, 1) as usize;
            let which = s.points.get(point).cloned().unwrap_or_default();
            let partition = int(ctx, 2);
            let mut failed = Vec::new();
            for (n, &k) in which.iter().enumerate() {
                if int(ctx, 3 + n) == 0 {
                    failed.push(k);
                }
            }
            let quarantining: Vec<usize> = failed
                .iter()
                .copied()
                .filter(|&k| s.rules[k].severity == Severity::Quarantine)
                .collect();
            let record = if quarantining.is_empty() {
                None
            } else {
                Some(Quarantined {
                    rule: join(&quarantining, |k| &s.rules[k].name, ", "),
                    reason: join(&quarantining, |k| &s.rules[k].text, "; "),
                    record: match ctx.get_raw(3 + which.len()) {
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        _ => "{}".into(),
                    },
                })
            };
            let t = s.part(partition)?;
            for k in failed {
                t.failures[k] += 1;
            }
            Ok(match record {
                Some(r) => {
                    t.quarantined += 1;
                    t.records.push(r);
                    false
                }
                None => true,
            })
        }
        other => Err(rusqlite::Error::UserFunctionError(
            format!("bpl_tally: unknown point kind {other}").into(),
        )),
    }
}

fn join<'a>(ks: &[usize], f: impl Fn(usize) -> &'a String, sep: &str) -> String {
    ks.iter()
        .map(|&k| f(k).as_str())
        .collect::<Vec<_>>()
        .join(sep)
}
