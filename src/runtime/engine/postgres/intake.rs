//! Ingestion into a PostgreSQL schema (see [`crate::runtime::engine::intake`]).
//! A file source's declared columns are `text`: a value is stored as the
//! file wrote it (or as ingestion converted it), for the typed input
//! boundary to judge, as SQLite's untyped columns hold it. A file's rows
//! are streamed in with `COPY ... FROM STDIN`, inside the transaction that
//! also marks a replaced version and records the file's path, so memory
//! does not grow with the file.

use std::io::Write;

use postgres::Client;

use super::client::{literal, query_error};
use crate::runtime::engine::intake::{
    file_table_sql, FileLoad, FileRow, Fill, Intake, SeedLoad, FILES_TABLE, SEEDS_TABLE,
};
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;
use crate::semantic::T;
use crate::sql::types::{ident, string, table_ref};

pub struct PostgresIntake {
    client: Client,
}

impl PostgresIntake {
    pub fn open(url_env: &str, schema: &str) -> Result<PostgresIntake, RuntimeError> {
        Ok(PostgresIntake {
            client: super::open_schema(url_env, schema)?,
        })
    }

    fn batch(&mut self, sql: &str) -> Result<(), RuntimeError> {
        self.client.batch_execute(sql).map_err(|e| query_error(&e))
    }

    fn text_rows(&mut self, sql: &str) -> Result<Vec<String>, RuntimeError> {
        let rows = self
            .client
            .query_typed(sql, &[])
            .map_err(|e| query_error(&e))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(0))
            .collect())
    }
}

/// The column type a seed's values are stored in: its declared type's,
/// except a decimal, kept as written (text) and read exactly by the
/// reference's boundary, as the SQLite engine reads its seeds.
fn seed_type(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "text",
        _ => super::dialect::postgres_type(t),
    }
}

/// One field of a `COPY` text-format row.
fn copy_field(out: &mut String, v: &Value) {
    let text = match v {
        Value::Null => {
            out.push_str("\\N");
            return;
        }
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
    };
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            // A text value of PostgreSQL cannot hold a NUL.
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The name of a table in the schema, and the SQL naming its schema.
fn schema_and_name(table: &str) -> (String, String) {
    match table.split_once('.') {
        Some((s, t)) => (string(s), string(t)),
        None => ("current_schema()".into(), string(table)),
    }
}

impl Intake for PostgresIntake {
    fn columns(&mut self, table: &str) -> Result<Vec<String>, RuntimeError> {
        let (schema, name) = schema_and_name(table);
        self.text_rows(&super::dialect::columns_sql(&schema, &name))
    }

    fn create_file_table(&mut self, table: &str, columns: &[String]) -> Result<(), RuntimeError> {
        self.batch(&file_table_sql(table, columns, "text", "bigint", "text"))
    }

    fn create_files_table(&mut self) -> Result<(), RuntimeError> {
        self.batch(FILES_TABLE)
    }

    fn add_column(&mut self, table: &str, column: &str) -> Result<(), RuntimeError> {
        let ty = match column {
            "_bpl_line" => "bigint",
            _ => "text",
        };
        self.batch(&format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {ty}",
            table_ref(table),
            ident(column)
        ))
    }

    fn load_file(&mut self, f: &FileLoad<'_>, fill: &mut Fill<'_>) -> Result<(), RuntimeError> {
        let t = table_ref(f.table);
        let mut tx = self.client.transaction().map_err(|e| query_error(&e))?;
        {
            let names: Vec<String> = f.columns.iter().map(|c| ident(c)).collect();
            let mut copy = tx
                .copy_in(&format!(
                    "COPY {t} ({}, _bpl_file, _bpl_line, _bpl_malformed) FROM STDIN",
                    names.join(", ")
                ))
                .map_err(|e| query_error(&e))?;
            let mut line = String::new();
            let mut push = |row: FileRow| {
                line.clear();
                for v in &row.values {
                    copy_field(&mut line, v);
                    line.push('\t');
                }
                line.push_str(&format!("{}\t{}\t", f.file_id, row.line));
                copy_field(&mut line, &row.malformed.map_or(Value::Null, Value::Text));
                line.push('\n');
                copy.write_all(line.as_bytes())
                    .map_err(|e| RuntimeError::Io(format!("sending rows to PostgreSQL: {e}")))
            };
            // Dropped unfinished, the copy is abandoned, and so is the
            // transaction with it.
            fill(&mut push)?;
            copy.finish().map_err(|e| query_error(&e))?;
        }
        let mut sql = String::new();
        if let Some(old) = f.replaces {
            sql.push_str(&format!(
                "UPDATE {t} SET _bpl_until = {} WHERE _bpl_file = {old};",
                f.file_id
            ));
        }
        sql.push_str(&format!(
            "{FILES_TABLE}; INSERT INTO _bpl_files (file_id, source, path) VALUES ({}, {}, {})
             ON CONFLICT (file_id) DO UPDATE SET source = excluded.source, path = excluded.path;",
            f.file_id,
            string(f.source),
            string(f.path)
        ));
        tx.batch_execute(&sql).map_err(|e| query_error(&e))?;
        tx.commit().map_err(|e| query_error(&e))
    }

    fn remove_file(&mut self, table: &str, file_id: i64) -> Result<(), RuntimeError> {
        if self.columns(table)?.is_empty() {
            return Ok(());
        }
        self.batch(&format!(
            "DELETE FROM {} WHERE _bpl_file = {file_id}",
            table_ref(table)
        ))
    }

    fn seed_hash(&mut self, reference: &str) -> Result<Option<String>, RuntimeError> {
        self.batch(SEEDS_TABLE)?;
        Ok(self
            .text_rows(&format!(
                "SELECT hash FROM _bpl_seeds WHERE reference = {}",
                string(reference)
            ))?
            .into_iter()
            .next())
    }

    fn count(&mut self, table: &str) -> Result<i64, RuntimeError> {
        let row = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}", table_ref(table)), &[])
            .map_err(|e| query_error(&e))?;
        Ok(row.get(0))
    }

    fn replace_seed(&mut self, s: &SeedLoad<'_>, rows: &[Vec<Value>]) -> Result<(), RuntimeError> {
        let t = table_ref(s.table);
        let defs: Vec<String> = s
            .columns
            .iter()
            .map(|(c, ty)| format!("{} {}", ident(c), seed_type(ty)))
            .collect();
        let mut sql = format!(
            "BEGIN; DROP TABLE IF EXISTS {t} CASCADE; CREATE TABLE {t} ({}); {SEEDS_TABLE};",
            defs.join(", ")
        );
        for chunk in rows.chunks(500) {
            let values: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let cells: Vec<String> = row
                        .iter()
                        .zip(s.columns)
                        .map(|(v, (_, ty))| match (ty, v) {
                            (T::Bool, Value::Integer(i)) => (*i != 0).to_string(),
                            _ => literal(v),
                        })
                        .collect();
                    format!("({})", cells.join(", "))
                })
                .collect();
            sql.push_str(&format!("INSERT INTO {t} VALUES {};", values.join(", ")));
        }
        sql.push_str(&format!(
            "INSERT INTO _bpl_seeds (reference, path, hash, rows, loaded_at) VALUES ({}, {}, {}, {}, {})
             ON CONFLICT (reference) DO UPDATE SET path = excluded.path, hash = excluded.hash,
               rows = excluded.rows, loaded_at = excluded.loaded_at; COMMIT;",
            string(s.reference),
            string(s.path),
            string(s.hash),
            rows.len(),
            string(s.loaded_at)
        ));
        if let Err(e) = self.batch(&sql) {
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(e);
        }
        Ok(())
    }
}

/// The version a run records for a reference loaded from a seed (see
/// `ingest::seed::version`), read from the schema; `None` where no seed
/// was ever loaded into it.
pub fn seed_version(client: &mut Client, reference: &str) -> Result<Option<String>, RuntimeError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('_bpl_seeds') IS NOT NULL", &[])
        .map_err(|e| query_error(&e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            &format!(
                "SELECT hash FROM _bpl_seeds WHERE reference = {}",
                string(reference)
            ),
            &[],
        )
        .map_err(|e| query_error(&e))?;
    Ok(rows
        .first()
        .map(|r| r.get::<_, String>(0))
        .map(|h| format!("sha256:{}", &h[..h.len().min(12)])))
}
