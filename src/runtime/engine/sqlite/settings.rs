//! The settings of every connection bplc opens to a warehouse or a
//! ledger file, and the wait for the first switch of a new file to WAL.

use rusqlite::Connection;

/// The journal of every warehouse and ledger file: WAL lets readers go on
/// while a run writes and makes a commit one append to the log.
const JOURNAL: &str = "PRAGMA journal_mode = WAL";

/// The rest of every connection's settings. `synchronous = FULL` still
/// syncs the log on every commit, so a published partition survives a
/// power cut as it did with the rollback journal. The page cache saves
/// reading pages again; it is a cache, never the data. 2 MB, SQLite's
/// default: a run reads and writes its pages mostly in order, and each
/// page the cache grows by is memory the kernel must hand over (a page
/// fault): with 32 MB, a three-day rerun at 1M rows took twice the faults
/// and a third more system time, and builds were no faster (see the book's
/// runtime performance page). No memory map: its pages count in the
/// resident set, and a 10M-row build went past the memory target with one.
const DURABILITY_AND_CACHE: &str = "PRAGMA synchronous = FULL; PRAGMA cache_size = -2048;";

/// The memory SQLite's sorter fills before it writes a sorted run to a
/// temporary file, in pages (32 MB of 4 KiB pages). SQLite takes the
/// larger of this and the page cache: set apart, the cache stays small
/// while a large `group by` or dedupe still sorts in few runs.
const SORTER_PAGES: i32 = 8192;

/// Sets what SQLite lets be set only once per process, before it opens
/// its first connection: the sorter's memory. Says whether SQLite took
/// it: once a connection is open, SQLite refuses and keeps its own
/// default, and a sort then writes smaller runs, with the same result.
///
/// # Safety
///
/// No other thread may call into SQLite meanwhile (`sqlite3_config` is
/// not thread-safe): the binary calls it first thing, on its one thread.
pub unsafe fn configure_process() -> bool {
    // SAFETY: `SQLITE_CONFIG_PMASZ` takes one `int`, as passed; the caller
    // keeps every other SQLite call away (see above).
    let rc =
        unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_PMASZ, SORTER_PAGES) };
    rc == rusqlite::ffi::SQLITE_OK
}

/// Sets up a new connection to a warehouse or ledger file: it waits up to
/// the lock timeout for another writer, and has the settings above.
pub fn apply_settings(conn: &Connection) -> rusqlite::Result<()> {
    let patience = crate::runtime::lock_timeout();
    conn.busy_timeout(patience)?;
    apply_settings_within(conn, patience)
}

/// The settings, waiting up to `patience` for the switch to WAL. The first connection to a
/// new file turns it to WAL, which takes the file's exclusive lock from
/// inside a read transaction. SQLite never calls the busy handler for that
/// step (two connections waiting there could wait for each other for
/// ever) and answers `SQLITE_BUSY` at once, so when several processes open
/// the same new file at the same moment, all but one would fail. Here the
/// switch is tried again, with short pauses, until it succeeds or
/// `patience` runs out. Once the file is in WAL mode the switch takes no
/// lock, so later opens pass the first time.
fn apply_settings_within(conn: &Connection, patience: std::time::Duration) -> rusqlite::Result<()> {
    let give_up = std::time::Instant::now() + patience;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match conn.query_row(JOURNAL, [], |_| Ok(())) {
            Ok(()) => break,
            Err(e)
                if crate::runtime::gave_up_waiting(&e)
                    && std::time::Instant::now() + pause < give_up =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    conn.execute_batch(DURABILITY_AND_CACHE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A new file (rollback journal) another connection is writing: the
    /// switch to WAL cannot take the file's lock until that write ends.
    fn new_file_being_written() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let opener = Connection::open(&path).unwrap();
        opener.busy_timeout(Duration::from_secs(5)).unwrap();
        (dir, writer, opener)
    }

    fn journal_mode(c: &Connection) -> String {
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_switch_to_wal_is_refused_at_once_without_the_retry() {
        let started = std::time::Instant::now();
        // What the retry is for: SQLite does not wait here, busy timeout
        // or not (the test would take the 5 s of the timeout if it did).
        let (_dir, _writer, opener) = new_file_being_written();
        let e = opener
            .execute_batch("PRAGMA journal_mode = WAL")
            .unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        assert!(started.elapsed() < Duration::from_secs(4), "it waited");
    }

    #[test]
    fn the_switch_to_wal_waits_for_a_writer_of_a_new_file() {
        let (_dir, writer, opener) = new_file_being_written();
        let done = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            writer.execute_batch("COMMIT").unwrap();
        });
        apply_settings_within(&opener, Duration::from_secs(5)).unwrap();
        done.join().unwrap();
        assert_eq!(journal_mode(&opener), "wal");
        let sync: i64 = opener
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn the_switch_to_wal_gives_up_when_the_wait_runs_out() {
        let (_dir, _writer, opener) = new_file_being_written();
        let e = apply_settings_within(&opener, Duration::from_millis(100)).unwrap_err();
        assert_eq!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        let coded = crate::runtime::RuntimeError::sql(e);
        assert_eq!(coded.code(), crate::diagnostic::codes::E0337);
        assert!(
            coded
                .to_string()
                .contains("stayed locked by another process"),
            "{coded}"
        );
    }
}
