//! Operating a project: what is fresh, stale, due or late (`status`), running
//! what is due (`run-due`) and exporting metrics (`metrics`). Everything here
//! is judged from the ledger and the checked program at an explicit
//! processing time; nothing new is executed here (`run-due` drives the
//! runtime's own [`crate::runtime::lifecycle::Runner`]).

pub mod due;
pub mod lock;
pub mod metrics;
pub mod schedule;
pub mod site;
pub mod status;

use crate::runtime::ledger::Ledger;
use crate::runtime::manifest::Manifest;
use crate::runtime::RuntimeError;

/// Every run's manifest, oldest first.
pub fn manifests(ledger: &Ledger) -> Result<Vec<Manifest>, RuntimeError> {
    let mut stmt = ledger
        .connection()
        .prepare("SELECT run_id, manifest FROM runs ORDER BY seq")
        .map_err(RuntimeError::sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(RuntimeError::sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(RuntimeError::sql)?;
    rows.iter()
        .map(|(id, text)| {
            serde_json::from_str(text).map_err(|e| RuntimeError::Corrupt {
                what: format!("the manifest of {id}"),
                detail: e.to_string(),
            })
        })
        .collect()
}
