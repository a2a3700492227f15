//! `bpl_tally`: the counters of a staging statement, taken in the same scan
//! that stages the rows (see `sql::range`). The statement calls it at fixed
//! points of its row stage; it counts per partition, keeps quarantined
//! records, and answers whether the row goes on.

use std::sync::{Arc, Mutex};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

pub use crate::runtime::engine::counts::PartitionTally;
use crate::sql::lower::RowRule;
use crate::sql::range::tally;

#[derive(Default)]
struct State {
    rules: Vec<RowRule>,
    points: Vec<Vec<usize>>,
    /// By the partition's place in the batch (`_bpl_no`).
    parts: Vec<PartitionTally>,
    /// The point each of a partition's records came from: the boundary
    /// (0) or a route point (its index + 1).
    record_points: Vec<Vec<usize>>,
    /// The partition whose last record waits for its row's JSON, which the
    /// statement's next call brings ([`tally::RECORD`]).
    pending: Option<usize>,
}

impl State {
    fn part(&mut self, no: i64) -> rusqlite::Result<&mut PartitionTally> {
        part(&mut self.parts, no)
    }
}

fn part(parts: &mut [PartitionTally], no: i64) -> rusqlite::Result<&mut PartitionTally> {
    usize::try_from(no)
        .ok()
        .and_then(|k| parts.get_mut(k))
        .ok_or_else(|| {
            rusqlite::Error::UserFunctionError(
                format!("bpl_tally: no partition {no} in the batch").into(),
            )
        })
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
        *s = State {
            rules: rules.to_vec(),
            points: points.to_vec(),
            parts: vec![PartitionTally::empty(rules.len(), unmatched); parts],
            record_points: vec![Vec::new(); parts],
            pending: None,
        };
    }

    /// What was counted since the last reset, by the partition's place in
    /// the batch. A partition's records come point by point, each point's
    /// in the order rows reached it, as materialized staging gives them:
    /// the planner interleaves the points a row passes in one scan, so the
    /// order they were counted in depends on the plan.
    pub fn take(&self) -> Vec<PartitionTally> {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let points = std::mem::take(&mut s.record_points);
        let mut parts = std::mem::take(&mut s.parts);
        for (t, points) in parts.iter_mut().zip(points) {
            let mut keyed: Vec<_> = points.into_iter().zip(t.records.drain(..)).collect();
            keyed.sort_by_key(|(point, _)| *point);
            t.records = keyed.into_iter().map(|(_, r)| r).collect();
        }
        parts
    }
}

fn int(ctx: &Context<'_>, i: usize) -> i64 {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => n,
        ValueRef::Real(f) => f as i64,
        _ => 0,
    }
}

/// A route point's rules on a row of `partition` whose flags start at
/// argument `flags`: counts the failures, and quarantines the row if a
/// quarantining rule failed (its record to follow).
fn route(s: &mut State, ctx: &Context<'_>, partition: i64, flags: usize) -> rusqlite::Result<bool> {
    let point = int(ctx, 1) as usize;
    let State {
        rules,
        points,
        parts,
        record_points,
        pending,
    } = s;
    let which: &[usize] = points.get(point).map_or(&[], Vec::as_slice);
    // Most rows pass every rule: nothing to allocate for them.
    let mut failed = Vec::new();
    for (n, &k) in which.iter().enumerate() {
        if int(ctx, flags + n) == 0 {
            failed.push(k);
        }
    }
    let t = part(parts, partition)?;
    for &k in &failed {
        t.failures[k] += 1;
    }
    let quarantined = t.route(rules, &failed, || NO_RECORD.into());
    if quarantined {
        record_points[partition as usize].push(point + 1);
        *pending = Some(partition as usize);
    }
    Ok(!quarantined)
}

/// A quarantined row's record until its JSON arrives, and when none does.
const NO_RECORD: &str = "{}";

/// A bad row at the typed input boundary: quarantined, its record to follow.
fn bad_row(s: &mut State, partition: i64, problems: &[u8]) -> rusqlite::Result<bool> {
    let problems = String::from_utf8_lossy(problems).into_owned();
    s.part(partition)?.bad_row(problems, NO_RECORD.into());
    s.record_points[partition as usize].push(0);
    s.pending = Some(partition as usize);
    Ok(false)
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
            match ctx.get_raw(2) {
                ValueRef::Text(problems) => bad_row(s, partition, problems),
                _ => {
                    s.part(partition)?.input += 1;
                    Ok(true)
                }
            }
        }
        tally::DEDUPE_GROUP => {
            s.part(int(ctx, 1))?.duplicates += (int(ctx, 2) - 1).max(0);
            Ok(true)
        }
        tally::DEDUPE => {
            let first = int(ctx, 2) == 1;
            if !first {
                s.part(int(ctx, 1))?.duplicates += 1;
            }
            Ok(first)
        }
        tally::ROUTE => route(s, ctx, int(ctx, 2), 3),
        tally::CHECKED => {
            let partition = int(ctx, 2);
            if let ValueRef::Text(problems) = ctx.get_raw(3) {
                return bad_row(s, partition, problems);
            }
            s.part(partition)?.input += 1;
            route(s, ctx, partition, 4)
        }
        tally::RECORD => {
            let record = match ctx.get_raw(1) {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                _ => NO_RECORD.into(),
            };
            let waiting = s
                .pending
                .take()
                .and_then(|p| s.parts.get_mut(p))
                .and_then(|t| t.records.last_mut());
            match waiting {
                Some(q) => {
                    q.record = record;
                    Ok(false)
                }
                None => Err(rusqlite::Error::UserFunctionError(
                    "bpl_tally: a record with no quarantined row before it".into(),
                )),
            }
        }
        other => Err(rusqlite::Error::UserFunctionError(
            format!("bpl_tally: unknown point kind {other}").into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally() -> (Connection, Tally) {
        let conn = Connection::open_in_memory().unwrap();
        let t = Tally::default();
        t.register(&conn).unwrap();
        t.reset(&[], &[], 0, 2);
        (conn, t)
    }

    #[test]
    fn a_quarantined_rows_record_comes_in_the_call_after_it() {
        let (conn, t) = tally();
        let sql = "SELECT CASE WHEN bpl_tally(4, ?1, ?2) THEN 1 ELSE bpl_tally(9, ?3) END";
        let pass = |no: i64, problems: Option<&str>, record: &str| -> i64 {
            conn.query_row(sql, rusqlite::params![no, problems, record], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pass(1, None, r#"{"never":"built"}"#), 1);
        assert_eq!(pass(1, Some("x: not an int"), r#"{"x":"a"}"#), 0);
        assert_eq!(pass(0, Some("x: null"), r#"{"x":null}"#), 0);
        let parts = t.take();
        assert_eq!((parts[0].input, parts[1].input), (1, 2));
        let records = |k: usize| {
            parts[k]
                .records
                .iter()
                .map(|q| (q.reason.as_str(), q.record.as_str()))
                .collect::<Vec<_>>()
        };
        assert_eq!(records(0), [("x: null", r#"{"x":null}"#)]);
        assert_eq!(records(1), [("x: not an int", r#"{"x":"a"}"#)]);
    }

    #[test]
    fn a_record_with_no_quarantined_row_before_it_is_an_error() {
        let (conn, _t) = tally();
        let err = conn
            .query_row("SELECT bpl_tally(9, '{}')", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(err.to_string().contains("no quarantined row"), "{err}");
    }
}
