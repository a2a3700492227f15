//! Timing a child process for the benchmarks that compare `bplc` with
//! hand-written SQL run by another process (`run_daily`, `pipeline`):
//! wall time, user + system CPU time and peak resident set, measured the
//! same way for both sides. Included with `#[path]`, like `common`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Child {
    pub wall: Duration,
    /// User + system CPU time, when it could be measured.
    pub cpu: Option<Duration>,
    /// Peak resident set in kB, when it could be measured.
    pub rss_kb: Option<u64>,
    pub stdout: String,
}

pub fn time_available() -> bool {
    Path::new("/usr/bin/time").exists()
        && Command::new("/usr/bin/time")
            .args(["-f", "%U %S %M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Runs a command to the end; its wall time, CPU time and peak RSS.
/// Panics, with the child's output, if it fails.
pub fn run_child(cmd: Command, use_time: bool, rss_file: &Path) -> Child {
    let mut cmd = if use_time {
        let mut wrapped = Command::new("/usr/bin/time");
        wrapped
            .args(["-f", "%U %S %M", "-o"])
            .arg(rss_file)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        wrapped
    } else {
        cmd
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("start the child");
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<_>));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<_>));
    // Without /usr/bin/time: VmHWM only grows, so the last sample before
    // exit is the peak, within one polling interval.
    let status_file = format!("/proc/{}/status", child.id());
    let mut polled: Option<u64> = None;
    let status = if use_time {
        child.wait().expect("wait for the child")
    } else {
        loop {
            if let Some(kb) = std::fs::read_to_string(&status_file)
                .ok()
                .and_then(|s| vm_hwm(&s))
            {
                polled = Some(polled.map_or(kb, |p| p.max(kb)));
            }
            match child.try_wait().expect("poll the child") {
                Some(s) => break s,
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    };
    let wall = start.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    assert!(
        status.success(),
        "the child failed ({status}):\n{stdout}{stderr}"
    );
    // `/usr/bin/time -f "%U %S %M"`: user and system seconds, peak kB.
    let measured: Option<(f64, f64, u64)> = use_time
        .then(|| std::fs::read_to_string(rss_file).ok())
        .flatten()
        .and_then(|t| {
            t.lines().rev().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f[..] {
                    [u, s, m] => Some((u.parse().ok()?, s.parse().ok()?, m.parse().ok()?)),
                    _ => None,
                }
            })
        });
    Child {
        wall,
        cpu: measured.map(|(u, s, _)| Duration::from_secs_f64(u + s)),
        rss_kb: measured.map(|m| m.2).or(polled),
        stdout,
    }
}

fn vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A peak resident set in MB, or `n/a`.
pub fn mb(kb: Option<u64>) -> String {
    kb.map_or("n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
}
