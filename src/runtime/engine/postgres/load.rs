//! Writing whole tables into a PostgreSQL schema, for the demo data
//! generator: each table dropped and created again, rows sent in batches
//! of multi-row inserts, everything in one transaction.

use postgres::Client;

use super::client::{literal, query_error};
use super::dialect::postgres_type;
use crate::runtime::engine::value::Cell;
use crate::runtime::engine::{Loader, Value};
use crate::runtime::RuntimeError;
use crate::semantic::T;
use crate::sql::types::ident;

/// Rows sent in one statement: few round trips, statements of a few
/// hundred kilobytes.
const BATCH: usize = 500;

pub struct PostgresLoader {
    client: Client,
    /// The table being written, and its column types.
    table: Option<(String, Vec<T>)>,
    pending: Vec<String>,
}

impl PostgresLoader {
    /// Connects to the project's schema and starts the transaction.
    pub fn open(url_env: &str, schema: &str) -> Result<PostgresLoader, RuntimeError> {
        let mut client = super::open_schema(url_env, schema)?;
        client.batch_execute("BEGIN").map_err(|e| query_error(&e))?;
        Ok(PostgresLoader {
            client,
            table: None,
            pending: Vec::new(),
        })
    }

    fn flush(&mut self) -> Result<(), RuntimeError> {
        let Some((name, _)) = &self.table else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {} VALUES {}",
            ident(name),
            self.pending.join(", ")
        );
        self.pending.clear();
        self.client.batch_execute(&sql).map_err(|e| query_error(&e))
    }
}

impl Loader for PostgresLoader {
    fn table(&mut self, name: &str, columns: &[(String, T)]) -> Result<(), RuntimeError> {
        self.flush()?;
        let defs: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("{} {}", ident(c), raw_type(t)))
            .collect();
        self.client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {t} CASCADE; CREATE TABLE {t} ({});",
                defs.join(", "),
                t = ident(name)
            ))
            .map_err(|e| query_error(&e))?;
        self.table = Some((
            name.to_string(),
            columns.iter().map(|(_, t)| t.clone()).collect(),
        ));
        Ok(())
    }

    fn row(&mut self, values: &[Cell<'_>]) -> Result<(), RuntimeError> {
        let Some((_, types)) = &self.table else {
            return Err(RuntimeError::Engine("a row before its table".into()));
        };
        let cells: Vec<String> = values
            .iter()
            .zip(types)
            .map(|(v, t)| {
                let value = match *v {
                    Cell::Null => Value::Null,
                    Cell::Integer(x) => Value::Integer(x),
                    Cell::Real(x) => Value::Real(x),
                    Cell::Text(x) => Value::Text(x.to_string()),
                };
                // A boolean column takes 0 and 1 as SQLite's does.
                match (t, &value) {
                    (T::Bool, Value::Integer(i)) => (*i != 0).to_string(),
                    _ => literal(&value),
                }
            })
            .collect();
        self.pending.push(format!("({})", cells.join(", ")));
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), RuntimeError> {
        self.flush()?;
        self.client
            .batch_execute("COMMIT")
            .map_err(|e| query_error(&e))
    }
}

/// The column type a loaded (raw) table gives a value of type `t`: a
/// decimal as a float of amounts in their units, as on SQLite (see
/// `engine::sqlite::load::raw_type`), which the typed input boundary reads
/// exactly into scaled integers; the rest as stored.
fn raw_type(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "double precision",
        _ => postgres_type(t),
    }
}
