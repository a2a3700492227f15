//! Writing whole tables into a Spark database, for the demo data
//! generator: each table dropped and created again as Parquet, rows sent
//! as Arrow batches (a local relation of the session) and inserted in one
//! statement per batch.
//!
//! Spark has no transaction across tables: each table is replaced on its
//! own, and a failed load leaves the tables written so far (the demo data
//! generator writes sources, which nothing publishes from until a run).

use std::collections::BTreeMap;

use spark_connect::row::{Row, Value as SparkValue};
use spark_connect::types::{DataType, StructField};

use super::client::{backtick, Session};
use super::dialect::spark_type;
use crate::runtime::engine::value::Cell;
use crate::runtime::engine::Loader;
use crate::runtime::RuntimeError;
use crate::semantic::T;

/// Rows sent in one batch: few round trips, batches of a few megabytes.
const BATCH: usize = 50_000;

pub struct SparkLoader {
    session: Session,
    /// The table being written, and its columns.
    table: Option<(String, Vec<(String, T)>)>,
    pending: Vec<Row>,
}

/// The column type a loaded (raw) table gives a value of type `t`: a
/// decimal as a float of amounts in their units, as on SQLite (see
/// `engine::sqlite::load::raw_type`), which the typed input boundary reads
/// exactly into scaled integers; the rest as stored.
fn raw_type(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "DOUBLE",
        _ => spark_type(t),
    }
}

fn data_type(t: &T) -> DataType {
    match raw_type(t) {
        "BOOLEAN" => DataType::Boolean,
        "BIGINT" => DataType::Long,
        "DOUBLE" => DataType::Double,
        _ => DataType::String {
            collation: "UTF8_BINARY".into(),
        },
    }
}

impl SparkLoader {
    pub fn open(
        url_env: &str,
        database: &str,
        retry_seconds: Option<u64>,
    ) -> Result<SparkLoader, RuntimeError> {
        Ok(SparkLoader {
            session: super::open_database(url_env, database, retry_seconds)?,
            table: None,
            pending: Vec::new(),
        })
    }

    fn flush(&mut self) -> Result<(), RuntimeError> {
        let Some((name, columns)) = &self.table else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = DataType::Struct {
            fields: columns
                .iter()
                .map(|(c, t)| StructField {
                    name: c.clone(),
                    data_type: data_type(t),
                    nullable: true,
                    metadata: BTreeMap::new(),
                })
                .collect(),
        };
        let rows = std::mem::take(&mut self.pending);
        let spark = self.session.spark.clone();
        let view = match spark.create_dataframe(rows, schema) {
            Ok(df) => df.create_or_replace_temp_view("_bpl_load"),
            Err(e) => Err(e),
        };
        view.map_err(|e| self.session.error(&e))?;
        self.session.run(&format!(
            "INSERT INTO {} SELECT * FROM _bpl_load",
            backtick(name)
        ))
    }
}

impl Loader for SparkLoader {
    fn table(&mut self, name: &str, columns: &[(String, T)]) -> Result<(), RuntimeError> {
        self.flush()?;
        let defs: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("{} {}", backtick(c), raw_type(t)))
            .collect();
        self.session
            .run(&format!("DROP TABLE IF EXISTS {}", backtick(name)))?;
        self.session.run(&format!(
            "CREATE TABLE {} ({}) USING parquet",
            backtick(name),
            defs.join(", ")
        ))?;
        self.table = Some((name.to_string(), columns.to_vec()));
        Ok(())
    }

    fn row(&mut self, values: &[Cell<'_>]) -> Result<(), RuntimeError> {
        let Some((_, columns)) = &self.table else {
            return Err(RuntimeError::Engine("a row before its table".into()));
        };
        let cells: Vec<SparkValue> = values
            .iter()
            .zip(columns)
            .map(|(v, (_, t))| match (*v, raw_type(t)) {
                (Cell::Null, _) => SparkValue::Null,
                // A boolean column takes 0 and 1 as SQLite's does.
                (Cell::Integer(x), "BOOLEAN") => SparkValue::Bool(x != 0),
                (Cell::Integer(x), "DOUBLE") => SparkValue::Double(x as f64),
                (Cell::Integer(x), "BIGINT") => SparkValue::Long(x),
                (Cell::Integer(x), _) => SparkValue::String(x.to_string()),
                (Cell::Real(x), "BIGINT") => SparkValue::Long(x as i64),
                (Cell::Real(x), "DOUBLE") => SparkValue::Double(x),
                (Cell::Real(x), _) => SparkValue::String(x.to_string()),
                (Cell::Text(x), _) => SparkValue::String(x.to_string()),
            })
            .collect();
        let names = columns.iter().map(|(c, _)| c.clone()).collect();
        self.pending.push(Row::new(names, cells));
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), RuntimeError> {
        self.flush()
    }
}
