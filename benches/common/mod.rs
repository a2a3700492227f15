//! Helpers shared by the benchmarks that drive `bplc` in child processes
//! against SQLite files (`run_daily`, `backfill`), included with `#[path]`
//! like the generator.

use std::path::Path;
use std::time::Duration;

/// An environment variable, unless unset or blank.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn best(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

pub fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Removes a SQLite database and its journal files, if any.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Replaces `to` with a copy of the database `from`, synced to disk so the
/// copy's write-back does not land in the next measurement.
pub fn copy_synced(from: &Path, to: &Path) {
    remove_db(to);
    std::fs::copy(from, to).expect("copy a database");
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .expect("sync the copy");
}
