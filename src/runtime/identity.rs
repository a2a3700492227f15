//! Whose warehouse and ledger these are. Both files carry the project's
//! identity in a `_bpl_project` table: a random id made when the pair is
//! first opened, and the project's name from `bpl.toml`. The id is the
//! identity; the name is for people. So:
//!
//! - a warehouse and a ledger with different ids belong to different
//!   projects, and are refused (E0330);
//! - a project renamed in `bpl.toml` keeps its history: when both files
//!   carry the same id, the new name is recorded in both;
//! - a file opened alone (its partner is new) must carry this project's
//!   name, or it belongs to another project (E0331);
//! - a new ledger next to a warehouse that already holds published runs is
//!   refused (E0332): those runs' manifests are in another ledger, and the
//!   two histories would otherwise silently split;
//! - run ids never collide with the commit markers in the warehouse: a
//!   ledger restored from an older backup goes on after the warehouse's
//!   highest run.
//!
//! Nothing is created before the paths are checked (E0333): the warehouse
//! must exist (its sources are in it), and so must the ledger's directory.

use std::path::{Path, PathBuf};

use super::engine::{Engine, Warehouse};
use super::ledger::{Ledger, Location};
use super::RuntimeError;

pub use super::engine::Identity;

/// The two files of a project, and the name `bpl.toml` gives it.
#[derive(Debug, Clone)]
pub struct Stores {
    pub project: String,
    /// The engine `bpl.toml` chooses.
    pub engine: crate::project::EngineSettings,
    pub warehouse: PathBuf,
    pub ledger: Location,
    /// Databases attached read-only as sources: `(alias, path)`.
    pub attach: Vec<(String, PathBuf)>,
}

impl Stores {
    /// Opens the warehouse and the ledger for a command that writes, after
    /// checking the paths and that both files are this project's.
    pub fn open(&self) -> Result<(Box<dyn Engine>, Ledger), RuntimeError> {
        self.check_paths()?;
        let mut engine = self.warehouse().open()?;
        let highest = engine.highest_run()?;
        // Looked at after the warehouse's runs: a run committed there had
        // its ledger first, so a process that opens a new pair beside
        // others doing the same never mistakes their runs for another
        // ledger's.
        let ledger_existed = self.ledger.exists()?;
        if !ledger_existed && highest > 0 {
            return Err(RuntimeError::NewLedger {
                ledger: self.ledger.to_string(),
                warehouse: self.shown_warehouse(),
                highest: run_id(highest),
                create: self.ledger.create_empty(),
            });
        }
        let mut ledger = self.ledger.open()?;
        self.reconcile(engine.as_mut(), &ledger)?;
        if engine.writers_take_turns() {
            ledger.take_writers_turn()?;
        }
        ledger.continue_after(highest)?;
        Ok((engine, ledger))
    }

    /// Opens the ledger for a command that only reads it: `None` when there
    /// is none yet (nothing is created). A ledger of another project is
    /// refused; a renamed project is recognised by its warehouse's id.
    pub fn read_ledger(&self) -> Result<Option<Ledger>, RuntimeError> {
        if !self.ledger.exists()? {
            return Ok(None);
        }
        let ledger = self.ledger.open()?;
        let Some(l) = ledger.identity()? else {
            return Ok(Some(ledger));
        };
        match self.warehouse().peek_identity() {
            Some(w) if w.id != l.id => Err(self.foreign(&w, &l)),
            Some(_) => Ok(Some(ledger)),
            None if l.name == self.project => Ok(Some(ledger)),
            None => Err(self.other_project("ledger", &format!("`{}`", self.ledger), &l)),
        }
    }

    /// The warehouse must exist, and the ledger's directory: a path with a
    /// typo would otherwise become a new, empty file.
    pub fn check_paths(&self) -> Result<(), RuntimeError> {
        let missing = |what: &'static str, path: &Path, file: &Path| RuntimeError::NoSuchPath {
            what,
            path: path.display().to_string(),
            file: file.display().to_string(),
        };
        if !self.warehouse().exists() {
            return Err(missing("warehouse", &self.warehouse, &self.warehouse));
        }
        if let Some((dir, file)) = self.ledger.missing_directory() {
            return Err(missing("ledger", dir, file));
        }
        Ok(())
    }

    /// The project's warehouse, as `bpl.toml` says: where its engine is
    /// chosen.
    pub fn warehouse(&self) -> Warehouse {
        Warehouse::of(&self.engine, self.warehouse.clone(), self.attach.clone())
    }

    fn reconcile(&self, warehouse: &mut dyn Engine, ledger: &Ledger) -> Result<(), RuntimeError> {
        let (w0, l0) = (warehouse.identity()?, ledger.identity()?);
        let settled =
            matches!((&w0, &l0), (Some(w), Some(l)) if w.id == l.id && w.name == self.project);
        if settled {
            return Ok(());
        }
        // A claim to make: processes opening a new pair at once take turns
        // on the ledger's lock and look again under it. The ledger's claim
        // is one transaction, but a warehouse without transactions (Spark)
        // would otherwise keep the last of several ids written at once,
        // while the ledger kept the first: a pair that refuses every run.
        let _turn = ledger.exclusive("identity")?;
        let w0 = warehouse.identity()?;
        let l0 = ledger.identity()?;
        match (&w0, &l0) {
            (Some(w), Some(l)) if w.id != l.id => return Err(self.foreign(w, l)),
            (Some(w), None) if w.name != self.project => {
                return Err(self.other_project("warehouse", &self.shown_warehouse(), w))
            }
            (None, Some(l)) if l.name != self.project => {
                return Err(self.other_project("ledger", &format!("`{}`", self.ledger), l))
            }
            _ => {}
        }
        let candidate = w0.or(l0).unwrap_or_else(|| Identity {
            id: new_id(),
            name: self.project.clone(),
        });
        // Claimed file by file, each in one write transaction where the
        // store has them.
        let w = warehouse.claim_identity(&candidate)?;
        let l = ledger.claim_identity(&w)?;
        if w.id != l.id {
            return Err(self.foreign(&w, &l));
        }
        if w.name != self.project {
            warehouse.rename_project(&self.project)?;
            ledger.rename_project(&self.project)?;
        }
        Ok(())
    }

    /// The warehouse as messages name it: a file by its path, a server's
    /// schema or database by its name (never the unused file path).
    fn shown_warehouse(&self) -> String {
        self.warehouse()
            .describe(&format!("`{}`", self.warehouse.display()))
    }

    fn foreign(&self, w: &Identity, l: &Identity) -> RuntimeError {
        RuntimeError::Foreign {
            warehouse: format!(
                "{} (project `{}`, id {})",
                self.shown_warehouse(),
                w.name,
                w.id
            ),
            ledger: format!("`{}` (project `{}`, id {})", self.ledger, l.name, l.id),
        }
    }

    fn other_project(&self, what: &'static str, path: &str, found: &Identity) -> RuntimeError {
        let partner = if what == "ledger" {
            self.shown_warehouse()
        } else {
            format!("`{}`", self.ledger)
        };
        RuntimeError::OtherProject {
            what,
            path: path.to_string(),
            found: found.name.clone(),
            project: self.project.clone(),
            partner,
        }
    }
}

/// A run id as the ledger writes them.
pub fn run_id(seq: i64) -> String {
    format!("run-{seq:06}")
}

/// A random project id: 16 hex digits from the OS's random source, mixed
/// with the time and process id where it has none.
fn new_id() -> String {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if random.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (t ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
