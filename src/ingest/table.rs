//! The warehouse side of ingestion, kept narrow: a file source's table is
//! created and appended to here, and nowhere else. Its rows carry the
//! number of the file they came from (`_bpl_file`) and the number of the
//! file that replaced them (`_bpl_until`, the largest integer while
//! current); a run reads the rows of the files up to its locked number
//! that no file up to that number replaced (`sql::range`, `Lock::Files`).
//! Declared columns are created without a type: a value is stored as the
//! ingestion hands it over, converted to its declared type where it
//! converts and as the file wrote it where not, for the typed input
//! boundary to judge.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::runtime::RuntimeError;
use crate::sql::types::{ident, table_ref};

/// `_bpl_until` of a row no file has replaced.
pub const CURRENT: i64 = i64::MAX;

/// The columns of a table, empty if there is none.
fn columns_of(conn: &Connection, table: &str) -> Result<Vec<String>, RuntimeError> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(RuntimeError::sql)?;
    let rows = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(RuntimeError::sql)?;
    rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
}

/// Creates the table of a file source, or adds the declared columns it
/// lacks; a table of the same name that bplc did not fill from files is
/// refused, never written into.
pub fn prepare(
    conn: &Connection,
    source: &str,
    table: &str,
    columns: &[String],
) -> Result<(), RuntimeError> {
    let found = columns_of(conn, table)?;
    if found.is_empty() {
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        return conn
            .execute_batch(&format!(
                "CREATE TABLE {t} ({cols}, _bpl_file INTEGER NOT NULL, _bpl_until INTEGER NOT NULL DEFAULT {CURRENT});
                 CREATE INDEX {i} ON {t} (_bpl_file);",
                t = table_ref(table),
                cols = cols.join(", "),
                i = ident(&format!("{table}__bpl_file")),
            ))
            .map_err(RuntimeError::sql);
    }
    if !found.iter().any(|c| c == "_bpl_file") {
        return Err(RuntimeError::Coded {
            code: crate::diagnostic::codes::E0316,
            message: format!(
                "the source `{source}` reads files into the table `{table}`, but the warehouse already has a table `{table}` that bplc did not fill from files"
            ),
            help: format!(
                "name another table for the files (`table \"{table}_files\"`), or drop or rename the existing one"
            ),
        });
    }
    for c in columns.iter().filter(|c| !found.contains(c)) {
        conn.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {}",
            table_ref(table),
            ident(c)
        ))
        .map_err(RuntimeError::sql)?;
    }
    Ok(())
}

/// Appends one file's rows in one transaction: all of them, or none if
/// `fill` fails. A file that replaces an earlier version (`replaces`)
/// marks that version's rows replaced in the same transaction.
pub fn load<T>(
    conn: &Connection,
    table: &str,
    columns: &[String],
    file_id: i64,
    replaces: Option<i64>,
    fill: impl FnOnce(&mut dyn FnMut(Vec<Value>) -> Result<(), RuntimeError>) -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let tx = conn.unchecked_transaction().map_err(RuntimeError::sql)?;
    let t = table_ref(table);
    // A load abandoned by a crash left nothing, or rows under its own
    // number; neither is this number.
    let out = {
        let names: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let marks: Vec<String> = (1..=columns.len() + 1).map(|k| format!("?{k}")).collect();
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {t} ({}, _bpl_file) VALUES ({})",
                names.join(", "),
                marks.join(", ")
            ))
            .map_err(RuntimeError::sql)?;
        let mut push = |mut row: Vec<Value>| {
            row.push(Value::Integer(file_id));
            insert
                .execute(params_from_iter(row.iter()))
                .map(|_| ())
                .map_err(RuntimeError::sql)
        };
        fill(&mut push)?
    };
    if let Some(old) = replaces {
        tx.execute(
            &format!("UPDATE {t} SET _bpl_until = ?1 WHERE _bpl_file = ?2"),
            [file_id, old],
        )
        .map_err(RuntimeError::sql)?;
    }
    tx.commit().map_err(RuntimeError::sql)?;
    Ok(out)
}

/// Removes the rows of a load that did not finish.
pub fn remove(conn: &Connection, table: &str, file_id: i64) -> Result<(), RuntimeError> {
    if columns_of(conn, table)?.is_empty() {
        return Ok(());
    }
    conn.execute(
        &format!("DELETE FROM {} WHERE _bpl_file = ?1", table_ref(table)),
        [file_id],
    )
    .map(|_| ())
    .map_err(RuntimeError::sql)
}
