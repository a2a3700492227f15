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
//! The check is one call per row of `bpl_problems` (see
//! `runtime::engine::sqlite::functions::problems`), which reads the columns' types from its
//! first argument once per statement. A value already in the stored shape
//! is kept as it is by plain SQL (`typeof`, `length`); `bpl_as` converts
//! the rest — timestamps with `T`, `Z` or an offset become UTC
//! `YYYY-MM-DD HH:MM:SS`.

use serde::{Deserialize, Serialize};

use super::types::{ident, string};
use crate::plan::Column;
use crate::semantic::T;

/// What `bpl_problems` knows of one column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// `int`, `number`, `bool`, `string`, `date`, `timestamp`, `month`,
    /// `enum` or `any`.
    pub kind: String,
    /// The declared type, for the message.
    pub ty: String,
    /// A null is a problem.
    pub required: bool,
    /// An enum's variants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

/// The `bpl_as` kind of a type, and the SQL test for a value of column `x`
/// that is already in the stored shape.
fn kind(t: &T, x: &str) -> (&'static str, String) {
    match t {
        T::Int => ("int", format!("typeof({x}) = 'integer'")),
        T::Float | T::Decimal | T::DecimalLit | T::Duration => {
            ("number", format!("typeof({x}) IN ('integer', 'real')"))
        }
        T::Bool => ("bool", format!("typeof({x}) = 'integer' AND {x} IN (0, 1)")),
        T::String => ("string", format!("typeof({x}) = 'text'")),
        // The shape only: a shaped but impossible value is a problem the
        // row check reports, so the row never gets further.
        T::Date => ("date", format!("typeof({x}) = 'text' AND length({x}) = 10")),
        T::Timestamp => (
            "timestamp",
            format!("typeof({x}) = 'text' AND length({x}) = 19 AND substr({x}, 11, 1) = ' '"),
        ),
        T::Month => ("month", format!("typeof({x}) = 'text' AND length({x}) = 7")),
        T::Enum(_) => ("enum", "1".into()),
        _ => ("any", "1".into()),
    }
}

/// The kind the typed input boundary brings a value of type `t` to (the
/// engine's `convert`): `int`, `number`, `bool`, `string`, `date`, `timestamp`,
/// `month`, `enum` or `any`.
pub fn kind_name(t: &T) -> &'static str {
    kind(t, "x").0
}

/// Column `c` of the table aliased `q`, as stored.
pub fn value(q: &str, c: &Column) -> String {
    let x = format!("{q}.{}", ident(&c.name));
    match kind(&c.ty, &x) {
        ("enum" | "any", _) => x,
        (k, fast) => format!("CASE WHEN {fast} THEN {x} ELSE bpl_as({x}, '{k}') END"),
    }
}

/// A condition true for a row of the table aliased `q` that may have a
/// problem: a value not in its column's stored shape, or a null where
/// `required(c)`. Plain SQL, so a table of good rows is checked without a
/// function call per row; the rows it lets through are judged by
/// [`problems`].
pub fn misfit(q: &str, columns: &[Column], required: impl Fn(&Column) -> bool) -> String {
    let tests: Vec<String> = columns
        .iter()
        .filter_map(|c| {
            let x = format!("{q}.{}", ident(&c.name));
            let shape = match (&c.ty, kind(&c.ty, &x)) {
                (T::Enum(v), _) => format!(
                    "{x} IN ({})",
                    v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
                ),
                (_, ("any", _)) => return required(c).then(|| format!("{x} IS NULL")),
                (_, (_, fast)) => fast,
            };
            Some(if required(c) {
                format!("NOT coalesce({shape}, 0)")
            } else {
                format!("({x} IS NOT NULL AND NOT ({shape}))")
            })
        })
        .collect();
    if tests.is_empty() {
        "0".into()
    } else {
        tests.join(" OR ")
    }
}

/// The problems of a row of the table aliased `q`: NULL for a good row.
/// `required(c)`: whether a null in `c` is a problem.
pub fn problems(q: &str, columns: &[Column], required: impl Fn(&Column) -> bool) -> String {
    if columns.is_empty() {
        return "NULL".into();
    }
    let checks: Vec<Check> = columns
        .iter()
        .map(|c| Check {
            name: c.name.clone(),
            kind: kind(&c.ty, "x").0.to_string(),
            ty: c.ty.to_string(),
            required: required(c),
            variants: match &c.ty {
                T::Enum(v) => v.to_vec(),
                _ => Vec::new(),
            },
        })
        .collect();
    format!(
        "bpl_problems({}, {})",
        string(&serde_json::to_string(&checks).expect("serialises")),
        columns
            .iter()
            .map(|c| format!("{q}.{}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
