//! Sets of partition ordinals as sorted, disjoint, non-adjacent closed
//! intervals. Ten years of daily partitions are one interval, not 3,650
//! values; every operation is linear in the number of intervals.

use serde::Serialize;

use super::calendar::{UNBOUNDED_HIGH, UNBOUNDED_LOW};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntervalSet {
    ranges: Vec<(i64, i64)>,
}

impl IntervalSet {
    pub fn empty() -> IntervalSet {
        IntervalSet::default()
    }

    /// Every partition there is.
    pub fn all() -> IntervalSet {
        IntervalSet::range(UNBOUNDED_LOW, UNBOUNDED_HIGH)
    }

    /// `[lo, hi]`; empty when `lo > hi`.
    pub fn range(lo: i64, hi: i64) -> IntervalSet {
        IntervalSet {
            ranges: if lo <= hi { vec![(lo, hi)] } else { Vec::new() },
        }
    }

    pub fn ranges(&self) -> &[(i64, i64)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_unbounded(&self) -> bool {
        self.ranges.first().is_some_and(|r| r.0 == UNBOUNDED_LOW)
            || self.ranges.last().is_some_and(|r| r.1 == UNBOUNDED_HIGH)
    }

    /// Number of partitions; `None` if unbounded.
    pub fn count(&self) -> Option<u64> {
        if self.is_unbounded() {
            return None;
        }
        Some(self.ranges.iter().map(|(a, b)| (b - a) as u64 + 1).sum())
    }

    pub fn contains(&self, x: i64) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= x && x <= b)
    }

    pub fn union(&self, other: &IntervalSet) -> IntervalSet {
        let mut all: Vec<(i64, i64)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        IntervalSet { ranges: out }
    }

    pub fn intersect(&self, other: &IntervalSet) -> IntervalSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = self.ranges[i];
            let (c, d) = other.ranges[j];
            let (lo, hi) = (a.max(c), b.min(d));
            if lo <= hi {
                out.push((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        IntervalSet { ranges: out }
    }

    pub fn subtract(&self, other: &IntervalSet) -> IntervalSet {
        self.intersect(&other.complement())
    }

    pub fn complement(&self) -> IntervalSet {
        let mut out = Vec::new();
        let mut next = UNBOUNDED_LOW;
        for &(a, b) in &self.ranges {
            if a > next {
                out.push((next, a - 1));
            }
            if b == UNBOUNDED_HIGH {
                return IntervalSet { ranges: out };
            }
            next = b + 1;
        }
        out.push((next, UNBOUNDED_HIGH));
        IntervalSet { ranges: out }
    }

    /// Applies a monotone map to every interval's ends (keeping unbounded
    /// ends unbounded) and re-normalises.
    pub fn map_ends(&self, lo: impl Fn(i64) -> i64, hi: impl Fn(i64) -> i64) -> IntervalSet {
        let mut out = IntervalSet::empty();
        for &(a, b) in &self.ranges {
            let a2 = if a == UNBOUNDED_LOW { a } else { lo(a) };
            let b2 = if b == UNBOUNDED_HIGH { b } else { hi(b) };
            out = out.union(&IntervalSet::range(a2, b2));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_merges_overlapping_and_adjacent() {
        let s = IntervalSet::range(1, 3)
            .union(&IntervalSet::range(4, 6))
            .union(&IntervalSet::range(10, 12));
        assert_eq!(s.ranges(), &[(1, 6), (10, 12)]);
        assert_eq!(s.count(), Some(9));
    }

    #[test]
    fn subtract_and_complement() {
        let s = IntervalSet::range(1, 10).subtract(&IntervalSet::range(4, 5));
        assert_eq!(s.ranges(), &[(1, 3), (6, 10)]);
        assert!(IntervalSet::all().subtract(&IntervalSet::all()).is_empty());
        assert_eq!(IntervalSet::empty().complement(), IntervalSet::all());
    }

    #[test]
    fn unbounded_has_no_count() {
        assert_eq!(IntervalSet::all().count(), None);
        assert!(IntervalSet::range(UNBOUNDED_LOW, 5).is_unbounded());
    }
}
