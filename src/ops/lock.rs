//! The lock that keeps two `bplc run-due` calls from overlapping: an
//! exclusive transaction on a small SQLite file next to the ledger. The
//! operating system releases it when the process ends, however it ends, so
//! a crashed caller never leaves a stale lock behind.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode};

/// Held while it lives.
pub struct RunDueLock {
    _conn: Connection,
    pub path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another caller holds it (E0352).
    Held(PathBuf),
    /// The file cannot be created or locked.
    Io(PathBuf, String),
}

/// The lock file of a ledger: `ledger.sqlite.run-due.lock`.
pub fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(".run-due.lock");
    ledger.with_file_name(name)
}

impl RunDueLock {
    /// Takes the lock of `ledger` without waiting.
    pub fn acquire(ledger: &Path) -> Result<RunDueLock, LockError> {
        let path = lock_path(ledger);
        let io = |e: rusqlite::Error| LockError::Io(path.clone(), e.to_string());
        let conn = Connection::open(&path).map_err(io)?;
        conn.busy_timeout(std::time::Duration::ZERO).map_err(io)?;
        let taken = conn
            .execute_batch("CREATE TABLE IF NOT EXISTS run_due (pid INTEGER)")
            .and_then(|()| conn.execute_batch("BEGIN EXCLUSIVE"));
        match taken {
            Ok(()) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                return Err(LockError::Held(path));
            }
            Err(e) => return Err(io(e)),
        }
        // Who holds it, for a person looking at the file.
        conn.execute("DELETE FROM run_due", []).map_err(io)?;
        conn.execute("INSERT INTO run_due VALUES (?1)", [std::process::id()])
            .map_err(io)?;
        Ok(RunDueLock { _conn: conn, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_caller_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger.sqlite");
        let first = RunDueLock::acquire(&ledger).unwrap();
        assert!(matches!(
            RunDueLock::acquire(&ledger),
            Err(LockError::Held(_))
        ));
        drop(first);
        assert!(RunDueLock::acquire(&ledger).is_ok());
    }
}
