//! Preparing a job on SQLite: its storage, its inputs checked against
//! their declarations, the input lock, the reference bindings and the next
//! version number.

use rusqlite::{params, OptionalExtension};

use super::dialect::sqlite_type;
use super::{layout, SqliteEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::{Drift, PartitionRun, RunScope, Value};
use crate::runtime::manifest::{Binding, InputLock};
use crate::runtime::RuntimeError;
use crate::semantic::hir::Lock;
use crate::sql::types::{ident, table_ref};
use crate::syntax::ast::DeclKind;

impl SqliteEngine {
    pub(super) fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let tables = plan
            .inputs
            .iter()
            .map(|i| &i.table)
            .chain(plan.binds.iter().map(|b| &b.table));
        for t in tables {
            if t.kind == DeclKind::Dataset {
                let data = format!("{}__data", t.table);
                if self.columns_of(&data)?.is_empty() {
                    return Err(RuntimeError::MissingInput(format!(
                        "input `{}` ({}) has never been published: run `bplc run {}` first",
                        t.alias, t.decl, t.decl
                    )));
                }
                continue;
            }
            if let Some((db, _)) = t.table.split_once('.') {
                if !self.attached.iter().any(|a| a == db) {
                    return Err(RuntimeError::Attachment {
                        alias: db.to_string(),
                        path: None,
                        problem: format!(
                            "the {} `{}` reads `{}`, but bpl.toml attaches no database `{db}`",
                            t.kind.keyword(),
                            t.decl,
                            t.table
                        ),
                    });
                }
            }
            let found = self.columns_of(&t.table)?;
            if found.is_empty() {
                return Err(RuntimeError::MissingInput(format!(
                    "the {} `{}` reads the table `{}`, which is not in the warehouse",
                    t.kind.keyword(),
                    t.decl,
                    t.table
                )));
            }
            for c in &t.columns {
                match found.iter().find(|(n, _)| *n == c.name) {
                    None => {
                        return Err(RuntimeError::MissingInput(format!(
                            "the table `{}` of `{}` has no column `{}`",
                            t.table, t.decl, c.name
                        )))
                    }
                    Some((_, ty)) => {
                        let want = sqlite_type(&c.ty);
                        let ty = ty.to_ascii_uppercase();
                        // A decimal is read by its digits from a number
                        // or a text of any column type (the typed input
                        // boundary converts it).
                        let fits = ty.is_empty()
                            || c.ty.decimal_scale().is_some()
                            || ty.contains(want)
                            || (want == "REAL"
                                && (ty.contains("NUMERIC") || ty.contains("DECIMAL")))
                            || (want == "INTEGER" && ty.contains("INT"));
                        if !fits {
                            return Err(RuntimeError::MissingInput(format!(
                                "column `{}` of the table `{}` is {ty}; `{}` declares it {} (stored as {want})",
                                c.name, t.table, t.decl, c.ty
                            )));
                        }
                    }
                }
            }
        }
        self.check_owned(plan)?;
        let lowered = self.lowered(plan)?;
        layout::upgrade_layout(&self.conn, plan, &lowered)?;
        // Storage of an older schema: rebuilt at once while nothing of it
        // is published; afterwards only by a migration backfill, which
        // publishes every partition again in the new schema.
        let drift = layout::drift(&self.conn, plan, &lowered)?;
        if !drift.is_empty() {
            let (published, range) = layout::published(&self.conn, plan)?;
            if published > 0 {
                return Err(RuntimeError::SchemaDrift {
                    dataset: plan.dataset.clone(),
                    drift: drift.to_string(),
                    published,
                    range,
                });
            }
            layout::migrate(&self.conn, plan, &lowered)?;
        }
        self.conn
            .execute_batch(&format!(
                "{}; {};",
                lowered.create_data, lowered.create_view
            ))
            .map_err(RuntimeError::sql)
    }

    pub(super) fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError> {
        self.check_owned(plan)?;
        let lowered = self.lowered(plan)?;
        layout::migrate(&self.conn, plan, &lowered)
    }

    pub(super) fn lock_inputs(
        &mut self,
        plan: &JobPlan,
        overlay: Option<&str>,
    ) -> Result<Vec<InputLock>, RuntimeError> {
        let mut locks = Vec::new();
        for i in &plan.inputs {
            let t = &i.table;
            let mut lock = InputLock {
                alias: t.alias.clone(),
                input: t.decl.clone(),
                high_water_mark: None,
                versions: Vec::new(),
            };
            if t.kind == DeclKind::Dataset {
                let mut stmt = self
                    .conn
                    .prepare(
                        "SELECT partition, version FROM _bpl_shadow WHERE scope = ?2 AND dataset = ?1
                         UNION ALL
                         SELECT partition, version FROM _bpl_pointer p WHERE dataset = ?1
                           AND NOT EXISTS (SELECT 1 FROM _bpl_shadow s WHERE s.scope = ?2
                             AND s.dataset = ?1 AND s.partition = p.partition)
                         ORDER BY 1",
                    )
                    .map_err(RuntimeError::sql)?;
                lock.versions = stmt
                    .query_map(params![t.decl, overlay.unwrap_or("")], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(RuntimeError::sql)?
                    .collect::<Result<_, _>>()
                    .map_err(RuntimeError::sql)?;
            } else {
                let cols: Vec<String> = match &i.lock {
                    Some(Lock::Snapshot(c)) => vec![c.clone()],
                    Some(Lock::Cursor(cs)) => cs.clone(),
                    Some(Lock::Files) => vec!["_bpl_file".into()],
                    None => vec!["rowid".into()],
                };
                let quoted: Vec<String> = cols
                    .iter()
                    .map(|c| if c == "rowid" { c.clone() } else { ident(c) })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY {} LIMIT 1",
                    quoted.join(", "),
                    table_ref(&t.table),
                    quoted
                        .iter()
                        .map(|c| format!("{c} DESC"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let row: Option<Vec<Value>> = self
                    .conn
                    .query_row(&sql, [], |r| {
                        (0..cols.len()).map(|k| r.get::<_, Value>(k)).collect()
                    })
                    .optional()
                    .map_err(RuntimeError::sql)?;
                // An empty table locks at nothing: the run reads no rows.
                lock.high_water_mark = Some(
                    row.unwrap_or_else(|| vec![Value::Null; cols.len()])
                        .into_iter()
                        .map(|v| v.to_json())
                        .collect(),
                );
            }
            locks.push(lock);
        }
        Ok(locks)
    }

    pub(super) fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        let lowered = self.lowered(plan)?;
        // A seed's version is its content hash.
        let seeds = plan
            .binds
            .iter()
            .map(|b| crate::ingest::seed::version(&self.conn, &b.table.decl))
            .collect::<Result<Vec<_>, _>>()?;
        crate::runtime::engine::bindings::bindings(self, plan, &lowered, run, parts, &seeds)
    }

    pub(super) fn next_version(
        &mut self,
        plan: &JobPlan,
        partition: &str,
    ) -> Result<i64, RuntimeError> {
        let lowered = self.lowered(plan)?;
        let a = self.count(
            "SELECT coalesce(max(version), 0) FROM _bpl_versions WHERE dataset = :d AND partition = :p",
            &[
                (":d".into(), Value::Text(plan.dataset.clone())),
                (":p".into(), Value::Text(partition.into())),
            ],
        )?;
        let b = self.count(
            &format!(
                "SELECT coalesce(max(_bpl_version), 0) FROM {} WHERE _bpl_partition = :p",
                ident(&lowered.data_table)
            ),
            &[(":p".into(), Value::Text(partition.into()))],
        )?;
        Ok(a.max(b) + 1)
    }
}
