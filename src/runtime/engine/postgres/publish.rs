//! Publishing on PostgreSQL: a run's partitions made active (or shadowed)
//! in one transaction with its commit marker, by set-based statements
//! over all of them (two round trips, however many partitions); discarding
//! what a run staged; removing shadow versions; a rollback's pointer move.
//! The same tables as the SQLite engine's.

use super::client::literal;
use super::{int, named, text, PostgresEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Publication, Publish, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

/// `(..), (..)`: rows of literals for a `VALUES` list.
fn values(rows: &[Vec<Value>]) -> String {
    rows.iter()
        .map(|r| format!("({})", r.iter().map(literal).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

impl PostgresEngine {
    /// Publishes `what` in one transaction of a few set-based statements,
    /// whatever the number of partitions: the pointers' prior versions
    /// read and locked by one statement, then every pointer, status,
    /// superseded row and version record written by one round trip.
    pub(super) fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let replace = plan.publish == crate::syntax::ast::PublishMode::Replace;
        let now = crate::runtime::now();
        let (d, run, at) = (text(&plan.dataset), text(run_id), text(&now));
        let (shadowed, active): (Vec<&Publication>, Vec<&Publication>) = what
            .iter()
            .partition(|p| matches!(p.how, Publish::Shadow { .. }));
        self.transaction(|db| {
            let mut sql = String::new();
            let shadows: Vec<Vec<Value>> = shadowed
                .iter()
                .filter_map(|p| match &p.how {
                    Publish::Shadow { scope } => Some(vec![
                        text(scope),
                        d.clone(),
                        text(&p.partition),
                        int(p.version),
                        run.clone(),
                    ]),
                    _ => None,
                })
                .collect();
            if !shadows.is_empty() {
                sql.push_str(&format!(
                    "INSERT INTO _bpl_shadow (scope, dataset, partition, version, run_id) VALUES {}
                     ON CONFLICT (scope, dataset, partition) DO UPDATE SET
                       version = excluded.version, run_id = excluded.run_id;",
                    values(&shadows)
                ));
            }
            if !active.is_empty() {
                // The pointer rows are locked until commit, in one order:
                // a second publisher of a partition waits here.
                let partitions: Vec<Vec<Value>> =
                    active.iter().map(|p| vec![text(&p.partition)]).collect();
                let priors = db.rows(
                    &format!(
                        "SELECT p.partition, p.version, coalesce(v.status, 'ACTIVE') FROM _bpl_pointer p
                         LEFT JOIN _bpl_versions v ON v.dataset = p.dataset
                           AND v.partition = p.partition AND v.version = p.version
                         WHERE p.dataset = :d AND p.partition IN ({})
                         ORDER BY p.partition FOR UPDATE OF p",
                        partitions.iter().map(|r| literal(&r[0])).collect::<Vec<_>>().join(", ")
                    ),
                    &named(&[(":d", d.clone())]),
                )?;
                let prior_of = |partition: &str| {
                    priors.iter().find_map(|r| match r.as_slice() {
                        [Value::Text(p), Value::Integer(n), Value::Text(s)] if p == partition => {
                            Some((*n, s.clone()))
                        }
                        _ => None,
                    })
                };
                let (mut pointers, mut statuses, mut superseded, mut versions) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for p in &active {
                    let prior = prior_of(&p.partition);
                    pointers.push(vec![
                        d.clone(),
                        text(&p.partition),
                        int(p.version),
                        run.clone(),
                        at.clone(),
                    ]);
                    let (status, reason, summary) = match &p.how {
                        Publish::Restate { reason, summary } => {
                            ("RESTATED", text(reason), text(summary))
                        }
                        _ => ("ACTIVE", Value::Null, Value::Null),
                    };
                    if let Some((prior, prior_was)) = &prior {
                        let becomes = crate::runtime::engine::prior_becomes(status, prior_was);
                        statuses.push(vec![text(&p.partition), int(*prior), text(becomes)]);
                        if replace && becomes == "SUPERSEDED" {
                            superseded.push(vec![text(&p.partition), int(*prior)]);
                        }
                    }
                    versions.push(vec![
                        d.clone(),
                        text(&p.partition),
                        int(p.version),
                        run.clone(),
                        text(status),
                        prior.as_ref().map_or(Value::Null, |x| int(x.0)),
                        reason,
                        summary,
                        at.clone(),
                    ]);
                }
                sql.push_str(&format!(
                    "INSERT INTO _bpl_pointer (dataset, partition, version, run_id, published_at)
                     VALUES {} ON CONFLICT (dataset, partition) DO UPDATE SET version = excluded.version,
                       run_id = excluded.run_id, published_at = excluded.published_at;",
                    values(&pointers)
                ));
                if !statuses.is_empty() {
                    sql.push_str(&format!(
                        "UPDATE _bpl_versions AS v SET status = x.becomes
                         FROM (VALUES {}) AS x (partition, version, becomes)
                         WHERE v.dataset = {} AND v.partition = x.partition AND v.version = x.version;",
                        values(&statuses),
                        literal(&d)
                    ));
                }
                if !superseded.is_empty() {
                    sql.push_str(&format!(
                        "DELETE FROM {} WHERE (_bpl_partition, _bpl_version) IN (VALUES {});",
                        ident(&l.data_table),
                        values(&superseded)
                    ));
                }
                sql.push_str(&format!(
                    "INSERT INTO _bpl_versions (dataset, partition, version, run_id, status,
                       prior_version, reason, summary, published_at) VALUES {};",
                    values(&versions)
                ));
            }
            sql.push_str(&format!(
                "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES ({}, {}, {});",
                literal(&run),
                literal(&d),
                literal(&at)
            ));
            db.batch(&sql)?;
            crate::runtime::fault::point("mid-commit");
            Ok(())
        })
    }

    pub(super) fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = named(&[(":run_id", text(run_id))]);
        self.transaction(|db| {
            let n = db.execute(&l.discard, &rid)?;
            db.execute(
                &crate::sql::lower::forget_unkept_versions(&plan.dataset),
                &rid,
            )?;
            Ok(n as i64)
        })
    }

    pub(super) fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        let rows = format!(
            "DELETE FROM {} WHERE _bpl_partition = :p AND _bpl_version = :v",
            ident(&l.data_table)
        );
        self.transaction(|db| {
            let mut n = 0;
            for (partition, version) in partitions {
                let v = named(&[
                    (":d", text(&plan.dataset)),
                    (":p", text(partition)),
                    (":v", int(*version)),
                    (":run", text(run_id)),
                ]);
                n += db.execute(&rows, &v)? as i64;
                db.execute(
                    "DELETE FROM _bpl_staged WHERE dataset = :d AND partition = :p
                     AND version = :v AND run_id = :run",
                    &v,
                )?;
            }
            Ok(n)
        })
    }

    pub(super) fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let v = named(&[(":scope", text(scope)), (":d", text(&plan.dataset))]);
        self.transaction(|db| {
            db.execute(
                &format!(
                    "DELETE FROM {d} WHERE EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = :scope
                       AND s.dataset = :d AND s.partition = {d}._bpl_partition AND s.version = {d}._bpl_version)",
                    d = ident(&l.data_table)
                ),
                &v,
            )?;
            db.execute("DELETE FROM _bpl_shadow WHERE scope = :scope AND dataset = :d", &v)?;
            Ok(())
        })
    }

    pub(super) fn clear_shadows(
        &mut self,
        plan: &JobPlan,
        partitions: &[String],
    ) -> Result<(), RuntimeError> {
        let any = self.count(
            "SELECT count(*) FROM _bpl_shadow WHERE dataset = :d",
            &named(&[(":d", text(&plan.dataset))]),
        )?;
        if any == 0 {
            return Ok(());
        }
        let l = self.lowered(plan)?;
        self.transaction(|db| {
            for partition in partitions {
                let v = named(&[(":d", text(&plan.dataset)), (":p", text(partition))]);
                db.execute(
                    &format!(
                        "DELETE FROM {d} WHERE _bpl_partition = :p AND EXISTS (SELECT 1 FROM _bpl_shadow s
                           WHERE s.dataset = :d AND s.partition = :p AND s.version = {d}._bpl_version)",
                        d = ident(&l.data_table)
                    ),
                    &v,
                )?;
                db.execute("DELETE FROM _bpl_shadow WHERE dataset = :d AND partition = :p", &v)?;
            }
            Ok(())
        })
    }

    /// Moves the pointer to version `to` (written by run `writer`), with
    /// the rollback run's commit marker, in one transaction.
    pub(super) fn move_pointer(
        &mut self,
        plan: &JobPlan,
        partition: &str,
        to: i64,
        writer: &str,
        run_id: &str,
    ) -> Result<(), RuntimeError> {
        let v = named(&[
            (":d", text(&plan.dataset)),
            (":p", text(partition)),
            (":to", int(to)),
            (":writer", text(writer)),
            (":run", text(run_id)),
            (":now", text(crate::runtime::now())),
        ]);
        self.transaction(|db| {
            db.execute(
                "UPDATE _bpl_pointer SET version = :to, run_id = :writer, published_at = :now
                 WHERE dataset = :d AND partition = :p",
                &v,
            )?;
            db.execute(
                "UPDATE _bpl_versions SET status = CASE WHEN version = :to THEN 'ACTIVE' ELSE 'ROLLED_BACK' END
                 WHERE dataset = :d AND partition = :p AND (version = :to OR status = 'ACTIVE')",
                &v,
            )?;
            db.execute(
                "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES (:run, :d, :now)",
                &v,
            )?;
            Ok(())
        })
    }
}
