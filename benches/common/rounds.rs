//! Whole commands timed side by side, for the benchmarks that compare one
//! `bplc` command with another (`check_project`, `plan_backfill`): rounds of
//! every command in turn, so a burst of load from elsewhere on the machine
//! hits all of them alike. Each run is timed by `child.rs` (wall, user +
//! system CPU and peak resident set). Included with `#[path]` next to
//! `child.rs`, as `mod rounds`.

use std::process::Command;
use std::time::Duration;

use crate::child;

/// Best and median wall and CPU time, and the largest peak RSS, of the runs
/// of one command. CPU time and RSS are zero where they could not be
/// measured (no `/usr/bin/time` and no `/proc`).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub wall_best: Duration,
    pub wall_median: Duration,
    pub cpu_best: Duration,
    pub cpu_median: Duration,
    pub peak_rss_kb: u64,
    /// What the command printed, in bytes (the plan's JSON, say). Read by
    /// `plan_backfill`, not by `check_project`, which includes this too.
    #[allow(dead_code)]
    pub output_bytes: usize,
}

/// `runs` rounds of every command in turn, after one untimed warm-up round.
pub fn measure_rounds(runs: usize, cmds: &[&dyn Fn() -> Command]) -> Vec<Summary> {
    let use_time = child::time_available();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rss_file = dir.path().join("time.txt");
    for cmd in cmds {
        child::run_child(cmd(), use_time, &rss_file);
    }
    let mut runs_of: Vec<Vec<child::Child>> = (0..cmds.len()).map(|_| Vec::new()).collect();
    for _ in 0..runs.max(1) {
        for (k, cmd) in cmds.iter().enumerate() {
            runs_of[k].push(child::run_child(cmd(), use_time, &rss_file));
        }
    }
    runs_of
        .iter()
        .map(|c| {
            let sorted = |f: &dyn Fn(&child::Child) -> Duration| {
                let mut v: Vec<Duration> = c.iter().map(f).collect();
                v.sort();
                v
            };
            let wall = sorted(&|c| c.wall);
            let cpu = sorted(&|c| c.cpu.unwrap_or_default());
            Summary {
                wall_best: wall[0],
                wall_median: wall[wall.len() / 2],
                cpu_best: cpu[0],
                cpu_median: cpu[cpu.len() / 2],
                peak_rss_kb: c.iter().filter_map(|c| c.rss_kb).max().unwrap_or(0),
                output_bytes: c.last().map_or(0, |c| c.stdout.len()),
            }
        })
        .collect()
}

/// A peak resident set in MB.
pub fn mb(kb: u64) -> String {
    child::mb(Some(kb))
}
