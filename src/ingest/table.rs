//! The warehouse side of ingestion, kept narrow: a file source's table is
//! created and checked here, and written through the engine's
//! [`Intake`](crate::runtime::engine::intake::Intake), whose module says
//! what the table holds. A run reads the rows of the files up to its
//! locked number that no file up to that number replaced (`sql::range`,
//! `Lock::Files`).

use crate::runtime::engine::intake::{Intake, FILE_COLUMNS};
use crate::runtime::RuntimeError;

/// Creates the table of a file source, or adds the declared (and bplc's)
/// columns it lacks; a table of the same name that bplc did not fill from
/// files is refused, never written into.
pub fn prepare(
    w: &mut dyn Intake,
    source: &str,
    table: &str,
    columns: &[String],
) -> Result<(), RuntimeError> {
    w.create_files_table()?;
    let found = w.columns(table)?;
    if found.is_empty() {
        return w.create_file_table(table, columns);
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
    let wanted = columns.iter().map(String::as_str).chain(FILE_COLUMNS);
    for c in wanted.filter(|c| !found.iter().any(|f| f == c)) {
        w.add_column(table, c)?;
    }
    Ok(())
}
