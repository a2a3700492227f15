//! Reading durable state on PostgreSQL for recovery: what a run left
//! behind. Versions, diffs and dimension values are read as on every
//! server engine (`engine::reads`).

use super::{named, text, PostgresEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Inspection, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(n)) => Some(*n),
        _ => None,
    }
}

impl PostgresEngine {
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
        let stored = self.scalar(
            &format!(
                "SELECT to_regclass({}) IS NOT NULL",
                crate::sql::types::string(&ident(&l.data_table))
            ),
            &[],
        )?;
        let staged_rows = if stored.truthy() == Some(true) {
            self.count(
                &l.discard.replacen("DELETE FROM", "SELECT count(*) FROM", 1),
                &rid,
            )?
        } else {
            0
        };
        let active = self
            .rows(
                "SELECT partition, version FROM _bpl_pointer WHERE dataset = :d AND run_id = :run_id
                 UNION SELECT partition, version FROM _bpl_shadow WHERE dataset = :d AND run_id = :run_id
                 ORDER BY 1",
                &rid,
            )?
            .into_iter()
            .filter_map(|r| match (r.first(), integer(r.get(1))) {
                (Some(Value::Text(p)), Some(v)) => Some((p.clone(), v)),
                _ => None,
            })
            .collect();
        Ok(Inspection {
            committed,
            staged_rows,
            active,
        })
    }
}
