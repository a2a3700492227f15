//! Helpers shared by the benchmarks that drive `bplc` in child processes
//! against SQLite files (`run_daily`, `backfill`), included with `#[path]`
//! like the generator.

use std::path::{Path, PathBuf};
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

/// The directory a benchmark writes to: `BPLC_BENCH_KEEP`, created and
/// kept, or a temporary directory, removed when the guard drops.
pub fn work_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match env("BPLC_BENCH_KEEP") {
        Some(d) => {
            std::fs::create_dir_all(&d).expect("create BPLC_BENCH_KEEP");
            (None, PathBuf::from(d))
        }
        None => {
            let tmp = tempfile::tempdir().expect("temporary directory");
            let path = tmp.path().to_path_buf();
            (Some(tmp), path)
        }
    }
}

/// A copy of the release `bplc` in `dir`: a rebuild while the benchmark
/// runs does not change what it times.
pub fn bplc_copy(dir: &Path) -> PathBuf {
    let bin = dir.join("bplc");
    std::fs::copy(env!("CARGO_BIN_EXE_bplc"), &bin).expect("copy the bplc binary");
    bin
}
