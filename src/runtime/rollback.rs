//! `bplc rollback`: makes an earlier version of a partition of a
//! `publish versioned` dataset active again. Only the pointer moves; the
//! rows of every version stay, so a rollback can itself be rolled back.
//!
//! A rollback is recorded in the ledger as a run of its own (mode
//! `rollback`): it takes the partition's lease like any run, its pointer
//! move commits with a commit marker, and its manifest keeps who did it and
//! why. A closed period's figures were reported, so rolling one back needs
//! a reason (E0335).

use rusqlite::{params, OptionalExtension};

use super::engine::SqliteEngine;
use super::ledger::Ledger;
use super::manifest::{Manifest, Parameters, Review, Status, Target};
use super::RuntimeError;
use crate::graph::calendar;
use crate::plan::JobPlan;
use crate::sql::types::ident;

/// What to roll back, and who asks.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub partition: String,
    pub to_version: i64,
    pub review: Review,
    /// The day closed periods are judged at (`YYYY-MM-DD`).
    pub today: String,
}

/// Checks, records and moves the pointer; returns the rollback's run.
pub fn rollback(
    engine: &mut SqliteEngine,
    ledger: &mut Ledger,
    plan: &JobPlan,
    ask: Rollback,
) -> Result<Manifest, RuntimeError> {
    let (current, writer) = target(engine, plan, &ask.partition, ask.to_version)?;
    let no_reason = ask
        .review
        .reason
        .as_deref()
        .is_none_or(|r| r.trim().is_empty());
    if no_reason && closed(plan, &ask.partition, &ask.today) {
        return Err(RuntimeError::ReasonRequired {
            dataset: plan.dataset.clone(),
            partition: ask.partition.clone(),
        });
    }
    let mut m = Manifest::planned(
        plan,
        "rollback",
        Target::Publish,
        Parameters {
            dates: ask.partition.clone(),
            as_of: super::now(),
            dimensions: Vec::new(),
        },
        vec![ask.partition.clone()],
    );
    m.review = Some(Review {
        from_version: Some(current),
        to_version: Some(ask.to_version),
        ..ask.review
    });
    ledger.begin(&mut m)?;
    m.status = Status::Committing;
    ledger.transition(&m, "moving the pointer")?;
    let moved = move_pointer(
        engine,
        plan,
        &ask.partition,
        ask.to_version,
        &writer,
        &m.run_id,
    );
    m.times.finished = Some(super::now());
    if let Err(e) = moved {
        m.status = Status::Failed;
        m.error = Some(format!("[{}] {e}", e.code()));
        ledger.transition(&m, "rollback failed; the pointer did not move")?;
        return Err(e);
    }
    m.status = Status::Published;
    let detail = m.review.as_ref().map(Review::line).unwrap_or_default();
    ledger.transition(&m, &detail)?;
    Ok(m)
}

/// Whether a partition id's time key names a closed period on `today`.
fn closed(plan: &JobPlan, partition: &str, today: &str) -> bool {
    let Some(g) = plan.grain() else {
        return false;
    };
    let time = partition.rsplit('/').next().unwrap_or(partition);
    let today = chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d").map(calendar::day);
    match (calendar::parse(time, g), today) {
        (Some(o), Ok(day)) => plan.closes_on(o).is_some_and(|d| d < day),
        _ => false,
    }
}

/// The active version, and the run that wrote version `to` (which must be
/// kept, rows and all).
fn target(
    engine: &SqliteEngine,
    plan: &JobPlan,
    partition: &str,
    to: i64,
) -> Result<(i64, String), RuntimeError> {
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
    match known.filter(|_| rows > 0) {
        Some(run_id) => Ok((current, run_id)),
        None => Err(RuntimeError::VersionNotKept {
            dataset: plan.dataset.clone(),
            partition: partition.to_string(),
            version: Some(to),
            replace: plan.publish == crate::syntax::ast::PublishMode::Replace,
        }),
    }
}

/// Moves the pointer to version `to` (written by run `writer`), with the
/// rollback run's commit marker, in one transaction.
fn move_pointer(
    engine: &SqliteEngine,
    plan: &JobPlan,
    partition: &str,
    to: i64,
    writer: &str,
    run_id: &str,
) -> Result<(), RuntimeError> {
    let conn = engine.connection();
    let now = super::now();
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(RuntimeError::sql)?;
    let result = (|| {
        conn.execute(
            "UPDATE _bpl_pointer SET version = ?3, run_id = ?4, published_at = ?5 WHERE dataset = ?1 AND partition = ?2",
            params![plan.dataset, partition, to, writer, now],
        )?;
        conn.execute(
            "UPDATE _bpl_versions SET status = CASE WHEN version = ?3 THEN 'ACTIVE' ELSE 'ROLLED_BACK' END
             WHERE dataset = ?1 AND partition = ?2 AND (version = ?3 OR status = 'ACTIVE')",
            params![plan.dataset, partition, to],
        )?;
        conn.execute(
            "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES (?1, ?2, ?3)",
            params![run_id, plan.dataset, now],
        )?;
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = result {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(RuntimeError::sql(e));
    }
    Ok(())
}
