//! `bplc recover`: decides what became of a run a crash interrupted, from
//! durable state only — the ledger's manifest and the warehouse's commit
//! marker and pointers — never from what a process remembers.

use serde::Serialize;

use super::engine::Engine;
use super::ledger::Ledger;
use super::manifest::{Decision, Manifest, Status};
use super::RuntimeError;
use crate::plan::JobPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recovery {
    /// The publish transaction committed; the ledger now says so.
    AlreadyPublished,
    /// Nothing was published; staged rows were removed; the run is FAILED
    /// and may be retried with `bplc run --retry`.
    FailedCleaned,
    /// Nothing was published or staged; a retry reads the same locked rows.
    SafeToRetry,
    /// Durable state contradicts itself; a person must look.
    ManualReviewRequired,
    /// The run had already finished (or is held): nothing to recover.
    NothingToRecover,
}

impl Recovery {
    pub fn name(self) -> &'static str {
        match self {
            Recovery::AlreadyPublished => "ALREADY_PUBLISHED",
            Recovery::FailedCleaned => "FAILED_CLEANED",
            Recovery::SafeToRetry => "SAFE_TO_RETRY",
            Recovery::ManualReviewRequired => "MANUAL_REVIEW_REQUIRED",
            Recovery::NothingToRecover => "NOTHING_TO_RECOVER",
        }
    }
}

pub fn recover(
    plan: &JobPlan,
    engine: &mut dyn Engine,
    ledger: &mut Ledger,
    run_id: &str,
) -> Result<(Recovery, Manifest), RuntimeError> {
    let mut m = ledger.manifest(run_id)?;
    if m.status == Status::Failed {
        return clean_failed(plan, engine, ledger, m);
    }
    if m.status.is_final() || m.status == Status::Held {
        return Ok((Recovery::NothingToRecover, m));
    }
    engine.prepare(plan)?;
    if m.status != Status::Unknown {
        m.status = Status::Unknown;
        ledger.transition(&m, "interrupted: recovering from durable state")?;
    }
    let seen = engine.inspect(plan, run_id)?;
    let decision = if seen.committed {
        let expected: Vec<(&str, i64)> = m
            .outputs
            .iter()
            .filter(|o| o.decision == Decision::Publish)
            .map(|o| (o.partition.as_str(), o.version))
            .collect();
        let all_active = !expected.is_empty()
            && expected
                .iter()
                .all(|(p, v)| seen.active.iter().any(|(ap, av)| ap == p && av == v));
        if all_active {
            for o in &mut m.outputs {
                o.published = o.decision == Decision::Publish;
            }
            engine.discard(plan, run_id)?;
            m.status = Status::Published;
            Recovery::AlreadyPublished
        } else {
            Recovery::ManualReviewRequired
        }
    } else if seen.staged_rows > 0 {
        engine.discard(plan, run_id)?;
        m.status = Status::Failed;
        Recovery::FailedCleaned
    } else {
        m.status = Status::Failed;
        Recovery::SafeToRetry
    };
    m.recovery = Some(decision.name().into());
    if m.status == Status::Failed {
        m.error = Some(format!(
            "interrupted before publishing; recovered as {}",
            decision.name()
        ));
    }
    m.times.finished = Some(super::now());
    ledger.transition(&m, decision.name())?;
    Ok((decision, m))
}

/// A FAILED run whose staged rows are still stored: its failure was the
/// engine's session being lost (E0373 on Spark, which has no transaction
/// to undo them), so the rows could not be dropped then. They are dropped
/// now; any other FAILED run has nothing to recover.
fn clean_failed(
    plan: &JobPlan,
    engine: &mut dyn Engine,
    ledger: &mut Ledger,
    mut m: Manifest,
) -> Result<(Recovery, Manifest), RuntimeError> {
    engine.prepare(plan)?;
    let seen = engine.inspect(plan, &m.run_id)?;
    if seen.committed || seen.staged_rows == 0 {
        return Ok((Recovery::NothingToRecover, m));
    }
    engine.discard(plan, &m.run_id)?;
    m.recovery = Some(Recovery::FailedCleaned.name().into());
    ledger.transition(&m, "failed run's staged rows dropped")?;
    Ok((Recovery::FailedCleaned, m))
}
