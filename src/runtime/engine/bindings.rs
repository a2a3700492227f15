//! Resolving a job's reference bindings, on any engine: the version each
//! binding reads for each partition of a run, with a count and checksum
//! of its rows.

use super::batch::values;
use super::measure::Rows;
use super::{PartitionRun, RunScope};
use crate::plan::JobPlan;
use crate::runtime::manifest::Binding;
use crate::runtime::RuntimeError;
use crate::semantic::hir::BindPolicyKind;
use crate::sql::lower::LoweredJob;

/// Resolves each binding of job `lowered` to a version and a checksum of
/// its rows (see [`super::Engine::bindings`]); `seeds` holds each
/// binding's seed content hash, where it reads a seed.
pub fn bindings(
    db: &mut dyn Rows,
    plan: &JobPlan,
    lowered: &LoweredJob,
    run: &RunScope,
    parts: &[PartitionRun],
    seeds: &[Option<String>],
) -> Result<Vec<Binding>, RuntimeError> {
    let mut out: Vec<Binding> = Vec::new();
    for ((b, (_, query)), seed) in plan
        .binds
        .iter()
        .zip(&lowered.bindings)
        .zip(seeds.iter().chain(std::iter::repeat(&None)))
    {
        for part in parts {
            let (policy, version) = match &b.policy {
                BindPolicyKind::Pinned(v) => ("pinned".to_string(), v.clone()),
                BindPolicyKind::AsOfEventTime => (
                    "as of event time".into(),
                    "effective-dated rows, matched per row".into(),
                ),
                BindPolicyKind::AsOfProcessingTime => {
                    ("as of processing time".into(), run.as_of.clone())
                }
                BindPolicyKind::AsOfReportClose => {
                    ("as of report close".into(), part.report_close.clone())
                }
                BindPolicyKind::Latest { .. } => ("latest".into(), "current rows".into()),
            };
            // A seed's version is its content hash.
            let version = match seed {
                Some(seed) if policy == "latest" => seed.clone(),
                Some(seed) => format!("{version}, seed {seed}"),
                None => version,
            };
            // The same version reads the same rows: counted once.
            if out
                .iter()
                .any(|x| x.alias == b.table.alias && x.version == version)
            {
                continue;
            }
            let (n, checksum) = db.rows_and_checksum(query, &values(plan, run, part))?;
            out.push(Binding {
                alias: b.table.alias.clone(),
                reference: b.table.decl.clone(),
                policy,
                version,
                rows: n,
                checksum,
            });
        }
    }
    Ok(out)
}
