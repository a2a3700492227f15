//! One child process, timed from spawn to exit, with its peak resident set
//! (`ru_maxrss` from `wait4`, which reports that child alone). Shared by
//! the `check_project` and `plan_backfill` benchmarks to time whole
//! commands the way a user waits for them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one command cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    pub peak_rss_kb: u64,
}

/// Runs `cmd` with its output discarded; panics if it fails.
pub fn measure(cmd: &mut Command) -> Cost {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten, and
    // `pid` is our own child, not yet waited for (the Child is forgotten
    // below so it never waits again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    std::mem::forget(child);
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed: status {status}"
    );
    Cost {
        wall,
        peak_rss_kb: usage.ru_maxrss as u64,
    }
}

/// Best and median wall time and the largest peak RSS of `runs` runs,
/// after one untimed warm-up run.
pub fn measure_runs(runs: usize, mut cmd: impl FnMut() -> Command) -> (Duration, Duration, u64) {
    measure(&mut cmd());
    let costs: Vec<Cost> = (0..runs.max(1)).map(|_| measure(&mut cmd())).collect();
    let mut walls: Vec<Duration> = costs.iter().map(|c| c.wall).collect();
    walls.sort();
    let peak = costs.iter().map(|c| c.peak_rss_kb).max().unwrap_or(0);
    (walls[0], walls[walls.len() / 2], peak)
}
