//! What a new run is asked for, checked against the dataset before the
//! ledger or the warehouse is opened: the partitions `--date` or `--range`
//! name (E0320) and the dimension values `--dim` gives (E0321).

use super::run::RunArgs;
use crate::diagnostic::codes;
use crate::graph::calendar;
use crate::plan::JobPlan;
use crate::runtime::RuntimeError;

/// An argument error with a code: exit code 2.
pub(crate) fn refuse(code: crate::diagnostic::Code, message: String, help: String) -> u8 {
    super::fail(
        super::Failure {
            code: Some(code.to_string()),
            message,
            help: Some(help),
            ..Default::default()
        },
        super::EXIT_USAGE,
    )
}

/// The first and last partition `--date` or `--range` names (E0320 for a
/// value that is not a date, a `--date` that spans several partitions, or
/// dates for a dataset without a time partition). A range's ends may be
/// whole periods: `2026-06..2026-07` is June 1 to July 31.
pub(crate) fn run_dates(plan: &JobPlan, args: &RunArgs, dates: &str) -> Result<(i64, i64), u8> {
    let flag = if args.range.is_some() {
        "--range"
    } else {
        "--date"
    };
    let Some(grain) = plan.grain() else {
        if dates.is_empty() {
            return Ok((0, 0));
        }
        return Err(refuse(
            codes::E0320,
            format!(
                "`{}` has no time partition, so `{flag} {dates}` names nothing",
                plan.dataset
            ),
            format!("run it without `{flag}`: `bplc run {}`", plan.dataset),
        ));
    };
    let period = |t: &str| {
        calendar::parse_days(t).ok_or_else(|| {
            refuse(
                codes::E0320,
                format!("`{flag} {t}`: `{t}` is not a date"),
                "write a day as `2026-07-04`; a week, month, quarter or year as `2026-W27`, `2026-07`, `2026-Q3` or `2026`".into(),
            )
        })
    };
    let (a, b) = dates.split_once("..").unwrap_or((dates, dates));
    let (first, _) = period(a)?;
    let (_, last) = period(b)?;
    let (from, to) = (
        calendar::of_day(first, grain),
        calendar::of_day(last, grain),
    );
    if args.range.is_none() && from != to {
        let show = |o| calendar::format(o, grain);
        return Err(refuse(
            codes::E0320,
            format!(
                "`--date {dates}` spans {} partitions of `{}`, which has one per {}",
                to - from + 1,
                plan.dataset,
                grain_word(grain)
            ),
            format!(
                "name one partition, `--date {}`, or all of them, `--range {}..{}`",
                show(from),
                show(from),
                show(to)
            ),
        ));
    }
    if from > to {
        return Err(refuse(
            codes::E0320,
            format!("the range `{dates}` ends before it starts"),
            "write the earlier date first: `--range 2026-07-01..2026-07-04`".into(),
        ));
    }
    Ok((from, to))
}

fn grain_word(g: crate::semantic::hir::Grain) -> &'static str {
    use crate::semantic::hir::Grain;
    match g {
        Grain::Day => "day",
        Grain::Week => "week",
        Grain::Month => "month",
        Grain::Quarter => "quarter",
        Grain::Year => "year",
    }
}

/// The `--dim KEY=VALUE` pairs, each naming a dimension of the dataset once,
/// with a value that can name a partition (E0321).
pub(crate) fn dimensions(plan: &JobPlan, dims: &[String]) -> Result<Vec<(String, String)>, u8> {
    let keys = plan.dimension_keys();
    let mut out: Vec<(String, String)> = Vec::new();
    for d in dims {
        let Some((k, v)) = d.split_once('=') else {
            return Err(refuse(
                codes::E0321,
                format!("`--dim {d}` names no value"),
                "write `--dim KEY=VALUE`, e.g. `--dim tenant_id=acme`".into(),
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        if !keys.contains(&k) {
            let help = match keys.as_slice() {
                [] => format!(
                    "`{}` is partitioned by time only: leave out `--dim`",
                    plan.dataset
                ),
                _ => format!(
                    "its dimensions are {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(refuse(
                codes::E0321,
                format!("`{}` has no dimension `{k}`", plan.dataset),
                help,
            ));
        }
        if out.iter().any(|(seen, _)| seen == k) {
            return Err(refuse(
                codes::E0321,
                format!("`--dim {k}` is given twice"),
                "a run covers one value of each dimension it is given; run once per value".into(),
            ));
        }
        if v.is_empty() || v.contains('/') {
            let e = RuntimeError::BadDimensionValue {
                dataset: plan.dataset.clone(),
                key: k.to_string(),
                value: v.to_string(),
            };
            return Err(refuse(e.code(), e.to_string(), e.help()));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}
