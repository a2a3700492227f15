//! The SQLite dialect. Dates, months and timestamps are sortable text
//! (`2026-06-15`, `2026-06`, `2026-06-15 08:30:00` in UTC), so comparing
//! them compares time; what SQLite lacks, and everything that needs a time
//! zone, is a `bpl_*` function the engine registers ([`super::functions`]),
//! written once in Rust so no host setting leaks in.

use crate::plan::Column;
use crate::semantic::hir::DurationUnit;
use crate::semantic::T;
use crate::sql::dialect::{Dialect, Staging, BATCH_FIRST, BATCH_LAST};

/// The test and diagnostic switch that has SQLite stage the way a server
/// engine does (`materialized`, see [`Staging`]), so the two modes can be
/// compared on the same data. The only place it is read.
pub const STAGING_VAR: &str = "BPLC_SQLITE_STAGING";

/// The SQLite dialect.
pub struct Sqlite;

/// The one SQLite dialect value, for lowering.
pub static SQLITE: Sqlite = Sqlite;

/// The SQLite column type for a language type.
pub fn sqlite_type(t: &T) -> &'static str {
    match t {
        // A decimal is its value times 10^scale, exact (see `sql::types`).
        T::Bool | T::Int | T::Decimal(_) | T::DecimalLit(_) => "INTEGER",
        T::Float | T::Duration => "REAL",
        _ => "TEXT",
    }
}

/// The declared type of a stored column: [`sqlite_type`], and for a
/// decimal its scale too (`INTEGER SCALE(2)`, integer affinity), so a
/// change of scale is a schema change the migration sees, and a reader of
/// the warehouse sees what the integers mean.
pub fn storage_type(t: &T) -> String {
    match t.decimal_scale() {
        Some(s) => format!("INTEGER SCALE({s})"),
        None => sqlite_type(t).to_string(),
    }
}

/// The scale a stored column's declared type says its integers have:
/// `INTEGER SCALE(2)` is 2; a column of any other type holds values as
/// they are (`None`).
pub fn stored_scale(declared: &str) -> Option<u8> {
    let upper = declared.to_ascii_uppercase();
    let rest = upper.strip_prefix("INTEGER SCALE(")?;
    rest.strip_suffix(')')?.trim().parse().ok()
}

impl Dialect for Sqlite {
    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn column_type(&self, t: &T) -> String {
        storage_type(t)
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value {
            "1"
        } else {
            "0"
        }
    }

    fn temp_table(&self, name: &str) -> String {
        format!("temp.{name}")
    }

    fn temp_index(&self, index: &str, table: &str, columns: &str) -> String {
        format!("CREATE INDEX temp.{index} ON {table} ({columns})")
    }

    fn same(&self, a: &str, b: &str) -> String {
        format!("{a} IS {b}")
    }

    fn join_same(&self, a: &str, b: &str) -> String {
        self.same(a, b)
    }

    fn ordered_join(&self, table: &str, on: &str) -> String {
        match on {
            "" => format!(" CROSS JOIN {table}"),
            on => format!(" CROSS JOIN {table} ON {on}"),
        }
    }

    fn flag(&self, condition: &str) -> String {
        format!("coalesce({condition}, 0)")
    }

    fn differs(&self, a: &str, b: &str) -> String {
        format!("{a} IS NOT {b}")
    }

    /// `LIMIT -1` (no limit): SQLite neither flattens such a subquery into
    /// a query with a `WHERE` nor pushes terms into it.
    fn unflattened(&self, select: &str) -> String {
        format!("{select} LIMIT -1")
    }

    fn row_order(&self) -> &'static str {
        "rowid"
    }

    /// The tally, SQLite's own function; materialized points only when
    /// [`STAGING_VAR`] asks for them.
    fn staging(&self) -> Staging {
        match std::env::var(STAGING_VAR).as_deref() {
            Ok("materialized") => Staging::Materialized,
            _ => Staging::Tally,
        }
    }

    fn batch_bounds(&self, _batch_table: &str) -> (String, String) {
        (BATCH_FIRST.to_string(), BATCH_LAST.to_string())
    }

    fn total(&self, x: &str) -> String {
        format!("total({x})")
    }

    fn create_view(&self, name: &str, select: &str) -> String {
        format!("CREATE VIEW IF NOT EXISTS {name} AS {select}")
    }

    fn json_object(&self, args: &str) -> String {
        format!("json_object({args})")
    }

    fn checksum(&self, columns: &[String]) -> String {
        format!("bpl_checksum({})", columns.join(", "))
    }

    fn shift(&self, x: &str, ty: &T, n: i64, unit: DurationUnit) -> String {
        let modifier = match unit {
            DurationUnit::Seconds => format!("'{n:+} seconds'"),
            DurationUnit::Days => format!("'{n:+} days'"),
            DurationUnit::Months => format!("'{n:+} months'"),
        };
        match ty {
            T::Timestamp => format!("datetime({x}, {modifier})"),
            T::Month => format!("substr(date({x} || '-01', {modifier}), 1, 7)"),
            _ => format!("date({x}, {modifier})"),
        }
    }

    fn days_between(&self, from: &str, to: &str) -> String {
        format!("CAST(julianday({to}) - julianday({from}) AS INTEGER)")
    }

    fn seconds_between(&self, from: &str, to: &str) -> String {
        format!("(unixepoch({to}) - unixepoch({from}))")
    }

    fn calendar(&self, grain: &str, x: &str) -> String {
        match grain {
            "month" => format!("substr({x}, 1, 7)"),
            "year" => format!("substr({x}, 1, 4)"),
            other => format!("bpl_{other}({x})"),
        }
    }

    fn month_start(&self, x: &str) -> String {
        format!("(substr({x}, 1, 7) || '-01')")
    }

    fn round(&self, x: &str, digits: &str) -> String {
        format!("round({x}, {digits})")
    }

    fn to_float(&self, x: &str) -> String {
        format!("CAST({x} AS REAL)")
    }

    fn typed_value(&self, q: &str, c: &Column) -> String {
        crate::sql::boundary::value(q, c)
    }

    fn row_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        crate::sql::boundary::problems(q, columns, required)
    }

    fn typed_read(
        &self,
        from: &str,
        filter: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> Option<String> {
        Some(crate::sql::boundary::typed_read(
            from, filter, columns, required,
        ))
    }

    fn misfit(&self, q: &str, columns: &[Column], required: &dyn Fn(&Column) -> bool) -> String {
        crate::sql::boundary::misfit(q, columns, required)
    }

    fn stored_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        crate::sql::boundary::stored_problems(q, columns, required)
    }

    fn stored_misfit(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        crate::sql::boundary::stored_misfit(q, columns, required)
    }

    fn reference_value(&self, q: &str, c: &Column) -> String {
        crate::sql::boundary::reference_value(q, c)
    }

    fn function(&self, name: &str, args: &[String]) -> String {
        format!("bpl_{name}({})", args.join(", "))
    }

    /// `bpl_staged_row` (see [`super::inserted`]): the stable id, and the
    /// row counted, checksummed and sized into its partition as it is
    /// written, the data table's affinities bound as
    /// [`super::inserted::ROW_TYPES`].
    fn staged_row_id(
        &self,
        id: &[String],
        key_columns: &[usize],
        no: &str,
        columns: &[(String, bool)],
    ) -> String {
        let text: Vec<bool> = columns.iter().map(|(_, t)| *t).collect();
        let mut args = vec![
            crate::sql::types::string(&super::inserted::layout(key_columns, &text)),
            super::inserted::ROW_TYPES.to_string(),
            no.to_string(),
        ];
        // The dataset and version `stable_id` starts with.
        args.extend(id.iter().take(2).cloned());
        args.extend(columns.iter().map(|(c, _)| c.clone()));
        format!("bpl_staged_row({})", args.join(", "))
    }

    fn measures_staged_rows(&self) -> bool {
        true
    }
}
