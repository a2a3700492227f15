//! Measuring a staged partition, on any engine: its rows and checksum,
//! then every expectation and reconciliation evaluated over it. An engine
//! supplies only how a statement's first row is read ([`Rows`]).

use super::batch::values;
use super::{Evaluated, Measured, PartitionRun, RunScope, Staged, Value};
use crate::plan::JobPlan;
use crate::runtime::RuntimeError;
use crate::sql::counted::Counted;
use crate::sql::expr::{counter_param, input_counter_param};
use crate::sql::lower::{Gate, LoweredJob};

/// How an engine reads the first row of a statement with `:name` values.
pub trait Rows {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError>;

    fn scalar(&mut self, sql: &str, values: &[(String, Value)]) -> Result<Value, RuntimeError> {
        Ok(self
            .first_row(sql, values)?
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null))
    }

    fn count(&mut self, sql: &str, values: &[(String, Value)]) -> Result<i64, RuntimeError> {
        Ok(match self.scalar(sql, values)? {
            Value::Integer(i) => i,
            _ => 0,
        })
    }

    /// `SELECT count(*), <checksum>`: a row count and a content checksum.
    fn rows_and_checksum(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<(i64, String), RuntimeError> {
        let mut row = self.first_row(sql, values)?.unwrap_or_default().into_iter();
        let n = match row.next() {
            Some(Value::Integer(n)) => n,
            _ => 0,
        };
        let checksum = match row.next() {
            Some(Value::Text(t)) => t,
            _ => String::new(),
        };
        Ok((n, checksum))
    }
}

/// Measures a staged partition of job `l` (see the module doc).
pub fn measure(
    db: &mut dyn Rows,
    plan: &JobPlan,
    l: &LoweredJob,
    run: &RunScope,
    part: &PartitionRun,
    staged: &Staged,
) -> Result<Measured, RuntimeError> {
    let mut v = values(plan, run, part);
    // `output` is what was staged, counted on the staged version.
    let (rows_n, checksum, bytes) = if let Some(s) = &staged.stored {
        (s.rows, s.checksum.clone(), s.bytes)
    } else {
        let row = db.first_row(&l.checksum, &v)?.unwrap_or_default();
        let int = |k: usize| match row.get(k) {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        };
        let checksum = match row.get(1) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        (int(0), checksum, int(2))
    };
    let c = &staged.counters;
    for (name, n) in [
        ("input", c.input),
        ("accepted", c.accepted),
        ("quarantined", c.quarantined),
        ("duplicates", c.duplicates),
        ("output", rows_n),
    ] {
        v.push((counter_param(name), Value::Integer(n)));
    }
    for (alias, n) in &staged.rows {
        v.push((input_counter_param("rows", alias), Value::Integer(*n)));
    }
    for (alias, n) in &staged.partition_counts {
        v.push((
            input_counter_param("partition_count", alias),
            Value::Integer(*n),
        ));
    }
    for (alias, n) in &staged.unmatched {
        v.push((input_counter_param("unmatched", alias), Value::Integer(*n)));
    }
    for (name, x) in &staged.input_aggregates {
        v.push((counter_param(name), x.clone()));
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
            let x = db.scalar(q, &v)?;
            v.push((counter_param(name), x));
        }
    }
    // Why a gate has no value: say which, truly. It fails (see `judge`).
    let no_value = if rows_n == 0 {
        "no value: the partition has no rows, and a check without a value fails"
    } else {
        "no value: the expression is null on this partition's rows, and a check without a value fails"
    };
    // A gate over counters only is answered here (`sql::counted`).
    let counter = |name: &str| match v.iter().find(|(n, _)| n == name) {
        Some((_, Value::Integer(n))) => Some(*n),
        _ => None,
    };
    let mut evaluate = |gates: &[Gate]| -> Result<Vec<Evaluated>, RuntimeError> {
        gates
            .iter()
            .map(|g| {
                let (passed, detail) = match &g.sides {
                    Some((left, right)) => {
                        let (a, b) = (db.scalar(left, &v)?, db.scalar(right, &v)?);
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
                                    Some(format!(
                                        "left = {x}, right = {y}, allowed difference = {allowed}"
                                    )),
                                )
                            }
                            _ => (None, Some(no_value.into())),
                        }
                    }
                    None => {
                        let value = match g.counted.as_ref().and_then(|c| c.evaluate(&counter)) {
                            Some(n) => Value::Integer(n),
                            None => db.scalar(&g.sql, &v)?,
                        };
                        let passed = value.truthy();
                        let detail = match (&g.operands, passed) {
                            (_, None) => Some(no_value.to_string()),
                            (Some(sides), Some(false)) => {
                                // A counted comparison's sides are known here.
                                let known = match &g.counted {
                                    Some(Counted::Binary(_, l, r)) => {
                                        [l.evaluate(&counter), r.evaluate(&counter)]
                                    }
                                    _ => [None, None],
                                };
                                let mut shown = Vec::new();
                                for ((text, q), known) in sides.iter().zip(known) {
                                    if q.starts_with("SELECT") && !q.contains(" FROM ") {
                                        continue;
                                    }
                                    let x = match known {
                                        Some(n) => serde_json::Value::from(n),
                                        None => db.scalar(q, &v)?.to_json(),
                                    };
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
        Some(q) => Some(db.count(q, &v)?),
        None => None,
    };
    let out_of_partition = match &l.out_of_partition {
        Some(q) => Some(db.count(q, &v)?),
        None => None,
    };
    let typed_output = db.rows_and_checksum(&l.typed_output, &v)?;
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
