//! The inverse mapping is exact for every pair of calendar grains: days,
//! ISO weeks, months, quarters and years, including weeks that straddle a
//! month or a year. Compared with a partition-by-partition brute force that
//! only knows what a window *reads*.

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
        let mapping = Mapping { time: TimeMapping::Window { lo, hi }, dimensions: Vec::new() };
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
