//! Fault injection for crash tests. Built only with the cargo feature
//! `fault-injection`: `BPLC_FAULT=<point>` aborts the process at that point
//! of the lifecycle, as a power cut would — no destructors, no rollback but
//! SQLite's own.

/// The points a run can be cut at, in lifecycle order.
pub const POINTS: &[&str] = &[
    "after-lock",
    "in-staging",
    "mid-staging",
    "after-validate",
    "mid-commit",
    "after-commit",
];

/// Aborts the process if `BPLC_FAULT` names this point; sleeps there if
/// `BPLC_PAUSE=<point>:<milliseconds>` names it (for sending a signal to a
/// run at a known step).
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "fault-injection")]
    {
        if std::env::var("BPLC_FAULT").is_ok_and(|v| v == name) {
            eprintln!("bplc: fault injected at {name}");
            std::process::abort();
        }
        if let Some(ms) = std::env::var("BPLC_PAUSE").ok().and_then(|v| {
            v.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(':'))
                .and_then(|ms| ms.parse::<u64>().ok())
        }) {
            eprintln!("bplc: paused at {name}");
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
    let _ = name;
}

/// Whether `BPLC_FAULT=fail:<dataset>:<partition>` asks this partition's
/// run to fail with an engine error (not a crash): for testing how a
/// backfill stops exactly the partitions downstream of a failure.
pub fn fails(dataset: &str, partition: &str) -> bool {
    #[cfg(feature = "fault-injection")]
    if let Ok(v) = std::env::var("BPLC_FAULT") {
        return v.strip_prefix("fail:").is_some_and(|rest| {
            rest.split(',')
                .any(|one| one.split_once(':') == Some((dataset, partition)))
        });
    }
    let _ = (dataset, partition);
    false
}
