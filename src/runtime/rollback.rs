//! `bplc rollback`: makes an earlier version of a partition of a
//! `publish versioned` dataset active again. Only the pointer moves; the
//! rows of every version stay, so a rollback can itself be rolled back.

use rusqlite::{params, OptionalExtension};

use super::engine::SqliteEngine;
use super::RuntimeError;
use crate::plan::JobPlan;
use crate::sql::types::ident;

/// Moves the pointer; returns the version that was active.
pub fn rollback(
    engine: &SqliteEngine,
    plan: &JobPlan,
    partition: &str,
    to: i64,
) -> Result<i64, RuntimeError> {
    let conn = engine.connection();
    let current: Option<i64> = conn
        .query_row(
            "SELECT version FROM _bpl_pointer WHERE dataset = ?1 AND partition = ?2",
            params![plan.dataset, partition],
            |r| r.get(0),
        )
        .optional()
        .map_err(RuntimeError::sql)?;
    let current = current.ok_or_else(|| RuntimeError::VersionNotKept {
        dataset: plan.dataset.clone(),
        partition: partition.to_string(),
        version: None,
        replace: false,
    })?;
    let rows: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM {} WHERE _bpl_partition = ?1 AND _bpl_version = ?2",
                ident(&format!("{}__data", plan.table))
            ),
            params![partition, to],
            |r| r.get(0),
        )
        .map_err(RuntimeError::sql)?;
    let known: Option<String> = conn
        .query_row(
            "SELECT run_id FROM _bpl_versions WHERE dataset = ?1 AND partition = ?2 AND version = ?3",
            params![plan.dataset, partition, to],
            |r| r.get(0),
        )
        .optional()
        .map_err(RuntimeError::sql)?;
    let Some(run_id) = known.filter(|_| rows > 0) else {
        return Err(RuntimeError::VersionNotKept {
            dataset: plan.dataset.clone(),
            partition: partition.to_string(),
            version: Some(to),
            replace: plan.publish == crate::syntax::ast::PublishMode::Replace,
        });
    };
    let now = super::now();
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(RuntimeError::sql)?;
    let result = (|| {
        conn.execute(
            "UPDATE _bpl_pointer SET version = ?3, run_id = ?4, published_at = ?5 WHERE dataset = ?1 AND partition = ?2",
            params![plan.dataset, partition, to, run_id, now],
        )?;
        conn.execute(
            "UPDATE _bpl_versions SET status = CASE WHEN version = ?3 THEN 'ACTIVE' ELSE 'ROLLED_BACK' END
             WHERE dataset = ?1 AND partition = ?2 AND (version = ?3 OR status = 'ACTIVE')",
            params![plan.dataset, partition, to],
        )?;
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = result {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(RuntimeError::sql(e));
    }
    Ok(current)
}
