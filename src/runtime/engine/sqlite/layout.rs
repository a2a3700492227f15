//! Schema changes of a dataset's storage, on SQLite.
//!
//! A dataset's declaration may gain, lose or retype columns between
//! versions. Its data table still holds the rows of every earlier version,
//! in the schema they were written in, so a staging statement naming a new
//! column would fail on a raw engine error, a dropped column would linger
//! in the consumer view, and a retyped one would be converted by the old
//! column's type. [`drift`] finds the differences; [`migrate`] rebuilds the
//! storage in the declared schema, in one transaction:
//!
//! - an added column is NULL on the rows of earlier versions;
//! - a removed column leaves the consumer view but stays in storage, so the
//!   versions that had it keep their values (and get them back if the
//!   column returns);
//! - a retyped column is copied into a column of its new type, its stored
//!   values converted as SQLite converts on insert; a column that becomes
//!   a decimal (a float column of bplc before decimals were exact, or a
//!   decimal of another scale) is converted to its scaled integers, rounded
//!   half away from zero at the declared scale, so a value written with at
//!   most that many digits comes back exactly.
//!
//! Every stored version stays: a rollback to one written before the change
//! shows it through the new view.
//!
//! [`upgrade_layout`] brings a data table of bplc's earlier layout (a run
//! id and processing time on every row) to today's, once.

use rusqlite::{params, Connection};

use super::dialect::{storage_type, stored_scale};
use crate::plan::JobPlan;
use crate::runtime::engine::Drift;
use crate::runtime::RuntimeError;
use crate::sql::lower::{LoweredJob, META_COLUMNS};
use crate::sql::types::{ident, power_of_ten};

/// The columns of a table or view, with their declared types, in order.
pub(super) fn columns(
    conn: &Connection,
    table: &str,
) -> Result<Vec<(String, String)>, RuntimeError> {
    // `raw.events`: a table of the database attached as `raw`.
    let pragma = match table.split_once('.') {
        Some((db, t)) => format!("PRAGMA {}.table_info({})", ident(db), ident(t)),
        None => format!("PRAGMA table_info({})", ident(table)),
    };
    let mut stmt = conn.prepare(&pragma).map_err(RuntimeError::sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .map_err(RuntimeError::sql)?;
    rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
}

/// A column of bplc's own: the bookkeeping columns of today's layout,
/// and those of earlier layouts (every `_bpl_` name), never a declared one.
fn is_meta(name: &str) -> bool {
    name.starts_with("_bpl_")
}

/// Columns every row carried before the run id and processing time moved
/// to `_bpl_staged` (one row per stored version).
const LEGACY_COLUMNS: [&str; 2] = ["_bpl_run_id", "_bpl_as_of"];

/// Brings a data table of an earlier storage layout to today's: the run
/// id and processing time its rows carry move to `_bpl_staged`, and the
/// table is rebuilt without them. Nothing to do for today's layout.
pub fn upgrade_layout(
    conn: &Connection,
    plan: &JobPlan,
    l: &LoweredJob,
) -> Result<bool, RuntimeError> {
    let stored = columns(conn, &l.data_table)?;
    if !LEGACY_COLUMNS
        .iter()
        .all(|c| stored.iter().any(|(n, _)| n == c))
    {
        return Ok(false);
    }
    let keep_records = format!(
        "INSERT OR IGNORE INTO _bpl_staged (dataset, partition, version, run_id, as_of)
         SELECT DISTINCT {}, _bpl_partition, _bpl_version, _bpl_run_id, _bpl_as_of FROM {};",
        crate::sql::types::string(&plan.dataset),
        ident(&l.data_table)
    );
    rebuild(conn, plan, l, &keep_records)?;
    Ok(true)
}

/// How the stored schema differs from the declaration; empty when they
/// agree or nothing is stored yet. The stored schema is what the consumer
/// view shows, typed as the data table stores it (a column removed
/// earlier stays in the data table, not in the view).
pub fn drift(conn: &Connection, plan: &JobPlan, l: &LoweredJob) -> Result<Drift, RuntimeError> {
    let data = columns(conn, &l.data_table)?;
    if data.is_empty() {
        return Ok(Drift::default());
    }
    let view = columns(conn, &l.view)?;
    let shown: Vec<&(String, String)> = if view.is_empty() {
        data.iter().filter(|(n, _)| !is_meta(n)).collect()
    } else {
        data.iter()
            .filter(|(n, _)| !is_meta(n) && view.iter().any(|(v, _)| v == n))
            .collect()
    };
    let mut d = Drift::default();
    for c in &plan.columns {
        let want = storage_type(&c.ty);
        match shown.iter().find(|(n, _)| *n == c.name) {
            None => d.added.push(c.name.clone()),
            Some((_, ty)) if !ty.eq_ignore_ascii_case(&want) => {
                d.retyped
                    .push((c.name.clone(), ty.to_ascii_uppercase(), want))
            }
            Some(_) => {}
        }
    }
    for (n, _) in shown {
        if !plan.columns.iter().any(|c| c.name == *n) {
            d.removed.push(n.clone());
        }
    }
    Ok(d)
}

/// The published partitions of a dataset: how many, and the first and
/// last value of its time key among them (what `--range` takes), if it
/// has one.
pub fn published(
    conn: &Connection,
    plan: &JobPlan,
) -> Result<(i64, Option<(String, String)>), RuntimeError> {
    let mut stmt = conn
        .prepare("SELECT partition FROM _bpl_pointer WHERE dataset = ?1")
        .map_err(RuntimeError::sql)?;
    let ids = stmt
        .query_map(params![plan.dataset], |r| r.get::<_, String>(0))
        .map_err(RuntimeError::sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RuntimeError::sql)?;
    let range = plan.time_range(ids.iter().map(String::as_str));
    Ok((ids.len() as i64, range))
}

/// Rebuilds a dataset's storage in its declared schema (see the module
/// doc), in one transaction; returns what changed.
pub fn migrate(conn: &Connection, plan: &JobPlan, l: &LoweredJob) -> Result<Drift, RuntimeError> {
    let d = drift(conn, plan, l)?;
    if !d.is_empty() {
        rebuild(conn, plan, l, "")?;
    }
    Ok(d)
}

/// A stored column `x` of declared type `stored` as a value of the
/// language type `t`: a decimal becomes its scaled integer — from another
/// scale multiplied up or rounded, from a float or an integer by its
/// digits, rounded half away from zero at the declared scale (a float
/// written from a decimal of that scale comes back exactly) — anything
/// else as SQLite converts on insert.
fn converted(x: &str, stored: &str, t: &crate::semantic::T) -> String {
    let Some(scale) = t.decimal_scale() else {
        return x.to_string();
    };
    match stored_scale(stored) {
        Some(from) if from == scale => x.to_string(),
        Some(from) if from < scale => format!("({x} * {})", power_of_ten(scale - from)),
        Some(from) => format!("bpl_dec_round({x}, {})", from - scale),
        None => format!("bpl_dec_of_float({x}, {scale})"),
    }
}

/// Copies the data table into the declared schema (see the module doc) and
/// creates the view again, in one transaction; `first` runs inside it,
/// before the copy.
fn rebuild(
    conn: &Connection,
    plan: &JobPlan,
    l: &LoweredJob,
    first: &str,
) -> Result<(), RuntimeError> {
    let stored = columns(conn, &l.data_table)?;
    let data = ident(&l.data_table);
    let old = ident(&format!("{}__before_migration", l.data_table));
    // Declared columns in their new types, then those no longer declared
    // as they were stored, then the bookkeeping columns.
    let mut create = Vec::new();
    let mut copy_to = Vec::new();
    let mut copy_from = Vec::new();
    for c in &plan.columns {
        create.push(format!("{} {}", ident(&c.name), storage_type(&c.ty)));
        if let Some((_, ty)) = stored.iter().find(|(n, _)| *n == c.name) {
            copy_to.push(ident(&c.name));
            copy_from.push(converted(&ident(&c.name), ty, &c.ty));
        }
    }
    for (n, ty) in &stored {
        if !is_meta(n) && !plan.columns.iter().any(|c| c.name == *n) {
            create.push(format!("{} {ty}", ident(n)));
            copy_to.push(ident(n));
            copy_from.push(ident(n));
        }
    }
    for (n, ty) in META_COLUMNS {
        create.push(format!("{n} {ty}"));
        copy_to.push(n.to_string());
        copy_from.push(n.to_string());
    }
    // No RENAME: renaming checks every view of the warehouse, and a
    // reader's own view over the consumer view would stop it.
    let sql = format!(
        "BEGIN IMMEDIATE;
         {first}
         DROP TABLE IF EXISTS {old};
         CREATE TABLE {old} AS SELECT * FROM {data};
         DROP TABLE {data};
         CREATE TABLE {data} ({create});
         INSERT INTO {data} ({to}) SELECT {from} FROM {old};
         DROP TABLE {old};
         DROP VIEW IF EXISTS {view};
         {create_data};
         {create_view};
         COMMIT;",
        create = create.join(", "),
        to = copy_to.join(", "),
        from = copy_from.join(", "),
        view = ident(&l.view),
        create_data = l.create_data,
        create_view = l.create_view,
    );
    if let Err(e) = conn.execute_batch(&sql) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(RuntimeError::sql(e));
    }
    Ok(())
}
