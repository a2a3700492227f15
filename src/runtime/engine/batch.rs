//! What every engine binds into a job's statements, and which locked input
//! partitions each partition of a batch reads: the same on every engine.

use super::{PartitionRun, RunScope, Value};
use crate::plan::JobPlan;
use crate::runtime::manifest::InputLock;
use crate::semantic::hir::Lock;
use crate::sql::dialect::{BATCH_FIRST, BATCH_LAST};

/// The locked partitions of a dataset input that output partition `part`
/// reads: those inside its window and of its dimension values, or all of
/// them when the boundary is not a window.
pub fn window_pairs<'a>(
    input: &crate::plan::InputPlan,
    lock: &'a InputLock,
    part: &PartitionRun,
) -> Vec<(&'a str, i64)> {
    let window = part
        .windows
        .iter()
        .find(|(a, ..)| *a == input.table.alias)
        .map(|(_, lo, hi)| (lo.as_str(), hi.as_str()));
    let dims: Vec<(usize, &str)> = input
        .dimensions
        .iter()
        .filter_map(|(out, col)| {
            let at = input.dimension_keys.iter().position(|k| k == col)?;
            let value = part.keys.iter().find(|(k, _)| k == out)?;
            Some((at, value.1.as_str()))
        })
        .collect();
    lock.versions
        .iter()
        .filter(|(id, _)| {
            let segments: Vec<&str> = id.split('/').collect();
            let time_ok = match window {
                Some((lo, hi)) => segments.last().is_some_and(|t| lo <= *t && *t <= hi),
                None => true,
            };
            time_ok
                && dims
                    .iter()
                    .all(|(at, v)| segments.get(*at).is_some_and(|s| s == v))
        })
        .map(|(id, v)| (id.as_str(), *v))
        .collect()
}

/// The batch's first and last partition value (`_bpl_p`), as the values
/// of [`BATCH_FIRST`] and [`BATCH_LAST`] (see the dialect's
/// `batch_bounds`): a planner that sees them reads a source covering most
/// of a batch by one scan, and sizes what follows by the rows it expects.
pub fn bounds(parts: &[PartitionRun]) -> [(String, Value); 2] {
    let p = |pick: fn(&str, &str) -> bool| {
        parts
            .iter()
            .map(|x| x.p.as_str())
            .reduce(|a, b| if pick(b, a) { b } else { a })
            .map_or(Value::Null, |x| Value::Text(x.to_string()))
    };
    [
        (BATCH_FIRST.into(), p(|b, a| b < a)),
        (BATCH_LAST.into(), p(|b, a| b > a)),
    ]
}

/// Every value a job's statements may name; each is bound where present.
pub fn values(plan: &JobPlan, run: &RunScope, part: &PartitionRun) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = vec![
        (":p".into(), Value::Text(part.p.clone())),
        (":partition".into(), Value::Text(part.partition.clone())),
        (":version".into(), Value::Integer(part.version)),
        (":run_id".into(), Value::Text(run.run_id.clone())),
        (":as_of".into(), Value::Text(run.as_of.clone())),
        (
            ":report_close".into(),
            Value::Text(part.report_close.clone()),
        ),
    ];
    for (k, value) in &part.keys {
        v.push((format!(":p_{k}"), Value::Text(value.clone())));
    }
    for (alias, lo, hi) in &part.windows {
        v.push((format!(":lo_{alias}"), Value::Text(lo.clone())));
        v.push((format!(":hi_{alias}"), Value::Text(hi.clone())));
    }
    for lock in &run.lock {
        let Some(hwm) = &lock.high_water_mark else {
            continue;
        };
        let single = plan
            .inputs
            .iter()
            .find(|i| i.table.alias == lock.alias)
            .is_none_or(|i| !matches!(i.lock, Some(Lock::Cursor(_))));
        for (k, value) in hwm.iter().enumerate() {
            let name = if single {
                format!(":hwm_{}", lock.alias)
            } else {
                format!(":hwm_{}_{k}", lock.alias)
            };
            v.push((name, Value::from_json(value)));
        }
    }
    v
}
