//! Measuring a staged partition on SQLite: the shared measurement
//! (`engine::measure`) over this connection's statements.

use super::{bind, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::{measure, Rows};
use crate::runtime::engine::{Measured, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;

impl Rows for SqliteEngine {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        tracing::debug!(sql, "query");
        let mut stmt = self.conn.prepare_cached(sql).map_err(RuntimeError::sql)?;
        bind(&mut stmt, values)?;
        let n = stmt.column_count();
        let mut rows = stmt.raw_query();
        match rows.next().map_err(RuntimeError::sql)? {
            Some(r) => (0..n)
                .map(|i| r.get::<_, Value>(i).map_err(RuntimeError::sql))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            None => Ok(None),
        }
    }
}

impl SqliteEngine {
    pub(super) fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        let l = self.lowered(plan)?;
        measure(self, plan, &l, run, part, staged)
    }
}
