//! Publishing on SQLite: a run's partitions made active (or shadowed) in
//! one transaction with its commit marker; discarding what a run staged;
//! removing shadow versions; a rollback's pointer move.

use rusqlite::{params, OptionalExtension};

use super::SqliteEngine;
use crate::plan::JobPlan;
use crate::runtime::engine::{Publication, Publish, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

impl SqliteEngine {
    pub(super) fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let replace = plan.publish == crate::syntax::ast::PublishMode::Replace;
        let now = crate::runtime::now();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(RuntimeError::sql)?;
        for p in what {
            if let Publish::Shadow { scope } = &p.how {
                tx.execute(
                    "INSERT INTO _bpl_shadow (scope, dataset, partition, version, run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (scope, dataset, partition) DO UPDATE SET
                       version = excluded.version, run_id = excluded.run_id",
                    params![scope, plan.dataset, p.partition, p.version, run_id],
                )
                .map_err(RuntimeError::sql)?;
                continue;
            }
            let prior: Option<(i64, String)> = tx
                .query_row(
                    "SELECT p.version, coalesce(v.status, 'ACTIVE') FROM _bpl_pointer p
                     LEFT JOIN _bpl_versions v ON v.dataset = p.dataset
                       AND v.partition = p.partition AND v.version = p.version
                     WHERE p.dataset = ?1 AND p.partition = ?2",
                    params![plan.dataset, p.partition],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(RuntimeError::sql)?;
            tx.execute(
                "INSERT INTO _bpl_pointer (dataset, partition, version, run_id, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (dataset, partition) DO UPDATE SET version = excluded.version,
                   run_id = excluded.run_id, published_at = excluded.published_at",
                params![plan.dataset, p.partition, p.version, run_id, now],
            )
            .map_err(RuntimeError::sql)?;
            let (status, reason, summary) = match &p.how {
                Publish::Restate { reason, summary } => {
                    ("RESTATED", Some(reason.as_str()), Some(summary.as_str()))
                }
                _ => ("ACTIVE", None, None),
            };
            if let Some((prior, prior_was)) = &prior {
                let becomes = crate::runtime::engine::prior_becomes(status, prior_was);
                tx.execute(
                    "UPDATE _bpl_versions SET status = ?4 WHERE dataset = ?1 AND partition = ?2 AND version = ?3",
                    params![plan.dataset, p.partition, prior, becomes],
                )
                .map_err(RuntimeError::sql)?;
                if replace && becomes == "SUPERSEDED" {
                    tx.execute(
                        &format!(
                            "DELETE FROM {} WHERE _bpl_partition = ?1 AND _bpl_version = ?2",
                            ident(&l.data_table)
                        ),
                        params![p.partition, prior],
                    )
                    .map_err(RuntimeError::sql)?;
                }
            }
            tx.execute(
                "INSERT INTO _bpl_versions (dataset, partition, version, run_id, status, prior_version, reason, summary, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    plan.dataset,
                    p.partition,
                    p.version,
                    run_id,
                    status,
                    prior.as_ref().map(|x| x.0),
                    reason,
                    summary,
                    now
                ],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.execute(
            "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES (?1, ?2, ?3)",
            params![run_id, plan.dataset, now],
        )
        .map_err(RuntimeError::sql)?;
        crate::runtime::fault::point("mid-commit");
        tx.commit().map_err(RuntimeError::sql)
    }

    pub(super) fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        let rid = [(":run_id".to_string(), Value::Text(run_id.into()))];
        let n = self.execute(&l.discard, &rid)?;
        self.execute(
            &crate::sql::lower::forget_unkept_versions(&plan.dataset),
            &rid,
        )?;
        Ok(n as i64)
    }

    pub(super) fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        // A version number belongs to the one run that staged it.
        let rows = format!(
            "DELETE FROM {} WHERE _bpl_partition = :partition AND _bpl_version = :version",
            ident(&l.data_table)
        );
        let record = "DELETE FROM _bpl_staged WHERE dataset = :dataset AND partition = :partition \
                      AND version = :version AND run_id = :run_id";
        let mut n = 0;
        for (partition, version) in partitions {
            let v = [
                (":dataset".to_string(), Value::Text(plan.dataset.clone())),
                (":partition".into(), Value::Text(partition.clone())),
                (":version".into(), Value::Integer(*version)),
                (":run_id".into(), Value::Text(run_id.into())),
            ];
            n += self.execute(&rows, &v[1..3])? as i64;
            self.execute(record, &v)?;
        }
        Ok(n)
    }

    pub(super) fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        let l = self.lowered(plan)?;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        tx.execute(
            &format!(
                "DELETE FROM {d} WHERE EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = ?1 AND s.dataset = ?2
                   AND s.partition = {d}._bpl_partition AND s.version = {d}._bpl_version)",
                d = ident(&l.data_table)
            ),
            params![scope, plan.dataset],
        )
        .map_err(RuntimeError::sql)?;
        tx.execute(
            "DELETE FROM _bpl_shadow WHERE scope = ?1 AND dataset = ?2",
            params![scope, plan.dataset],
        )
        .map_err(RuntimeError::sql)?;
        tx.commit().map_err(RuntimeError::sql)
    }

    pub(super) fn clear_shadows(
        &mut self,
        plan: &JobPlan,
        partitions: &[String],
    ) -> Result<(), RuntimeError> {
        // Most datasets have no shadows: one indexed look, no transaction.
        let any: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM _bpl_shadow WHERE dataset = ?1)",
                params![plan.dataset],
                |r| r.get(0),
            )
            .map_err(RuntimeError::sql)?;
        if !any {
            return Ok(());
        }
        let l = self.lowered(plan)?;
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(RuntimeError::sql)?;
        for partition in partitions {
            tx.execute(
                &format!(
                    "DELETE FROM {d} WHERE _bpl_partition = ?2 AND EXISTS (SELECT 1 FROM _bpl_shadow s
                       WHERE s.dataset = ?1 AND s.partition = ?2 AND s.version = {d}._bpl_version)",
                    d = ident(&l.data_table)
                ),
                params![plan.dataset, partition],
            )
            .map_err(RuntimeError::sql)?;
            tx.execute(
                "DELETE FROM _bpl_shadow WHERE dataset = ?1 AND partition = ?2",
                params![plan.dataset, partition],
            )
            .map_err(RuntimeError::sql)?;
        }
        tx.commit().map_err(RuntimeError::sql)
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
        let conn = &self.conn;
        let now = crate::runtime::now();
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(RuntimeError::sql)?;
        let result = (|| {
            conn.execute(
                "UPDATE _bpl_pointer SET version = ?3, run_id = ?4, published_at = ?5 WHERE dataset = ?1 AND partition = ?2",
                params![plan.dataset, partition, to, writer, now],
            )?;
            conn.execute(
                "UPDATE _bpl_versions SET status = CASE WHEN version = ?3 THEN 'ACTIVE' ELSE 'ROLLED_BACK' END
                 WHERE dataset = ?1 AND partition = ?2 AND (version = ?3 OR status = 'ACTIVE')",
                params![plan.dataset, partition, to],
            )?;
            conn.execute(
                "INSERT INTO _bpl_commits (run_id, dataset, committed_at) VALUES (?1, ?2, ?3)",
                params![run_id, plan.dataset, now],
            )?;
            conn.execute_batch("COMMIT")
        })();
        if let Err(e) = result {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(RuntimeError::sql(e));
        }
        Ok(())
    }
}
