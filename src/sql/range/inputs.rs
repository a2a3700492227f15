//! The inputs of a range statement: each input's rows tagged with the
//! partition of the batch they feed, read only inside its windows.

use super::{parts_columns, parts_table, window_table, BOUNDARY};
use crate::plan::{Boundary, InputPlan, Table};
use crate::semantic::hir::{Expr, ExprKind, Lock};
use crate::sql::dialect::Dialect;
use crate::sql::expr::{flat, partition_column, sql, Unsupported};
use crate::sql::lower::{computed_rows, cte, data_table};
use crate::sql::types::ident;
use crate::syntax::ast::{BinaryOp, DeclKind};

/// The top-level `and` terms of a condition.
pub(super) fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, l, r) => {
            let mut v = conjuncts(l);
            v.extend(conjuncts(r));
            v
        }
        _ => vec![e],
    }
}

pub(super) fn mentions_partition(e: &Expr) -> bool {
    let mut found = false;
    visit(e, &mut |x| {
        if matches!(x.kind, ExprKind::Partition { .. }) {
            found = true;
        }
    });
    found
}

pub(super) fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Call { args, over, .. } => {
            for a in args {
                visit(a, f);
            }
            if let Some(o) = over {
                for a in &o.partition_by {
                    visit(a, f);
                }
                for k in &o.order_by {
                    visit(&k.expr, f);
                }
            }
        }
        ExprKind::List(items) => {
            for a in items {
                visit(a, f);
            }
        }
        ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } => visit(x, f),
        ExprKind::Binary(_, l, r) => {
            visit(l, f);
            visit(r, f);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            visit(cond, f);
            visit(then, f);
            visit(otherwise, f);
        }
        _ => {}
    }
}

/// The rows of an input, each tagged with the partition of the batch it
/// feeds and that partition's keys.
pub(super) fn input_sql(
    i: &InputPlan,
    keys: &[String],
    d: &dyn Dialect,
) -> Result<String, Unsupported> {
    let t = &i.table;
    let batch_table = parts_table(d);
    let cols = |q: &str| {
        t.columns
            .iter()
            .map(|c| format!("{q}.{}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tagged = parts_columns("parts.", keys);
    if t.kind == DeclKind::Dataset {
        // The window table pairs each output partition with the locked
        // input partitions it reads: an index lookup each, nothing else.
        // The batch table is joined before the data, so that its row is
        // found once per window row, not once per data row.
        let mut q = format!(
            "SELECT {tagged}, {} FROM {} AS w{}{}",
            cols("d"),
            window_table(&t.alias, d),
            d.ordered_join(
                &format!("{batch_table} AS parts"),
                "parts._bpl_partition = w._bpl_out"
            ),
            d.ordered_join(
                &computed_rows(&data_table(&t.table), &t.columns, d, Some("d")),
                "d._bpl_partition = w._bpl_in AND d._bpl_version = w._bpl_in_version"
            ),
        );
        if let Boundary::Filter(e) = &i.boundary {
            q.push_str(&format!(" WHERE {}", sql(e, BOUNDARY.on(d))?));
        }
        return Ok(q);
    }
    // A source: `key == p` terms of its boundary join the batch by value;
    // the rest filter the joined rows.
    let mut on = Vec::new();
    let mut rest = Vec::new();
    let mut prefilter = Vec::new();
    match &i.boundary {
        Boundary::Filter(e) => {
            for c in conjuncts(e) {
                let key = match &c.kind {
                    ExprKind::Binary(BinaryOp::Eq, l, r) => match (&l.kind, &r.kind) {
                        (ExprKind::Partition { key }, _) if !mentions_partition(r) => {
                            Some((key.clone(), r))
                        }
                        (_, ExprKind::Partition { key }) if !mentions_partition(l) => {
                            Some((key.clone(), l))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match key {
                    Some((k, value)) => {
                        let value_sql = sql(value, BOUNDARY.on(d))?;
                        // A bare column keyed by the time key is also bounded
                        // by the batch's first and last partition, so an
                        // index on it is used and rows outside the batch are
                        // never read.
                        if k.is_none() && matches!(value.kind, ExprKind::Column { .. }) {
                            let c = format!("s.{value_sql}");
                            let (first, last) = d.batch_bounds(&batch_table);
                            prefilter.push(format!(
                                "{c} BETWEEN {} AND {}",
                                d.like_column(&c, &first),
                                d.like_column(&c, &last),
                            ));
                        }
                        on.push(format!(
                            "parts.{} = {value_sql}",
                            partition_column(k.as_deref()),
                        ))
                    }
                    None => rest.push(sql(c, BOUNDARY.on(d))?),
                }
            }
        }
        Boundary::All | Boundary::Partitions { .. } => {}
    }
    rest.push(match &i.lock {
        Some(Lock::Snapshot(col)) => format!("s.{} <= :hwm_{}", ident(col), t.alias),
        Some(Lock::Cursor(cs)) => format!(
            "({}) <= ({})",
            cs.iter()
                .map(|c| format!("s.{}", ident(c)))
                .collect::<Vec<_>>()
                .join(", "),
            (0..cs.len())
                .map(|k| format!(":hwm_{}_{k}", t.alias))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // The files up to the locked one, less rows a file up to it replaced.
        Some(Lock::Files) => format!(
            "s._bpl_file <= :hwm_{a} AND s._bpl_until > :hwm_{a}",
            a = t.alias
        ),
        None => format!("s.{} <= :hwm_{}", d.row_order(), t.alias),
    });
    // The source is the outer loop (CROSS JOIN keeps the order), so it is
    // scanned once for the whole batch, each row finding its partition by
    // its values as the boundary typed them; the lock reads them as stored.
    let on = d.ordered_join(&format!("{batch_table} AS parts"), &on.join(" AND "));
    prefilter.push(rest.pop().expect("the lock condition"));
    let lock = prefilter.join(" AND ");
    let required = |c: &crate::plan::Column| !c.nullable || i.key.contains(&c.name);
    let filter = if rest.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", rest.join(" AND "))
    };
    let from = crate::sql::types::table_ref(&t.table);
    // Kept from being flattened into the statements above it: flattened,
    // every reference to a typed value or to `_bpl_bad` would compute it
    // again (the boundary's tally reads the problems twice); fenced, each
    // row's are computed once.
    let plain = || {
        let read = t
            .columns
            .iter()
            .map(|c| format!("{} AS {}", d.typed_value("s", c), ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        (read, d.row_problems("s", &t.columns, &required))
    };
    let read = match &i.lock {
        Some(Lock::Files) => {
            let (read, problems) = plain();
            file_rows(t, &read, &problems, &from, &lock, d)
        }
        _ => match d.typed_read(&format!("{from} AS s"), &lock, &t.columns, &required) {
            Some(read) => read,
            None => {
                let (read, problems) = plain();
                d.unflattened(&format!(
                    "SELECT {read}, {problems} AS _bpl_bad FROM {from} AS s WHERE {lock}"
                ))
            }
        },
    };
    Ok(format!(
        "SELECT {tagged}, {}, s._bpl_bad FROM ({read}) AS s{on}{filter}",
        cols("s"),
    ))
}

/// The rows of a dataset input read whole inside its windows, counted per
/// partition of the batch from the data table's index: each window row
/// counts its input partition's entries, so only the window rows are
/// grouped, not every row read (a sort of all of them). `None` for an
/// input whose boundary filters its rows: those are counted as read.
pub(super) fn window_count(i: &InputPlan, d: &dyn Dialect) -> Option<String> {
    let t = &i.table;
    if t.kind != DeclKind::Dataset || matches!(i.boundary, Boundary::Filter(_)) {
        return None;
    }
    Some(format!(
        "SELECT parts._bpl_no, sum((SELECT count(*) FROM {} AS d \
         WHERE d._bpl_partition = w._bpl_in AND d._bpl_version = w._bpl_in_version)) \
         FROM {} AS w{} GROUP BY 1",
        ident(&data_table(&t.table)),
        window_table(&t.alias, d),
        d.ordered_join(
            &format!("{} AS parts", parts_table(d)),
            "parts._bpl_partition = w._bpl_out"
        ),
    ))
}

/// The rows of a landing-folder source (see `runtime::engine::intake`):
/// a malformed line is a bad row with the reason ingestion gave, and every
/// bad row's problems start with its file and line
/// (`landing/a.csv:4: amount: 'ten' is not a valid int`). The file's path
/// is looked up for bad rows only, after the problems are known (two
/// fences: each row's problems are still computed once).
fn file_rows(
    t: &Table,
    read: &str,
    problems: &str,
    from: &str,
    lock: &str,
    d: &dyn Dialect,
) -> String {
    let checked = d.unflattened(&format!(
        "SELECT {read}, coalesce(s._bpl_malformed, {problems}) AS _bpl_bad, \
         s._bpl_file AS _bpl_file, s._bpl_line AS _bpl_line FROM {from} AS s WHERE {lock}"
    ));
    let names = t
        .columns
        .iter()
        .map(|c| format!("f.{}", ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let origin = "coalesce((SELECT p.path FROM _bpl_files AS p WHERE p.file_id = f._bpl_file), \
         'file ' || f._bpl_file) || coalesce(':' || f._bpl_line, '') || ': '";
    d.unflattened(&format!(
        "SELECT {names}, CASE WHEN f._bpl_bad IS NOT NULL THEN {origin} || f._bpl_bad END AS _bpl_bad \
         FROM ({checked}) AS f"
    ))
}

/// The row-stage columns of an alias: an input's carry the partition it
/// feeds, so a join can match it.
pub(super) fn flattened(t: &Table, first: bool, keys: &[String]) -> String {
    let mut cols = Vec::new();
    let source = t.kind == DeclKind::Source;
    if first {
        cols.push(parts_columns("", keys));
        if source {
            cols.push("_bpl_bad".into());
        }
    } else {
        // 1 on every joined row: NULL after a left join means no match.
        cols.push(format!("1 AS {}", flat(&t.alias, "_bpl_matched")));
        if t.kind != DeclKind::Reference {
            cols.push(format!("_bpl_no AS {}", flat(&t.alias, "_bpl_no")));
        }
    }
    cols.extend(
        t.columns
            .iter()
            .map(|c| format!("{} AS {}", ident(&c.name), flat(&t.alias, &c.name))),
    );
    // A joined source's bad rows take no part in the join; the engine
    // records them (`joined_bad_rows`).
    let good = if source && !first {
        " WHERE _bpl_bad IS NULL"
    } else {
        ""
    };
    format!("SELECT {} FROM {}{good}", cols.join(", "), cte(&t.alias))
}

/// The aliases and derived names an expression reads.
pub(super) fn reads(e: &Expr) -> (Vec<String>, bool) {
    let (mut aliases, mut derived) = (Vec::new(), false);
    visit(e, &mut |x| match &x.kind {
        ExprKind::Column { alias: Some(a), .. } => aliases.push(a.clone()),
        ExprKind::Column { alias: None, .. } => derived = true,
        _ => {}
    });
    (aliases, derived)
}
