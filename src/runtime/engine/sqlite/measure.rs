//! Measuring a staged partition on SQLite: its rows and checksum, then
//! every expectation and reconciliation evaluated over it.

use super::{bind, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::batch::values;
use crate::runtime::engine::{Evaluated, Measured, PartitionRun, RunScope, Staged, Value};
use crate::runtime::RuntimeError;
use crate::sql::lower::Gate;

impl SqliteEngine {
    pub(super) fn measure(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        part: &PartitionRun,
        staged: &Staged,
    ) -> Result<Measured, RuntimeError> {
        let l = self.lowered(plan)?;
        let mut v = values(plan, run, part);
        // `output` is what was staged, counted on the staged version.
        let (rows_n, checksum, bytes) = {
            let mut stmt = self
                .conn
                .prepare_cached(&l.checksum)
                .map_err(RuntimeError::sql)?;
            bind(&mut stmt, &v)?;
            let mut rows = stmt.raw_query();
            match rows.next().map_err(RuntimeError::sql)? {
                Some(r) => (
                    r.get::<_, i64>(0).map_err(RuntimeError::sql)?,
                    r.get::<_, Option<String>>(1)
                        .map_err(RuntimeError::sql)?
                        .unwrap_or_default(),
                    r.get::<_, i64>(2).map_err(RuntimeError::sql)?,
                ),
                None => (0, String::new(), 0),
            }
        };
        let c = &staged.counters;
        for (name, n) in [
            ("input", c.input),
            ("accepted", c.accepted),
            ("quarantined", c.quarantined),
            ("duplicates", c.duplicates),
            ("output", rows_n),
        ] {
            v.push((format!(":counter_{name}"), Value::Integer(n)));
        }
        for (alias, n) in &staged.rows {
            v.push((format!(":rows_{alias}"), Value::Integer(*n)));
        }
        for (alias, n) in &staged.partition_counts {
            v.push((format!(":partition_count_{alias}"), Value::Integer(*n)));
        }
        for (alias, n) in &staged.unmatched {
            v.push((format!(":unmatched_{alias}"), Value::Integer(*n)));
        }
        for (name, x) in &staged.input_aggregates {
            v.push((format!(":counter_{name}"), x.clone()));
        }
        if !l.drifts.is_empty() {
            // The previous partition of the time key, for `drift`.
            let prev = plan.grain().and_then(|g| {
                Some(crate::graph::calendar::format(
                    crate::graph::calendar::parse(&part.p, g)? - 1,
                    g,
                ))
            });
            v.push((":p_prev".into(), prev.map_or(Value::Null, Value::Text)));
            for (name, q) in &l.drifts {
                let x = self.scalar(q, &v)?;
                v.push((format!(":counter_{name}"), x));
            }
        }
        // Why a gate has no value: say which, truly. It fails (see `judge`).
        let no_value = if rows_n == 0 {
            "no value: the partition has no rows, and a check without a value fails"
        } else {
            "no value: the expression is null on this partition's rows, and a check without a value fails"
        };
        let evaluate = |gates: &[Gate]| -> Result<Vec<Evaluated>, RuntimeError> {
            gates
                .iter()
                .map(|g| {
                    let (passed, detail) = match &g.sides {
                        Some((left, right)) => {
                            let (a, b) = (self.scalar(left, &v)?, self.scalar(right, &v)?);
                            let tolerance = plan
                                .job
                                .reconcile
                                .iter()
                                .find(|r| r.name == g.name)
                                .and_then(|r| r.tolerance);
                            match (a.number(), b.number()) {
                                (Some(x), Some(y)) => {
                                    let allowed = match tolerance {
                                        Some(crate::semantic::hir::Tolerance::Absolute(t)) => t,
                                        Some(crate::semantic::hir::Tolerance::Relative(r)) => {
                                            r * x.abs().max(y.abs())
                                        }
                                        None => 0.0,
                                    };
                                    (
                                        Some((x - y).abs() <= allowed),
                                        Some(format!("left = {x}, right = {y}, allowed difference = {allowed}")),
                                    )
                                }
                                _ => (None, Some(no_value.into())),
                            }
                        }
                        None => {
                            let value = self.scalar(&g.sql, &v)?;
                            let passed = value.truthy();
                            let detail = match (&g.operands, passed) {
                                (_, None) => Some(no_value.to_string()),
                                (Some(sides), Some(false)) => {
                                    let mut shown = Vec::new();
                                    for (text, q) in sides {
                                        if q.starts_with("SELECT") && !q.contains(" FROM ") {
                                            continue;
                                        }
                                        let x = self.scalar(q, &v)?.to_json();
                                        shown.push(format!("{text} = {x}"));
                                    }
                                    Some(shown.join(", "))
                                }
                                _ => None,
                            };
                            (passed, detail)
                        }
                    };
                    Ok(Evaluated {
                        gate: g.clone(),
                        passed,
                        detail,
                    })
                })
                .collect()
        };
        let expectations = evaluate(&l.expectations)?;
        let reconciliations = evaluate(&l.reconciliations)?;
        let key_duplicates = match &l.key_duplicates {
            Some(q) => Some(self.count(q, &v)?),
            None => None,
        };
        let out_of_partition = match &l.out_of_partition {
            Some(q) => Some(self.count(q, &v)?),
            None => None,
        };
        let typed_output = self.rows_and_checksum(&l.typed_output, &v)?;
        Ok(Measured {
            expectations,
            reconciliations,
            key_duplicates,
            out_of_partition,
            typed_output,
            rows: rows_n,
            bytes,
            checksum,
        })
    }
}
