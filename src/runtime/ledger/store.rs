//! What the ledger's logic needs of the database it is kept in: statements
//! with bound values, one write transaction at a time, and a schema
//! version. Every statement the ledger runs is written once, in the common
//! SQL of SQLite and PostgreSQL, with `$1`-style parameters.

use crate::runtime::engine::Identity;
use crate::runtime::RuntimeError;

/// A value bound to or read from a ledger statement: the ledger stores
/// only integers and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Text(t) => t.parse().ok(),
            Val::Null => None,
        }
    }

    /// The text, or an empty string for NULL.
    pub fn into_text(self) -> String {
        match self {
            Val::Text(t) => t,
            Val::Int(i) => i.to_string(),
            Val::Null => String::new(),
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}

impl From<Option<&str>> for Val {
    fn from(s: Option<&str>) -> Val {
        s.map_or(Val::Null, Val::from)
    }
}

/// The database a ledger is kept in.
pub(crate) trait Store: Send {
    /// The ledger's place, for messages: a path, or a schema and the
    /// variable holding its server's URL.
    fn describe(&self) -> String;
    /// Migrations in order, one per schema version: each backend writes
    /// its own DDL, numbered alike.
    fn migrations(&self) -> &'static [&'static str];
    /// The schema version written (0 for a new ledger).
    fn version(&self) -> Result<i64, RuntimeError>;
    /// Records the schema version, inside the migrating transaction.
    fn set_version(&self, version: i64) -> Result<(), RuntimeError>;
    /// Runs statements without parameters.
    fn batch(&self, sql: &str) -> Result<(), RuntimeError>;
    /// Starts a write transaction once every other writer of this ledger,
    /// in any process on any machine, has finished: what a write reads
    /// (a lease, the last run number) no other writer changes before it
    /// commits.
    fn begin(&self) -> Result<(), RuntimeError>;
    /// [`Store::begin`] for a transaction whose commit need not reach the
    /// disk before it returns: it is made durable by the next durable
    /// commit (see [`super::Ledger::write_relaxed`]). The same as `begin`
    /// where every commit costs the same.
    fn begin_relaxed(&self) -> Result<(), RuntimeError> {
        self.begin()
    }
    /// Commits, and makes the next transaction durable again.
    fn commit(&self) -> Result<(), RuntimeError>;
    fn rollback(&self);
    /// Runs one statement; returns how many rows it changed.
    fn execute(&self, sql: &str, params: &[Val]) -> Result<usize, RuntimeError>;
    fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, RuntimeError>;
    /// The column that orders a table's rows as they were written.
    fn insertion_order(&self) -> &'static str;
    fn identity(&self) -> Result<Option<Identity>, RuntimeError>;
    fn claim_identity(&self, candidate: &Identity) -> Result<Identity, RuntimeError>;
    fn rename_project(&self, name: &str) -> Result<(), RuntimeError>;
    /// Takes the lock `what` of this ledger, held while the returned value
    /// lives by one process on any machine, waiting up to `lock_timeout`
    /// for another that holds it; released however the process ends.
    fn exclusive(&self, what: &str) -> Result<Box<dyn Send>, RuntimeError>;
}
