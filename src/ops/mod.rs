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
    ledger.manifests(None)
}
