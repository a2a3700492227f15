//! The inverse mapping is exact for every pair of calendar grains: days,
//! ISO weeks, months, quarters and years, including weeks that straddle a
//! month or a year. Compared with a partition-by-partition brute force that
//! only knows what a window *reads*. Also: closing rules on every grain
//! (weeks that straddle months), and boundaries that read a source's UTC
//! days in another time zone, across daylight-saving changes.

use bplc::graph::calendar::{first_day_of, last_day_of, of_day, parse};
use bplc::graph::interval::IntervalSet;
use bplc::graph::plan::inverse;
use bplc::semantic::hir::{Grain, Mapping, TimeMapping};
use proptest::prelude::*;

const GRAINS: [Grain; 5] = [
    Grain::Day,
    Grain::Week,
    Grain::Month,
    Grain::Quarter,
    Grain::Year,
];

/// The input partitions output partition `p` reads through `[p + lo, p + hi]`.
fn reads(p: i64, lo: i64, hi: i64, input: Grain, output: Grain) -> (i64, i64) {
    (
        of_day(first_day_of(p + lo, output), input),
        of_day(last_day_of(p + hi, output), input),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn inverse_matches_brute_force_for_every_pair_of_grains(
        gi in 0usize..5, go in 0usize..5,
        lo in -6i64..=6, width in 0i64..=6,
        start in -400i64..=400, len in 0i64..=40,
    ) {
        let (input, output) = (GRAINS[gi], GRAINS[go]);
        let hi = lo + width;
        let center_day = parse("2028-02-29", Grain::Day).unwrap();
        let a = of_day(center_day, input) + start / match input { Grain::Day => 1, Grain::Week => 7, Grain::Month => 30, Grain::Quarter => 90, Grain::Year => 365 };
        let b = a + len / match input { Grain::Day => 1, Grain::Week => 3, Grain::Month => 8, Grain::Quarter => 20, Grain::Year => 40 };
        let changed = IntervalSet::range(a, b);
        let mapping = Mapping { time: TimeMapping::Window { lo, hi }, dimensions: Vec::new(), zone: None };
        let planned = inverse(&mapping, &changed, Some(input), Some(output));

        // Every output partition whose window reaches a day within two
        // years of the change, one by one.
        let from = of_day(first_day_of(a, input) - 800, output);
        let to = of_day(last_day_of(b, input) + 800, output);
        let mut brute = IntervalSet::empty();
        for p in from..=to {
            let (x, y) = reads(p, lo, hi, input, output);
            if x <= b && y >= a {
                brute = brute.union(&IntervalSet::range(p, p));
            }
        }
        let window = IntervalSet::range(from, to);
        prop_assert_eq!(planned.intersect(&window), brute, "{:?} -> {:?}, [p{:+}, p{:+}], changed {}..{}", input, output, lo, hi, a, b);
    }
}

// ---------------------------------------------------------------------------
//  Closing rules on every grain, weeks included
// ---------------------------------------------------------------------------

/// The last day of the `period` holding `day`, found by walking forward
/// one day at a time.
fn period_end(day: i64, period: Grain) -> i64 {
    let mut d = day;
    while of_day(d + 1, period) == of_day(day, period) {
        d += 1;
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `closed after <period>_end(p) + n`: partition `p` is open through the
    /// end of the period holding its *last* day, plus `n` days, and closed
    /// from the next day on. A week straddling two months closes with the
    /// later one; a month never closes before its last day has passed.
    #[test]
    fn closed_partitions_match_the_rule_day_by_day(
        g in 0usize..5, period in 0usize..5,
        offset in -10i64..=40, as_of in -500i64..=500,
    ) {
        let (grain, period) = (GRAINS[g], GRAINS[period]);
        let rule = bplc::semantic::hir::CloseRule { period, offset_days: offset };
        let center = parse("2026-07-01", Grain::Day).unwrap();
        let as_of_day = center + as_of;
        let as_of_date = chrono::NaiveDate::from_num_days_from_ce_opt(as_of_day as i32).unwrap();
        let closed = bplc::graph::plan::closed_set(rule, grain, as_of_date);
        let first = of_day(center - 900, grain);
        let last = of_day(center + 900, grain);
        for p in first..=last {
            let open_through = period_end(last_day_of(p, grain), period) + offset;
            prop_assert_eq!(
                closed.contains(p),
                as_of_day > open_through,
                "{:?} partition {} of {:?}, as of {}", rule, p, grain, as_of_date
            );
        }
    }
}

// ---------------------------------------------------------------------------
//  Zone-converting boundaries: a source's UTC days read in another zone
// ---------------------------------------------------------------------------

/// Zones with and without daylight saving, whole, half and quarter hours.
const ZONES: [&str; 9] = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
];

/// Days around the 2026 daylight-saving changes of those zones.
const DST_DAYS: [&str; 6] = [
    "2026-03-08",
    "2026-03-29",
    "2026-04-05",
    "2026-09-27",
    "2026-10-25",
    "2026-11-01",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `to_date(event_time, ZONE) in [p + lo, p + hi]` over a source whose
    /// days are UTC days: the planned outputs are exactly those whose window
    /// holds the local date of some instant of the changed UTC days, found
    /// here a quarter of an hour at a time.
    #[test]
    fn zone_boundaries_match_brute_force(
        zone in 0usize..ZONES.len(), near in 0usize..DST_DAYS.len(),
        start in -3i64..=3, len in 0i64..=3,
        go in 0usize..3, lo in -3i64..=1, width in 0i64..=3,
    ) {
        use chrono::TimeZone;
        let tz: chrono_tz::Tz = ZONES[zone].parse().unwrap();
        let output = [Grain::Day, Grain::Week, Grain::Month][go];
        let hi = lo + width;
        let a = parse(DST_DAYS[near], Grain::Day).unwrap() + start;
        let b = a + len;
        let mapping = Mapping {
            time: TimeMapping::Window { lo, hi },
            dimensions: Vec::new(),
            zone: Some(ZONES[zone].to_string()),
        };
        let planned = inverse(&mapping, &IntervalSet::range(a, b), Some(Grain::Day), Some(output));

        let mut local_days = IntervalSet::empty();
        for day in a..=b {
            let midnight = chrono::NaiveDate::from_num_days_from_ce_opt(day as i32)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            for quarter in 0..96 {
                let t = midnight + chrono::Duration::minutes(15 * quarter);
                let local = tz.from_utc_datetime(&t).date_naive();
                let l = parse(&local.format("%Y-%m-%d").to_string(), Grain::Day).unwrap();
                local_days = local_days.union(&IntervalSet::range(l, l));
            }
        }
        let from = of_day(a - 200, output);
        let to = of_day(b + 200, output);
        let mut brute = IntervalSet::empty();
        for p in from..=to {
            let (x, y) = reads(p, lo, hi, Grain::Day, output);
            if !local_days.intersect(&IntervalSet::range(x, y)).is_empty() {
                brute = brute.union(&IntervalSet::range(p, p));
            }
        }
        prop_assert_eq!(planned.intersect(&IntervalSet::range(from, to)), brute, "{} {:?} [p{:+}, p{:+}] UTC days {}..{}", ZONES[zone], output, lo, hi, a, b);
    }
}
