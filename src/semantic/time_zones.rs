//! Time zones: every zone a spec names exists in the IANA database, and a
//! scheduled run time does not fall into a daylight-saving gap (the time
//! never happens that day) or overlap (it happens twice).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::Symbols;
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;

/// Years whose transitions are checked for a schedule: the zone rules of the
/// recent past and near future, which is what a schedule runs in.
const YEARS: std::ops::RangeInclusive<i32> = 2024..=2030;

pub fn check(symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    let mut dst_cache: HashMap<(Tz, NaiveTime), Option<(NaiveDate, bool)>> = HashMap::new();
    for decl in symbols.decls() {
        for clause in &decl.clauses {
            if let ClauseKind::Schedule(s) = &clause.kind {
                if let Some(zone) = &s.time_zone {
                    if let Some(tz) = parse_zone(zone, diags) {
                        if let Some(at) = &s.at {
                            dst(decl, tz, at, &mut dst_cache, diags);
                        }
                    }
                }
            }
        }
    }
}

/// String literals passed to a parameter called `time_zone`. Called by the
/// call checks, which already visit every call.
pub fn zone_arguments(call: &Call, symbols: &Symbols<'_>, diags: &mut Vec<Diagnostic>) {
    let Some(f) = symbols
        .functions(&call.name.name)
        .and_then(|fs| fs.iter().find(|f| f.params.len() == call.args.len()))
    else {
        return;
    };
    for (param, arg) in f.params.iter().zip(&call.args) {
        if param.name.name != "time_zone" {
            continue;
        }
        if let ExprKind::Literal(Literal::String(s)) = &arg.kind {
            parse_zone(
                &StrLit {
                    value: s.clone(),
                    span: arg.span,
                },
                diags,
            );
        }
    }
}

pub fn parse_zone(zone: &StrLit, diags: &mut Vec<Diagnostic>) -> Option<Tz> {
    match zone.value.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let d = Diagnostic::new(
                codes::E0133,
                format!("unknown time zone \"{}\"", zone.value),
            )
            .primary(zone.span, "not an IANA time zone");
            let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
            diags.push(match did_you_mean(&zone.value, names) {
                Some(s) => d.help(format!("did you mean \"{s}\"?")),
                None => d.help("use an IANA name such as \"Asia/Jakarta\", \"Europe/Berlin\" or \"UTC\"; abbreviations like \"WIB\" or \"CET\" are ambiguous"),
            });
            None
        }
    }
}

fn dst(
    decl: &Decl,
    tz: Tz,
    at: &StrLit,
    cache: &mut HashMap<(Tz, NaiveTime), Option<(NaiveDate, bool)>>,
    diags: &mut Vec<Diagnostic>,
) {
    let Ok(time) = NaiveTime::parse_from_str(&at.value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&at.value, "%H:%M:%S"))
    else {
        return;
    };
    let found = *cache
        .entry((tz, time))
        .or_insert_with(|| first_dst_problem(tz, time));
    if let Some((day, gap)) = found {
        let (what, consequence) = if gap {
            (
                "does not exist",
                "the clock jumps over it, so the run would be skipped or moved",
            )
        } else {
            (
                "happens twice",
                "the clock passes it twice, so the run could start twice",
            )
        };
        diags.push(
            Diagnostic::new(codes::W0102, format!("{} in {} {what} on {day}", at.value, tz.name()))
                .primary(at.span, format!("a daylight-saving change in {}", day.year()))
                .secondary(decl.name.span, format!("the schedule of `{}`", decl.name.name))
                .help(format!("{consequence}; schedule outside 01:00-03:00 local time, or in a zone without daylight saving such as \"UTC\"")),
        );
    }
}

/// The first day in [`YEARS`] on which `time` is skipped (`true`) or
/// repeated (`false`) in `tz`.
fn first_dst_problem(tz: Tz, time: NaiveTime) -> Option<(NaiveDate, bool)> {
    let mut day = NaiveDate::from_ymd_opt(*YEARS.start(), 1, 1)?;
    let end = NaiveDate::from_ymd_opt(*YEARS.end(), 12, 31)?;
    while day <= end {
        match tz.from_local_datetime(&day.and_time(time)) {
            chrono::LocalResult::None => return Some((day, true)),
            chrono::LocalResult::Ambiguous(..) => return Some((day, false)),
            chrono::LocalResult::Single(_) => {}
        }
        day = day.succ_opt()?;
    }
    None
}
