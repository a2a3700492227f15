//! Publishing on Spark: a run's partitions made active (or shadowed) with
//! its commit marker in one append to the publish log (see [`super::log`]);
//! discarding what a run staged by dropping its partitions of the data
//! table; removing shadow versions; a rollback's pointer move.
//!
//! What the log does not say is only ever removed after the log says so:
//! a replaced version's partition is dropped after the publish that
//! supersedes it, so a crash in between leaves an unread partition, never
//! a missing one.

use super::client::literal;
use super::log::Entry;
use super::{int, named, pairs, text, SparkEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Publication, Publish, Value};
use crate::runtime::RuntimeError;
use crate::sql::types::ident;

impl SparkEngine {
    /// Drops these `(partition, version)`s of the data table, with their
    /// files, in one statement; returns how many rows they held.
    fn drop_versions(
        &mut self,
        plan: &JobPlan,
        versions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        if versions.is_empty() {
            return Ok(0);
        }
        self.highest = None;
        let data = ident(&format!("{}__data", plan.table));
        if self
            .columns_of(&format!("{}__data", plan.table))?
            .is_empty()
        {
            return Ok(0);
        }
        let list: Vec<String> = versions
            .iter()
            .map(|(p, v)| {
                format!(
                    "(_bpl_partition = {} AND _bpl_version = {v})",
                    crate::sql::types::string(p)
                )
            })
            .collect();
        let rows = self.count(
            &format!("SELECT count(*) FROM {data} WHERE {}", list.join(" OR ")),
            &[],
        )?;
        let specs: Vec<String> = versions
            .iter()
            .map(|(p, v)| {
                format!(
                    "PARTITION (_bpl_partition = {}, _bpl_version = {v})",
                    literal(&Value::Text(p.clone()))
                )
            })
            .collect();
        // Spark's own literals: the statement is not rewritten.
        self.session.run(&format!(
            "ALTER TABLE `{}__data` DROP IF EXISTS {}",
            plan.table.replace('`', "``"),
            specs.join(", ")
        ))?;
        Ok(rows)
    }

    pub(super) fn publish(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        what: &[Publication],
    ) -> Result<(), RuntimeError> {
        let replace = plan.publish == crate::syntax::ast::PublishMode::Replace;
        // Every partition's active version, in one statement (a statement
        // is a job): read before the log changes, as one per partition was.
        let mut priors: std::collections::HashMap<String, Vec<Value>> = self
            .rows(
                "SELECT p.partition, p.version, coalesce(v.status, 'ACTIVE'), v.run_id, v.prior_version, v.reason, v.summary
                 FROM _bpl_pointer p LEFT JOIN _bpl_versions v ON v.dataset = p.dataset
                   AND v.partition = p.partition AND v.version = p.version
                 WHERE p.dataset = :d",
                &named(&[(":d", text(&plan.dataset))]),
            )?
            .into_iter()
            .filter_map(|mut r| match r.first() {
                Some(Value::Text(p)) => Some((p.clone(), r.split_off(1))),
                _ => None,
            })
            .collect();
        let mut entries = Vec::new();
        let mut superseded = Vec::new();
        for p in what {
            let entry = |kind| Entry::new(kind, &plan.dataset, &p.partition, p.version).by(run_id);
            if let Publish::Shadow { scope } = &p.how {
                entries.push(Entry {
                    scope: Some(scope.clone()),
                    ..entry("shadow")
                });
                continue;
            }
            let prior = priors.remove(&p.partition);
            entries.push(entry("pointer"));
            let (status, reason, summary) = match &p.how {
                Publish::Restate { reason, summary } => {
                    ("RESTATED", Some(reason.clone()), Some(summary.clone()))
                }
                _ => ("ACTIVE", None, None),
            };
            let mut prior_version = None;
            if let Some(row) = prior {
                let get = |i: usize| match row.get(i) {
                    Some(Value::Text(t)) => Some(t.clone()),
                    _ => None,
                };
                if let Some(Value::Integer(n)) = row.first() {
                    prior_version = Some(*n);
                    let prior_was = get(1).unwrap_or_else(|| "ACTIVE".into());
                    let becomes = crate::runtime::engine::prior_becomes(status, &prior_was);
                    entries.push(Entry {
                        status: Some(becomes.into()),
                        prior_version: match row.get(3) {
                            Some(Value::Integer(x)) => Some(*x),
                            _ => None,
                        },
                        reason: get(4),
                        summary: get(5),
                        ..Entry::new("version", &plan.dataset, &p.partition, *n)
                            .by(&get(2).unwrap_or_default())
                    });
                    if replace && becomes == "SUPERSEDED" {
                        superseded.push((p.partition.clone(), *n));
                    }
                }
            }
            entries.push(Entry {
                status: Some(status.into()),
                prior_version,
                reason,
                summary,
                ..entry("version")
            });
        }
        entries.push(Entry {
            kind: "commit",
            dataset: plan.dataset.clone(),
            run_id: run_id.into(),
            ..Entry::default()
        });
        // Nothing is written yet: a crash here publishes nothing.
        crate::runtime::fault::point("mid-commit");
        self.log(&entries)?;
        // Published: a replaced version's rows go now (a crash before this
        // leaves them unread, as garbage).
        self.drop_versions(plan, &superseded)?;
        Ok(())
    }

    /// Forgets the staged records of versions whose rows are gone.
    fn forget(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        versions: &[(String, i64)],
    ) -> Result<(), RuntimeError> {
        let entries: Vec<Entry> = versions
            .iter()
            .map(|(p, v)| Entry::new("forget", &plan.dataset, p, *v).by(run_id))
            .collect();
        self.log(&entries)
    }

    pub(super) fn discard(&mut self, plan: &JobPlan, run_id: &str) -> Result<i64, RuntimeError> {
        let unkept = pairs(self.rows(
            &crate::sql::lower::unkept_versions(&plan.dataset),
            &named(&[(":run_id", text(run_id))]),
        )?);
        let n = self.drop_versions(plan, &unkept)?;
        self.forget(plan, run_id, &unkept)?;
        Ok(n)
    }

    pub(super) fn discard_partitions(
        &mut self,
        plan: &JobPlan,
        run_id: &str,
        partitions: &[(String, i64)],
    ) -> Result<i64, RuntimeError> {
        let n = self.drop_versions(plan, partitions)?;
        self.forget(plan, run_id, partitions)?;
        Ok(n)
    }

    /// The shadow versions of the dataset `filter` selects (`scope`, or
    /// `dataset` for all of them), as `(partition, version, scope)`.
    fn shadows(
        &mut self,
        plan: &JobPlan,
        filter: &str,
        value: &str,
    ) -> Result<Vec<(String, i64, String)>, RuntimeError> {
        Ok(self
            .rows(
                &format!("SELECT partition, version, scope FROM _bpl_shadow WHERE dataset = :d AND {filter} = :x"),
                &named(&[(":d", text(&plan.dataset)), (":x", text(value))]),
            )?
            .into_iter()
            .filter_map(|r| match (r.first(), r.get(1), r.get(2)) {
                (Some(Value::Text(p)), Some(Value::Integer(v)), Some(Value::Text(s))) => {
                    Some((p.clone(), *v, s.clone()))
                }
                _ => None,
            })
            .collect())
    }

    /// Removes shadow versions: their entries first, then their rows.
    fn unshadow(
        &mut self,
        plan: &JobPlan,
        shadows: Vec<(String, i64, String)>,
    ) -> Result<(), RuntimeError> {
        let entries: Vec<Entry> = shadows
            .iter()
            .map(|(p, v, scope)| Entry {
                scope: Some(scope.clone()),
                ..Entry::new("unshadow", &plan.dataset, p, *v)
            })
            .collect();
        self.log(&entries)?;
        let versions: Vec<(String, i64)> = shadows.into_iter().map(|(p, v, _)| (p, v)).collect();
        self.drop_versions(plan, &versions).map(drop)
    }

    pub(super) fn drop_shadow(&mut self, plan: &JobPlan, scope: &str) -> Result<(), RuntimeError> {
        let shadows = self.shadows(plan, "scope", scope)?;
        self.unshadow(plan, shadows)
    }

    pub(super) fn clear_shadows(
        &mut self,
        plan: &JobPlan,
        partitions: &[String],
    ) -> Result<(), RuntimeError> {
        // The dataset's shadows in one statement, those of `partitions` kept.
        let mut shadows = self.shadows(plan, "dataset", &plan.dataset)?;
        shadows.retain(|(p, ..)| partitions.contains(p));
        self.unshadow(plan, shadows)
    }

    /// Moves the pointer to version `to` (written by run `writer`), with
    /// the rollback run's commit marker, in one append to the log.
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
        ]);
        let changed = self.rows(
            "SELECT version, run_id, prior_version, reason, summary FROM _bpl_versions
             WHERE dataset = :d AND partition = :p AND (version = :to OR status = 'ACTIVE')",
            &v,
        )?;
        let mut entries = vec![Entry::new("pointer", &plan.dataset, partition, to).by(writer)];
        for r in changed {
            let Some(Value::Integer(version)) = r.first() else {
                continue;
            };
            let get = |i: usize| match r.get(i) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            };
            entries.push(Entry {
                status: Some(
                    if *version == to {
                        "ACTIVE"
                    } else {
                        "ROLLED_BACK"
                    }
                    .into(),
                ),
                prior_version: match r.get(2) {
                    Some(Value::Integer(x)) => Some(*x),
                    _ => None,
                },
                reason: get(3),
                summary: get(4),
                ..Entry::new("version", &plan.dataset, partition, *version)
                    .by(&get(1).unwrap_or_default())
            });
        }
        entries.push(Entry {
            kind: "commit",
            dataset: plan.dataset.clone(),
            run_id: run_id.into(),
            ..Entry::default()
        });
        self.log(&entries)
    }
}
