//! When a partition closes, shared by the planner (which partitions are
//! closed on `--as-of`) and the runtime (may this run replace partition
//! `p`?), so the two can never disagree.
//!
//! `closed after month_end(p) + 5d` names a day: the end of the period
//! (here a month) holding the partition's *last* day, plus the offset. The
//! partition is open through that day and closed from the next one on. A
//! week straddling two months therefore belongs to the later month: ISO week
//! 2026-W27 (29 June to 5 July) closes with July, never before it has ended.
//! A period finer than the partition (`week_end(p)` on a monthly dataset)
//! likewise takes the week holding the month's last day.

use super::calendar;
use crate::semantic::hir::{CloseRule, Grain};

/// The last day (a day ordinal) partition `p` of `grain` is still open.
pub fn open_through(rule: CloseRule, grain: Grain, p: i64) -> i64 {
    let last = calendar::last_day_of(p, grain);
    let period = calendar::of_day(last, rule.period);
    calendar::last_day_of(period, rule.period).saturating_add(rule.offset_days)
}

/// Whether partition `p` is closed on day `as_of`.
pub fn is_closed(rule: CloseRule, grain: Grain, p: i64, as_of: i64) -> bool {
    open_through(rule, grain, p) < as_of
}

/// The last partition of `grain` closed on day `as_of`; every earlier one
/// is closed too, since [`open_through`] never decreases with `p`.
pub fn closed_through(rule: CloseRule, grain: Grain, as_of: i64) -> i64 {
    // The period holding a closed partition's last day ended on or before
    // `latest`.
    let latest = as_of.saturating_sub(rule.offset_days).saturating_sub(1);
    let mut period = calendar::of_day(latest, rule.period);
    if calendar::last_day_of(period, rule.period) > latest {
        period -= 1;
    }
    // The last partition ending on or before that period's last day.
    let end = calendar::last_day_of(period, rule.period);
    let mut p = calendar::of_day(end, grain);
    if calendar::last_day_of(p, grain) > end {
        p -= 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAINS: [Grain; 5] = [
        Grain::Day,
        Grain::Week,
        Grain::Month,
        Grain::Quarter,
        Grain::Year,
    ];

    fn day(s: &str) -> i64 {
        calendar::parse(s, Grain::Day).unwrap()
    }

    #[test]
    fn a_week_closes_with_the_month_of_its_last_day() {
        let rule = CloseRule {
            period: Grain::Month,
            offset_days: 1,
        };
        let w27 = calendar::parse("2026-W27", Grain::Week).unwrap();
        assert_eq!(
            calendar::format(open_through(rule, Grain::Week, w27), Grain::Day),
            "2026-08-01"
        );
        assert!(!is_closed(rule, Grain::Week, w27, day("2026-07-02")));
        // W26 (22-28 June) is June's last whole week.
        let last = closed_through(rule, Grain::Week, day("2026-07-02"));
        assert_eq!(calendar::format(last, Grain::Week), "2026-W26");
    }

    #[test]
    fn closed_strictly_after_the_named_day() {
        let rule = CloseRule {
            period: Grain::Month,
            offset_days: 5,
        };
        let june = calendar::parse("2026-06", Grain::Month).unwrap();
        assert_eq!(
            calendar::format(open_through(rule, Grain::Month, june), Grain::Day),
            "2026-07-05"
        );
        assert!(!is_closed(rule, Grain::Month, june, day("2026-07-05")));
        assert!(is_closed(rule, Grain::Month, june, day("2026-07-06")));
    }

    #[test]
    fn closed_through_agrees_with_is_closed_everywhere() {
        let start = day("2026-11-20");
        for grain in GRAINS {
            for period in GRAINS {
                for offset_days in [-3, 0, 1, 5, 9, 40] {
                    let rule = CloseRule {
                        period,
                        offset_days,
                    };
                    for as_of in start..start + 800 {
                        let last = closed_through(rule, grain, as_of);
                        assert!(is_closed(rule, grain, last, as_of), "{rule:?} {grain:?}");
                        assert!(
                            !is_closed(rule, grain, last + 1, as_of),
                            "{rule:?} {grain:?} {as_of}"
                        );
                    }
                }
            }
        }
    }
}
