//! The ledger: its own SQLite file holding every run's manifest, the
//! state transitions of each run, the leases that keep two runs off one
//! partition, and quarantined records. Its schema is versioned; a ledger
//! written by a newer bplc is refused rather than guessed at.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::engine::sqlite::identity as sqlite_identity;
use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, Status};
use super::RuntimeError;

/// Migrations, in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: runs, transitions, leases, quarantine
    "CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        dataset TEXT NOT NULL,
        status TEXT NOT NULL,
        manifest TEXT NOT NULL
     );
     CREATE INDEX runs_dataset ON runs (dataset, seq);
     CREATE TABLE transitions (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (run_id, seq)
     );
     CREATE TABLE leases (
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (dataset, partition)
     );
     CREATE TABLE quarantine (
        run_id TEXT NOT NULL,
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        record TEXT NOT NULL
     );
     CREATE INDEX quarantine_run ON quarantine (run_id);",
    // 2: backfills and the runs each made
    "CREATE TABLE backfills (
        backfill_id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        report TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE backfill_runs (
        backfill_id TEXT NOT NULL REFERENCES backfills (backfill_id),
        dataset TEXT NOT NULL,
        partition TEXT NOT NULL,
        run_id TEXT,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL
     );
     CREATE INDEX backfill_runs_by ON backfill_runs (backfill_id, dataset, partition);",
    // 3: the project's identity (see `identity`), and the run number new
    // run ids continue after (`run_floor`)
    "CREATE TABLE IF NOT EXISTS _bpl_project (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
];

pub struct Ledger {
    conn: Connection,
    path: std::path::PathBuf,
}

/// One line of `bplc runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub dataset: String,
    pub status: Status,
    pub partitions: Vec<String>,
    pub planned_at: String,
    pub finished_at: Option<String>,
    /// Who approved, rejected or rolled back, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<super::manifest::Review>,
}

impl Ledger {
    /// Opens (creating and migrating) the ledger at `path`; its directory
    /// must exist (`identity::Stores` checks it first).
    pub fn open(path: &Path) -> Result<Ledger, RuntimeError> {
        let conn = Connection::open(path).map_err(|e| RuntimeError::ledger(path, e))?;
        let ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger.migrate(path)?;
        Ok(ledger)
    }

    fn migrate(&self, path: &Path) -> Result<(), RuntimeError> {
        let c = &self.conn;
        c.busy_timeout(super::lock_timeout())
            .map_err(|e| RuntimeError::ledger(path, e))?;
        c.execute_batch(super::engine::sqlite::CONNECTION_SETTINGS)
            .map_err(|e| RuntimeError::ledger(path, e))?;
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| RuntimeError::ledger(path, e))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(RuntimeError::LedgerTooNew {
                path: path.display().to_string(),
                found: version,
                supported: known,
            });
        }
        if version == known {
            return Ok(());
        }
        // Two processes may create a new ledger at once: the write lock is
        // taken first and the version read again under it, so the second
        // finds the work done instead of creating the tables twice.
        let migrated = (|| -> Result<(), rusqlite::Error> {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                c.execute_batch(&format!("{m}; PRAGMA user_version = {};", i + 1))?;
            }
            c.execute_batch("COMMIT")
        })();
        if let Err(e) = migrated {
            let _ = c.execute_batch("ROLLBACK");
            return Err(RuntimeError::ledger(path, e));
        }
        Ok(())
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The project identity the ledger carries, if any (see `identity`).
    pub fn identity(&self) -> Result<Option<super::engine::Identity>, RuntimeError> {
        sqlite_identity::read(&self.conn).map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    /// Writes `candidate` into a ledger that carries no identity; returns
    /// the one it carries.
    pub fn claim_identity(
        &self,
        candidate: &super::engine::Identity,
    ) -> Result<super::engine::Identity, RuntimeError> {
        sqlite_identity::claim(&self.conn, candidate)
            .map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    /// Records the project's new name.
    pub fn rename_project(&self, name: &str) -> Result<(), RuntimeError> {
        sqlite_identity::rename(&self.conn, name).map_err(|e| RuntimeError::ledger(&self.path, e))
    }

    /// New run ids continue after run `seq`: the highest run the warehouse
    /// holds a commit marker of, so a ledger restored from an older backup
    /// never reuses one.
    pub fn continue_after(&mut self, seq: i64) -> Result<(), RuntimeError> {
        if seq <= 0 {
            return Ok(());
        }
        self.conn
            .execute(
                "INSERT INTO _bpl_project (key, value) VALUES ('run_floor', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)",
                params![seq],
            )
            .map(drop)
            .map_err(RuntimeError::sql)
    }

    pub fn path(&self) -> String {
        self.conn.path().unwrap_or("").to_string()
    }

    /// Creates a run and takes its leases in one transaction; if another
    /// unfinished run holds one of the partitions, nothing is written.
    pub fn begin(&mut self, manifest: &mut Manifest) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        for p in &manifest.partitions {
            if let Some(holder) = lease_holder(&tx, &manifest.dataset, p)? {
                return Err(leased(&tx, manifest, p, holder));
            }
        }
        let seq: i64 = tx
            .query_row(
                "SELECT max(coalesce((SELECT max(seq) FROM runs), 0),
                            coalesce((SELECT CAST(value AS INTEGER) FROM _bpl_project
                                      WHERE key = 'run_floor'), 0)) + 1",
                [],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        manifest.run_id = super::identity::run_id(seq);
        for p in &manifest.partitions {
            take_lease(&tx, &manifest.dataset, p, &manifest.run_id)?;
        }
        tx.execute(
            "INSERT INTO runs (run_id, seq, dataset, status, manifest) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                manifest.run_id,
                seq,
                manifest.dataset,
                manifest.status.name(),
                json(manifest)
            ],
        )
        .map_err(RuntimeError::sql)?;
        insert_transition(&tx, manifest, "run planned")?;
        tx.commit().map_err(RuntimeError::sql)
    }

    /// Takes a finished run's leases again, for a retry.
    pub fn reacquire(&mut self, manifest: &Manifest) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        for p in &manifest.partitions {
            match lease_holder(&tx, &manifest.dataset, p)? {
                Some(h) if h != manifest.run_id => return Err(leased(&tx, manifest, p, h)),
                Some(_) => {}
                None => take_lease(&tx, &manifest.dataset, p, &manifest.run_id)?,
            }
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    /// Records a run's quarantined rows, every partition's in one transaction.
    pub fn quarantine(
        &mut self,
        run_id: &str,
        dataset: &str,
        records: &[(&str, Vec<super::engine::Quarantined>)],
    ) -> Result<(), RuntimeError> {
        if records.iter().all(|(_, r)| r.is_empty()) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO quarantine (run_id, dataset, partition, rule, reason, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(RuntimeError::sql)?;
            for (partition, rows) in records {
                for r in rows {
                    insert
                        .execute(params![
                            run_id, dataset, partition, r.rule, r.reason, r.record
                        ])
                        .map_err(RuntimeError::sql)?;
                }
            }
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    /// Writes the manifest with its new status, and the transition, durably.
    pub fn transition(&mut self, manifest: &Manifest, detail: &str) -> Result<(), RuntimeError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        tx.execute(
            "UPDATE runs SET status = ?2, manifest = ?3 WHERE run_id = ?1",
            params![manifest.run_id, manifest.status.name(), json(manifest)],
        )
        .map_err(RuntimeError::sql)?;
        insert_transition(&tx, manifest, detail)?;
        if manifest.status.is_final() {
            tx.execute(
                "DELETE FROM leases WHERE run_id = ?1",
                params![manifest.run_id],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    /// Saves the manifest without a transition (results gathered mid-step).
    pub fn save(&mut self, manifest: &Manifest) -> Result<(), RuntimeError> {
        self.conn
            .execute(
                "UPDATE runs SET manifest = ?2 WHERE run_id = ?1",
                params![manifest.run_id, json(manifest)],
            )
            .map_err(RuntimeError::sql)?;
        Ok(())
    }

    pub fn manifest(&self, run_id: &str) -> Result<Manifest, RuntimeError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT manifest FROM runs WHERE run_id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(RuntimeError::sql)?;
        let text = text.ok_or_else(|| RuntimeError::NoSuchRun(run_id.to_string()))?;
        serde_json::from_str(&text).map_err(|e| RuntimeError::Corrupt {
            what: format!("the manifest of {run_id}"),
            detail: e.to_string(),
        })
    }

    pub fn transitions(&self, run_id: &str) -> Result<Vec<(String, String, String)>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, at, coalesce(detail, '') FROM transitions WHERE run_id = ?1 ORDER BY seq")
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map(params![run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }

    pub fn runs(&self, dataset: Option<&str>) -> Result<Vec<RunSummary>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT manifest FROM runs WHERE ?1 IS NULL OR dataset = ?1 ORDER BY seq")
            .map_err(RuntimeError::sql)?;
        let texts = stmt
            .query_map(params![dataset], |r| r.get::<_, String>(0))
            .map_err(RuntimeError::sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(RuntimeError::sql)?;
        texts
            .iter()
            .map(|t| {
                let m: Manifest = serde_json::from_str(t).map_err(|e| RuntimeError::Corrupt {
                    what: "a run manifest".into(),
                    detail: e.to_string(),
                })?;
                Ok(RunSummary {
                    run_id: m.run_id,
                    dataset: m.dataset,
                    status: m.status,
                    partitions: m.partitions,
                    planned_at: m.times.planned.unwrap_or_default(),
                    finished_at: m.times.finished,
                    review: m.review,
                })
            })
            .collect()
    }

    /// Quarantined records of a run: `(partition, rule, reason, record)`.
    pub fn quarantined(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String, String, String)>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare("SELECT partition, rule, reason, record FROM quarantine WHERE run_id = ?1 ORDER BY rowid")
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }
}

impl Ledger {
    /// Records a backfill (or finds it again, to resume it).
    pub fn backfill(&mut self, id: &str, spec: &serde_json::Value) -> Result<bool, RuntimeError> {
        let now = super::now();
        let n = self
            .conn
            .execute(
                "INSERT INTO backfills (backfill_id, spec, status, created_at, updated_at)
                 VALUES (?1, ?2, 'RUNNING', ?3, ?3) ON CONFLICT (backfill_id) DO NOTHING",
                params![id, spec.to_string(), now],
            )
            .map_err(RuntimeError::sql)?;
        Ok(n == 0)
    }

    /// The processing time of the latest backfill of this request that did
    /// not complete: the same command repeated without `--as-of` takes it
    /// again, so it has the same identity and resumes that backfill.
    pub fn unfinished_as_of(
        &self,
        from: &str,
        range: Option<&str>,
        mode: &serde_json::Value,
        reason: Option<&str>,
    ) -> Result<Option<String>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT spec FROM backfills WHERE status != 'COMPLETE' ORDER BY created_at DESC",
            )
            .map_err(RuntimeError::sql)?;
        let specs = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(RuntimeError::sql)?;
        for spec in specs {
            let spec = spec.map_err(RuntimeError::sql)?;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&spec) else {
                continue;
            };
            if v["from"] == from
                && v["range"].as_str() == range
                && v["mode"] == *mode
                && v["reason"].as_str() == reason
            {
                return Ok(v["as_of"].as_str().map(str::to_string));
            }
        }
        Ok(None)
    }

    /// Records what a backfill step did to each of its partitions:
    /// `(partition, run id, outcome)`, in one transaction.
    pub fn backfill_runs(
        &mut self,
        id: &str,
        dataset: &str,
        outcomes: &[(&str, Option<&str>, &str)],
    ) -> Result<(), RuntimeError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO backfill_runs (backfill_id, dataset, partition, run_id, outcome, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(RuntimeError::sql)?;
            let at = super::now();
            for (partition, run_id, outcome) in outcomes {
                insert
                    .execute(params![id, dataset, partition, run_id, outcome, at])
                    .map_err(RuntimeError::sql)?;
            }
        }
        tx.commit().map_err(RuntimeError::sql)
    }

    /// The partitions a backfill already finished, with the run that did
    /// it, and those it left held for review (finished once approved).
    pub fn backfill_done(
        &self,
        id: &str,
    ) -> Result<Vec<(String, String, String, String)>, RuntimeError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT dataset, partition, coalesce(run_id, ''), outcome FROM backfill_runs
                 WHERE backfill_id = ?1
                   AND outcome IN ('published', 'loaded', 'restated', 'shadowed', 'validated', 'held')",
            )
            .map_err(RuntimeError::sql)?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(RuntimeError::sql)?;
        rows.collect::<Result<_, _>>().map_err(RuntimeError::sql)
    }

    pub fn finish_backfill(
        &mut self,
        id: &str,
        status: &str,
        report: &serde_json::Value,
    ) -> Result<(), RuntimeError> {
        self.conn
            .execute(
                "UPDATE backfills SET status = ?2, report = ?3, updated_at = ?4 WHERE backfill_id = ?1",
                params![id, status, report.to_string(), super::now()],
            )
            .map_err(RuntimeError::sql)?;
        Ok(())
    }
}

fn json(m: &Manifest) -> String {
    serde_json::to_string(m).expect("a manifest serialises")
}

/// The run that holds the lease on one partition of a dataset, if any.
fn lease_holder(
    tx: &rusqlite::Transaction<'_>,
    dataset: &str,
    partition: &str,
) -> Result<Option<String>, RuntimeError> {
    tx.query_row(
        "SELECT run_id FROM leases WHERE dataset = ?1 AND partition = ?2",
        params![dataset, partition],
        |r| r.get(0),
    )
    .optional()
    .map_err(RuntimeError::sql)
}

/// The refusal of a partition another run owns, saying whether that run
/// is HELD for review (then `bplc approve` decides it, not waiting).
fn leased(
    tx: &rusqlite::Transaction<'_>,
    manifest: &Manifest,
    partition: &str,
    holder: String,
) -> RuntimeError {
    let status: Option<String> = tx
        .query_row(
            "SELECT status FROM runs WHERE run_id = ?1",
            params![holder],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten();
    RuntimeError::Leased {
        dataset: manifest.dataset.clone(),
        partition: partition.to_string(),
        held: status.as_deref() == Some(Status::Held.name()),
        holder,
    }
}

fn take_lease(
    tx: &rusqlite::Transaction<'_>,
    dataset: &str,
    partition: &str,
    run_id: &str,
) -> Result<(), RuntimeError> {
    tx.execute(
        "INSERT INTO leases (dataset, partition, run_id) VALUES (?1, ?2, ?3)",
        params![dataset, partition, run_id],
    )
    .map(drop)
    .map_err(RuntimeError::sql)
}

fn insert_transition(
    tx: &rusqlite::Transaction<'_>,
    m: &Manifest,
    detail: &str,
) -> Result<(), RuntimeError> {
    tx.execute(
        "INSERT INTO transitions (run_id, seq, status, at, detail)
         VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM transitions WHERE run_id = ?1), ?2, ?3, ?4)",
        params![m.run_id, m.status.name(), super::now(), detail],
    )
    .map_err(RuntimeError::sql)?;
    Ok(())
}
