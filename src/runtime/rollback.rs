//! `bplc rollback`: makes an earlier version of a partition of a
//! `publish versioned` dataset active again. Only the pointer moves; the
//! rows of every version stay, so a rollback can itself be rolled back.
//!
//! A rollback is recorded in the ledger as a run of its own (mode
//! `rollback`): it takes the partition's lease like any run, its pointer
//! move commits with a commit marker, and its manifest keeps who did it and
//! why. A closed period's figures were reported, so rolling one back needs
//! a reason (E0335).

use super::engine::Engine;
use super::ledger::Ledger;
use super::manifest::{Manifest, Parameters, Review, Status, Target};
use super::RuntimeError;
use crate::graph::calendar;
use crate::plan::JobPlan;

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
    engine: &mut dyn Engine,
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
    let moved = engine.move_pointer(plan, &ask.partition, ask.to_version, &writer, &m.run_id);
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
    engine: &mut dyn Engine,
    plan: &JobPlan,
    partition: &str,
    to: i64,
) -> Result<(i64, String), RuntimeError> {
    let found = engine.rollback_target(plan, partition, to)?;
    let current = found.active.ok_or_else(|| RuntimeError::VersionNotKept {
        dataset: plan.dataset.clone(),
        partition: partition.to_string(),
        version: None,
        replace: false,
    })?;
    match found.writer {
        Some(run_id) => Ok((current, run_id)),
        None => Err(RuntimeError::VersionNotKept {
            dataset: plan.dataset.clone(),
            partition: partition.to_string(),
            version: Some(to),
            replace: plan.publish == crate::syntax::ast::PublishMode::Replace,
        }),
    }
}
