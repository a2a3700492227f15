//! Reading durable state on Spark for recovery: what a run left behind
//! (the publish log's commit marker and pointers, and the data table's
//! unpublished partitions). Versions, diffs and dimension values are read
//! as on every server engine (`engine::reads`).

use super::{named, pairs, text, SparkEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::Inspection;
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

impl SparkEngine {
    pub(super) fn inspect(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
    ) -> Result<Inspection, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = named(&[(":run_id", text(run_id)), (":d", text(&plan.dataset))]);
        let committed = self.count(
            "SELECT count(*) FROM _bpl_commits WHERE run_id = :run_id",
            &rid,
        )? > 0;
        let staged_rows = if self.columns_of(&l.data_table)?.is_empty() {
            0
        } else {
            self.count(
                &format!(
                    "SELECT count(*) FROM {} AS d LEFT SEMI JOIN ({}) AS u \
                     ON d._bpl_partition = u.partition AND d._bpl_version = u.version",
                    ident(&l.data_table),
                    crate::sql::lower::unkept_versions(&plan.dataset)
                ),
                &rid,
            )?
        };
        let active = pairs(self.rows(
            "SELECT partition, version FROM _bpl_pointer WHERE dataset = :d AND run_id = :run_id
             UNION SELECT partition, version FROM _bpl_shadow WHERE dataset = :d AND run_id = :run_id
             ORDER BY 1",
            &rid,
        )?);
        Ok(Inspection {
            committed,
            staged_rows,
            active,
        })
    }
}
