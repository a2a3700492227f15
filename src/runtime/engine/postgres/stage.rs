//! Staging a batch of partitions on PostgreSQL: the batch and window
//! tables filled, then chained staging (`Staging::Chained`): one statement
//! whose materialized common table expressions are the counting points,
//! whose data-modifying one fills the data table from the last point, and
//! which returns what every point counted — all in one transaction with
//! the record of what the run staged. No point's rows are written to a
//! table: each is kept once, in memory or a temporary file, for the
//! statement, except a route point, which its readers compute again
//! (see `sql::range::points`).

use super::client::literal;
use super::{int, text, PostgresEngine, POSTGRES};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::window_pairs;
use crate::runtime::engine::counts::{Bound, PartitionTally, StageConnection};
use crate::runtime::engine::{materialized, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;
use crate::sql::range::{PointCount, RangeStage};

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
        // Statistics of the batch table, a few rows (an ANALYZE takes well
        // under a millisecond): the planner otherwise guesses hundreds of
        // rows, and at a million rows looked a dataset input's partition
        // up in it by its index once per data row (974,137 lookups, 0.5 s);
        // with them it remembers each of the 91 lookups (0.2 s).
        //
        // Not the window tables': they name the input versions a run has
        // just staged (and, on a new day, partitions), which the data
        // table's statistics have never seen. Compared with those, the
        // window's own said no data row matches, and the planner joined
        // the one row it expected with a reference in a nested loop: a
        // three-day rerun went from 0.4 s to 10 s once autovacuum had
        // analyzed the data table. Without them it assumes each window
        // row matches its share of the data table.
        sql.push_str(&format!("ANALYZE {parts_table};"));
        self.batch(&sql)
    }

    fn stage_chained(
        &mut self,
        stage: &RangeStage,
        values: &Bound,
        parts: usize,
    ) -> Result<Vec<PartitionTally>, RuntimeError> {
        let queries: Vec<&str> = stage
            .tables
            .iter()
            .flat_map(|t| count_queries(&t.count))
            .collect();
        let rows = self.rows(&chained_statement(stage, &queries), values)?;
        let mut counted = Counted::default();
        for row in rows {
            let [Value::Integer(n), Value::Text(json)] = row.as_slice() else {
                continue;
            };
            if let Some(q) = usize::try_from(*n).ok().and_then(|n| queries.get(n)) {
                counted
                    .rows
                    .entry(q.to_string())
                    .or_default()
                    .push(json_row(json)?);
            }
        }
        let mut tallies =
            vec![PartitionTally::empty(stage.rules.len(), stage.unmatched.len()); parts];
        for point in &stage.tables {
            materialized::count(&mut counted, stage, point, values, &mut tallies)?;
        }
        Ok(tallies)
    }
}

/// A point's count statements, in the order [`materialized::count`] asks
/// them.
fn count_queries(count: &PointCount) -> Vec<&str> {
    match count {
        PointCount::Input(q) | PointCount::Accept(q) => vec![q],
        PointCount::Boundary { input, bad } => vec![input, bad],
        PointCount::Route {
            failures,
            quarantined,
            ..
        } => std::iter::once(failures.as_str())
            .chain(quarantined.as_deref())
            .collect(),
        PointCount::Dedupe { counts, .. } => vec![counts],
    }
}

/// The one statement of a chained stage: every point a materialized common
/// table expression, the data table filled by a data-modifying one, and as
/// its result each count statement's rows, as `(statement's place,
/// row as a JSON object)`. A statement's rows come in the order it gives
/// them (`UNION ALL` appends its branches in order), so the bad and
/// quarantined rows come in the order they reached their point.
fn chained_statement(stage: &RangeStage, queries: &[&str]) -> String {
    let mut ctes: Vec<String> = stage.tables.iter().map(|t| t.create.clone()).collect();
    ctes.push(format!("_bpl_stage AS ({})", stage.stage));
    let counts = if queries.is_empty() {
        "SELECT 0, '' WHERE false".to_string()
    } else {
        queries
            .iter()
            .enumerate()
            .map(|(n, q)| {
                format!("SELECT {n}, CAST(row_to_json(_bpl_r) AS text) FROM ({q}) AS _bpl_r")
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    };
    format!("WITH {} {counts}", ctes.join(", "))
}

/// The rows of a chained stage's count statements, by statement, answered
/// as [`materialized::count`] asks for them.
#[derive(Default)]
struct Counted {
    rows: std::collections::HashMap<String, Vec<Vec<Value>>>,
}

impl StageConnection for Counted {
    fn execute(&mut self, sql: &str, _: &Bound) -> Result<(), RuntimeError> {
        Err(RuntimeError::Engine(format!(
            "a chained stage runs no statement of its own: {sql}"
        )))
    }

    fn query(&mut self, sql: &str, _: &Bound) -> Result<Vec<Vec<Value>>, RuntimeError> {
        Ok(self.rows.get(sql).cloned().unwrap_or_default())
    }
}

/// A count statement's row from its JSON object: `_bpl_no`, then the
/// counted columns `_bpl_c0`, `_bpl_c1`, ... in order.
fn json_row(json: &str) -> Result<Vec<Value>, RuntimeError> {
    use serde_json::Value as Json;
    let object: serde_json::Map<String, Json> = serde_json::from_str(json)
        .map_err(|e| RuntimeError::Engine(format!("a chained stage's count row: {e}")))?;
    let value = |v: &Json| match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Integer)
            .unwrap_or_else(|| Value::Real(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    };
    let mut row = vec![object.get("_bpl_no").map_or(Value::Null, value)];
    row.extend((0..).map_while(|k| object.get(&format!("_bpl_c{k}")).map(value)));
    Ok(row)
}

impl PostgresEngine {
    pub(super) fn stage(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Staged>, RuntimeError> {
        let l = self.lowered(plan)?;
        self.prefetch = Default::default();
        self.batch(&crate::sql::range::batch_tables(&l.batch, &POSTGRES))?;
        let staged = self.transaction(|db| {
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
            // Measured here, from one read of the rows (see `measured`).
            let stored = super::measured::measure(&mut db.client, plan, &l.data_table, parts)?;
            for (s, m) in staged.iter_mut().zip(stored) {
                s.stored = Some(m);
            }
            // Inside the transaction: the server rolls it all back.
            crate::runtime::fault::point("in-staging");
            crate::runtime::cancel::check()?;
            Ok(staged)
        })?;
        // Measured next, all at once (see `measure`).
        self.prefetch.staged(plan, run, parts);
        Ok(staged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_row_keeps_its_columns_in_order_whatever_their_number() {
        let columns: Vec<String> = (0..12).map(|k| format!("\"_bpl_c{k}\": {k}")).collect();
        let json = format!(
            "{{\"_bpl_no\": 3, {}, \"other\": \"x\"}}",
            columns.join(", ")
        );
        let row = json_row(&json).unwrap();
        let expected: Vec<Value> = (3..4).chain(0..12).map(Value::Integer).collect();
        assert_eq!(row, expected);
        let row =
            json_row(r#"{"_bpl_no": 0, "_bpl_c0": "v: null", "_bpl_c1": null, "_bpl_c2": 2.5}"#)
                .unwrap();
        assert_eq!(
            row,
            [
                Value::Integer(0),
                Value::Text("v: null".into()),
                Value::Null,
                Value::Real(2.5)
            ]
        );
        assert!(json_row("not json").is_err());
    }

    #[test]
    fn a_chained_statement_fills_the_data_table_and_returns_each_count_in_order() {
        let stage = RangeStage {
            single: false,
            keys: Vec::new(),
            windows: Vec::new(),
            staging: crate::sql::dialect::Staging::Chained,
            stage: "INSERT INTO d SELECT * FROM bpl_point_1".into(),
            tables: vec![
                crate::sql::range::PointTable {
                    drop: String::new(),
                    create: "bpl_point_0 AS MATERIALIZED (SELECT 1)".into(),
                    count: PointCount::Boundary {
                        input: "input".into(),
                        bad: "bad".into(),
                    },
                },
                crate::sql::range::PointTable {
                    drop: String::new(),
                    create: "bpl_point_1 AS NOT MATERIALIZED (SELECT 2)".into(),
                    count: PointCount::Route {
                        point: 0,
                        failures: "failures".into(),
                        quarantined: None,
                    },
                },
            ],
            rules: Vec::new(),
            points: Vec::new(),
            rows: Vec::new(),
            partition_counts: Vec::new(),
            input_aggregates: Vec::new(),
            input_aggregates_empty: Vec::new(),
            unmatched: Vec::new(),
            joined_bad: Vec::new(),
            input_count: None,
            measured: false,
            accept_at_insert: false,
        };
        let queries: Vec<&str> = stage
            .tables
            .iter()
            .flat_map(|t| count_queries(&t.count))
            .collect();
        assert_eq!(queries, ["input", "bad", "failures"]);
        let sql = chained_statement(&stage, &queries);
        assert!(
            sql.starts_with(
                "WITH bpl_point_0 AS MATERIALIZED (SELECT 1), bpl_point_1 AS NOT MATERIALIZED (SELECT 2), \
                 _bpl_stage AS (INSERT INTO d SELECT * FROM bpl_point_1) SELECT 0, "
            ),
            "{sql}"
        );
        assert!(
            sql.contains("FROM (bad) AS _bpl_r UNION ALL SELECT 2, "),
            "{sql}"
        );
    }
}
