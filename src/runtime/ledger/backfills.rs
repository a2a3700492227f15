//! The backfills the ledger records, and what each did to its partitions,
//! so that repeating a backfill resumes it.

use super::store::Val;
use super::{four, Ledger};
use crate::runtime::RuntimeError;

impl Ledger {
    /// Records a backfill (or finds it again, to resume it).
    pub fn backfill(&mut self, id: &str, spec: &serde_json::Value) -> Result<bool, RuntimeError> {
        let now = crate::runtime::now();
        let n = self.store.execute(
            "INSERT INTO backfills (backfill_id, spec, status, created_at, updated_at)
             VALUES ($1, $2, 'RUNNING', $3, $3) ON CONFLICT (backfill_id) DO NOTHING",
            &[id.into(), spec.to_string().into(), now.into()],
        )?;
        Ok(n == 0)
    }

    /// The processing time of the latest backfill of this request that did
    /// not complete: the same command repeated without `--as-of` takes it
    /// again, so it has the same identity and resumes that backfill.
    pub fn unfinished_as_of(
        &self,
        from: &str,
        range: Option<&str>,
        mode: &serde_json::Value,
        reason: Option<&str>,
    ) -> Result<Option<String>, RuntimeError> {
        let specs = self.store.query(
            "SELECT spec FROM backfills WHERE status != 'COMPLETE' ORDER BY created_at DESC",
            &[],
        )?;
        for spec in specs.into_iter().filter_map(|r| r.into_iter().next()) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&spec.into_text()) else {
                continue;
            };
            if v["from"] == from
                && v["range"].as_str() == range
                && v["mode"] == *mode
                && v["reason"].as_str() == reason
            {
                return Ok(v["as_of"].as_str().map(str::to_string));
            }
        }
        Ok(None)
    }

    /// Records what a backfill step did to each of its partitions:
    /// `(partition, run id, outcome)`, in one transaction.
    pub fn backfill_runs(
        &mut self,
        id: &str,
        dataset: &str,
        outcomes: &[(&str, Option<&str>, &str)],
    ) -> Result<(), RuntimeError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let at = crate::runtime::now();
        // After the step's runs ended durably; a record lost to a power cut
        // only makes a resumed backfill run those partitions again.
        self.write_relaxed(|s| {
            for (partition, run_id, outcome) in outcomes {
                s.execute(
                    "INSERT INTO backfill_runs (backfill_id, dataset, partition, run_id, outcome, at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        id.into(),
                        dataset.into(),
                        (*partition).into(),
                        Val::from(*run_id),
                        (*outcome).into(),
                        at.as_str().into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// The partitions a backfill already finished, with the run that did
    /// it, and those it left held for review (finished once approved).
    pub fn backfill_done(
        &self,
        id: &str,
    ) -> Result<Vec<(String, String, String, String)>, RuntimeError> {
        let rows = self.store.query(
            "SELECT dataset, partition, coalesce(run_id, ''), outcome FROM backfill_runs
             WHERE backfill_id = $1
               AND outcome IN ('published', 'loaded', 'restated', 'shadowed', 'validated', 'held')",
            &[id.into()],
        )?;
        Ok(rows.into_iter().map(four).collect())
    }

    pub fn finish_backfill(
        &mut self,
        id: &str,
        status: &str,
        report: &serde_json::Value,
    ) -> Result<(), RuntimeError> {
        self.store
            .execute(
                "UPDATE backfills SET status = $2, report = $3, updated_at = $4 WHERE backfill_id = $1",
                &[
                    id.into(),
                    status.into(),
                    report.to_string().into(),
                    crate::runtime::now().into(),
                ],
            )
            .map(drop)
    }
}
