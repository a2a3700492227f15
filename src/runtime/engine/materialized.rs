//! Materialized staging, the same on every engine that stages this way
//! (see `sql::dialect::Staging`): each counting point's rows go into a
//! connection-private table, grouped statements over it count what the
//! tally would have counted, the next point reads the rows that pass, and
//! the data table is filled from the last point. Whether a row passes a
//! point is a pure function of its columns; only counting needed state,
//! and here it is a `GROUP BY _bpl_no` per point.
//!
//! An engine that stages this way fills its batch and window tables, then
//! calls [`staged`] with its connection behind a [`StageConnection`]; the
//! rest is here and in [`super::counts`].

use super::counts::{int, per_partition, text, Bound, PartitionTally, StageConnection};
use super::Staged;
use crate::plan::JobPlan;
use crate::runtime::RuntimeError;
use crate::sql::range::{PointCount, PointTable, RangeStage};

/// Stages a batch of `parts` partitions (whose batch and window tables are
/// filled) the materialized way, and measures each: what
/// [`super::Engine::stage`] returns for the batch.
pub fn staged(
    conn: &mut dyn StageConnection,
    plan: &JobPlan,
    range: &RangeStage,
    values: &Bound,
    parts: usize,
) -> Result<Vec<Staged>, RuntimeError> {
    let tallies = stage(conn, range, values, parts)?;
    super::counts::staged(conn, plan, range, values, tallies)
}

/// Stages a batch of `parts` partitions through the stage's counting point
/// tables into the data table; what the points counted, by the
/// partition's place in the batch. The tables are dropped whatever the
/// outcome.
pub fn stage(
    conn: &mut dyn StageConnection,
    stage: &RangeStage,
    values: &Bound,
    parts: usize,
) -> Result<Vec<PartitionTally>, RuntimeError> {
    let mut tallies = vec![PartitionTally::empty(stage.rules.len(), stage.unmatched.len()); parts];
    let result = (|| {
        for point in &stage.tables {
            conn.execute(&point.drop, &[])?;
            conn.execute(&point.create, values)?;
            count(conn, stage, point, values, &mut tallies)?;
        }
        conn.execute(&stage.stage, values)
    })();
    for point in &stage.tables {
        let dropped = conn.execute(&point.drop, &[]);
        // A failed stage's error says more than a failed clean-up's.
        if result.is_ok() {
            dropped?;
        }
    }
    result.map(|()| tallies)
}

/// Counts the rows of one point's table into each partition's tally.
fn count(
    conn: &mut dyn StageConnection,
    stage: &RangeStage,
    point: &PointTable,
    values: &Bound,
    tallies: &mut [PartitionTally],
) -> Result<(), RuntimeError> {
    let nth = |v: &[crate::runtime::engine::Value], n: usize| v.get(n).map_or(0, int);
    match &point.count {
        PointCount::Input(q) => per_partition(conn, q, values, tallies, |t, v| {
            t.input += nth(v, 0);
        }),
        PointCount::Boundary { input, bad } => {
            per_partition(conn, input, values, tallies, |t, v| t.input += nth(v, 0))?;
            // Each bad row is input counted above: take it back out, so
            // `bad_row` counts it once, as the tally does.
            per_partition(conn, bad, values, tallies, |t, v| {
                t.input -= 1;
                t.bad_row(
                    v.first().map(text).unwrap_or_default(),
                    v.get(1).map(text).unwrap_or_default(),
                );
            })
        }
        PointCount::Route {
            point,
            failures,
            quarantined,
        } => {
            let which = stage.points.get(*point).cloned().unwrap_or_default();
            per_partition(conn, failures, values, tallies, |t, v| {
                for (n, &k) in which.iter().enumerate() {
                    if let Some(f) = t.failures.get_mut(k) {
                        *f += nth(v, n);
                    }
                }
            })?;
            let Some(q) = quarantined else {
                return Ok(());
            };
            per_partition(conn, q, values, tallies, |t, v| {
                let failed: Vec<usize> = which
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| nth(v, *n) == 0)
                    .map(|(_, &k)| k)
                    .collect();
                t.route(&stage.rules, &failed, || {
                    v.get(which.len()).map(text).unwrap_or_default()
                });
            })
        }
        PointCount::Dedupe { counts, accept } => {
            per_partition(conn, counts, values, tallies, |t, v| {
                if *accept {
                    t.accepted += nth(v, 0);
                }
                t.duplicates += nth(v, 1);
            })
        }
        PointCount::Accept(q) => per_partition(conn, q, values, tallies, |t, v| {
            t.accepted += nth(v, 0);
            for (k, n) in t.unmatched.iter_mut().enumerate() {
                *n += nth(v, 1 + k);
            }
        }),
    }
}
