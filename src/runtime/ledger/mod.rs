//! The ledger: every run's manifest, the state transitions of each run,
//! the leases that keep two runs off one partition, quarantined records
//! and backfills. It is kept in its own SQLite file, or in a schema of a
//! PostgreSQL database (`ledger = "postgres"`); what it does is written
//! once here against a [`store::Store`], which each backend provides
//! (`sqlite.rs`, `postgres.rs`). Its schema is versioned on both; a ledger
//! written by a newer bplc is refused rather than guessed at.

mod backfills;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::manifest::{Manifest, Status};
use super::RuntimeError;
pub(crate) use store::{Store, Val};

/// Where the ledger is kept, as `bpl.toml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Its own SQLite file (the default, `target/ledger.sqlite`).
    Sqlite(PathBuf),
    /// A schema of the PostgreSQL database the environment variable
    /// `url_env` points at.
    Postgres { url_env: String, schema: String },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres { url_env, schema } => write!(f, "schema {schema} of ${url_env}"),
        }
    }
}

impl Location {
    /// The ledger `bpl.toml` chooses; `path` is its file on SQLite.
    pub fn of(settings: &crate::project::LedgerSettings, path: PathBuf) -> Location {
        match settings {
            crate::project::LedgerSettings::Sqlite => Location::Sqlite(path),
            crate::project::LedgerSettings::Postgres { url_env, schema } => Location::Postgres {
                url_env: url_env.clone(),
                schema: schema.clone(),
            },
        }
    }

    /// Whether the ledger exists: its file, or its schema (nothing is
    /// created).
    pub fn exists(&self) -> Result<bool, RuntimeError> {
        match self {
            Location::Sqlite(path) => Ok(path.exists()),
            #[cfg(feature = "postgres")]
            Location::Postgres { url_env, schema } => {
                Ok(postgres::PostgresStore::connect(url_env, schema, false)?.is_some())
            }
            #[cfg(not(feature = "postgres"))]
            Location::Postgres { .. } => Err(without_postgres()),
        }
    }

    /// A ledger file's directory, when it does not exist: `(directory,
    /// file)`. A path with a typo would otherwise become a new, empty file.
    pub fn missing_directory(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        let Location::Sqlite(file) = self else {
            return None;
        };
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
        (!dir.is_dir()).then_some((dir, file.as_path()))
    }

    /// How to start an empty ledger here on purpose.
    pub fn create_empty(&self) -> String {
        match self {
            Location::Sqlite(path) => format!("touch {}", path.display()),
            Location::Postgres { schema, .. } => {
                format!("CREATE SCHEMA {};", crate::sql::types::ident(schema))
            }
        }
    }

    /// For a ledger on a server: takes the lock `what` without waiting (a
    /// session advisory lock, held while the returned value lives, by one
    /// process on any machine; ended with the process however it ends).
    /// `None` for a ledger file, which has its lock file beside it.
    pub fn server_lock(&self, what: &str) -> Option<Result<ServerLock, RuntimeError>> {
        match self {
            Location::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            Location::Postgres { url_env, schema } => Some(
                postgres::session_lock(url_env, schema, what, std::time::Duration::ZERO).map(
                    |held| match held {
                        Some(client) => ServerLock::Taken(Box::new(client)),
                        None => ServerLock::Busy,
                    },
                ),
            ),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres { .. } => {
                let _ = what;
                Some(Err(without_postgres()))
            }
        }
    }

    /// Opens (creating and migrating) the ledger; a file's directory must
    /// exist (`identity::Stores` checks it first).
    pub fn open(&self) -> Result<Ledger, RuntimeError> {
        let store: Box<dyn Store> = match self {
            Location::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
            #[cfg(feature = "postgres")]
            Location::Postgres { url_env, schema } => {
                Box::new(postgres::PostgresStore::open(url_env, schema)?)
            }
            #[cfg(not(feature = "postgres"))]
            Location::Postgres { .. } => return Err(without_postgres()),
        };
        let ledger = Ledger { store, turn: None };
        ledger.migrate()?;
        Ok(ledger)
    }
}

/// A lock on the ledger's server (see [`Location::server_lock`]).
pub enum ServerLock {
    /// Held until this is dropped.
    Taken(Box<dyn Send>),
    /// Another session holds it.
    Busy,
}

/// `ledger = "postgres"` in a bplc built without PostgreSQL.
#[cfg(not(feature = "postgres"))]
fn without_postgres() -> RuntimeError {
    RuntimeError::Server {
        code: crate::diagnostic::codes::E0365,
        message: "bpl.toml says `ledger = \"postgres\"`, but this bplc was built without PostgreSQL".into(),
        help: "build bplc with it (`cargo install bplc --features postgres`), or keep the ledger in a file (`ledger = \"target/ledger.sqlite\"`)".into(),
    }
}

pub struct Ledger {
    store: Box<dyn Store>,
    /// The writers' turn, held while this ledger is open (see
    /// [`Ledger::take_writers_turn`]).
    turn: Option<Box<dyn Send>>,
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
    /// Opens (creating and migrating) the ledger file at `path`.
    pub fn open(path: &std::path::Path) -> Result<Ledger, RuntimeError> {
        Location::Sqlite(path.to_path_buf()).open()
    }

    fn migrate(&self) -> Result<(), RuntimeError> {
        let s = &*self.store;
        let known = s.migrations().len() as i64;
        let too_new = |found| RuntimeError::LedgerTooNew {
            path: s.describe(),
            found,
            supported: known,
        };
        let version = s.version()?;
        if version > known {
            return Err(too_new(version));
        }
        if version == known {
            return Ok(());
        }
        // Two processes may create a new ledger at once: the write lock is
        // taken first and the version read again under it, so the second
        // finds the work done instead of creating the tables twice.
        self.write(|s| {
            let version = s.version()?;
            if version > known {
                return Err(too_new(version));
            }
            for (i, m) in s.migrations().iter().enumerate().skip(version as usize) {
                s.batch(m)?;
                s.set_version(i as i64 + 1)?;
            }
            Ok(())
        })
    }

    /// Runs `f` in one write transaction (see [`Store::begin`]): all of it
    /// is kept, or none.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        self.write_as(false, f)
    }

    /// [`Ledger::write`], begun relaxed or not.
    fn write_as<T>(
        &self,
        relaxed: bool,
        f: impl FnOnce(&dyn Store) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        let s = &*self.store;
        if relaxed {
            s.begin_relaxed()?;
        } else {
            s.begin()?;
        }
        match f(s).and_then(|v| s.commit().map(|()| v)) {
            Ok(v) => Ok(v),
            Err(e) => {
                s.rollback();
                Err(e)
            }
        }
    }

    /// [`Ledger::write`] for a record that need not be on disk before the
    /// next step: the run's progress up to validation (its partitions'
    /// leases and manifest were durable when it began), its quarantined
    /// rows, a backfill step's outcomes, and the end of a run the warehouse
    /// has published (see [`Ledger::finish_published`]). The next durable
    /// commit makes it durable too: a run commits `publishing` durably
    /// before the warehouse publishes anything, and SQLite syncs the log
    /// when the ledger's last connection closes. A crash of the process
    /// loses nothing; a power cut before then loses at most the run's
    /// progress since its last durable record, and recovery decides from
    /// the warehouse (staged rows are discarded, as for a run interrupted
    /// while staging).
    pub(crate) fn write_relaxed<T>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError> {
        self.write_as(true, f)
    }

    /// The database the ledger is kept in, for the ingestion ledger's
    /// statements (`runtime::ingest_ledger`).
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Takes the lock `what` of this ledger (see [`Store::exclusive`]): an
    /// exclusive transaction on a small file beside a ledger file, a session
    /// advisory lock on a ledger's server.
    pub fn exclusive(&self, what: &str) -> Result<Box<dyn Send>, RuntimeError> {
        self.store.exclusive(what)
    }

    /// Takes the writers' lock (see [`Ledger::exclusive`]) and holds it
    /// until this ledger is dropped: the command is then the only one
    /// writing the project's warehouse. For engines whose writers must
    /// take turns (`Engine::writers_take_turns`).
    pub fn take_writers_turn(&mut self) -> Result<(), RuntimeError> {
        if self.turn.is_none() {
            self.turn = Some(self.exclusive("writers")?);
        }
        Ok(())
    }

    /// The project identity the ledger carries, if any (see `identity`).
    pub fn identity(&self) -> Result<Option<super::engine::Identity>, RuntimeError> {
        self.store.identity()
    }

    /// Writes `candidate` into a ledger that carries no identity; returns
    /// the one it carries.
    pub fn claim_identity(
        &self,
        candidate: &super::engine::Identity,
    ) -> Result<super::engine::Identity, RuntimeError> {
        self.store.claim_identity(candidate)
    }

    /// Records the project's new name.
    pub fn rename_project(&self, name: &str) -> Result<(), RuntimeError> {
        self.store.rename_project(name)
    }

    /// New run ids continue after run `seq`: the highest run the warehouse
    /// holds a commit marker of, so a ledger restored from an older backup
    /// never reuses one.
    pub fn continue_after(&mut self, seq: i64) -> Result<(), RuntimeError> {
        if seq <= 0 {
            return Ok(());
        }
        self.write(|s| {
            if run_floor(s)? >= seq {
                return Ok(());
            }
            s.execute(
                "INSERT INTO _bpl_project (key, value) VALUES ('run_floor', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[Val::Text(seq.to_string())],
            )
            .map(drop)
        })
    }

    /// Where the ledger is: its file, or its schema and server.
    pub fn path(&self) -> String {
        self.store.describe()
    }

    /// Creates a run and takes its leases in one transaction; if another
    /// unfinished run holds one of the partitions, nothing is written.
    pub fn begin(&mut self, manifest: &mut Manifest) -> Result<(), RuntimeError> {
        self.write(|s| {
            for p in &manifest.partitions {
                if let Some(holder) = lease_holder(s, &manifest.dataset, p)? {
                    return Err(leased(s, manifest, p, holder));
                }
            }
            let last = s.query("SELECT coalesce(max(seq), 0) FROM runs", &[])?;
            let last = first_int(&last).unwrap_or(0);
            let seq = last.max(run_floor(s)?) + 1;
            manifest.run_id = super::identity::run_id(seq);
            for p in &manifest.partitions {
                take_lease(s, &manifest.dataset, p, &manifest.run_id)?;
            }
            s.execute(
                "INSERT INTO runs (run_id, seq, dataset, status, manifest) VALUES ($1, $2, $3, $4, $5)",
                &[
                    manifest.run_id.as_str().into(),
                    seq.into(),
                    manifest.dataset.as_str().into(),
                    manifest.status.name().into(),
                    json(manifest).into(),
                ],
            )?;
            insert_transition(s, manifest, "run planned")
        })
    }

    /// Takes a finished run's leases again, for a retry.
    pub fn reacquire(&mut self, manifest: &Manifest) -> Result<(), RuntimeError> {
        self.write(|s| {
            for p in &manifest.partitions {
                match lease_holder(s, &manifest.dataset, p)? {
                    Some(h) if h != manifest.run_id => return Err(leased(s, manifest, p, h)),
                    Some(_) => {}
                    None => take_lease(s, &manifest.dataset, p, &manifest.run_id)?,
                }
            }
            Ok(())
        })
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
        // Before validation: durable with the run's next durable step.
        self.write_relaxed(|s| {
            for (partition, rows) in records {
                for r in rows {
                    s.execute(
                        "INSERT INTO quarantine (run_id, dataset, partition, rule, reason, record)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &[
                            run_id.into(),
                            dataset.into(),
                            (*partition).into(),
                            r.rule.as_str().into(),
                            r.reason.as_str().into(),
                            r.record.as_str().into(),
                        ],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Writes the manifest with its new status, and the transition: durably
    /// from `publishing` on (what recovery decides by) and for a run that
    /// stops (held, recovering); relaxed for the steps between a run's
    /// start and its publish (see [`Ledger::write_relaxed`]).
    pub fn transition(&mut self, manifest: &Manifest, detail: &str) -> Result<(), RuntimeError> {
        let relaxed = matches!(
            manifest.status,
            Status::InputLocked | Status::Running | Status::Validating
        );
        self.record(manifest, detail, relaxed)
    }

    /// [`Ledger::transition`] to `PUBLISHED`, relaxed, for a run whose
    /// publish the warehouse has durably committed. Losing it to a power
    /// cut leaves the ledger at `publishing` with the run's leases and the
    /// warehouse with its commit marker: the state a crash right after the
    /// publish leaves, from which `bplc recover` decides
    /// `ALREADY_PUBLISHED`. The next durable commit (the next run's start)
    /// syncs it, or the checkpoint SQLite makes when the ledger's last
    /// connection closes.
    pub fn finish_published(
        &mut self,
        manifest: &Manifest,
        detail: &str,
    ) -> Result<(), RuntimeError> {
        debug_assert_eq!(manifest.status, Status::Published);
        self.record(manifest, detail, true)
    }

    fn record(
        &mut self,
        manifest: &Manifest,
        detail: &str,
        relaxed: bool,
    ) -> Result<(), RuntimeError> {
        let write = |s: &dyn Store| {
            s.execute(
                "UPDATE runs SET status = $2, manifest = $3 WHERE run_id = $1",
                &[
                    manifest.run_id.as_str().into(),
                    manifest.status.name().into(),
                    json(manifest).into(),
                ],
            )?;
            insert_transition(s, manifest, detail)?;
            if manifest.status.is_final() {
                s.execute(
                    "DELETE FROM leases WHERE run_id = $1",
                    &[manifest.run_id.as_str().into()],
                )?;
            }
            Ok(())
        };
        self.write_as(relaxed, write)
    }

    /// Saves the manifest without a transition (results gathered mid-step).
    pub fn save(&mut self, manifest: &Manifest) -> Result<(), RuntimeError> {
        self.store
            .execute(
                "UPDATE runs SET manifest = $2 WHERE run_id = $1",
                &[manifest.run_id.as_str().into(), json(manifest).into()],
            )
            .map(drop)
    }

    pub fn manifest(&self, run_id: &str) -> Result<Manifest, RuntimeError> {
        let rows = self.store.query(
            "SELECT manifest FROM runs WHERE run_id = $1",
            &[run_id.into()],
        )?;
        let text = rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .ok_or_else(|| RuntimeError::NoSuchRun(run_id.to_string()))?;
        parse_manifest(&text.into_text(), &format!("the manifest of {run_id}"))
    }

    /// Every run's manifest, oldest first (of one dataset, if given).
    pub fn manifests(&self, dataset: Option<&str>) -> Result<Vec<Manifest>, RuntimeError> {
        let rows = self.store.query(
            "SELECT run_id, manifest FROM runs WHERE CAST($1 AS TEXT) IS NULL OR dataset = $1 ORDER BY seq",
            &[dataset.into()],
        )?;
        rows.into_iter()
            .map(|r| {
                let mut r = r.into_iter().map(Val::into_text);
                let (id, text) = (r.next().unwrap_or_default(), r.next().unwrap_or_default());
                parse_manifest(&text, &format!("the manifest of {id}"))
            })
            .collect()
    }

    pub fn transitions(&self, run_id: &str) -> Result<Vec<(String, String, String)>, RuntimeError> {
        let rows = self.store.query(
            "SELECT status, at, coalesce(detail, '') FROM transitions WHERE run_id = $1 ORDER BY seq",
            &[run_id.into()],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut r = r.into_iter().map(Val::into_text);
                let mut next = || r.next().unwrap_or_default();
                (next(), next(), next())
            })
            .collect())
    }

    pub fn runs(&self, dataset: Option<&str>) -> Result<Vec<RunSummary>, RuntimeError> {
        Ok(self
            .manifests(dataset)?
            .into_iter()
            .map(|m| RunSummary {
                run_id: m.run_id,
                dataset: m.dataset,
                status: m.status,
                partitions: m.partitions,
                planned_at: m.times.planned.unwrap_or_default(),
                finished_at: m.times.finished,
                review: m.review,
            })
            .collect())
    }

    /// Quarantined records of a run: `(partition, rule, reason, record)`.
    pub fn quarantined(
        &self,
        run_id: &str,
    ) -> Result<Vec<(String, String, String, String)>, RuntimeError> {
        let rows = self.store.query(
            &format!(
                "SELECT partition, rule, reason, record FROM quarantine WHERE run_id = $1 ORDER BY {}",
                self.store.insertion_order()
            ),
            &[run_id.into()],
        )?;
        Ok(rows.into_iter().map(four).collect())
    }
}

/// A row of four text columns.
fn four(r: Vec<Val>) -> (String, String, String, String) {
    let mut r = r.into_iter().map(Val::into_text);
    let mut next = || r.next().unwrap_or_default();
    (next(), next(), next(), next())
}

/// The first column of the first row, as an integer.
fn first_int(rows: &[Vec<Val>]) -> Option<i64> {
    rows.first().and_then(|r| r.first()).and_then(Val::int)
}

fn parse_manifest(text: &str, what: &str) -> Result<Manifest, RuntimeError> {
    serde_json::from_str(text).map_err(|e| RuntimeError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

/// The run number new run ids continue after (see `continue_after`).
fn run_floor(s: &dyn Store) -> Result<i64, RuntimeError> {
    let rows = s.query(
        "SELECT value FROM _bpl_project WHERE key = 'run_floor'",
        &[],
    )?;
    Ok(first_int(&rows).unwrap_or(0))
}

fn json(m: &Manifest) -> String {
    serde_json::to_string(m).expect("a manifest serialises")
}

/// The run that holds the lease on one partition of a dataset, if any.
fn lease_holder(
    s: &dyn Store,
    dataset: &str,
    partition: &str,
) -> Result<Option<String>, RuntimeError> {
    let rows = s.query(
        "SELECT run_id FROM leases WHERE dataset = $1 AND partition = $2",
        &[dataset.into(), partition.into()],
    )?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .map(Val::into_text))
}

/// The refusal of a partition another run owns, saying whether that run
/// is HELD for review (then `bplc approve` decides it, not waiting).
fn leased(s: &dyn Store, manifest: &Manifest, partition: &str, holder: String) -> RuntimeError {
    let status = s
        .query(
            "SELECT status FROM runs WHERE run_id = $1",
            &[holder.as_str().into()],
        )
        .ok()
        .and_then(|rows| rows.into_iter().next())
        .and_then(|r| r.into_iter().next());
    RuntimeError::Leased {
        dataset: manifest.dataset.clone(),
        partition: partition.to_string(),
        held: status.as_ref().and_then(Val::text) == Some(Status::Held.name()),
        holder,
    }
}

fn take_lease(
    s: &dyn Store,
    dataset: &str,
    partition: &str,
    run_id: &str,
) -> Result<(), RuntimeError> {
    s.execute(
        "INSERT INTO leases (dataset, partition, run_id) VALUES ($1, $2, $3)",
        &[dataset.into(), partition.into(), run_id.into()],
    )
    .map(drop)
}

fn insert_transition(s: &dyn Store, m: &Manifest, detail: &str) -> Result<(), RuntimeError> {
    s.execute(
        "INSERT INTO transitions (run_id, seq, status, at, detail)
         VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM transitions WHERE run_id = $1), $2, $3, $4)",
        &[
            m.run_id.as_str().into(),
            m.status.name().into(),
            super::now().into(),
            detail.into(),
        ],
    )
    .map(drop)
}
