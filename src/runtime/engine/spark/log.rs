//! bplc's own state on Spark: an append-only publish log, one table
//! partitioned by a sequence number, and views over it with the names and
//! columns of the SQLite engine's tables (`_bpl_pointer`, `_bpl_versions`,
//! `_bpl_staged`, `_bpl_commits`, `_bpl_shadow`), so every statement the
//! engines share reads them unchanged.
//!
//! Spark has no transactions, and a Parquet table no `UPDATE`; but adding
//! one partition to a table is one metastore operation. So each change of
//! state — a run's publish with its commit marker, a rollback, a discard —
//! is one `INSERT OVERWRITE ... PARTITION (seq = N)` of all its entries:
//! readers of the views see all of it or none of it. A later entry for the
//! same key takes the place of an earlier one (the views take the latest);
//! a `forget` or `unshadow` entry removes one.

use super::client::{literal, Session};
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;

/// The log table, and the views that read it as the engines' tables.
pub const SYSTEM: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS _bpl_log (kind STRING, dataset STRING, `partition` STRING, \
     version BIGINT, run_id STRING, scope STRING, status STRING, prior_version BIGINT, \
     reason STRING, summary STRING, logged_at STRING, as_of STRING, seq BIGINT) \
     USING parquet PARTITIONED BY (seq)",
    "CREATE VIEW IF NOT EXISTS _bpl_staged AS SELECT dataset, `partition`, version, run_id, as_of \
     FROM (SELECT *, row_number() OVER (PARTITION BY dataset, `partition`, version ORDER BY seq DESC) AS n \
       FROM _bpl_log WHERE kind IN ('staged', 'forget')) AS l WHERE n = 1 AND kind = 'staged'",
    "CREATE VIEW IF NOT EXISTS _bpl_pointer AS SELECT dataset, `partition`, version, run_id, \
     logged_at AS published_at \
     FROM (SELECT *, row_number() OVER (PARTITION BY dataset, `partition` ORDER BY seq DESC) AS n \
       FROM _bpl_log WHERE kind = 'pointer') AS l WHERE n = 1",
    "CREATE VIEW IF NOT EXISTS _bpl_versions AS SELECT dataset, `partition`, version, run_id, status, \
     prior_version, reason, summary, logged_at AS published_at \
     FROM (SELECT *, row_number() OVER (PARTITION BY dataset, `partition`, version ORDER BY seq DESC) AS n \
       FROM _bpl_log WHERE kind = 'version') AS l WHERE n = 1",
    "CREATE VIEW IF NOT EXISTS _bpl_commits AS SELECT run_id, dataset, logged_at AS committed_at \
     FROM _bpl_log WHERE kind = 'commit'",
    "CREATE VIEW IF NOT EXISTS _bpl_shadow AS SELECT scope, dataset, `partition`, version, run_id \
     FROM (SELECT *, row_number() OVER (PARTITION BY scope, dataset, `partition` ORDER BY seq DESC) AS n \
       FROM _bpl_log WHERE kind IN ('shadow', 'unshadow')) AS l WHERE n = 1 AND kind = 'shadow'",
];

/// One entry of the log.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub kind: &'static str,
    pub dataset: String,
    pub partition: String,
    pub version: Option<i64>,
    pub run_id: String,
    pub scope: Option<String>,
    pub status: Option<String>,
    pub prior_version: Option<i64>,
    pub reason: Option<String>,
    pub summary: Option<String>,
    pub as_of: Option<String>,
}

impl Entry {
    pub fn new(kind: &'static str, dataset: &str, partition: &str, version: i64) -> Entry {
        Entry {
            kind,
            dataset: dataset.into(),
            partition: partition.into(),
            version: Some(version),
            ..Entry::default()
        }
    }

    pub fn by(mut self, run_id: &str) -> Entry {
        self.run_id = run_id.into();
        self
    }

    fn values(&self, now: &str) -> String {
        let text = |v: &Option<String>| v.as_ref().map_or(Value::Null, |t| Value::Text(t.clone()));
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
        let row = [
            Value::Text(self.kind.into()),
            Value::Text(self.dataset.clone()),
            Value::Text(self.partition.clone()),
            int(self.version),
            Value::Text(self.run_id.clone()),
            text(&self.scope),
            text(&self.status),
            int(self.prior_version),
            text(&self.reason),
            text(&self.summary),
            Value::Text(now.into()),
            text(&self.as_of),
        ];
        format!(
            "({})",
            row.iter().map(literal).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Appends `entries` as one new partition of the log: one metastore
/// operation, so they take effect together or not at all. Overwriting
/// the partition clears any files a crashed earlier write left in its
/// directory without registering it.
pub fn append(session: &mut Session, entries: &[Entry]) -> Result<(), RuntimeError> {
    if entries.is_empty() {
        return Ok(());
    }
    let next = match session
        .query("SELECT coalesce(max(seq), 0) + 1 FROM _bpl_log")?
        .first()
        .and_then(|r| r.first())
    {
        Some(Value::Integer(n)) => *n,
        _ => 1,
    };
    let now = crate::runtime::now();
    let rows: Vec<String> = entries.iter().map(|e| e.values(&now)).collect();
    session.run(&format!(
        "INSERT OVERWRITE TABLE _bpl_log PARTITION (seq = {next}) VALUES {}",
        rows.join(", ")
    ))
}
