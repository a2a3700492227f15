//! Expressions to SQL, written once for every dialect: what a dialect
//! says differently (date arithmetic, calendar grains, the language's own
//! functions, literals) it says through [`Dialect`].

use crate::semantic::hir::{CallKind, DurationUnit, Expr, ExprKind, Lit, SortKey};
use crate::semantic::T;
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::dialect::Dialect;
use super::types::{ident, string};

/// How column references are written where an expression is lowered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// The row stage: `ev.case_id` is the column `ev__case_id`.
    Flat,
    /// A table's own columns: `ev.case_id` (or `case_id`) is `case_id`.
    Plain,
}

/// Where in a statement an expression is lowered.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub columns: Columns,
    /// In a boundary `x in [a, b]` is a closed range; elsewhere a list.
    pub ranges: bool,
    /// A range run computes many partitions in one statement: `p` is the
    /// row's own partition (a column the row stage carries, see
    /// [`partition_column`]) and every window is split by partition.
    pub range: bool,
}

impl Place {
    /// This place, in a dialect.
    pub fn on(self, dialect: &dyn Dialect) -> Ctx<'_> {
        Ctx {
            columns: self.columns,
            ranges: self.ranges,
            range: self.range,
            dialect,
        }
    }
}

/// Where an expression is lowered, and in which dialect.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub columns: Columns,
    pub ranges: bool,
    pub range: bool,
    pub dialect: &'a dyn Dialect,
}

/// An expression a dialect cannot express yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

type R = Result<String, Unsupported>;

/// The flat name of an alias's column in the row stage.
pub fn flat(alias: &str, col: &str) -> String {
    ident(&format!("{alias}__{col}"))
}

/// The parameter a partition key is bound to: `:p` for the time key and
/// `:p_<key>` for every key.
pub fn partition_param(key: Option<&str>) -> String {
    match key {
        None => ":p".into(),
        Some(k) => format!(":p_{k}"),
    }
}

/// The row-stage column carrying a partition key in a range run:
/// `_bpl_p` for the time key, `_bpl_p_<key>` for every key.
pub fn partition_column(key: Option<&str>) -> String {
    match key {
        None => "_bpl_p".into(),
        Some(k) => ident(&format!("_bpl_p_{k}")),
    }
}

pub fn sql(e: &Expr, ctx: Ctx) -> R {
    Ok(match &e.kind {
        ExprKind::Lit(l) => literal(l, ctx.dialect),
        ExprKind::Column { alias, name } => match (ctx.columns, alias) {
            (Columns::Flat, Some(a)) => flat(a, name),
            _ => ident(name),
        },
        ExprKind::Partition { key } if ctx.range => partition_column(key.as_deref()),
        ExprKind::Partition { key } => partition_param(key.as_deref()),
        ExprKind::Counter(c) => format!(":counter_{c}"),
        ExprKind::Variant(v) => string(v),
        ExprKind::Alias(a) => {
            return Err(Unsupported(format!(
                "`{a}` names a whole input; only counters such as `rows({a})` take one"
            )))
        }
        ExprKind::Call {
            name,
            kind,
            args,
            over,
        } => {
            let call = call(name, *kind, args, ctx)?;
            match over {
                // A sum of no values is 0, as its type (`T`, never null)
                // says; SQL's is NULL.
                None if name == "sum" && *kind == CallKind::Aggregate => {
                    format!("coalesce({call}, 0)")
                }
                None => call,
                Some(o) => {
                    let mut parts = Vec::new();
                    // Rows of different partitions never share a window.
                    match (ctx.range, o.partition_by.is_empty()) {
                        (true, true) => parts.push("PARTITION BY _bpl_no".to_string()),
                        (true, false) => parts.push(format!(
                            "PARTITION BY _bpl_no, {}",
                            list(&o.partition_by, ctx)?
                        )),
                        (false, false) => {
                            parts.push(format!("PARTITION BY {}", list(&o.partition_by, ctx)?))
                        }
                        (false, true) => {}
                    }
                    if !o.order_by.is_empty() {
                        parts.push(format!("ORDER BY {}", order_by(&o.order_by, ctx)?));
                    }
                    format!("{call} OVER ({})", parts.join(" "))
                }
            }
        }
        ExprKind::Unary(UnaryOp::Not, x) => format!("(NOT {})", sql(x, ctx)?),
        ExprKind::Unary(UnaryOp::Neg, x) => format!("(-{})", sql(x, ctx)?),
        ExprKind::IsNull { expr, negated } => format!(
            "({} IS {}NULL)",
            sql(expr, ctx)?,
            if *negated { "NOT " } else { "" }
        ),
        ExprKind::List(items) => format!("({})", list(items, ctx)?),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => format!(
            "(CASE WHEN {} THEN {} ELSE {} END)",
            sql(cond, ctx)?,
            sql(then, ctx)?,
            sql(otherwise, ctx)?
        ),
        ExprKind::Binary(op, l, r) => binary(*op, l, r, ctx)?,
    })
}

pub fn list(items: &[Expr], ctx: Ctx) -> R {
    Ok(items
        .iter()
        .map(|x| sql(x, ctx))
        .collect::<Result<Vec<_>, _>>()?
        .join(", "))
}

pub fn order_by(keys: &[SortKey], ctx: Ctx) -> R {
    Ok(keys
        .iter()
        .map(|k| {
            sql(&k.expr, ctx).map(|s| format!("{s}{}", if k.descending { " DESC" } else { "" }))
        })
        .collect::<Result<Vec<_>, _>>()?
        .join(", "))
}

fn literal(l: &Lit, d: &dyn Dialect) -> String {
    match l {
        Lit::Int(i) => i.to_string(),
        Lit::Number(n) => n.clone(),
        Lit::String(s) | Lit::Date(s) | Lit::Month(s) => string(s),
        Lit::Bool(b) => d.boolean(*b).into(),
        Lit::Null => "NULL".into(),
        Lit::Timestamp(t) => string(&normalize_timestamp(t)),
        Lit::Duration { amount, unit } => match unit {
            DurationUnit::Seconds => amount.to_string(),
            DurationUnit::Days => (amount * 86_400).to_string(),
            // Only where a duration is a number of seconds: a month as 30 days.
            DurationUnit::Months => (amount * 30 * 86_400).to_string(),
        },
    }
}

/// `2026-06-15T10:00:00Z` as stored: `2026-06-15 10:00:00` in UTC.
pub fn normalize_timestamp(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format(super::types::TIMESTAMP_FORMAT)
                .to_string()
        })
        .unwrap_or_else(|_| t.replace('T', " ").trim_end_matches('Z').to_string())
}

fn is_null(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Lit(Lit::Null))
}

fn duration(e: &Expr) -> Option<(i64, DurationUnit)> {
    match &e.kind {
        ExprKind::Lit(Lit::Duration { amount, unit }) => Some((*amount, *unit)),
        _ => None,
    }
}

/// `x + 3d` on a date, month or timestamp.
fn shift(base: &Expr, sign: i64, amount: i64, unit: DurationUnit, ctx: Ctx) -> R {
    let b = sql(base, ctx)?;
    Ok(ctx.dialect.shift(&b, &base.ty, sign * amount, unit))
}

fn binary(op: BinaryOp, l: &Expr, r: &Expr, ctx: Ctx) -> R {
    use BinaryOp::*;
    // `tenant_id == p.tenant_id` and friends compare with a parameter;
    // `x == null` asks whether x is missing.
    if matches!(op, Eq | Ne) && (is_null(l) || is_null(r)) {
        let other = if is_null(l) { r } else { l };
        let not = if op == Ne { "NOT " } else { "" };
        return Ok(format!("({} IS {not}NULL)", sql(other, ctx)?));
    }
    if matches!(op, Add | Sub) {
        let sign = if op == Add { 1 } else { -1 };
        if let Some((amount, unit)) = duration(r) {
            if l.ty != T::Duration {
                return shift(l, sign, amount, unit, ctx);
            }
        }
        if let (Some((amount, unit)), Add) = (duration(l), op) {
            if r.ty != T::Duration {
                return shift(r, 1, amount, unit, ctx);
            }
        }
        if op == Sub && l.ty == T::Date && r.ty == T::Date {
            return Ok(ctx.dialect.days_between(&sql(r, ctx)?, &sql(l, ctx)?));
        }
        if op == Sub && l.ty == T::Timestamp && r.ty == T::Timestamp {
            return Ok(ctx.dialect.seconds_between(&sql(r, ctx)?, &sql(l, ctx)?));
        }
    }
    if op == In {
        return membership(l, r, ctx);
    }
    let (ls, rs) = (sql(l, ctx)?, sql(r, ctx)?);
    Ok(match op {
        And => format!("({ls} AND {rs})"),
        Or => format!("({ls} OR {rs})"),
        Eq => format!("({ls} = {rs})"),
        Ne => format!("({ls} <> {rs})"),
        Lt => format!("({ls} < {rs})"),
        Le => format!("({ls} <= {rs})"),
        Gt => format!("({ls} > {rs})"),
        Ge => format!("({ls} >= {rs})"),
        Add => format!("({ls} + {rs})"),
        Sub => format!("({ls} - {rs})"),
        Mul => format!("({ls} * {rs})"),
        // `/` never truncates, as the checker promises: 7 / 2 is 3.5.
        Div => format!("({} / {rs})", ctx.dialect.to_float(&ls)),
        In => unreachable!("handled above"),
    })
}

/// The calendar function a value is read at in `x in month(p)`.
fn period(e: &Expr) -> Option<&'static str> {
    match &e.kind {
        ExprKind::Call { name, args, .. } if args.len() == 1 => match name.as_str() {
            "week" => Some("week"),
            "month" => Some("month"),
            "quarter" => Some("quarter"),
            "year" => Some("year"),
            _ => None,
        },
        _ => None,
    }
}

fn membership(l: &Expr, r: &Expr, ctx: Ctx) -> R {
    let ls = sql(l, ctx)?;
    if let Some(p) = period(r) {
        return Ok(format!(
            "({} = {})",
            ctx.dialect.calendar(p, &ls),
            sql(r, ctx)?
        ));
    }
    match &r.kind {
        ExprKind::List(items) if ctx.ranges && items.len() == 2 => Ok(format!(
            "({ls} BETWEEN {} AND {})",
            sql(&items[0], ctx)?,
            sql(&items[1], ctx)?
        )),
        ExprKind::List(items) => Ok(format!("({ls} IN ({}))", list(items, ctx)?)),
        _ => Ok(format!("({ls} = {})", sql(r, ctx)?)),
    }
}

fn call(name: &str, kind: CallKind, args: &[Expr], ctx: Ctx) -> R {
    let a = |i: usize| -> R {
        args.get(i)
            .map(|x| sql(x, ctx))
            .unwrap_or_else(|| Ok("NULL".into()))
    };
    let all = || list(args, ctx);
    let d = ctx.dialect;
    let own = |n: usize| -> Result<Vec<String>, Unsupported> { (0..n).map(&a).collect() };
    if kind == CallKind::Window {
        return Ok(format!("{name}({})", all()?));
    }
    Ok(match name {
        // aggregates
        "row_count" => "count(*)".into(),
        "count" => format!("count(CASE WHEN {} THEN 1 END)", a(0)?),
        "count_distinct" => format!("count(DISTINCT {})", a(0)?),
        "sum" | "avg" | "min" | "max" if kind == CallKind::Aggregate => {
            format!("{name}({})", a(0)?)
        }
        "percentile" => d.function(name, &own(2)?),
        "null_rate" => format!("avg(CASE WHEN {} IS NULL THEN 1.0 ELSE 0.0 END)", a(0)?),
        "rows" | "partition_count" | "unmatched" => match args.first().map(|x| &x.kind) {
            Some(ExprKind::Alias(alias)) => format!(":{name}_{alias}"),
            _ => return Err(Unsupported(format!("`{name}` takes an input alias"))),
        },
        // Seconds, as durations are compared: from the newest value to the
        // run's as-of time. No rows, no newest value: no value.
        "freshness" => d.seconds_between(&format!("max({})", a(0)?), ":as_of"),
        "drift" => {
            return Err(Unsupported(format!(
                "`{name}` is not supported by the {} engine yet",
                d.name()
            )))
        }
        // scalars
        "coalesce" if args.len() == 1 => a(0)?,
        "coalesce" => format!("coalesce({})", all()?),
        "to_date" => d.function(name, &own(2)?),
        // Whole seconds, so the result is exact for whole-second timestamps.
        "hours_between" => format!("({} / 3600.0)", d.seconds_between(&a(0)?, &a(1)?)),
        "days_between" => d.days_between(&a(0)?, &a(1)?),
        "abs" => format!("abs({})", a(0)?),
        "round" => d.round(&a(0)?, &a(1)?),
        "to_float" => d.to_float(&a(0)?),
        "to_decimal" => d.round(&a(0)?, &a(1)?),
        "lower" | "upper" => d.function(name, &own(1)?),
        "concat" => format!(
            "({})",
            args.iter()
                .map(|x| sql(x, ctx))
                .collect::<Result<Vec<_>, _>>()?
                .join(" || ")
        ),
        "stable_id" => d.function(
            name,
            &args
                .iter()
                .map(|x| sql(x, ctx))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        "month" | "year" | "week" | "quarter" => d.calendar(name, &a(0)?),
        "month_start" => d.month_start(&a(0)?),
        "month_end" | "week_start" | "week_end" | "quarter_end" | "year_end" | "days_in_month" => {
            d.function(name, &own(1)?)
        }
        other => format!("{other}({})", all()?),
    })
}
