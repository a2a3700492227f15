//! Child processes, timed from spawn to exit, with their CPU time and peak
//! resident set (`ru_maxrss` from `wait4`, which reports that child alone).
//! Shared by the `check_project` and `plan_backfill` benchmarks to time
//! whole commands the way a user waits for them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one command cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    /// User plus system time: on a machine shared with other work, less
    /// noisy than the wall time.
    pub cpu: Duration,
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
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Cost {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kb: usage.ru_maxrss as u64,
    }
}

/// Best and median wall and CPU time, and the largest peak RSS, of runs
/// of one command.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub wall_best: Duration,
    pub wall_median: Duration,
    pub cpu_best: Duration,
    pub cpu_median: Duration,
    pub peak_rss_kb: u64,
}

fn summarise(costs: &[Cost]) -> Summary {
    let sorted = |f: fn(&Cost) -> Duration| {
        let mut v: Vec<Duration> = costs.iter().map(f).collect();
        v.sort();
        v
    };
    let (wall, cpu) = (sorted(|c| c.wall), sorted(|c| c.cpu));
    Summary {
        wall_best: wall[0],
        wall_median: wall[wall.len() / 2],
        cpu_best: cpu[0],
        cpu_median: cpu[cpu.len() / 2],
        peak_rss_kb: costs.iter().map(|c| c.peak_rss_kb).max().unwrap_or(0),
    }
}

/// `runs` rounds of every command in turn (interleaved, so a burst of load
/// from elsewhere hits all of them alike), after one untimed warm-up round.
pub fn measure_rounds(runs: usize, cmds: &[&dyn Fn() -> Command]) -> Vec<Summary> {
    for cmd in cmds {
        measure(&mut cmd());
    }
    let mut costs: Vec<Vec<Cost>> = vec![Vec::new(); cmds.len()];
    for _ in 0..runs.max(1) {
        for (k, cmd) in cmds.iter().enumerate() {
            costs[k].push(measure(&mut cmd()));
        }
    }
    costs.iter().map(|c| summarise(c)).collect()
}
