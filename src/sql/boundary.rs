//! The typed input boundary. A source's values are whatever its table
//! holds; SQLite does not enforce column types, so text can sit in an
//! `int` column and a timestamp can be written in another form. As a run
//! reads a source, every value is checked against the declared type and
//! brought to the stored form (see `types`), and each row gets the list of
//! its problems: a value of the wrong type, a date or timestamp not in an
//! accepted form, a null in a key or non-nullable column. A row with a
//! problem is a *bad row*: routed to quarantine with the problem as its
//! reason, counted, never published.
//!
//! Values already in the stored form are recognised by SQLite's own
//! `typeof`, `date` and `datetime`, so the common case calls no function
//! of ours;
//! `bpl_as` (see `runtime::functions::convert`) converts the rest —
//! timestamps with `T`, `Z` or an offset become UTC `YYYY-MM-DD HH:MM:SS`.

use super::types::{ident, string};
use crate::plan::Column;
use crate::semantic::T;

/// A column read through the boundary: its value as stored, and the
/// problem with it (NULL when there is none).
pub struct Typed {
    pub value: String,
    pub problem: String,
}

/// Reads column `c` of the table aliased `q`; `required` when a null is a
/// problem (a key column, or one declared without `?`).
pub fn column(q: &str, c: &Column, required: bool) -> Typed {
    let x = format!("{q}.{}", ident(&c.name));
    // (already stored this way, kind for bpl_as)
    let (fast, kind): (String, Option<&str>) = match &c.ty {
        T::Int => (format!("typeof({x}) = 'integer'"), Some("int")),
        T::Float | T::Decimal | T::DecimalLit | T::Duration => (
            format!("typeof({x}) IN ('integer', 'real')"),
            Some("number"),
        ),
        T::Bool => (
            format!("typeof({x}) = 'integer' AND {x} IN (0, 1)"),
            Some("bool"),
        ),
        T::String => (format!("typeof({x}) = 'text'"), Some("string")),
        // SQLite's own date functions give back exactly the stored form
        // of a valid value, and something else (or NULL) for anything else.
        T::Date => (format!("date({x}) = {x}"), Some("date")),
        T::Timestamp => (format!("datetime({x}) = {x}"), Some("timestamp")),
        T::Month => (
            format!("length({x}) = 7 AND date({x} || '-01') = {x} || '-01'"),
            Some("month"),
        ),
        T::Enum(variants) => (
            format!(
                "{x} IN ({})",
                variants
                    .iter()
                    .map(|v| string(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
        // Calendar grains and anything else: read as they are.
        _ => ("1".into(), None),
    };
    let null = if required {
        string(&format!(
            "{}: null in a column that may not be null",
            c.name
        ))
    } else {
        "NULL".into()
    };
    let what = string(&format!(" is not a valid {}", c.ty));
    let name = string(&format!("{}: ", c.name));
    match kind {
        Some(kind) => Typed {
            value: format!("CASE WHEN {fast} THEN {x} ELSE bpl_as({x}, '{kind}') END"),
            problem: format!(
                "CASE WHEN {x} IS NULL THEN {null} WHEN {fast} THEN NULL \
                 WHEN bpl_as({x}, '{kind}') IS NOT NULL THEN NULL \
                 ELSE {name} || quote({x}) || {what} END"
            ),
        },
        None => Typed {
            value: x.clone(),
            problem: format!(
                "CASE WHEN {x} IS NULL THEN {null} WHEN {fast} THEN NULL \
                 ELSE {name} || quote({x}) || {what} END"
            ),
        },
    }
}

/// Every problem of a row, `; `-separated, or NULL for a good row.
pub fn problems(typed: &[Typed]) -> String {
    if typed.is_empty() {
        return "NULL".into();
    }
    format!(
        "nullif(concat_ws('; ', {}), '')",
        typed
            .iter()
            .map(|t| t.problem.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}
