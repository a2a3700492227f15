//! Preparing a job on Spark: its storage (the data table, partitioned by
//! partition id and version, and the consumer view), its inputs checked
//! against their declarations, schema drift, the input lock and the next
//! version.

use super::client::not_found;
use super::dialect::spark_type;
use super::{named, text, SparkEngine};
use crate::plan::JobPlan;
use crate::runtime::engine::measure::Rows;
use crate::runtime::engine::{Drift, Value};
use crate::runtime::RuntimeError;
use crate::sql::lower::LoweredJob;
use crate::sql::types::{ident, table_ref};
use crate::syntax::ast::DeclKind;

impl crate::runtime::engine::reads::AllRows for SparkEngine {
    fn all_rows(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Vec<Vec<Value>>, RuntimeError> {
        self.rows(sql, values)
    }
}

impl Rows for SparkEngine {
    fn first_row(
        &mut self,
        sql: &str,
        values: &[(String, Value)],
    ) -> Result<Option<Vec<Value>>, RuntimeError> {
        self.row(sql, values)
    }
}

/// Whether a stored Spark type can hold a declared type's values (the
/// typed input boundary brings each value to its stored form).
fn fits(stored: &str, want: &str) -> bool {
    let ints = ["tinyint", "smallint", "int", "bigint"];
    match want {
        "bigint" => ints.contains(&stored) || stored == "string",
        "double" => {
            ints.contains(&stored)
                || ["float", "double", "string"].contains(&stored)
                || stored.starts_with("decimal")
        }
        "boolean" => stored == "boolean" || stored == "string",
        _ => !stored.is_empty(),
    }
}

impl SparkEngine {
    /// The columns of a table or view with their types, in order; none
    /// when it is not there.
    pub(super) fn columns_of(
        &mut self,
        table: &str,
    ) -> Result<Vec<(String, String)>, RuntimeError> {
        let rows = match self.rows(&format!("DESCRIBE TABLE {}", table_ref(table)), &[]) {
            Ok(rows) => rows,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut columns = Vec::new();
        for r in rows {
            match (r.first(), r.get(1)) {
                // The partition columns are listed again after a heading.
                (Some(Value::Text(n)), _) if n.is_empty() || n.starts_with('#') => break,
                (Some(Value::Text(n)), Some(Value::Text(t))) => {
                    columns.push((n.clone(), t.to_ascii_lowercase()))
                }
                _ => {}
            }
        }
        Ok(columns)
    }

    /// Refuses an output name that something other than bplc created (see
    /// the SQLite engine's `check_owned`).
    fn check_owned(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        let ddl = match self.rows(&format!("SHOW CREATE TABLE {}", ident(&plan.table)), &[]) {
            Ok(rows) => rows,
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let ddl = match ddl.first().and_then(|r| r.first()) {
            Some(Value::Text(t)) => t.clone(),
            _ => return Ok(()),
        };
        let view = ddl
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE VIEW");
        if view && ddl.contains(&format!("{}__data", plan.table)) && ddl.contains("_bpl_pointer") {
            return Ok(());
        }
        Err(RuntimeError::NotOwned {
            dataset: plan.dataset.clone(),
            name: plan.table.clone(),
            kind: if view { "view" } else { "table" }.into(),
        })
    }

    pub(super) fn prepare_storage(&mut self, plan: &JobPlan) -> Result<(), RuntimeError> {
        self.check_owned(plan)?;
        let l = self.lowered(plan)?;
        self.create(plan, &l)
    }

    /// The data table — Parquet, one directory per partition and version —
    /// and the consumer view.
    fn create(&mut self, plan: &JobPlan, l: &LoweredJob) -> Result<(), RuntimeError> {
        let columns: Vec<String> = plan
            .columns
            .iter()
            .map(|c| format!("{} {}", ident(&c.name), spark_type(&c.ty)))
            .collect();
        self.execute(
            &format!(
                "CREATE TABLE IF NOT EXISTS {} ({}, _bpl_row_id STRING, _bpl_partition STRING, \
                 _bpl_version BIGINT) USING parquet PARTITIONED BY (_bpl_partition, _bpl_version)",
                ident(&l.data_table),
                columns.join(", ")
            ),
            &[],
        )?;
        if self.columns_of(&l.view)?.is_empty() {
            self.execute(&l.create_view, &[])?;
        }
        Ok(())
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
            let found = self.columns_of(&t.table)?;
            if found.is_empty() {
                return Err(RuntimeError::MissingInput(format!(
                    "the {} `{}` reads the table `{}`, which is not in the database (or the session may not read it)",
                    t.kind.keyword(),
                    t.decl,
                    t.table
                )));
            }
            for c in &t.columns {
                let want = spark_type(&c.ty).to_ascii_lowercase();
                match found.iter().find(|(n, _)| *n == c.name) {
                    None => {
                        return Err(RuntimeError::MissingInput(format!(
                            "the table `{}` of `{}` has no column `{}`",
                            t.table, t.decl, c.name
                        )))
                    }
                    // A decimal is read by its digits from a number or a
                    // text of any column type, as on SQLite.
                    Some((_, ty)) if c.ty.decimal_scale().is_none() && !fits(ty, &want) => {
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
        if !drift.is_empty() {
            let d = named(&[(":d", text(&plan.dataset))]);
            let ids: Vec<String> = self
                .rows("SELECT partition FROM _bpl_pointer WHERE dataset = :d", &d)?
                .into_iter()
                .filter_map(|r| match r.into_iter().next() {
                    Some(Value::Text(t)) => Some(t),
                    _ => None,
                })
                .collect();
            if !ids.is_empty() {
                return Err(RuntimeError::SchemaDrift {
                    dataset: plan.dataset.clone(),
                    drift: drift.to_string(),
                    published: ids.len() as i64,
                    range: plan.time_range(ids.iter().map(String::as_str)),
                });
            }
            self.rebuild(plan, &l, &drift)?;
        }
        self.create(plan, &l)
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
            let want = spark_type(&c.ty).to_ascii_lowercase();
            match shown.iter().find(|(n, _)| *n == c.name) {
                None => d.added.push(c.name.clone()),
                Some((_, ty)) if *ty != want => d.retyped.push((c.name.clone(), ty.clone(), want)),
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

    /// Brings the data table to the declared schema: an added column is
    /// NULL on earlier versions, a removed one leaves the view but stays
    /// stored. A Parquet table's column cannot change type in place, so a
    /// retyped column is refused.
    fn rebuild(
        &mut self,
        plan: &JobPlan,
        l: &LoweredJob,
        drift: &Drift,
    ) -> Result<(), RuntimeError> {
        if let Some((c, from, to)) = drift.retyped.first() {
            return Err(RuntimeError::Engine(format!(
                "Spark: the column `{c}` of `{}` is stored as {from} and declared {to}; a Parquet table's column cannot change type in place: drop the dataset's table `{}` and its view (its versions go with them), or keep the type",
                plan.dataset, l.data_table
            )));
        }
        let added: Vec<String> = drift
            .added
            .iter()
            .filter_map(|c| plan.columns.iter().find(|x| x.name == *c))
            .map(|c| format!("{} {}", ident(&c.name), spark_type(&c.ty)))
            .collect();
        if !added.is_empty() {
            self.execute(
                &format!(
                    "ALTER TABLE {} ADD COLUMNS ({})",
                    ident(&l.data_table),
                    added.join(", ")
                ),
                &[],
            )?;
        }
        self.execute(&format!("DROP VIEW IF EXISTS {}", ident(&l.view)), &[])?;
        self.execute(&l.create_view, &[])
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

    /// One more than the highest version of `partition` the log or the
    /// data table knows. A run asks for each of its partitions in turn, and
    /// a statement is a job: the first question fetches every partition's
    /// highest version of the dataset at once, and the later ones are
    /// answered from it until anything is written (see `SparkEngine::
    /// highest`).
    pub(super) fn next_version(
        &mut self,
        plan: &JobPlan,
        partition: &str,
    ) -> Result<i64, RuntimeError> {
        let fetched = matches!(&self.highest, Some((d, _)) if *d == plan.dataset);
        if !fetched {
            let highest = self.highest_versions(plan)?;
            self.highest = Some((plan.dataset.clone(), highest));
        }
        let highest = self
            .highest
            .as_ref()
            .and_then(|(_, h)| h.get(partition).copied())
            .unwrap_or(0);
        Ok(highest + 1)
    }

    /// The highest version of each partition of the dataset, in the log or
    /// in the data table (a staged version the log has forgotten still
    /// holds its number), in one statement.
    fn highest_versions(
        &mut self,
        plan: &JobPlan,
    ) -> Result<std::collections::HashMap<String, i64>, RuntimeError> {
        let l = self.lowered(plan)?;
        let mut sources = vec![
            "SELECT partition AS p, version AS v FROM _bpl_versions WHERE dataset = :d".to_string(),
        ];
        if !self.columns_of(&l.data_table)?.is_empty() {
            sources.push(format!(
                "SELECT _bpl_partition, _bpl_version FROM {}",
                ident(&l.data_table)
            ));
        }
        let rows = self.rows(
            &format!(
                "SELECT p, CAST(max(v) AS BIGINT) FROM ({}) AS h GROUP BY p",
                sources.join(" UNION ALL ")
            ),
            &named(&[(":d", text(&plan.dataset))]),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match (r.first(), r.get(1)) {
                (Some(Value::Text(p)), Some(Value::Integer(v))) => Some((p.clone(), *v)),
                _ => None,
            })
            .collect())
    }
}
