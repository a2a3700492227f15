//! Checkpoints of the warehouse's write-ahead log, on a thread of their
//! own.
//!
//! In WAL mode every page a run writes goes to the log first and is copied
//! into the database file by a checkpoint. SQLite's own checkpoint runs in
//! the connection that commits, right after a commit leaves a thousand
//! pages or more in the log: the copy (and its sync of the database file)
//! then sits between one step of a run and the next, a quarter of a second
//! after a million-row build's staging commit. A [`Checkpointer`] keeps
//! SQLite's rule (the same commits are followed by a checkpoint) but hands
//! the checkpoint to a second connection on a thread of its own, so the run
//! goes on to its next step while the pages are copied.
//!
//! A checkpoint copies only committed pages, never blocks the writer
//! (`PASSIVE`), and is itself safe across a crash: durability and what a
//! reader sees do not change, only which thread copies the pages. What a
//! checkpoint leaves behind (pages a reader still needed, or one that
//! failed) the next one copies, or the last connection to close.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{ffi, Connection};

/// SQLite's own threshold (`SQLITE_DEFAULT_WAL_AUTOCHECKPOINT`): a commit
/// that leaves at least this many pages in the log is followed by a
/// checkpoint.
const PAGES: c_int = 1000;

const CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// The checkpoints of one connection, once [`Checkpointer::install`]ed on
/// it. The thread starts at the first commit that calls for a checkpoint
/// (a command that only writes a little never starts it).
pub(super) struct Checkpointer {
    /// Boxed: the connection's hook holds its address.
    state: Box<State>,
}

struct State {
    path: PathBuf,
    thread: Mutex<Thread>,
}

enum Thread {
    NotStarted,
    Running(Worker),
    /// It could not start: checkpoints run on the committing connection,
    /// as SQLite's own would.
    Unavailable,
}

struct Worker {
    /// Holds at most one request: requests made while one waits are the
    /// same request.
    wake: SyncSender<()>,
    handle: JoinHandle<()>,
}

impl Checkpointer {
    /// Replaces SQLite's automatic checkpoint on `conn` (a connection to
    /// the file at `path`) with this one. [`Checkpointer::uninstall`] must
    /// be called before the checkpointer is dropped while `conn` is open.
    pub(super) fn install(conn: &Connection, path: &Path) -> Checkpointer {
        let state = Box::new(State {
            path: path.to_path_buf(),
            thread: Mutex::new(Thread::NotStarted),
        });
        let arg = &*state as *const State as *mut c_void;
        // SAFETY: `conn.handle()` is an open connection; the hook is called
        // on the thread using `conn`, after a commit, with `arg`, which
        // points into the box and stays valid until `uninstall` (the box is
        // never moved out of, only the pointer to it).
        unsafe {
            ffi::sqlite3_wal_hook(conn.handle(), Some(after_commit), arg);
        }
        Checkpointer { state }
    }

    /// Removes the hook from `conn`: no later commit refers to this
    /// checkpointer.
    pub(super) fn uninstall(&self, conn: &Connection) {
        // SAFETY: `conn` is open; a null hook turns the hook off.
        unsafe {
            ffi::sqlite3_wal_hook(conn.handle(), None, std::ptr::null_mut());
        }
    }

    #[cfg(test)]
    fn started(&self) -> bool {
        matches!(*self.state.thread.lock().unwrap(), Thread::Running(_))
    }
}

impl State {
    /// Asks the thread for a checkpoint, starting it first if need be;
    /// false when there is no thread to ask.
    fn request(&self) -> bool {
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*thread, Thread::NotStarted) {
            *thread = match start(&self.path) {
                Ok(w) => Thread::Running(w),
                Err(e) => {
                    tracing::debug!(error = %e, "checkpoints stay on the committing connection");
                    Thread::Unavailable
                }
            };
        }
        match &*thread {
            Thread::Running(w) => {
                !matches!(w.wake.try_send(()), Err(TrySendError::Disconnected(())))
            }
            _ => false,
        }
    }
}

/// The connection's WAL hook: called after each commit with the number of
/// pages in the log.
unsafe extern "C" fn after_commit(
    arg: *mut c_void,
    db: *mut ffi::sqlite3,
    _schema: *const c_char,
    pages: c_int,
) -> c_int {
    if pages < PAGES {
        return ffi::SQLITE_OK;
    }
    // SAFETY: `arg` is the `State` `install` registered, alive until
    // `uninstall` removes this hook.
    let state = unsafe { &*(arg as *const State) };
    if !state.request() {
        // SAFETY: `db` is the connection that just committed, outside any
        // transaction; SQLite's own hook makes the same call here.
        unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                db,
                std::ptr::null(),
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
    ffi::SQLITE_OK
}

impl Drop for Checkpointer {
    /// Waits for the checkpoint under way, if any; the thread's connection
    /// closes with it.
    fn drop(&mut self) {
        let thread = std::mem::replace(
            &mut *self.state.thread.lock().unwrap_or_else(|p| p.into_inner()),
            Thread::Unavailable,
        );
        if let Thread::Running(Worker { wake, handle }) = thread {
            drop(wake);
            let _ = handle.join();
        }
    }
}

fn start(path: &Path) -> Result<Worker, Box<dyn std::error::Error>> {
    let conn = Connection::open(path)?;
    super::apply_settings(&conn)?;
    let (wake, requests) = sync_channel::<()>(1);
    let handle = std::thread::Builder::new()
        .name("bplc-checkpoint".into())
        .spawn(move || {
            for () in requests {
                checkpoint(&conn);
            }
        })?;
    Ok(Worker { wake, handle })
}

/// One passive checkpoint. A failure loses nothing (the pages stay in the
/// log for the next one), so it is only traced.
fn checkpoint(conn: &Connection) {
    let started = std::time::Instant::now();
    let done = conn.query_row(CHECKPOINT, [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    let ms = started.elapsed().as_millis() as u64;
    match done {
        Ok((busy, log, copied)) => tracing::debug!(busy, log, copied, ms, "checkpoint"),
        Err(e) => tracing::debug!(error = %e, ms, "checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_pages(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len()) / 4096
    }

    /// A new file in a temporary directory (kept while the first value
    /// lives), with a connection set up as the engine's.
    fn new_warehouse() -> (tempfile::TempDir, PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warehouse.sqlite");
        let conn = Connection::open(&path).unwrap();
        super::super::apply_settings(&conn).unwrap();
        (dir, path, conn)
    }

    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    /// `n` rows of 500 bytes, about one page per 7 rows.
    fn insert(conn: &Connection, n: i64) {
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS t (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO t SELECT printf('%0500d', i) FROM n;"
        ))
        .unwrap();
    }

    /// SQLite's rule is kept: a commit leaving fewer than a thousand pages
    /// in the log is not followed by a checkpoint; a larger one is, and its
    /// pages reach the database file through the thread, which stops when
    /// the checkpointer is dropped.
    #[test]
    fn the_thread_copies_what_a_large_commit_left_in_the_log() {
        let (_dir, path, conn) = new_warehouse();
        let checkpoints = Checkpointer::install(&conn, &path);
        insert(&conn, 1000);
        assert!(!checkpoints.started(), "a small commit asks for nothing");
        assert!(
            database_pages(&path) < 10,
            "{} pages",
            database_pages(&path)
        );
        insert(&conn, 20_000);
        assert!(checkpoints.started(), "a large commit starts the thread");
        checkpoints.uninstall(&conn);
        drop(checkpoints);
        assert!(
            database_pages(&path) > 2000,
            "the thread copied the pages: {} pages",
            database_pages(&path)
        );
        assert_eq!(rows(&conn), 21_000);
    }

    /// The engine's connection never checkpoints on its own, and a command
    /// that only reads starts no thread.
    #[test]
    fn the_engine_leaves_checkpoints_to_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warehouse.sqlite");
        drop(Connection::open(&path).unwrap());
        let engine = super::super::SqliteEngine::open(&path).unwrap();
        let pages: i64 = engine
            .conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pages, 0, "SQLite's own checkpoint is replaced");
        assert!(!engine.checkpoints.started());
    }

    /// Requests made while one is under way are one request; none blocks
    /// the committing connection or loses a row.
    #[test]
    fn requests_never_block_the_run() {
        let (_dir, path, conn) = new_warehouse();
        let checkpoints = Checkpointer::install(&conn, &path);
        for _ in 0..20 {
            insert(&conn, 8000);
        }
        checkpoints.uninstall(&conn);
        drop(checkpoints);
        assert_eq!(rows(&conn), 160_000);
    }
}
