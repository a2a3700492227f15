//! Ingestion into a SQLite warehouse (see [`crate::runtime::engine::intake`]):
//! a file source's declared columns are created without a type, so a value
//! is stored as ingestion hands it over; rows go in through one prepared
//! statement.

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::dialect::sqlite_type;
use crate::runtime::engine::intake::{
    file_table_sql, FileLoad, FileRow, Fill, Intake, SeedLoad, FILES_TABLE, SEEDS_TABLE,
};
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;
use crate::sql::types::{ident, table_ref};

pub struct SqliteIntake {
    conn: Connection,
}

impl SqliteIntake {
    pub fn open(path: &Path) -> Result<SqliteIntake, RuntimeError> {
        let conn = Connection::open(path).map_err(RuntimeError::sql)?;
        conn.busy_timeout(crate::runtime::lock_timeout())
            .map_err(RuntimeError::sql)?;
        Ok(SqliteIntake { conn })
    }
}

fn bound(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Null => V::Null,
        Value::Integer(i) => V::Integer(i),
        Value::Real(f) => V::Real(f),
        Value::Text(t) => V::Text(t),
        Value::Blob(b) => V::Blob(b),
    }
}

impl Intake for SqliteIntake {
    fn columns(&mut self, table: &str) -> Result<Vec<String>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map([table], |r| r.get::<_, String>(0))
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }

    fn create_file_table(&mut self, table: &str, columns: &[String]) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch(&file_table_sql(table, columns, "", "INTEGER", "TEXT"))
            .map_err(RuntimeError::sql)
    }

    fn create_files_table(&mut self) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch(FILES_TABLE)
            .map_err(RuntimeError::sql)
    }

    fn add_column(&mut self, table: &str, column: &str) -> Result<(), RuntimeError> {
        self.conn
            .execute_batch(&format!(
                "ALTER TABLE {} ADD COLUMN {}",
                table_ref(table),
                ident(column)
            ))
            .map_err(RuntimeError::sql)
    }

    fn load_file(&mut self, f: &FileLoad<'_>, fill: &mut Fill<'_>) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        let t = table_ref(f.table);
        {
            let names: Vec<String> = f.columns.iter().map(|c| ident(c)).collect();
            let marks: Vec<String> = (1..=f.columns.len() + 3).map(|k| format!("?{k}")).collect();
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO {t} ({}, _bpl_file, _bpl_line, _bpl_malformed) VALUES ({})",
                    names.join(", "),
                    marks.join(", ")
                ))
                .map_err(RuntimeError::sql)?;
            let mut push = |row: FileRow| {
                let mut values: Vec<rusqlite::types::Value> =
                    row.values.into_iter().map(bound).collect();
                values.push(rusqlite::types::Value::Integer(f.file_id));
                values.push(rusqlite::types::Value::Integer(row.line as i64));
                values.push(row.malformed.map_or(rusqlite::types::Value::Null, |m| {
                    rusqlite::types::Value::Text(m)
                }));
                insert
                    .execute(params_from_iter(values.iter()))
                    .map(|_| ())
                    .map_err(RuntimeError::sql)
            };
            fill(&mut push)?;
        }
        if let Some(old) = f.replaces {
            tx.execute(
                &format!("UPDATE {t} SET _bpl_until = ?1 WHERE _bpl_file = ?2"),
                [f.file_id, old],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.execute_batch(FILES_TABLE).map_err(RuntimeError::sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO _bpl_files (file_id, source, path) VALUES (?1, ?2, ?3)",
            params![f.file_id, f.source, f.path],
        )
        .map_err(RuntimeError::sql)?;
        tx.commit().map_err(RuntimeError::sql)
    }

    fn remove_file(&mut self, table: &str, file_id: i64) -> Result<(), RuntimeError> {
        if self.columns(table)?.is_empty() {
            return Ok(());
        }
        self.conn
            .execute(
                &format!("DELETE FROM {} WHERE _bpl_file = ?1", table_ref(table)),
                [file_id],
            )
            .map(|_| ())
            .map_err(RuntimeError::sql)
    }

    fn seed_hash(&mut self, reference: &str) -> Result<Option<String>, RuntimeError> {
        self.conn
            .execute_batch(SEEDS_TABLE)
            .map_err(RuntimeError::sql)?;
        self.conn
            .query_row(
                "SELECT hash FROM _bpl_seeds WHERE reference = ?1",
                [reference],
                |r| r.get(0),
            )
            .optional()
            .map_err(RuntimeError::sql)
    }

    fn count(&mut self, table: &str) -> Result<i64, RuntimeError> {
        self.conn
            .query_row(
                &format!("SELECT count(*) FROM {}", table_ref(table)),
                [],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)
    }

    fn replace_seed(&mut self, s: &SeedLoad<'_>, rows: &[Vec<Value>]) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        let t = table_ref(s.table);
        let defs: Vec<String> = s
            .columns
            .iter()
            .map(|(c, ty)| format!("{} {}", ident(c), sqlite_type(ty)))
            .collect();
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({}); {SEEDS_TABLE};",
            defs.join(", ")
        ))
        .map_err(RuntimeError::sql)?;
        {
            let marks: Vec<String> = (1..=s.columns.len()).map(|k| format!("?{k}")).collect();
            let mut insert = tx
                .prepare(&format!("INSERT INTO {t} VALUES ({})", marks.join(", ")))
                .map_err(RuntimeError::sql)?;
            for row in rows {
                insert
                    .execute(params_from_iter(row.iter().cloned().map(bound)))
                    .map_err(RuntimeError::sql)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO _bpl_seeds (reference, path, hash, rows, loaded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.reference, s.path, s.hash, rows.len() as i64, s.loaded_at],
        )
        .map_err(RuntimeError::sql)?;
        tx.commit().map_err(RuntimeError::sql)
    }
}
