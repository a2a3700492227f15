//! The sorter's memory, which SQLite takes only once per process and
//! before its first connection: this file holds one test, so its binary
//! has no other test opening connections beside it.

use bplc::runtime::engine::sqlite::{apply_settings, configure_process};
use rusqlite::{ffi, Connection};

/// The most memory SQLite has held at once since the process started.
fn memory_high_water() -> i64 {
    let (mut now, mut high) = (0i64, 0i64);
    // SAFETY: two valid pointers to `i64`, as the call asks.
    let rc =
        unsafe { ffi::sqlite3_status64(ffi::SQLITE_STATUS_MEMORY_USED, &mut now, &mut high, 0) };
    assert_eq!(rc, ffi::SQLITE_OK);
    high
}

#[test]
fn a_sort_of_twenty_megabytes_stays_in_memory_beside_a_small_page_cache() {
    // SAFETY: the only test of this binary, and no connection is open yet.
    assert!(unsafe { configure_process() }, "SQLite refused the setting");
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("w.sqlite")).unwrap();
    apply_settings(&conn).unwrap();
    let cache: i64 = conn
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cache, -2048, "a 2 MB page cache");
    // 200,000 rows of 100 bytes each, sorted: about 20 MB for the sorter.
    let rows: i64 = conn
        .query_row(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
             SELECT count(*) FROM (SELECT i, printf('%.100c', char(65 + i % 26)) AS t FROM n
                                   ORDER BY t, i)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 200_000);
    // With SQLite's own limit (the 2 MB cache) the sorter would write its
    // runs to a temporary file once it held about 2 MB.
    let high = memory_high_water();
    assert!(
        high > 16 << 20,
        "the sort held at most {high} bytes: it went to a temporary file"
    );
}
