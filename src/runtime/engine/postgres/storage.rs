//! Preparing a job on PostgreSQL: its storage (the data table and the
//! consumer view), its inputs checked against their declarations, schema
//! drift, the input lock, the reference bindings, the next version, and
//! the shared measurement over this connection.

use super::dialect::{postgres_type, stored_type};
use super::{named, text, PostgresEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Drift, PartitionRun, RunScope, Value};
use crate::runtime::manifest::Binding;
use crate::runtime::RuntimeError;
use crate::semantic::T;
use crate::sql::lower::LoweredJob;
use crate::sql::types::{ident, string};
use crate::syntax::ast::DeclKind;

impl crate::runtime::engine::reads::AllRows for PostgresEngine {
    fn all_rows(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.rows(sql, values)
    }
}

impl Rows for PostgresEngine {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        self.row(sql, values)
    }
}

/// Whether a stored PostgreSQL type can hold a declared type's values
/// (the typed input boundary brings each value to its stored form).
fn fits(stored: &str, want: &str) -> bool {
    let numeric = [
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "numeric",
    ];
    match want {
        "bigint" => ["smallint", "integer", "bigint"].contains(&stored) || stored == "text",
        "double precision" => numeric.contains(&stored) || stored == "text",
        "boolean" => stored == "boolean" || stored == "text",
        _ => !stored.is_empty(),
    }
}

/// Whether the stored schema differs from the declaration only by date
/// and timestamp columns kept as text, as bplc stored them before it used
/// the server's types: converted in place, whatever is published.
fn is_text_layout(drift: &Drift) -> bool {
    !drift.retyped.is_empty()
        && drift.added.is_empty()
        && drift.removed.is_empty()
        && drift.retyped.iter().all(|(_, from, to)| {
            from == "text" && (to == stored_type(&T::Date) || to == stored_type(&T::Timestamp))
        })
}

impl PostgresEngine {
    /// The columns of a table or view (`schema.table` or one of the
    /// project's schema), with their types, in order.
    fn columns_of(&mut self, table: &str) -> Result<Vec<(String, String)>, RuntimeError> {
        let (schema, name) = match table.split_once('.') {
            Some((s, t)) => (string(s), string(t)),
            None => ("current_schema()".to_string(), string(table)),
        };
        let rows = self.rows(&super::dialect::columns_sql(&schema, &name), &[])?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match (r.first(), r.get(1)) {
                (Some(Value::Text(n)), Some(Value::Text(t))) => Some((n.clone(), t.clone())),
                _ => None,
            })
            .collect())
    }

    /// Refuses an output name that something other than bplc created (see
    /// the SQLite engine's `check_owned`).
    fn check_owned(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let found = self.row(
            &format!(
                "SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END,
                        CASE c.relkind WHEN 'v' THEN pg_get_viewdef(c.oid) END
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relname = {}
                   AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
                string(&plan.table)
            ),
            &[],
        )?;
        let Some(row) = found else {
            return Ok(());
        };
        let kind = match row.first() {
            Some(Value::Text(k)) => k.clone(),
            _ => "table".into(),
        };
        let ours = matches!(row.get(1), Some(Value::Text(def))
            if def.contains(&format!("{}__data", plan.table)) && def.contains("_bpl_pointer"));
        if kind == "view" && ours {
            return Ok(());
        }
        Err(RuntimeError::NotOwned {
            dataset: plan.dataset.clone(),
            name: plan.table.clone(),
            kind,
        })
    }

    pub(super) fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        self.check_owned(plan)?;
        let l = self.lowered(plan)?;
        let drift = self.drift(plan, &l)?;
        if is_text_layout(&drift) {
            self.retype_text_layout(plan, &l, &drift)?;
        }
        self.create(&l)
    }

    /// The data table, its index and the consumer view, under the schema's
    /// DDL lock: several first runs of a dataset at once create them once.
    fn create(&mut self, l: &LoweredJob) -> Result<(), RuntimeError> {
        self.schema_transaction(|e| {
            let exists = !e.columns_of(&l.view)?.is_empty();
            let view = if exists { "" } else { l.create_view.as_str() };
            e.batch(&format!("{}; {view};", l.create_data))
        })
    }

    pub(super) fn prepare(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let tables: Vec<_> = plan
            .inputs
            .iter()
            .map(|i| &i.table)
            .chain(plan.binds.iter().map(|b| &b.table))
            .cloned()
            .collect();
        for t in &tables {
            if t.kind == DeclKind::Dataset {
                if self.columns_of(&format!("{}__data", t.table))?.is_empty() {
                    return Err(RuntimeError::MissingInput(format!(
                        "input `{}` ({}) has never been published: run `bplc run {}` first",
                        t.alias, t.decl, t.decl
                    )));
                }
                continue;
            }
            if let Some((schema, table)) = t.table.split_once('.') {
                let kind = t.kind.keyword();
                super::other_schema::check(&mut self.client, kind, &t.decl, schema, table)?;
            }
            let found = self.columns_of(&t.table)?;
            if found.is_empty() {
                return Err(RuntimeError::MissingInput(format!(
                    "the {} `{}` reads the table `{}`, which is not in the schema (or the role may not read it)",
                    t.kind.keyword(),
                    t.decl,
                    t.table
                )));
            }
            for c in &t.columns {
                let want = postgres_type(&c.ty);
                match found.iter().find(|(n, _)| *n == c.name) {
                    None => {
                        return Err(RuntimeError::MissingInput(format!(
                            "the table `{}` of `{}` has no column `{}`",
                            t.table, t.decl, c.name
                        )))
                    }
                    // A decimal is read by its digits from a number or a
                    // text of any column type (the typed input boundary
                    // converts it), as on SQLite.
                    Some((_, ty)) if c.ty.decimal_scale().is_none() && !fits(ty, want) => {
                        return Err(RuntimeError::MissingInput(format!(
                            "column `{}` of the table `{}` is {ty}; `{}` declares it {} (stored as {want})",
                            c.name, t.table, t.decl, c.ty
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
        self.check_owned(plan)?;
        let l = self.lowered(plan)?;
        let drift = self.drift(plan, &l)?;
        if is_text_layout(&drift) {
            self.retype_text_layout(plan, &l, &drift)?;
        } else if !drift.is_empty() {
            let published = self.count(
                "SELECT count(*) FROM _bpl_pointer WHERE dataset = :d",
                &named(&[(":d", text(&plan.dataset))]),
            )?;
            if published > 0 {
                let ids: Vec<String> = self
                    .rows(
                        "SELECT partition FROM _bpl_pointer WHERE dataset = :d",
                        &named(&[(":d", text(&plan.dataset))]),
                    )?
                    .into_iter()
                    .filter_map(|r| match r.into_iter().next() {
                        Some(Value::Text(t)) => Some(t),
                        _ => None,
                    })
                    .collect();
                return Err(RuntimeError::SchemaDrift {
                    dataset: plan.dataset.clone(),
                    drift: drift.to_string(),
                    published,
                    range: plan.time_range(ids.iter().map(String::as_str)),
                });
            }
            self.rebuild(plan, &l, &drift)?;
        }
        self.create(&l)
    }

    /// How the stored schema differs from the declaration (see the SQLite
    /// engine's `layout::drift`).
    fn drift(&mut self, plan: &JobPlan, l: &LoweredJob) -> Result<Drift, RuntimeError> {
        let data = self.columns_of(&l.data_table)?;
        if data.is_empty() {
            return Ok(Drift::default());
        }
        let view = self.columns_of(&l.view)?;
        let shown: Vec<(String, String)> = data
            .into_iter()
            .filter(|(n, _)| {
                !n.starts_with("_bpl_") && (view.is_empty() || view.iter().any(|(v, _)| v == n))
            })
            .collect();
        let mut d = Drift::default();
        for c in &plan.columns {
            let want = stored_type(&c.ty);
            match shown.iter().find(|(n, _)| *n == c.name) {
                None => d.added.push(c.name.clone()),
                Some((_, ty)) if ty != want => {
                    d.retyped
                        .push((c.name.clone(), ty.clone(), want.to_string()))
                }
                Some(_) => {}
            }
        }
        for (n, _) in shown {
            if !plan.columns.iter().any(|c| c.name == n) {
                d.removed.push(n);
            }
        }
        Ok(d)
    }

    /// Brings the data table to the declared schema in one transaction:
    /// an added column is NULL on earlier versions, a removed one leaves
    /// the view but stays stored, a retyped one is converted.
    fn rebuild(
        &mut self,
        plan: &JobPlan,
        l: &LoweredJob,
        drift: &Drift,
    ) -> Result<(), RuntimeError> {
        let data = ident(&l.data_table);
        let mut sql = format!(
            "BEGIN; {}; DROP VIEW IF EXISTS {};",
            super::schema_lock(&self.schema),
            ident(&l.view)
        );
        for c in &drift.added {
            if let Some(col) = plan.columns.iter().find(|x| x.name == *c) {
                sql.push_str(&format!(
                    "ALTER TABLE {data} ADD COLUMN IF NOT EXISTS {} {};",
                    ident(c),
                    stored_type(&col.ty)
                ));
            }
        }
        for (c, from, to) in &drift.retyped {
            let c = ident(c);
            // A timestamp's text is its UTC time, as the engine writes it.
            let text = match from.as_str() {
                "timestamp with time zone" => format!("CAST({c} AT TIME ZONE 'UTC' AS text)"),
                _ => format!("CAST({c} AS text)"),
            };
            let value = match to.as_str() {
                "timestamp with time zone" => {
                    format!("(CAST({text} AS timestamp) AT TIME ZONE 'UTC')")
                }
                _ => format!("CAST({text} AS {to})"),
            };
            sql.push_str(&format!(
                "ALTER TABLE {data} ALTER COLUMN {c} TYPE {to} USING {value};"
            ));
        }
        sql.push_str(&format!("{}; COMMIT;", l.create_view));
        if let Err(e) = self.batch(&sql) {
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(e);
        }
        Ok(())
    }

    /// Converts the date and timestamp columns of a data table an earlier
    /// bplc stored as text to `date` and `timestamptz`, published versions
    /// and all, in one transaction: the values are the same (their
    /// canonical text, and so every checksum, is unchanged). A value that
    /// is not a canonical date or timestamp (a table edited by hand) stops
    /// it, with nothing changed.
    fn retype_text_layout(
        &mut self,
        plan: &JobPlan,
        l: &LoweredJob,
        drift: &Drift,
    ) -> Result<(), RuntimeError> {
        self.rebuild(plan, l, drift).map_err(|e| RuntimeError::Server {
            code: crate::diagnostic::codes::E0319,
            message: format!(
                "the data table `{}` of `{}` keeps dates and timestamps as text, as earlier versions of bplc stored them, and converting {} to `date`/`timestamptz` failed: {e}",
                l.data_table,
                plan.dataset,
                drift
                    .retyped
                    .iter()
                    .map(|(c, _, _)| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            help: format!(
                "if a stored value is not a canonical date (`2026-06-15`) or UTC timestamp (`2026-06-15 08:30:00`), correct or delete that row in `{d}` (or drop `{d}` and the view `{v}` and run the dataset again); if a view of your own reads `{v}`, drop it, run, and create it again",
                d = l.data_table,
                v = l.view
            ),
        })
    }

    pub(super) fn migrate(&mut self, plan: &JobPlan) -> Result<Drift, RuntimeError> {
        self.check_owned(plan)?;
        let l = self.lowered(plan)?;
        let d = self.drift(plan, &l)?;
        if !d.is_empty() {
            self.rebuild(plan, &l, &d)?;
        }
        Ok(d)
    }

    pub(super) fn bindings(
        &mut self,
        plan: &JobPlan,
        run: &RunScope,
        parts: &[PartitionRun],
    ) -> Result<Vec<Binding>, RuntimeError> {
        let l = self.lowered(plan)?;
        // A seed's version is its content hash.
        let seeds = plan
            .binds
            .iter()
            .map(|b| super::intake::seed_version(&mut self.client, &b.table.decl))
            .collect::<Result<Vec<_>, _>>()?;
        crate::runtime::engine::bindings::bindings(self, plan, &l, run, parts, &seeds)
    }

    pub(super) fn next_version(
        &mut self,
        plan: &JobPlan,
        partition: &str,
    ) -> Result<i64, RuntimeError> {
        let l = self.lowered(plan)?;
        let v = named(&[(":d", text(&plan.dataset)), (":p", text(partition))]);
        let versions = "SELECT coalesce(max(version), 0) FROM _bpl_versions \
                        WHERE dataset = :d AND partition = :p";
        // One statement: a round trip per partition of a run is what a
        // long backfill pays most for. The data table is looked up only
        // until it is known to exist.
        if !self.data_tables.contains(&l.data_table) {
            if self.columns_of(&l.data_table)?.is_empty() {
                return Ok(self.count(&format!("SELECT CAST(({versions}) AS bigint)"), &v)? + 1);
            }
            self.data_tables.insert(l.data_table.clone());
        }
        let highest = self.count(
            &format!(
                "SELECT CAST(greatest(({versions}), (SELECT coalesce(max(_bpl_version), 0) \
                 FROM {} WHERE _bpl_partition = :p)) AS bigint)",
                ident(&l.data_table)
            ),
            &v,
        )?;
        Ok(highest + 1)
    }

    /// [`PostgresEngine::next_version`] of each of `partitions`, in one
    /// statement: each partition's highest version looked up by the same
    /// indexes, one row per partition in the order given.
    pub(super) fn next_versions(
        &mut self,
        plan: &JobPlan,
        partitions: &[&str],
    ) -> Result<Vec<i64>, RuntimeError> {
        if partitions.len() < 2 {
            return partitions
                .iter()
                .map(|p| self.next_version(plan, p))
                .collect();
        }
        let l = self.lowered(plan)?;
        if !self.data_tables.contains(&l.data_table) {
            if self.columns_of(&l.data_table)?.is_empty() {
                return self.highest_versions(plan, partitions, None);
            }
            self.data_tables.insert(l.data_table.clone());
        }
        self.highest_versions(plan, partitions, Some(&l.data_table))
    }

    fn highest_versions(
        &mut self,
        plan: &JobPlan,
        partitions: &[&str],
        data_table: Option<&str>,
    ) -> Result<Vec<i64>, RuntimeError> {
        let listed: Vec<String> = partitions.iter().map(|p| string(p)).collect();
        let stored = data_table.map_or(String::new(), |t| {
            format!(
                ", (SELECT coalesce(max(d._bpl_version), 0) FROM {} AS d \
                 WHERE d._bpl_partition = ps.p)",
                ident(t)
            )
        });
        let rows = self.rows(
            &format!(
                "SELECT CAST(greatest((SELECT coalesce(max(v.version), 0) FROM _bpl_versions AS v \
                 WHERE v.dataset = {} AND v.partition = ps.p){stored}) AS bigint) \
                 FROM unnest(ARRAY[{}]::text[]) WITH ORDINALITY AS ps(p, k) ORDER BY ps.k",
                string(&plan.dataset),
                listed.join(", ")
            ),
            &[],
        )?;
        if rows.len() != partitions.len() {
            return Err(RuntimeError::Engine(format!(
                "the next versions of {} partitions came back as {} rows",
                partitions.len(),
                rows.len()
            )));
        }
        Ok(rows
            .iter()
            .map(|r| match r.first() {
                Some(Value::Integer(n)) => n + 1,
                _ => 1,
            })
            .collect())
    }
}
