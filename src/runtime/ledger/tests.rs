//! Which ledger commits are synced: the durability the runtime's recovery
//! relies on, written down where a change to it would show.

use std::sync::{Arc, Mutex};

use super::store::{Store, Val};
use super::Ledger;
use crate::runtime::engine::Identity;
use crate::runtime::manifest::{Manifest, Parameters, Status, Target, Times};
use crate::runtime::RuntimeError;

/// A SQLite ledger that notes, for each transaction begun, whether it
/// was begun durable (`true`) or relaxed.
struct Recording {
    inner: super::sqlite::SqliteStore,
    begun: Arc<Mutex<Vec<bool>>>,
}

impl Store for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn migrations(&self) -> &'static [&'static str] {
        self.inner.migrations()
    }
    fn version(&self) -> Result<i64, RuntimeError> {
        self.inner.version()
    }
    fn set_version(&self, version: i64) -> Result<(), RuntimeError> {
        self.inner.set_version(version)
    }
    fn batch(&self, sql: &str) -> Result<(), RuntimeError> {
        self.inner.batch(sql)
    }
    fn begin(&self) -> Result<(), RuntimeError> {
        self.begun.lock().unwrap().push(true);
        self.inner.begin()
    }
    fn begin_relaxed(&self) -> Result<(), RuntimeError> {
        self.begun.lock().unwrap().push(false);
        self.inner.begin_relaxed()
    }
    fn commit(&self) -> Result<(), RuntimeError> {
        self.inner.commit()
    }
    fn rollback(&self) {
        self.inner.rollback()
    }
    fn execute(&self, sql: &str, params: &[Val]) -> Result<usize, RuntimeError> {
        self.inner.execute(sql, params)
    }
    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, RuntimeError> {
        self.inner.query(sql, params)
    }
    fn insertion_order(&self) -> &'static str {
        self.inner.insertion_order()
    }
    fn identity(&self) -> Result<Option<Identity>, RuntimeError> {
        self.inner.identity()
    }
    fn claim_identity(&self, candidate: &Identity) -> Result<Identity, RuntimeError> {
        self.inner.claim_identity(candidate)
    }
    fn rename_project(&self, name: &str) -> Result<(), RuntimeError> {
        self.inner.rename_project(name)
    }
    fn exclusive(&self, what: &str) -> Result<Box<dyn Send>, RuntimeError> {
        self.inner.exclusive(what)
    }
}

fn manifest() -> Manifest {
    Manifest {
        run_id: String::new(),
        dataset: "daily".into(),
        job_version: 1,
        mode: "run".into(),
        target: Target::default(),
        backfill: None,
        attempt: 1,
        parameters: Parameters {
            dates: "2026-07-01".into(),
            as_of: "2026-07-02T00:00:00Z".into(),
            dimensions: Vec::new(),
        },
        status: Status::Planned,
        partitions: vec!["2026-07-01".into()],
        input_lock: Vec::new(),
        bindings: Vec::new(),
        times: Times::default(),
        outputs: Vec::new(),
        error: None,
        recovery: None,
        review: None,
    }
}

/// A run syncs the ledger when it starts (its leases), before the
/// warehouse publishes (`publishing`, what recovery decides by) and when
/// it stops short of a publish or ends in a shadow scope; its progress in
/// between and its end after a publish are relaxed. Losing a relaxed
/// record to a power cut leaves a state a crash at that point leaves too,
/// which recovery is tested from.
#[test]
fn a_run_syncs_its_start_and_its_publishing_record() {
    let dir = tempfile::tempdir().unwrap();
    let begun = Arc::new(Mutex::new(Vec::new()));
    let inner = super::sqlite::SqliteStore::open(&dir.path().join("ledger.sqlite")).unwrap();
    let mut ledger = Ledger {
        store: Box::new(Recording {
            inner,
            begun: begun.clone(),
        }),
        turn: None,
    };
    ledger.migrate().unwrap();
    begun.lock().unwrap().clear();
    let mut m = manifest();
    ledger.begin(&mut m).unwrap();
    for status in [
        Status::InputLocked,
        Status::Running,
        Status::Validating,
        Status::Committing,
    ] {
        m.status = status;
        ledger.transition(&m, "next").unwrap();
    }
    m.status = Status::Published;
    ledger
        .finish_published(&m, "published 1 partition(s)")
        .unwrap();
    assert_eq!(
        *begun.lock().unwrap(),
        [true, false, false, false, true, false],
        "start, inputs locked, computing, validating, publishing, published"
    );
    // The end is recorded and the leases released, as a durable end
    // would: the next run of the same partition may begin.
    assert_eq!(
        ledger.manifest(&m.run_id).unwrap().status,
        Status::Published
    );
    let mut next = manifest();
    ledger.begin(&mut next).unwrap();
    next.status = Status::Failed;
    ledger.transition(&next, "stopped").unwrap();

    // A run that stops without publishing syncs its end, and so does a
    // run into a shadow scope (recovery cannot tell it published).
    for (day, end) in [
        ("2026-07-02", Status::Failed),
        ("2026-07-03", Status::Shadowed),
    ] {
        begun.lock().unwrap().clear();
        let mut other = manifest();
        other.partitions = vec![day.into()];
        ledger.begin(&mut other).unwrap();
        for status in [Status::Held, end] {
            other.status = status;
            ledger.transition(&other, "stopped").unwrap();
        }
        assert_eq!(*begun.lock().unwrap(), [true, true, true], "{end:?}");
    }
}
