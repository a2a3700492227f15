//! Fault injection for crash tests. Built only with the cargo feature
//! `fault-injection`: `BPLC_FAULT=<point>` aborts the process at that point
//! of the lifecycle, as a power cut would — no destructors, no rollback but
//! SQLite's own.

/// The points a run can be cut at, in lifecycle order.
pub const POINTS: &[&str] = &[
    "after-lock",
    "mid-staging",
    "after-validate",
    "mid-commit",
    "after-commit",
];

/// Aborts the process if `BPLC_FAULT` names this point.
#[inline]
pub fn point(name: &str) {
    #[cfg(feature = "fault-injection")]
    if std::env::var("BPLC_FAULT").is_ok_and(|v| v == name) {
        eprintln!("bplc: fault injected at {name}");
        std::process::abort();
    }
    let _ = name;
}
