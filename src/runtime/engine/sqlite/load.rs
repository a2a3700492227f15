//! Writing whole tables into a SQLite warehouse, for the demo data
//! generator: each table dropped and created again, rows streamed in
//! through one prepared statement, everything in one transaction.

use std::path::Path;

use rusqlite::Connection;

use super::dialect::sqlite_type;
use crate::runtime::engine::value::Cell;
use crate::runtime::engine::Loader;
use crate::runtime::RuntimeError;
use crate::semantic::T;
use crate::sql::types::ident;

pub struct SqliteLoader {
    conn: Connection,
    /// The insert statement of the table being written.
    insert: Option<String>,
}

impl SqliteLoader {
    /// Opens (creating) the file and starts the transaction.
    pub fn open(path: &Path) -> Result<SqliteLoader, RuntimeError> {
        let conn = Connection::open(path).map_err(RuntimeError::sql)?;
        let _ = conn.busy_timeout(std::time::Duration::from_secs(10));
        SqliteLoader::on(conn)
    }

    /// Starts the transaction on an open connection.
    pub fn on(conn: Connection) -> Result<SqliteLoader, RuntimeError> {
        conn.execute_batch("BEGIN").map_err(RuntimeError::sql)?;
        Ok(SqliteLoader { conn, insert: None })
    }
}

impl Loader for SqliteLoader {
    fn table(&mut self, name: &str, columns: &[(String, T)]) -> Result<(), RuntimeError> {
        let defs: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("{} {}", ident(c), raw_type(t)))
            .collect();
        self.conn
            .execute_batch(&format!(
                "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({});",
                defs.join(", "),
                t = ident(name)
            ))
            .map_err(RuntimeError::sql)?;
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        self.insert = Some(format!(
            "INSERT INTO {} VALUES ({})",
            ident(name),
            marks.join(", ")
        ));
        Ok(())
    }

    fn row(&mut self, values: &[Cell<'_>]) -> Result<(), RuntimeError> {
        let Some(insert) = &self.insert else {
            return Err(RuntimeError::Engine("a row before its table".into()));
        };
        let mut stmt = self
            .conn
            .prepare_cached(insert)
            .map_err(RuntimeError::sql)?;
        for (i, v) in values.iter().enumerate() {
            let p = i + 1;
            match *v {
                Cell::Null => stmt.raw_bind_parameter(p, rusqlite::types::Null),
                Cell::Integer(x) => stmt.raw_bind_parameter(p, x),
                Cell::Real(x) => stmt.raw_bind_parameter(p, x),
                Cell::Text(x) => stmt.raw_bind_parameter(p, x),
            }
            .map_err(RuntimeError::sql)?;
        }
        stmt.raw_execute().map_err(RuntimeError::sql)?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), RuntimeError> {
        self.conn.execute_batch("COMMIT").map_err(RuntimeError::sql)
    }
}

/// The column type of a loaded (demo) table, as a source system would
/// have it: a decimal as a float column of amounts in their units (the
/// typed input boundary reads them exactly into scaled integers), the rest
/// as stored.
pub fn raw_type(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "REAL",
        _ => sqlite_type(t),
    }
}
