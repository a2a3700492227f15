//! What `bplc run-due` does for one dataset, read off its status: the due,
//! late and stale partitions as contiguous ranges of run dates, and the
//! partitions it leaves alone, with the reason.

use serde::Serialize;

use super::status::{DatasetStatus, State};

/// Runs to start for one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Work {
    pub dataset: String,
    /// Inclusive ranges of partition ordinals, oldest first; empty for a
    /// dataset without a time key, which runs whole.
    #[serde(skip)]
    pub ranges: Vec<(i64, i64)>,
    /// Why each partition is run: `(partition, state)`.
    pub partitions: Vec<(String, State)>,
}

/// A partition `run-due` leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub dataset: String,
    pub partition: String,
    pub state: State,
    pub reason: String,
}

/// The work and the skips of one dataset. Held, failed, running and
/// closed partitions are not run: a person decides held ones (`approve`,
/// `reject`), a failed one waits for the next firing (the status makes it
/// due then), a running one is leased, a closed one changes only through a
/// restatement. Closed partitions are listed when the schedule's window
/// reaches them.
pub fn work_of(d: &DatasetStatus, window: Option<(i64, i64)>) -> (Option<Work>, Vec<Skip>) {
    let mut ordinals = Vec::new();
    let mut partitions = Vec::new();
    let mut whole = false;
    let mut skips = Vec::new();
    for p in &d.partitions {
        match p.state {
            State::Due | State::Late | State::Stale => {
                partitions.push((p.partition.clone(), p.state));
                match p.ordinal {
                    Some(o) => ordinals.push(o),
                    None => whole = true,
                }
            }
            State::Held | State::Failed | State::Running => skips.push(Skip {
                dataset: d.dataset.clone(),
                partition: p.partition.clone(),
                state: p.state,
                reason: p.reason.clone().unwrap_or_default(),
            }),
            State::Closed
                if window.is_some_and(|(a, b)| p.ordinal.is_some_and(|o| (a..=b).contains(&o))) =>
            {
                skips.push(Skip {
                    dataset: d.dataset.clone(),
                    partition: p.partition.clone(),
                    state: p.state,
                    reason: p.reason.clone().unwrap_or_default(),
                })
            }
            _ => {}
        }
    }
    if partitions.is_empty() {
        return (None, skips);
    }
    ordinals.sort_unstable();
    ordinals.dedup();
    let ranges = if whole { Vec::new() } else { ranges(&ordinals) };
    let work = Work {
        dataset: d.dataset.clone(),
        ranges,
        partitions,
    };
    (Some(work), skips)
}

/// Consecutive ordinals as `(first, last)` ranges.
pub fn ranges(sorted: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &o in sorted {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == o => *b = o,
            _ => out.push((o, o)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ordinals_make_one_range() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), vec![(1, 3), (5, 5), (7, 8)]);
        assert!(ranges(&[]).is_empty());
    }
}
