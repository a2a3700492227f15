//! Staging a batch of partitions on PostgreSQL: the batch and window
//! tables filled, then chained staging (`Staging::Chained`): one statement
//! whose materialized common table expressions are the counting points,
//! whose data-modifying one fills the data table from the last point, and
//! which returns what every point counted — all in one transaction with
//! the record of what the run staged. No point's rows are written to a
//! table: each is kept once, in memory or a temporary file, for the
//! statement.

use super::client::{inline, literal};
use super::{int, text, PostgresEngine, POSTGRES};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::{self, window_pairs};
use crate::runtime::engine::counts::{Bound, PartitionTally, StageConnection};
use crate::runtime::engine::{materialized, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use crate::sql::range::{PointCount, RangeStage};
use crate::sql::types::ident;

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
        let checksum = self.at_insert.checksum.clone();
        let rows = self.rows(
            &chained_statement(stage, &queries, checksum.as_deref()),
            values,
        )?;
        let mut counted = Counted::default();
        for row in rows {
            let [Value::Integer(n), Value::Text(json)] = row.as_slice() else {
                continue;
            };
            if usize::try_from(*n).ok() == Some(queries.len()) {
                self.at_insert.rows.push(json_array(json)?);
                continue;
            }
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
/// quarantined rows come in the order they reached their point. With a
/// `checksum` ([`checksum_at_insert`]), the `INSERT` returns the rows it
/// wrote, and the last branch (numbered after the count statements) is
/// each partition's checksum row over them.
fn chained_statement(stage: &RangeStage, queries: &[&str], checksum: Option<&str>) -> String {
    let mut ctes: Vec<String> = stage.tables.iter().map(|t| t.create.clone()).collect();
    let returning = if checksum.is_some() {
        " RETURNING *"
    } else {
        ""
    };
    ctes.push(format!("_bpl_stage AS ({}{returning})", stage.stage));
    let mut branches: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(n, q)| format!("SELECT {n}, CAST(row_to_json(_bpl_r) AS text) FROM ({q}) AS _bpl_r"))
        .collect();
    if let Some(checksum) = checksum {
        branches.push(format!("SELECT {}, {checksum}", queries.len()));
    }
    let counts = if branches.is_empty() {
        "SELECT 0, '' WHERE false".to_string()
    } else {
        branches.join(" UNION ALL ")
    };
    format!("WITH {} {counts}", ctes.join(", "))
}

/// The checksum statement of `l` (`SELECT count(*), <sums>, <size> FROM
/// (SELECT *, <row hash> AS _bpl_h FROM <data table> WHERE <this version>
/// OFFSET 0) AS _bpl_rows`, see `sql::lower`) over the rows the staging
/// `INSERT` returns instead (`_bpl_stage`), grouped by partition and
/// version: the select list and text `FROM ..`, each group's row a JSON
/// array `[partition, version, <the checksum statement's columns>]`. The
/// same expressions over the same stored values, so the same answer as
/// reading the partition back, without that second pass over its rows.
/// `None` when the statement is not of that shape (then it is fetched as
/// before).
fn checksum_at_insert(l: &LoweredJob) -> Option<String> {
    let from = format!(
        " FROM {} WHERE _bpl_partition = :partition AND _bpl_version = :version OFFSET 0) AS _bpl_rows",
        ident(&l.data_table)
    );
    let body = l.checksum.strip_prefix("SELECT ")?.strip_suffix(&from)?;
    let (columns, hash) = body.split_once(" FROM (SELECT *, ")?;
    if !hash.ends_with(" AS _bpl_h") {
        return None;
    }
    Some(format!(
        "CAST(json_build_array(_bpl_partition, _bpl_version, {columns}) AS text) \
         FROM (SELECT *, {hash} FROM _bpl_stage OFFSET 0) AS _bpl_rows \
         GROUP BY _bpl_partition, _bpl_version"
    ))
}

/// What the staging statement measured as it wrote the rows: the
/// statement measuring it ([`checksum_at_insert`]) and each partition's
/// answer, until the batch's answers are recorded (`stage`).
#[derive(Default)]
pub(super) struct AtInsert {
    checksum: Option<String>,
    rows: Vec<Vec<Value>>,
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
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| RuntimeError::Engine(format!("a chained stage's count row: {e}")))?;
    let mut row = vec![object.get("_bpl_no").map_or(Value::Null, json_value)];
    row.extend((0..).map_while(|k| object.get(&format!("_bpl_c{k}")).map(json_value)));
    Ok(row)
}

/// A row written as a JSON array, its values in order.
fn json_array(json: &str) -> Result<Vec<Value>, RuntimeError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| {
        RuntimeError::Engine(format!("a checksum row of the staging statement: {e}"))
    })?;
    Ok(values.iter().map(json_value).collect())
}

/// A JSON value as the value a statement's column would give.
fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Integer)
            .unwrap_or_else(|| Value::Real(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
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
        self.prefetch = Default::default();
        self.at_insert = AtInsert {
            checksum: checksum_at_insert(&l),
            rows: Vec::new(),
        };
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
            // Inside the transaction: the server rolls it all back.
            crate::runtime::fault::point("in-staging");
            crate::runtime::cancel::check()?;
            Ok(staged)
        })?;
        // Measured next, all at once (see `measure`): the checksums
        // measured as the rows were written are answered already.
        self.prefetch.staged(plan, run, parts);
        for row in std::mem::take(&mut self.at_insert.rows) {
            let Some((Value::Text(partition), rest)) = row.split_first() else {
                continue;
            };
            let Some((Value::Integer(version), answer)) = rest.split_first() else {
                continue;
            };
            if let Some(part) = parts
                .iter()
                .find(|p| p.partition == *partition && p.version == *version)
            {
                let text = inline(&l.checksum, &batch::values(plan, run, part));
                self.prefetch.answer(text, answer.to_vec());
            }
        }
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
    fn every_example_dataset_is_checksummed_as_its_rows_are_inserted() {
        for example in ["finance_ledger", "enforcement_sla", "enforcement_landing"] {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(example);
            let checked = crate::driver::compile(&root).expect("the example loads");
            let program = checked.program.expect("a checked program");
            for dataset in program.datasets() {
                let plan = JobPlan::build(&program, &dataset.name).expect("plans");
                let Ok(l) = crate::runtime::engine::postgres::lower(&plan) else {
                    continue;
                };
                let sql = checksum_at_insert(&l).unwrap_or_else(|| {
                    panic!(
                        "{example}.{}: a checksum of another shape: {}",
                        dataset.name, l.checksum
                    )
                });
                assert!(sql
                    .starts_with("CAST(json_build_array(_bpl_partition, _bpl_version, count(*), "));
                assert!(sql.contains("FROM _bpl_stage OFFSET 0) AS _bpl_rows GROUP BY"));
                assert!(!sql.contains(':'), "no value left to bind: {sql}");
            }
        }
        let mut l = crate::runtime::engine::postgres::lower(
            &JobPlan::build(
                &crate::driver::compile(
                    &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("examples/finance_ledger"),
                )
                .unwrap()
                .program
                .unwrap(),
                "tenant_daily_balances",
            )
            .unwrap(),
        )
        .unwrap();
        l.checksum = "SELECT count(*) FROM elsewhere".into();
        assert_eq!(checksum_at_insert(&l), None);
    }

    #[test]
    fn a_checksum_row_keeps_its_values_in_order() {
        assert_eq!(
            json_array(r#"["2026-06-15", 3, 975, "00ff", 12]"#).unwrap(),
            [
                Value::Text("2026-06-15".into()),
                Value::Integer(3),
                Value::Integer(975),
                Value::Text("00ff".into()),
                Value::Integer(12)
            ]
        );
        assert!(json_array("{}").is_err());
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
                    create: "bpl_point_1 AS MATERIALIZED (SELECT 2)".into(),
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
        let sql = chained_statement(&stage, &queries, None);
        assert!(
            sql.starts_with(
                "WITH bpl_point_0 AS MATERIALIZED (SELECT 1), bpl_point_1 AS MATERIALIZED (SELECT 2), \
                 _bpl_stage AS (INSERT INTO d SELECT * FROM bpl_point_1) SELECT 0, "
            ),
            "{sql}"
        );
        assert!(
            sql.contains("FROM (bad) AS _bpl_r UNION ALL SELECT 2, "),
            "{sql}"
        );
        assert!(!sql.contains("RETURNING"));
        // Measured at the insert: the rows it wrote, the last branch.
        let sql = chained_statement(&stage, &queries, Some("x FROM _bpl_stage"));
        assert!(
            sql.contains("_bpl_stage AS (INSERT INTO d SELECT * FROM bpl_point_1 RETURNING *)"),
            "{sql}"
        );
        assert!(
            sql.ends_with(" UNION ALL SELECT 3, x FROM _bpl_stage"),
            "{sql}"
        );
    }
}
