//! Expressions to SQL, written once for every dialect: what a dialect
//! says differently (date arithmetic, calendar grains, the language's own
//! functions, literals) it says through [`Dialect`].
//!
//! Every expression of a decimal type lowers to its value scaled by
//! `10^scale` of that type (see `types`), an integer: sums and comparisons
//! are exact. Where operands of different scales meet ([`sql_as`]), the
//! smaller scale is multiplied up; a product's scale is the sum of its
//! operands'; a quotient, an average and a rounding are the engine's
//! `dec_div` and `dec_round` functions on the integers, half away from zero.

use crate::semantic::hir::{CallKind, DurationUnit, Expr, ExprKind, Lit, SortKey};
use crate::semantic::T;
use crate::syntax::ast::{BinaryOp, UnaryOp};

use super::dialect::Dialect;
use super::types::{ident, power_of_ten, string};

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

/// `e` as a value of type `target`: a decimal at the target's scale (an
/// int or a decimal of a smaller scale multiplied up; a larger scale only
/// by an explicit rounding, see the checker), a decimal literal as a float
/// where a float is wanted; anything else as it is.
pub fn sql_as(e: &Expr, target: &T, ctx: Ctx) -> R {
    match (target, &e.ty) {
        (T::Decimal(t) | T::DecimalLit(t), from) => {
            if let ExprKind::Lit(l) = &e.kind {
                if let Some(x) = scaled_literal(l, t.scale) {
                    return Ok(x);
                }
            }
            let x = sql(e, ctx)?;
            Ok(
                match from
                    .exact()
                    .map(|d| if *from == T::Int { 0 } else { d.scale })
                {
                    Some(s) if s < t.scale => format!("({x} * {})", power_of_ten(t.scale - s)),
                    Some(s) if s > t.scale => ctx
                        .dialect
                        .function("dec_round", &[x, (s - t.scale).to_string()]),
                    _ => x,
                },
            )
        }
        (T::Float, T::DecimalLit(_) | T::Decimal(_)) => match &e.kind {
            ExprKind::Lit(Lit::Number(n)) => Ok(n.clone()),
            _ => Ok(super::types::natural(&sql(e, ctx)?, &e.ty)),
        },
        _ => sql(e, ctx),
    }
}

/// A literal number as the integer of a decimal at `scale`, if it is one
/// that fits: `12.5` at scale 2 is `1250`.
fn scaled_literal(l: &Lit, scale: u8) -> Option<String> {
    let text = match l {
        Lit::Int(i) => i.to_string(),
        Lit::Number(n) => n.clone(),
        _ => return None,
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(scale) {
        return None;
    }
    let digits = format!("{whole}{frac:0<width$}", width = usize::from(scale));
    let n: i64 = digits.parse().ok()?;
    Some(n.to_string())
}

/// The scale the SQL of `e` is at: a decimal's, else 0.
fn scale(e: &Expr) -> u8 {
    e.ty.decimal_scale().unwrap_or(0)
}

pub fn sql(e: &Expr, ctx: Ctx) -> R {
    Ok(match &e.kind {
        ExprKind::Lit(l) => match (&e.ty, scaled_literal(l, scale(e))) {
            (T::Decimal(_) | T::DecimalLit(_), Some(x)) => x,
            (T::Decimal(_) | T::DecimalLit(_), None) if !matches!(l, Lit::Null) => {
                return Err(Unsupported(format!(
                    "the number `{}` has more digits than a decimal holds (18)",
                    literal(l, ctx.dialect)
                )))
            }
            _ => literal(l, ctx.dialect),
        },
        ExprKind::Column { alias, name } => match (ctx.columns, alias) {
            (Columns::Flat, Some(a)) => flat(a, name),
            _ => ident(name),
        },
        ExprKind::Partition { key } if ctx.range => partition_column(key.as_deref()),
        ExprKind::Partition { key } => partition_param(key.as_deref()),
        ExprKind::Counter(c) => counter_param(c),
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
            let call = call(name, *kind, args, &e.ty, ctx)?;
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
            sql_as(then, &e.ty, ctx)?,
            sql_as(otherwise, &e.ty, ctx)?
        ),
        ExprKind::Binary(op, l, r) => binary(*op, l, r, &e.ty, ctx)?,
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

/// The type two operands are compared at.
fn common(l: &Expr, r: &Expr) -> T {
    let inner = match &r.ty {
        T::List(inner) => inner,
        other => other,
    };
    crate::semantic::unify(&l.ty, inner).unwrap_or(T::Unknown)
}

fn binary(op: BinaryOp, l: &Expr, r: &Expr, ty: &T, ctx: Ctx) -> R {
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
        return membership(l, r, &common(l, r), ctx);
    }
    let (ls, rs) = match op {
        Eq | Ne | Lt | Le | Gt | Ge => {
            let at = common(l, r);
            (sql_as(l, &at, ctx)?, sql_as(r, &at, ctx)?)
        }
        Add | Sub => (sql_as(l, ty, ctx)?, sql_as(r, ty, ctx)?),
        // A product's scale is the sum of its operands': each as it is.
        Mul if matches!(ty, T::Decimal(_) | T::DecimalLit(_)) => (sql(l, ctx)?, sql(r, ctx)?),
        Div if matches!(ty, T::Decimal(_)) => {
            // (a / 10^sa) / (b / 10^sb) at scale t: a * 10^(sb + t - sa) / b,
            // and t is at least sa (see `Dec::quotient_scale`).
            let target = ty.decimal_scale().unwrap_or(0);
            let shift = (i32::from(scale(r)) + i32::from(target) - i32::from(scale(l))).max(0);
            return Ok(ctx
                .dialect
                .function("dec_div", &[sql(l, ctx)?, sql(r, ctx)?, shift.to_string()]));
        }
        // A duration scaled by a decimal literal: the literal as a number.
        Mul | Div if matches!(ty, T::Float | T::Duration) => {
            (sql_as(l, &T::Float, ctx)?, sql_as(r, &T::Float, ctx)?)
        }
        _ => (sql(l, ctx)?, sql(r, ctx)?),
    };
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

fn membership(l: &Expr, r: &Expr, at: &T, ctx: Ctx) -> R {
    let ls = sql_as(l, at, ctx)?;
    if let Some(p) = period(r) {
        return Ok(format!(
            "({} = {})",
            ctx.dialect.calendar(p, &ls),
            sql(r, ctx)?
        ));
    }
    let items_as = |items: &[Expr]| -> R {
        Ok(items
            .iter()
            .map(|x| sql_as(x, at, ctx))
            .collect::<Result<Vec<_>, _>>()?
            .join(", "))
    };
    match &r.kind {
        ExprKind::List(items) if ctx.ranges && items.len() == 2 => Ok(format!(
            "({ls} BETWEEN {} AND {})",
            sql_as(&items[0], at, ctx)?,
            sql_as(&items[1], at, ctx)?
        )),
        ExprKind::List(items) => Ok(format!("({ls} IN ({}))", items_as(items)?)),
        _ => Ok(format!("({ls} = {})", sql_as(r, at, ctx)?)),
    }
}

/// A call on a decimal whose SQL differs from the plain one: averages,
/// roundings and conversions computed on the scaled integers.
fn decimal_call(name: &str, kind: CallKind, args: &[Expr], ty: &T, ctx: Ctx) -> Option<R> {
    let x = args.first()?;
    let target = ty.decimal_scale();
    let from = x.ty.decimal_scale();
    Some(match (name, target, from) {
        ("avg", Some(t), Some(s)) if kind == CallKind::Aggregate => sql(x, ctx).map(|v| {
            let shift = (t - s).to_string();
            let d = ctx.dialect;
            d.function(
                "dec_div",
                &[format!("sum({v})"), format!("count({v})"), shift],
            )
        }),
        ("round" | "to_decimal", Some(_), Some(_)) => sql_as(x, ty, ctx),
        ("to_decimal", Some(_), None) if x.ty == T::Int => sql_as(x, ty, ctx),
        ("to_decimal", Some(t), None) => {
            sql(x, ctx).map(|v| ctx.dialect.function("dec_of_float", &[v, t.to_string()]))
        }
        ("to_float", _, Some(_)) => sql_as(x, &T::Float, ctx),
        ("percentile", _, Some(_)) => match (sql_as(x, &T::Float, ctx), args.get(1)) {
            // `q` is a fraction (a float parameter): a literal written
            // `0.95` is typed a decimal, which would lower to its scaled
            // integer 95.
            (Ok(v), Some(q)) => {
                sql_as(q, &T::Float, ctx).map(|q| ctx.dialect.function("percentile", &[v, q]))
            }
            (Err(e), _) => Err(e),
            (Ok(_), None) => return None,
        },
        ("coalesce", Some(_), _) | ("coalesce", _, Some(_)) => args
            .iter()
            .map(|a| sql_as(a, ty, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| match v.as_slice() {
                [one] => one.clone(),
                _ => format!("coalesce({})", v.join(", ")),
            }),
        _ => return None,
    })
}

fn call(name: &str, kind: CallKind, args: &[Expr], ty: &T, ctx: Ctx) -> R {
    if let Some(decimal) = decimal_call(name, kind, args, ty, ctx) {
        return decimal;
    }
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
        // `q` is a fraction: see the decimal arm of `percentile`.
        "percentile" => match args.get(1) {
            Some(q) => d.function(name, &[a(0)?, sql_as(q, &T::Float, ctx)?]),
            None => return Err(Unsupported("`percentile` takes a fraction".into())),
        },
        "null_rate" => format!("avg(CASE WHEN {} IS NULL THEN 1.0 ELSE 0.0 END)", a(0)?),
        "rows" | "partition_count" | "unmatched" => match args.first().map(|x| &x.kind) {
            Some(ExprKind::Alias(alias)) => input_counter_param(name, alias),
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
        // A list argument is its items, in order, on every engine.
        "stable_id" => d.function(
            name,
            &args
                .iter()
                .flat_map(|x| match &x.kind {
                    ExprKind::List(items) => items.iter().collect::<Vec<_>>(),
                    _ => vec![x],
                })
                .map(|x| Ok(d.stable_id_arg(&sql(x, ctx)?, &x.ty)))
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

/// The parameter a gate statement binds a pipeline counter to
/// (`:counter_input`); the runtime binds it by this name.
pub fn counter_param(counter: &str) -> String {
    format!(":counter_{counter}")
}

/// The parameter of a counter over one input (`rows(ev)`: `:rows_ev`;
/// `partition_count`, `unmatched` alike).
pub fn input_counter_param(call: &str, alias: &str) -> String {
    format!(":{call}_{alias}")
}
