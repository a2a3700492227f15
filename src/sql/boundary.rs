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
//! `YYYY-MM-DD HH:MM:SS`, and decimals become integers scaled by
//! `10^scale`, read by their digits (see `runtime::decimal`): `'0.1'` is
//! `10` at scale 2, and `'0.125'` at scale 2 is a bad row, not a rounding.

use serde::{Deserialize, Serialize};

use super::types::{ident, power_of_ten, string};
use crate::plan::Column;
use crate::semantic::{Dec, T};

/// What `bpl_problems` knows of one column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// `int`, `number`, `bool`, `string`, `date`, `timestamp`, `month`,
    /// `enum`, `any`, `decimal:P:S` (a source's number or text, converted
    /// to its scaled integer) or `scaled:P:S` (a stored scaled integer).
    pub kind: String,
    /// The declared type, for the message.
    pub ty: String,
    /// A null is a problem.
    pub required: bool,
    /// An enum's variants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

/// Whether values are judged as a source holds them or as storage holds
/// them: the same except for decimals, which a source writes as numbers
/// or text (`12.50`) and storage keeps as integers scaled by `10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Source,
    Stored,
}

/// The `bpl_as` kind of a type, and the SQL test for a value of column `x`
/// that is already in the stored shape (for a source's decimal: a number
/// the plain SQL of [`decimal_value`] converts exactly).
fn kind(t: &T, x: &str, form: Form) -> (String, String) {
    if let T::Decimal(d) | T::DecimalLit(d) = t {
        return match form {
            Form::Source => (
                format!("decimal:{}:{}", d.precision, d.scale),
                format!("({}) OR ({})", whole_fits(x, d), float_fits(x, d)),
            ),
            Form::Stored => (
                format!("scaled:{}:{}", d.precision, d.scale),
                format!(
                    "typeof({x}) = 'integer' AND abs({x}) < {}",
                    power_of_ten(d.precision)
                ),
            ),
        };
    }
    let fast = match t {
        T::Int => format!("typeof({x}) = 'integer'"),
        T::Float | T::Duration => format!("typeof({x}) IN ('integer', 'real')"),
        T::Bool => format!("typeof({x}) = 'integer' AND {x} IN (0, 1)"),
        T::String => format!("typeof({x}) = 'text'"),
        // The shape only: a shaped but impossible value is a problem the
        // row check reports, so the row never gets further.
        T::Date => format!("typeof({x}) = 'text' AND length({x}) = 10"),
        T::Timestamp => {
            format!("typeof({x}) = 'text' AND length({x}) = 19 AND substr({x}, 11, 1) = ' '")
        }
        T::Month => format!("typeof({x}) = 'text' AND length({x}) = 7"),
        _ => "1".into(),
    };
    (kind_name(t).to_string(), fast)
}

/// An integer whose scaled value has at most the declared digits.
fn whole_fits(x: &str, d: &Dec) -> String {
    format!(
        "typeof({x}) = 'integer' AND abs({x}) < {}",
        power_of_ten(d.whole_digits())
    )
}

/// A float that is exactly the nearest float to a decimal of at most
/// `scale` digits after the point, small enough that `x * 10^scale` is off
/// by less than half from that decimal's scaled integer: that integer is
/// then `round(x * 10^scale)`, found without text.
fn float_fits(x: &str, d: &Dec) -> String {
    let m = power_of_ten(d.scale);
    // 2^51 / 10^scale: below it a float's error times 10^scale stays under
    // a half.
    let limit = (2f64.powi(51) / 10f64.powi(i32::from(d.scale))).floor();
    let whole = 10f64.powi(i32::from(d.whole_digits()));
    format!(
        "typeof({x}) = 'real' AND abs({x}) < {} AND round({x} * {m}) / {m}.0 = {x}",
        limit.min(whole)
    )
}

/// A source's decimal column `x` as its scaled integer: plain SQL for the
/// numbers [`kind`] proves convertible, `bpl_as` (exact, by the digits)
/// for the rest.
fn decimal_value(x: &str, d: &Dec, otherwise: &str) -> String {
    let m = power_of_ten(d.scale);
    format!(
        "CASE WHEN {} THEN {x} * {m} WHEN {} THEN CAST(round({x} * {m}) AS INTEGER) \
         ELSE {otherwise} END",
        whole_fits(x, d),
        float_fits(x, d),
    )
}

/// Column `c` of a reference's table aliased `q`, as stored. A reference's
/// values are trusted as declared, except a decimal's, which is converted
/// to its scaled integer like a source's; one that is not a decimal of its
/// type fails the statement with the reason (`bpl_dec_exact`): a lookup
/// value is never rounded or dropped silently.
pub fn reference_value(q: &str, c: &Column) -> String {
    let x = format!("{q}.{}", ident(&c.name));
    match &c.ty {
        T::Decimal(d) | T::DecimalLit(d) => decimal_value(
            &x,
            d,
            &format!(
                "bpl_dec_exact({x}, {}, {}, {})",
                string(&c.name),
                d.precision,
                d.scale
            ),
        ),
        _ => x,
    }
}

/// The kind the typed input boundary brings a value of type `t` to (the
/// engine's `convert`): `int`, `number`, `bool`, `string`, `date`, `timestamp`,
/// `month`, `enum`, `any`, or `decimal` (a number as written: kept as a
/// float where the float reads back as exactly those digits, else as
/// text; the boundary scales it when a run reads it).
pub fn kind_name(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "decimal",
        T::Int => "int",
        T::Float | T::Duration => "number",
        T::Bool => "bool",
        T::String => "string",
        T::Date => "date",
        T::Timestamp => "timestamp",
        T::Month => "month",
        T::Enum(_) => "enum",
        _ => "any",
    }
}

/// Column `c` of the table aliased `q`, as stored.
pub fn value(q: &str, c: &Column) -> String {
    let x = format!("{q}.{}", ident(&c.name));
    if let T::Decimal(d) | T::DecimalLit(d) = &c.ty {
        let otherwise = format!("bpl_as({x}, 'decimal:{}:{}')", d.precision, d.scale);
        return decimal_value(&x, d, &otherwise);
    }
    match kind(&c.ty, &x, Form::Source) {
        (k, _) if k == "enum" || k == "any" => x,
        (k, fast) => format!("CASE WHEN {fast} THEN {x} ELSE bpl_as({x}, '{k}') END"),
    }
}

/// A condition true for a row of the table aliased `q` that may have a
/// problem: a value not in its column's stored shape, or a null where
/// `required(c)`. Plain SQL, so a table of good rows is checked without a
/// function call per row; the rows it lets through are judged by
/// [`problems`].
pub fn misfit(q: &str, columns: &[Column], required: impl Fn(&Column) -> bool) -> String {
    misfit_in(Form::Source, q, columns, required)
}

/// [`misfit`] for rows as stored: a dataset's staged output.
pub fn stored_misfit(q: &str, columns: &[Column], required: impl Fn(&Column) -> bool) -> String {
    misfit_in(Form::Stored, q, columns, required)
}

fn misfit_in(
    form: Form,
    q: &str,
    columns: &[Column],
    required: impl Fn(&Column) -> bool,
) -> String {
    let tests: Vec<String> = columns
        .iter()
        .filter_map(|c| {
            let x = format!("{q}.{}", ident(&c.name));
            let shape = match (&c.ty, kind(&c.ty, &x, form)) {
                (T::Enum(v), _) => format!(
                    "{x} IN ({})",
                    v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
                ),
                (_, (k, _)) if k == "any" => return required(c).then(|| format!("{x} IS NULL")),
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
    problems_in(Form::Source, q, columns, required)
}

/// [`problems`] for rows as stored: a dataset's staged output.
pub fn stored_problems(q: &str, columns: &[Column], required: impl Fn(&Column) -> bool) -> String {
    problems_in(Form::Stored, q, columns, required)
}

fn problems_in(
    form: Form,
    q: &str,
    columns: &[Column],
    required: impl Fn(&Column) -> bool,
) -> String {
    checks_call("bpl_problems", form, q, columns, required)
}

/// A call of `function` with the columns' checks and their values (see
/// [`Check`]): `bpl_problems` or `bpl_row_status`.
fn checks_call(
    function: &str,
    form: Form,
    q: &str,
    columns: &[Column],
    required: impl Fn(&Column) -> bool,
) -> String {
    if columns.is_empty() {
        return "NULL".into();
    }
    let checks: Vec<Check> = columns
        .iter()
        .map(|c| Check {
            name: c.name.clone(),
            kind: kind(&c.ty, "x", form).0,
            ty: c.ty.to_string(),
            required: required(c),
            variants: match &c.ty {
                T::Enum(v) => v.to_vec(),
                _ => Vec::new(),
            },
        })
        .collect();
    format!(
        "{function}({}, {})",
        string(&serde_json::to_string(&checks).expect("serialises")),
        columns
            .iter()
            .map(|c| format!("{q}.{}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A source's rows read through the typed input boundary, each column
/// brought to its stored form and `_bpl_bad` holding the row's problems:
/// `SELECT typed columns, _bpl_bad FROM from WHERE filter`, in two fenced
/// layers (SQLite's `LIMIT -1`, so each call runs once per row).
///
/// One call per row, `bpl_row_status`, judges the row: its problems (text)
/// for a bad row, NULL for a good row whose values are all already stored
/// as [`value`]'s fast tests would keep them, 1 for a good row some value
/// of which needs converting. Most rows are the second kind: their columns
/// are read as they are (a decimal scaled by plain SQL), with no test per
/// value in SQL; the others take [`value`] itself, so every row gets the
/// same values as there.
pub fn typed_read(
    from: &str,
    filter: &str,
    columns: &[Column],
    required: impl Fn(&Column) -> bool,
) -> String {
    let status = checks_call("bpl_row_status", Form::Source, "s", columns, required);
    let plain = columns
        .iter()
        .map(|c| format!("s.{}", ident(&c.name)))
        .chain([format!("{status} AS _bpl_status")])
        .collect::<Vec<_>>()
        .join(", ");
    let typed = columns
        .iter()
        .map(|c| {
            let x = format!("s.{}", ident(&c.name));
            let stored = match &c.ty {
                T::Decimal(d) | T::DecimalLit(d) => {
                    format!("CAST(round({x} * {}) AS INTEGER)", power_of_ten(d.scale))
                }
                _ => x,
            };
            let typed = value("s", c);
            // An enum or `any` is read as it is either way.
            if typed == stored {
                return format!("{typed} AS {}", ident(&c.name));
            }
            format!(
                "CASE WHEN s._bpl_status IS NULL THEN {stored} ELSE {typed} END AS {}",
                ident(&c.name)
            )
        })
        .chain([
            "CASE WHEN s._bpl_status IS NULL OR s._bpl_status = 1 THEN NULL \
             ELSE s._bpl_status END AS _bpl_bad"
                .to_string(),
        ])
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {typed} FROM (SELECT {plain} FROM {from} WHERE {filter} LIMIT -1) AS s LIMIT -1"
    )
}
