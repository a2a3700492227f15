//! Comparing two stored versions of one partition, by the rows' identity:
//! which rows were added, removed or changed, and how each numeric column's
//! total moved (a decimal's exactly, on its scaled integers, shown in its
//! units). Versions are compared inside `<table>__data`, so any two
//! kept versions (active, superseded, submitted, shadow) can be compared.

use super::dialect::Dialect;
use super::types::{ident, natural, string};
use crate::plan::JobPlan;
use crate::semantic::T;

pub struct DiffSql {
    /// `added, removed, changed, unchanged` for `:partition`, `:from`, `:to`.
    pub counts: String,
    /// `(column, SELECT <total over :from>, <total over :to>)`.
    pub metrics: Vec<(String, String)>,
    /// Up to 20 differing rows: `change, key, before, after` as JSON text.
    pub sample: String,
}

pub fn diff(plan: &JobPlan, d: &dyn Dialect) -> DiffSql {
    let data = ident(&format!("{}__data", plan.table));
    let key = plan.identity();
    let version = |v: &str| {
        format!("SELECT * FROM {data} WHERE _bpl_partition = :partition AND _bpl_version = {v}")
    };
    let on = key
        .iter()
        .map(|k| d.join_same(&format!("a.{}", ident(k)), &format!("b.{}", ident(k))))
        .collect::<Vec<_>>()
        .join(" AND ");
    let others: Vec<&str> = plan
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !key.iter().any(|k| k == c))
        .collect();
    let differs = if others.is_empty() {
        d.boolean(false).to_string()
    } else {
        others
            .iter()
            .map(|c| {
                let (a, b) = (format!("a.{}", ident(c)), format!("b.{}", ident(c)));
                d.differs(&a, &b)
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    // A decimal in its units, as a reader of the view sees it; a date or
    // timestamp in its canonical text, whatever type stores it.
    let shown = |side: &str, c: &str| {
        let x = format!("{side}.{}", ident(c));
        match plan.columns.iter().find(|col| col.name == c) {
            Some(col) => natural(&d.computed_value(&x, &col.ty).unwrap_or(x), &col.ty),
            None => x,
        }
    };
    let json = |side: &str, cols: &[&str]| {
        d.json_object(
            &cols
                .iter()
                .map(|c| format!("{}, {}", string(c), shown(side, c)))
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    let key_refs: Vec<&str> = key.iter().map(String::as_str).collect();
    let all: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    let present = |side: &str| format!("{side}._bpl_partition IS NOT NULL");
    let change = format!(
        "CASE WHEN NOT {a} THEN 'added' WHEN NOT {b} THEN 'removed' ELSE 'changed' END",
        a = present("a"),
        b = present("b")
    );
    let key_json = format!(
        "CASE WHEN {} THEN {} ELSE {} END",
        present("a"),
        json("a", &key_refs),
        json("b", &key_refs)
    );
    let counts = format!(
        "WITH a AS ({}), b AS ({}) SELECT \
         count(CASE WHEN NOT {pa} THEN 1 END), count(CASE WHEN NOT {pb} THEN 1 END), \
         count(CASE WHEN {pa} AND {pb} AND ({differs}) THEN 1 END), \
         count(CASE WHEN {pa} AND {pb} AND NOT ({differs}) THEN 1 END) \
         FROM a FULL OUTER JOIN b ON {on}",
        version(":from"),
        version(":to"),
        pa = present("a"),
        pb = present("b"),
    );
    let sample = format!(
        "WITH a AS ({}), b AS ({}) \
         SELECT {change}, {key_json}, CASE WHEN {pa} THEN {before} END, CASE WHEN {pb} THEN {after} END \
         FROM a FULL OUTER JOIN b ON {on} WHERE NOT {pa} OR NOT {pb} OR ({differs}) LIMIT 20",
        version(":from"),
        version(":to"),
        pa = present("a"),
        pb = present("b"),
        before = json("a", &all),
        after = json("b", &all),
    );
    let metrics = plan
        .columns
        .iter()
        .filter(|c| matches!(c.ty, T::Int | T::Float | T::Decimal(_)) && !key.contains(&c.name))
        .map(|c| {
            // A decimal's total is summed exactly on its integers, then
            // shown in its units.
            let total = match c.ty.decimal_scale() {
                Some(_) => natural(&format!("coalesce(sum({}), 0)", ident(&c.name)), &c.ty),
                None => d.total(&ident(&c.name)),
            };
            let sum = |v: &str| {
                format!(
                    "SELECT {total} FROM {data} WHERE _bpl_partition = :partition AND _bpl_version = {v}"
                )
            };
            (c.name.clone(), format!("SELECT ({}), ({})", sum(":from"), sum(":to")))
        })
        .collect();
    DiffSql {
        counts,
        metrics,
        sample,
    }
}
