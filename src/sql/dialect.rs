//! What one SQL dialect says differently from another. Everything else a
//! job lowers to — expression printing, CTE assembly, the range staging
//! statement, gate queries, diffs — is written once in this module's
//! siblings and asks a [`Dialect`] only for these points. Each engine
//! supplies its dialect from its own folder (`runtime::engine::sqlite`).

use crate::plan::Column;
use crate::semantic::hir::DurationUnit;
use crate::semantic::T;

/// How a dialect's staging statement counts the rows of its row stage
/// (see `sql::range`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Staging {
    /// One nested statement; rows pass a stateful counting function the
    /// engine hosts at each counting point (SQLite's `bpl_tally`).
    Tally,
    /// Each counting point's rows are kept in a connection-private table,
    /// counted by grouped statements, and read on by the next point: for
    /// an engine that cannot host a stateful function (a server).
    #[default]
    Materialized,
    /// As [`Staging::Materialized`], but in one statement: each counting
    /// point is a materialized common table expression, the data table is
    /// filled by a data-modifying one, and the statement returns what every
    /// point counted (PostgreSQL). No session table is written.
    Chained,
}

/// The bound parameters a dialect may name the batch's first and last
/// partition value by (see [`Dialect::batch_bounds`]).
pub const BATCH_FIRST: &str = ":bpl_batch_first";
pub const BATCH_LAST: &str = ":bpl_batch_last";

pub trait Dialect: Sync {
    /// The engine's name, as messages give it (`SQLite`).
    fn name(&self) -> &'static str;
    /// The column type a language type is stored as, with its parameters
    /// where the dialect spells them (a decimal: the integer type of its
    /// scaled values, see `types`, and perhaps its scale).
    fn column_type(&self, t: &T) -> String;
    /// A boolean literal.
    fn boolean(&self, value: bool) -> &'static str;
    /// A table private to the connection (the batch and window tables),
    /// from its name as SQL writes it.
    fn temp_table(&self, name: &str) -> String;
    /// Creates an index on a connection-private table.
    fn temp_index(&self, index: &str, table: &str, columns: &str) -> String;
    /// Whether two values are the same, nulls included (null is null).
    fn same(&self, a: &str, b: &str) -> String;
    /// [`Dialect::same`] as a full outer join's condition, which some
    /// engines accept only as an equality.
    fn join_same(&self, a: &str, b: &str) -> String;
    /// ` CROSS JOIN table ON on`, the join SQLite keeps in the order
    /// written (the left side the outer loop); an engine that plans joins
    /// itself takes an inner join. `on` empty: every pair.
    fn ordered_join(&self, table: &str, on: &str) -> String;
    /// A condition as a flag: 1 when it holds, 0 when it does not or has
    /// no value.
    fn flag(&self, condition: &str) -> String;
    /// Whether two values differ, nulls included.
    fn differs(&self, a: &str, b: &str) -> String;
    /// A `SELECT` the planner must not flatten into the query around it
    /// (a subquery whose rows pass a counting call exactly once).
    fn unflattened(&self, select: &str) -> String;
    /// A column of every table that grows with each row written: what a
    /// source without a lock column is locked by.
    fn row_order(&self) -> &'static str;
    /// The order a counting point's rows are read back in (the first bad
    /// row of a partition is the first in it): the order they were written
    /// in, where a connection-private table keeps it.
    fn point_order(&self) -> &'static str {
        self.row_order()
    }
    /// The sum of a numeric column as a float, 0 over no rows.
    fn total(&self, x: &str) -> String;
    /// Creates a view unless it exists.
    fn create_view(&self, name: &str, select: &str) -> String;
    /// A JSON object text from `'key', value, ...` arguments.
    fn json_object(&self, args: &str) -> String;
    /// The content checksum aggregate over a row's columns (each an SQL
    /// expression), as [`super::checksum`] defines it.
    fn checksum(&self, columns: &[String]) -> String;
    /// `SELECT count(*), <checksum>{more} FROM {rows}`: the count and
    /// content checksum of `rows` (what follows `FROM`), and `more`
    /// (`, expr..`) over them. An engine that cannot compute a row's hash
    /// once for the two halves of [`Dialect::checksum`] computes it here.
    /// ` ORDER BY key` where rows inserted into a table are best sorted by
    /// `key` first (an engine whose index on it then grows at its end);
    /// empty where the order does not matter.
    fn insert_order(&self, _key: &str) -> String {
        String::new()
    }
    /// `value`, a text such as a partition's first day, as a value to
    /// compare with column `column` of a source as the source stores it
    /// (which may be a native date or timestamp column).
    fn like_column(&self, _column: &str, value: &str) -> String {
        value.to_string()
    }
    fn count_and_checksum(&self, columns: &[String], more: &str, rows: &str) -> String {
        format!(
            "SELECT count(*), {}{more} FROM {rows}",
            self.checksum(columns)
        )
    }
    /// `x`, a value of type `ty` (date, month or timestamp), moved by `n`
    /// units.
    fn shift(&self, x: &str, ty: &T, n: i64, unit: DurationUnit) -> String;
    /// Whole days from date `from` to date `to`.
    fn days_between(&self, from: &str, to: &str) -> String;
    /// Seconds from timestamp `from` to timestamp `to`.
    fn seconds_between(&self, from: &str, to: &str) -> String;
    /// A date (or month) read at a calendar grain: `week`, `month`,
    /// `quarter` or `year`.
    fn calendar(&self, grain: &str, x: &str) -> String;
    /// The first day of the month of a date.
    fn month_start(&self, x: &str) -> String;
    /// `x` rounded to `digits` decimal places.
    fn round(&self, x: &str, digits: &str) -> String;
    /// `x` as a floating-point number.
    fn to_float(&self, x: &str) -> String;
    /// The typed input boundary (see [`super::boundary`] for SQLite's): column
    /// `c` of the table aliased `q`, brought to its stored form.
    fn typed_value(&self, q: &str, c: &Column) -> String;
    /// The problems of a row of the table aliased `q` as text, NULL for a
    /// good row; `required(c)`: a null in `c` is a problem.
    fn row_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String;
    /// A source's rows through the typed input boundary in one fenced
    /// `SELECT` of its columns by name, typed ([`Dialect::typed_value`]),
    /// and `_bpl_bad` ([`Dialect::row_problems`]), from `from` (the table
    /// aliased `s`) where `filter` holds; `None`: the dialect has no
    /// cheaper form than those two, which the caller then writes.
    fn typed_read(
        &self,
        _from: &str,
        _filter: &str,
        _columns: &[Column],
        _required: &dyn Fn(&Column) -> bool,
    ) -> Option<String> {
        None
    }
    /// A plain condition true for every row of the table aliased `q` that
    /// may have a problem, so good rows are let through without a check
    /// per value.
    fn misfit(&self, q: &str, columns: &[Column], required: &dyn Fn(&Column) -> bool) -> String;
    /// [`Self::row_problems`] for rows as stored (a dataset's staged
    /// output): a decimal is its scaled integer there (see `types`), not a
    /// source's number or text.
    fn stored_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        self.row_problems(q, &self.stored_columns(columns), required)
    }
    /// [`Self::misfit`] for rows as stored.
    fn stored_misfit(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        self.misfit(q, &self.stored_columns(columns), required)
    }
    /// `columns` with the types their values have in a data table, for
    /// [`Self::stored_problems`] and [`Self::stored_misfit`]: by default
    /// [`as_stored`].
    fn stored_columns(&self, columns: &[Column]) -> Vec<Column> {
        as_stored(columns)
    }
    /// Column `c` of a reference's table aliased `q`, as stored: trusted as
    /// declared, but a decimal converted to its scaled integer exactly (a
    /// value that is not one stops the statement with the reason).
    fn reference_value(&self, q: &str, c: &Column) -> String;
    /// Column `c` (not a decimal) of a reference's table aliased `q`, when
    /// the engine brings it to its stored form (a native `date` read as the
    /// text the engine keeps dates in); `None`: read as stored.
    fn reference_converted(&self, _q: &str, _c: &Column) -> Option<String> {
        None
    }
    /// A value of type `t` the lowering computed (`x`), as a data table
    /// column stores it: the same, unless the engine stores the type in
    /// a native type of its own (PostgreSQL's `date` and `timestamptz`)
    /// while the lowering computes on the canonical text.
    fn stored_value(&self, x: &str, _t: &T) -> String {
        x.to_string()
    }
    /// A data table's column `x` of type `t` as the lowering computes on
    /// it, when that differs from how it is stored (the inverse of
    /// [`Dialect::stored_value`]); `None`: read as stored.
    fn computed_value(&self, _x: &str, _t: &T) -> Option<String> {
        None
    }
    /// An argument `x` of type `t` of `stable_id`, as the canonical
    /// encoding reads it: an engine whose expressions may carry another
    /// type than the language's (PostgreSQL's `sum` of integers is a
    /// `numeric`) brings it to the stored one.
    fn stable_id_arg(&self, x: &str, _t: &T) -> String {
        x.to_string()
    }
    /// A function the engine provides itself, called with its arguments as
    /// SQL: the language's (`to_date`, `percentile`, `stable_id`, `lower`,
    /// `month_end`, ...) and the runtime's (`bucket`, and `tally`, which
    /// counts the rows of a staging statement as they pass).
    fn function(&self, name: &str, args: &[String]) -> String;
    /// How staging counts rows: with the engine's tally function, or
    /// through materialized counting points (the default: a server engine
    /// hosts no stateful function).
    fn staging(&self) -> Staging {
        Staging::Materialized
    }
    /// The first and last partition value (`_bpl_p`) of the batch table
    /// `batch_table`, as SQL: a source keyed by the time key is read only
    /// between them. Subqueries by default (Spark); SQLite and PostgreSQL
    /// take them as the bound parameters [`BATCH_FIRST`] and
    /// [`BATCH_LAST`] (`batch::bounds` gives their values), which their
    /// planners weigh: a batch covering most of a table is read by one
    /// scan, not by the index row by row, and what follows is sized by the
    /// rows expected.
    fn batch_bounds(&self, batch_table: &str) -> (String, String) {
        (
            format!("(SELECT min(_bpl_p) FROM {batch_table})"),
            format!("(SELECT max(_bpl_p) FROM {batch_table})"),
        )
    }
    /// Creates a connection-private table `name` (as [`Dialect::temp_table`]
    /// takes it) holding the rows of `select`.
    fn temp_table_as(&self, name: &str, select: &str) -> String {
        format!("CREATE TEMP TABLE {name} AS {select}")
    }
    /// The stable row id the staging `INSERT` writes for a row, whose
    /// `stable_id` arguments are `id` (SQL), whose partition's place in the
    /// batch is `no` and whose output columns are `columns` (each with
    /// whether its size counts its bytes, as the checksum statement's does).
    /// `stable_id(id)` by default. An engine that measures the rows as they
    /// are written ([`Dialect::measures_staged_rows`]) takes the columns too.
    fn staged_row_id(
        &self,
        id: &[String],
        _key_columns: &[usize],
        _no: &str,
        _columns: &[(String, bool)],
    ) -> String {
        self.function("stable_id", id)
    }
    /// Whether [`Dialect::staged_row_id`] counts, checksums and sizes each
    /// partition's rows as the staging `INSERT` writes them (SQLite's
    /// `bpl_staged_row`): then the row count need not be read back, and a
    /// `dedupe` whose kept rows go one to one into the output need not
    /// count them row by row.
    fn measures_staged_rows(&self) -> bool {
        false
    }
}

/// Columns as stored: a decimal is its scaled integer there (see `types`).
pub fn as_stored(columns: &[Column]) -> Vec<Column> {
    columns
        .iter()
        .map(|c| match c.ty {
            T::Decimal(_) | T::DecimalLit(_) => Column {
                ty: T::Int,
                ..c.clone()
            },
            _ => c.clone(),
        })
        .collect()
}
