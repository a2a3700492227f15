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
use crate::sql::dialect::Staging;
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

/// A connection that stages the materialized way and fills its own batch
/// and window tables (their form is the engine's: temporary tables, views
/// of literal rows).
pub trait BatchConnection: StageConnection {
    fn fill_batch(
        &mut self,
        plan: &JobPlan,
        stage: &RangeStage,
        run: &super::RunScope,
        parts: &[super::PartitionRun],
    ) -> Result<(), RuntimeError>;

    /// Stages a batch whose dialect chains its points
    /// ([`Staging::Chained`]) in one statement: what the points counted,
    /// by the partition's place in the batch.
    fn stage_chained(
        &mut self,
        _stage: &RangeStage,
        _values: &Bound,
        _parts: usize,
    ) -> Result<Vec<PartitionTally>, RuntimeError> {
        Err(RuntimeError::Engine(
            "this engine does not stage in one statement".into(),
        ))
    }
}

/// Stages one batch of partitions: fails it if fault injection asks
/// (`BPLC_FAULT=fail:...`), fills the batch and window tables, then stages
/// and measures it through the counting points.
pub fn stage_batch(
    conn: &mut dyn BatchConnection,
    plan: &JobPlan,
    stage: &RangeStage,
    run: &super::RunScope,
    parts: &[super::PartitionRun],
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
    conn.fill_batch(plan, stage, run, parts)?;
    // A batch of one binds its partition's values (`:p`, report close).
    let mut v = super::batch::values(plan, run, first);
    v.extend(super::batch::bounds(parts));
    if stage.staging == Staging::Chained {
        let tallies = conn.stage_chained(stage, &v, parts.len())?;
        return super::counts::staged(conn, plan, stage, &v, tallies);
    }
    staged(conn, plan, stage, &v, parts.len())
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

/// Counts the rows of one point's table into each partition's tally
/// (the point's count statements answered by `conn`).
pub fn count(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Value;
    use crate::sql::dialect::Staging;
    use crate::sql::lower::RowRule;
    use crate::syntax::ast::Severity;

    /// A connection that records what it runs, fails the statements that
    /// contain `fail`, and answers every query with `rows`.
    #[derive(Default)]
    struct Recorder {
        executed: Vec<String>,
        fail: Option<&'static str>,
        rows: Vec<(&'static str, Vec<Vec<Value>>)>,
    }

    impl StageConnection for Recorder {
        fn execute(&mut self, sql: &str, _: &Bound) -> Result<(), RuntimeError> {
            self.executed.push(sql.to_string());
            match self.fail {
                Some(f) if sql.contains(f) => Err(RuntimeError::Engine(format!("failed: {sql}"))),
                _ => Ok(()),
            }
        }

        fn query(&mut self, sql: &str, _: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError> {
            Ok(self
                .rows
                .iter()
                .find(|(q, _)| *q == sql)
                .map(|(_, r)| r.clone())
                .unwrap_or_default())
        }
    }

    fn point(name: &str, count: PointCount) -> PointTable {
        PointTable {
            drop: format!("DROP {name}"),
            create: format!("CREATE {name}"),
            count,
        }
    }

    fn range(tables: Vec<PointTable>) -> RangeStage {
        RangeStage {
            single: false,
            keys: Vec::new(),
            windows: Vec::new(),
            staging: Staging::Materialized,
            stage: "INSERT data".into(),
            tables,
            rules: ["positive", "small"]
                .iter()
                .zip([Severity::Quarantine, Severity::Warn])
                .map(|(name, severity)| RowRule {
                    name: name.to_string(),
                    severity,
                    flag: format!("flag_{name}"),
                    text: format!("require {name}"),
                })
                .collect(),
            points: vec![vec![0, 1]],
            rows: Vec::new(),
            partition_counts: Vec::new(),
            input_aggregates: Vec::new(),
            input_aggregates_empty: Vec::new(),
            unmatched: Vec::new(),
            joined_bad: Vec::new(),
            input_count: None,
            measured: false,
            accept_at_insert: false,
        }
    }

    fn int(n: i64) -> Value {
        Value::Integer(n)
    }

    #[test]
    fn every_point_table_is_dropped_even_when_staging_fails() {
        let stage = range(vec![
            point("p0", PointCount::Input("count p0".into())),
            point("p1", PointCount::Accept("count p1".into())),
        ]);
        let mut conn = Recorder {
            fail: Some("CREATE p1"),
            ..Recorder::default()
        };
        let err = super::stage(&mut conn, &stage, &[], 1).unwrap_err();
        assert!(err.to_string().contains("CREATE p1"), "{err}");
        assert_eq!(
            conn.executed,
            [
                "DROP p0",
                "CREATE p0",
                "DROP p1",
                "CREATE p1",
                "DROP p0",
                "DROP p1"
            ]
        );
    }

    #[test]
    fn points_count_per_partition_as_the_tally_does() {
        let stage = range(vec![
            point(
                "boundary",
                PointCount::Boundary {
                    input: "input".into(),
                    bad: "bad".into(),
                },
            ),
            point(
                "route",
                PointCount::Route {
                    point: 0,
                    failures: "failures".into(),
                    quarantined: Some("quarantined".into()),
                },
            ),
            point(
                "dedupe",
                PointCount::Dedupe {
                    counts: "dedupe".into(),
                    accept: true,
                },
            ),
        ]);
        let text = |t: &str| Value::Text(t.into());
        let mut conn = Recorder {
            rows: vec![
                ("input", vec![vec![int(0), int(6)], vec![int(1), int(2)]]),
                (
                    "bad",
                    vec![
                        vec![int(0), text("v: not an int"), text("{\"r.v\":\"x\"}")],
                        vec![int(0), text("v: null"), text("{\"r.v\":null}")],
                        // No such partition in the batch: ignored.
                        vec![int(7), text("v: null"), text("{}")],
                    ],
                ),
                ("failures", vec![vec![int(0), int(1), int(2)]]),
                (
                    "quarantined",
                    vec![vec![int(0), int(0), int(0), text("{\"r.v\":-1}")]],
                ),
                ("dedupe", vec![vec![int(0), int(2), int(1)]]),
            ],
            ..Recorder::default()
        };
        let t = super::stage(&mut conn, &stage, &[], 2).unwrap();
        assert_eq!(conn.executed.last().unwrap(), "DROP dedupe");
        let first = &t[0];
        assert_eq!(
            (
                first.input,
                first.quarantined,
                first.bad,
                first.duplicates,
                first.accepted
            ),
            (6, 3, 2, 1, 2)
        );
        assert_eq!(first.first_bad.as_deref(), Some("v: not an int"));
        assert_eq!(first.failures, [1, 2]);
        let rules: Vec<&str> = first.records.iter().map(|r| r.rule.as_str()).collect();
        // The warn rule failed too; only the quarantining one is named.
        assert_eq!(rules, ["typed_input", "typed_input", "positive"]);
        assert_eq!(first.records[2].record, "{\"r.v\":-1}");
        assert_eq!((t[1].input, t[1].quarantined, t[1].accepted), (2, 0, 0));
    }
}
