//! Exact decimals as the engine stores them: a `decimal(p, s)` value is the
//! 64-bit integer `value * 10^s` (see `sql::types`). Converting a source's
//! value reads its digits — a text as written, a float by the shortest
//! text that reads back as the same float — never through float
//! arithmetic, so `'0.1'` and `0.1` both become `10` at scale 2. A value
//! with more digits after the point than the scale, or more digits in all
//! than the precision, is refused, never rounded: the boundary makes it a
//! bad row with the reason this module gives.
//!
//! Rounding happens only where the language asks for it (`round`,
//! `to_decimal`, `/` and `avg`), always half away from zero, on integers.

use rusqlite::functions::Context;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Result};

use super::functions::FLAGS;

/// `10^k` for the scales a decimal may have (up to 18, and the sums of two
/// in a quotient's shift).
fn pow10(k: u32) -> Option<i128> {
    10i128.checked_pow(k)
}

/// The exact value of a decimal numeral: its digits as an integer and how
/// many of them are after the point. Accepts a sign, digits with an
/// optional point, and an optional exponent (`1.5e3`).
fn digits(text: &str) -> Option<(i128, u32)> {
    let t = text.trim();
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (negative, unsigned) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Trailing zeros after the point say nothing about the value.
    let frac = frac.trim_end_matches('0');
    let mut n: i128 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        n = n.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let mut scale = frac.len() as i64 - i64::from(exponent);
    if scale < 0 {
        n = n.checked_mul(pow10(u32::try_from(-scale).ok()?)?)?;
        scale = 0;
    }
    Some((if negative { -n } else { n }, u32::try_from(scale).ok()?))
}

/// A source's decimal as ingestion stores it, unscaled (the typed input
/// boundary scales it when a run reads it): a number as it is; a numeral
/// as the float that reads back as exactly its digits, so the boundary's
/// plain SQL converts it, or as the text itself where no float does (more
/// digits than a float holds); `None` for a text that is no number.
pub fn as_written(v: ValueRef<'_>) -> Option<Value> {
    match v {
        ValueRef::Integer(i) => Some(Value::Integer(i)),
        ValueRef::Real(f) if f.is_finite() => Some(Value::Real(f)),
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t).ok()?.trim();
            let exact = digits(text)?;
            Some(match text.parse::<f64>() {
                Ok(f) if f.is_finite() && digits(&f.to_string()) == Some(exact) => Value::Real(f),
                _ => Value::Text(text.to_string()),
            })
        }
        _ => None,
    }
}

/// A value as the integer scaled by `10^scale`, or why it is not a
/// `decimal(precision, scale)`.
pub fn scaled(v: ValueRef<'_>, precision: u8, scale: u8) -> std::result::Result<i64, String> {
    let ty = format!("decimal({precision}, {scale})");
    let (n, s) = match v {
        ValueRef::Integer(i) => (i128::from(i), 0),
        // The shortest text that reads back as this float: what it was
        // written as, for any float with at most 15 significant digits.
        ValueRef::Real(f) if f.is_finite() => {
            digits(&f.to_string()).ok_or(format!("is not a valid {ty}"))?
        }
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(digits)
            .ok_or(format!("is not a valid {ty}"))?,
        _ => return Err(format!("is not a valid {ty}")),
    };
    if s > u32::from(scale) {
        return Err(format!(
            "has {s} digits after the point; {ty} keeps {scale}"
        ));
    }
    let limit = pow10(u32::from(precision)).unwrap_or(i128::MAX);
    match n.checked_mul(pow10(u32::from(scale) - s).unwrap_or(i128::MAX)) {
        Some(x) if x.abs() < limit => Ok(x as i64),
        _ => Err(format!(
            "has more than {} digits before the point; {ty} holds {}",
            precision - scale,
            precision - scale
        )),
    }
}

/// The precision and scale of a typed-boundary kind `decimal:P:S` (see
/// `sql::boundary::Check`).
pub fn decimal_kind(kind: &str) -> Option<(u8, u8)> {
    let rest = kind.strip_prefix("decimal:")?;
    let (p, s) = rest.split_once(':')?;
    Some((p.parse().ok()?, s.parse().ok()?))
}

/// Whether a number is a `decimal(precision, scale)` by the test the
/// boundary's plain SQL makes (see `sql::boundary`): an integer with at
/// most the whole digits, or a float that is the nearest float to a
/// decimal of at most `scale` digits and small enough to be read without
/// text. Other values may still be decimals: [`scaled`] decides. The
/// limits are computed once per column, for a test made on every row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuickFit {
    /// `10^scale`.
    unit: f64,
    /// `10^(precision - scale)`: the first whole part too large.
    whole: f64,
    /// The first float too large to be read without text.
    float_limit: f64,
}

impl QuickFit {
    pub fn new(precision: u8, scale: u8) -> QuickFit {
        let whole = 10f64.powi(i32::from(precision.saturating_sub(scale)));
        let unit = 10f64.powi(i32::from(scale));
        QuickFit {
            unit,
            whole,
            float_limit: (2f64.powi(51) / unit).floor().min(whole),
        }
    }

    pub fn test(&self, v: ValueRef<'_>) -> bool {
        match v {
            ValueRef::Integer(i) => (i as f64).abs() < self.whole,
            ValueRef::Real(f) => {
                f.abs() < self.float_limit && (f * self.unit).round() / self.unit == f
            }
            _ => false,
        }
    }
}

/// `n / 10^k` rounded half away from zero.
fn round_down(n: i128, k: u32) -> Option<i128> {
    let m = pow10(k)?;
    let q = n / m;
    let r = n % m;
    Some(if 2 * r.abs() >= m { q + n.signum() } else { q })
}

/// `a * 10^k / b` rounded half away from zero: a quotient of scaled
/// integers at the scale the checker gave it. `None` for a zero divisor
/// (SQL's division by zero is null) or a result a decimal cannot hold.
pub fn divide(a: i64, b: i64, k: u32) -> Option<i64> {
    if b == 0 {
        return None;
    }
    let (n, d) = (i128::from(a).checked_mul(pow10(k)?)?, i128::from(b));
    let (q, r) = (n / d, n % d);
    let q = if 2 * r.abs() >= d.abs() {
        q + (n.signum() * d.signum())
    } else {
        q
    };
    i64::try_from(q).ok()
}

/// A value as a decimal at `scale`, rounded half away from zero: an
/// integer exactly, a float from its shortest text (so `2.675` is `2.68`,
/// as written), a text by its digits. `None` for anything else, or a value
/// a decimal cannot hold.
pub fn rounded(v: ValueRef<'_>, scale: u8) -> Option<i64> {
    let (n, s) = match v {
        ValueRef::Integer(i) => (i128::from(i), 0),
        ValueRef::Real(f) if f.is_finite() => digits(&f.to_string())?,
        ValueRef::Text(t) => digits(std::str::from_utf8(t).ok()?)?,
        _ => return None,
    };
    let x = if s > u32::from(scale) {
        round_down(n, s - u32::from(scale))?
    } else {
        n.checked_mul(pow10(u32::from(scale) - s)?)?
    };
    i64::try_from(x).ok()
}

fn int(ctx: &Context<'_>, i: usize) -> Option<i64> {
    match ctx.get_raw(i) {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    }
}

fn overflow(what: &str) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(
        format!("{what} does not fit a decimal: more than 18 digits").into(),
    )
}

/// Registers the decimal functions the SQLite dialect calls.
pub fn register(conn: &Connection) -> Result<()> {
    // bpl_dec_div(a, b, k): a * 10^k / b, rounded.
    conn.create_scalar_function("bpl_dec_div", 3, FLAGS, |ctx| {
        let (Some(a), Some(b), Some(k)) = (int(ctx, 0), int(ctx, 1), int(ctx, 2)) else {
            return Ok(None);
        };
        if b == 0 {
            return Ok(None);
        }
        match divide(a, b, k as u32) {
            Some(q) => Ok(Some(q)),
            None => Err(overflow("a quotient")),
        }
    })?;
    // bpl_dec_round(x, k): x / 10^k, rounded.
    conn.create_scalar_function("bpl_dec_round", 2, FLAGS, |ctx| {
        let (Some(x), Some(k)) = (int(ctx, 0), int(ctx, 1)) else {
            return Ok(None);
        };
        Ok(round_down(i128::from(x), k as u32).map(|q| q as i64))
    })?;
    // bpl_dec_of_float(x, scale): a number as a decimal, rounded.
    conn.create_scalar_function("bpl_dec_of_float", 2, FLAGS, |ctx| {
        let scale = int(ctx, 1).unwrap_or(0) as u8;
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(None),
            v => match rounded(v, scale) {
                Some(x) => Ok(Some(x)),
                None => Err(overflow("a value")),
            },
        }
    })?;
    // bpl_dec_exact(x, column, precision, scale): a reference's decimal,
    // or an error saying why it is not one.
    conn.create_scalar_function("bpl_dec_exact", 4, FLAGS, |ctx| {
        let column = ctx.get::<String>(1)?;
        let (precision, scale) = (
            int(ctx, 2).unwrap_or(18) as u8,
            int(ctx, 3).unwrap_or(0) as u8,
        );
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(None),
            v => scaled(v, precision, scale).map(Some).map_err(|why| {
                rusqlite::Error::UserFunctionError(
                    format!("a reference's column `{column}`: {why}").into(),
                )
            }),
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(t: &str) -> std::result::Result<i64, String> {
        scaled(ValueRef::Text(t.as_bytes()), 18, 2)
    }

    #[test]
    fn text_and_floats_are_read_by_their_digits() {
        assert_eq!(of("0.1"), Ok(10));
        assert_eq!(of(" 12.50 "), Ok(1250));
        assert_eq!(of("-3"), Ok(-300));
        assert_eq!(of("1.5e2"), Ok(15000));
        assert_eq!(of("12.300"), Ok(1230));
        assert_eq!(scaled(ValueRef::Real(0.1), 18, 2), Ok(10));
        assert_eq!(scaled(ValueRef::Real(0.29), 18, 2), Ok(29));
        assert_eq!(scaled(ValueRef::Real(-276.95), 18, 2), Ok(-27695));
        assert_eq!(scaled(ValueRef::Integer(7), 18, 2), Ok(700));
    }

    #[test]
    fn more_digits_than_the_type_holds_is_refused() {
        assert_eq!(
            of("12.345"),
            Err("has 3 digits after the point; decimal(18, 2) keeps 2".into())
        );
        assert_eq!(
            scaled(ValueRef::Integer(10_000), 5, 2),
            Err("has more than 3 digits before the point; decimal(5, 2) holds 3".into())
        );
        assert!(of("abc").is_err());
        assert!(of("1.2.3").is_err());
        assert!(of("").is_err());
        assert!(of("1e400").is_err());
    }

    #[test]
    fn ingestion_keeps_a_decimal_as_a_float_only_where_it_reads_back_exactly() {
        let of = |t: &str| as_written(ValueRef::Text(t.as_bytes()));
        assert_eq!(of("12.50"), Some(Value::Real(12.5)));
        assert_eq!(of("0.1"), Some(Value::Real(0.1)));
        assert_eq!(
            of("12345678901234567.89"),
            Some(Value::Text("12345678901234567.89".into()))
        );
        assert_eq!(of("abc"), None);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(divide(100, 3, 0), Some(33));
        assert_eq!(divide(200, 3, 0), Some(67));
        assert_eq!(divide(-200, 3, 0), Some(-67));
        assert_eq!(divide(5, 2, 0), Some(3));
        assert_eq!(divide(-5, 2, 0), Some(-3));
        assert_eq!(divide(1, 0, 0), None);
        assert_eq!(round_down(1235, 1), Some(124));
        assert_eq!(round_down(-1235, 1), Some(-124));
        assert_eq!(round_down(1234, 1), Some(123));
        assert_eq!(rounded(ValueRef::Real(2.675), 2), Some(268));
        assert_eq!(rounded(ValueRef::Real(-0.005), 2), Some(-1));
        assert_eq!(rounded(ValueRef::Real(1234.5600000000002), 2), Some(123456));
        assert_eq!(rounded(ValueRef::Integer(12), 2), Some(1200));
    }
}

/// How the shared lowering writes decimal arithmetic, in SQLite's words.
#[cfg(test)]
mod lowering {
    use crate::semantic::hir::{CallKind, Expr, ExprKind, Lit};
    use crate::semantic::{Dec, T};
    use crate::sql::expr::{sql, Columns, Place};
    use crate::syntax::ast::BinaryOp;

    const PLAIN: Place = Place {
        columns: Columns::Plain,
        ranges: false,
        range: false,
    };

    fn dec(p: u8, s: u8) -> T {
        T::Decimal(Dec::new(p, s))
    }

    fn col(name: &str, ty: T) -> Expr {
        Expr {
            kind: ExprKind::Column {
                alias: None,
                name: name.into(),
            },
            ty,
        }
    }

    fn lit(l: Lit, ty: T) -> Expr {
        Expr {
            kind: ExprKind::Lit(l),
            ty,
        }
    }

    fn bin(op: BinaryOp, l: Expr, r: Expr, ty: T) -> Expr {
        Expr {
            kind: ExprKind::Binary(op, Box::new(l), Box::new(r)),
            ty,
        }
    }

    fn call(name: &str, args: Vec<Expr>, ty: T) -> Expr {
        Expr {
            kind: ExprKind::Call {
                name: name.into(),
                kind: if matches!(name, "sum" | "avg") {
                    CallKind::Aggregate
                } else {
                    CallKind::Scalar
                },
                args,
                over: None,
            },
            ty,
        }
    }

    fn lower(e: &Expr) -> String {
        sql(e, PLAIN.on(&super::super::dialect::SQLITE)).unwrap()
    }

    #[test]
    fn sums_and_comparisons_align_scales() {
        let amount = || col("amount", dec(18, 2));
        let rate = || col("rate", dec(12, 6));
        // An int and a literal are written at the other side's scale.
        let plus_one = bin(
            BinaryOp::Add,
            amount(),
            lit(Lit::Int(1), T::Int),
            dec(18, 2),
        );
        assert_eq!(lower(&plus_one), r#"("amount" + 100)"#);
        let over = bin(
            BinaryOp::Gt,
            amount(),
            lit(Lit::Number("0.5".into()), T::DecimalLit(Dec::new(1, 1))),
            T::Bool,
        );
        assert_eq!(lower(&over), r#"("amount" > 50)"#);
        // The smaller scale is multiplied up.
        let same = bin(BinaryOp::Eq, amount(), rate(), T::Bool);
        assert_eq!(lower(&same), r#"(("amount" * 10000) = "rate")"#);
        // `if` branches meet at the result's scale.
        let either = Expr {
            kind: ExprKind::If {
                cond: Box::new(lit(Lit::Bool(true), T::Bool)),
                then: Box::new(amount()),
                otherwise: Box::new(lit(Lit::Int(0), T::Int)),
            },
            ty: dec(18, 2),
        };
        assert_eq!(lower(&either), r#"(CASE WHEN 1 THEN "amount" ELSE 0 END)"#);
    }

    #[test]
    fn products_add_scales_and_quotients_round() {
        let amount = || col("amount", dec(18, 2));
        let rate = || col("rate", dec(12, 6));
        let product = bin(BinaryOp::Mul, amount(), rate(), dec(18, 8));
        assert_eq!(lower(&product), r#"("amount" * "rate")"#);
        // (a / 10^2) / (r / 10^6) at scale 6: a * 10^10 / r.
        let quotient = bin(BinaryOp::Div, amount(), rate(), dec(18, 6));
        assert_eq!(lower(&quotient), r#"bpl_dec_div("amount", "rate", 10)"#);
        let average = call("avg", vec![amount()], dec(18, 6));
        assert_eq!(
            lower(&average),
            r#"bpl_dec_div(sum("amount"), count("amount"), 4)"#
        );
        let rounded = call(
            "round",
            vec![product.clone(), lit(Lit::Int(2), T::Int)],
            dec(18, 2),
        );
        assert_eq!(lower(&rounded), r#"bpl_dec_round(("amount" * "rate"), 6)"#);
        let widened = call(
            "to_decimal",
            vec![amount(), lit(Lit::Int(4), T::Int)],
            dec(18, 4),
        );
        assert_eq!(lower(&widened), r#"("amount" * 100)"#);
        let of_float = call(
            "to_decimal",
            vec![col("score", T::Float), lit(Lit::Int(2), T::Int)],
            dec(18, 2),
        );
        assert_eq!(lower(&of_float), r#"bpl_dec_of_float("score", 2)"#);
        let as_float = call("to_float", vec![amount()], T::Float);
        assert_eq!(lower(&as_float), r#"(("amount") / 100.0)"#);
    }

    #[test]
    fn a_decimal_literal_is_its_digits_where_a_float_is_wanted() {
        let half = bin(
            BinaryOp::Mul,
            col("score", T::Float),
            lit(Lit::Number("0.5".into()), T::DecimalLit(Dec::new(1, 1))),
            T::Float,
        );
        assert_eq!(lower(&half), r#"("score" * 0.5)"#);
    }

    /// `percentile(x, 0.95)`: the fraction was lowered as the decimal
    /// literal's scaled integer, 95, which the function clamped to 1: the
    /// maximum, not the 95th percentile.
    #[test]
    fn a_percentile_takes_its_fraction_as_written() {
        let q = || lit(Lit::Number("0.95".into()), T::DecimalLit(Dec::new(2, 2)));
        let of_float = call("percentile", vec![col("hours", T::Float), q()], T::Float);
        assert_eq!(lower(&of_float), r#"bpl_percentile("hours", 0.95)"#);
        let of_decimal = call("percentile", vec![col("amount", dec(18, 2)), q()], T::Float);
        assert_eq!(
            lower(&of_decimal),
            r#"bpl_percentile((("amount") / 100.0), 0.95)"#
        );
    }
}
