//! The typed input boundary's verdict on a row, for `bpl_problems` and
//! `bpl_row_status` (see `sql::boundary`).
//!
//! Both run once for every source row, so a column's check is compiled
//! once per statement (kept as the call's auxiliary data): its kind parsed
//! into a [`Kind`], a decimal's limits computed ([`QuickFit`]), instead of
//! the kind's text being matched and its precision parsed again for every
//! value.

use rusqlite::types::{Value, ValueRef};

use super::decimal::{self, decimal_kind, QuickFit};
use super::functions::convert;
use crate::sql::boundary::Check;

/// A column's kind, parsed from [`Check::kind`].
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Int,
    Number,
    Bool,
    String,
    Date,
    Timestamp,
    Month,
    Enum,
    Any,
    /// A source's number or text, read as a `decimal(precision, scale)`.
    Decimal {
        precision: u8,
        scale: u8,
        quick: QuickFit,
    },
    /// A stored decimal: its scaled integer, below `10^precision`.
    Scaled {
        limit: i128,
    },
    /// A kind only [`convert`] knows.
    Other,
}

/// One column's check, compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    check: Check,
    kind: Kind,
}

/// Compiles the checks of a statement's columns.
pub fn compile(checks: Vec<Check>) -> Vec<Compiled> {
    checks
        .into_iter()
        .map(|check| Compiled {
            kind: kind(&check.kind),
            check,
        })
        .collect()
}

fn kind(text: &str) -> Kind {
    if let Some(rest) = text.strip_prefix("scaled:") {
        let precision: u32 = rest
            .split(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(18);
        return Kind::Scaled {
            limit: 10i128.checked_pow(precision).unwrap_or(i128::MAX),
        };
    }
    if let Some((precision, scale)) = decimal_kind(text) {
        return Kind::Decimal {
            precision,
            scale,
            quick: QuickFit::new(precision, scale),
        };
    }
    match text {
        "int" => Kind::Int,
        "number" => Kind::Number,
        "bool" => Kind::Bool,
        "string" => Kind::String,
        "date" => Kind::Date,
        "timestamp" => Kind::Timestamp,
        "month" => Kind::Month,
        "enum" => Kind::Enum,
        "any" => Kind::Any,
        _ => Kind::Other,
    }
}

/// Whether the typed input boundary keeps `v` as it is (a decimal: as the
/// float it is, scaled by plain SQL): a test that implies the boundary's
/// plain-SQL one for the column's kind (`sql::boundary`), so the value it
/// passes is the value that SQL would give. Texts are held to ASCII
/// without NUL, where SQLite's `length` counts bytes. A null is kept.
fn stored_as_read(c: &Compiled, v: ValueRef<'_>) -> bool {
    let ascii = |t: &[u8], n: usize| t.len() == n && t.iter().all(|b| (1..0x80).contains(b));
    match (&c.kind, v) {
        (_, ValueRef::Null) | (Kind::Enum | Kind::Any, _) => true,
        (Kind::Int, ValueRef::Integer(_)) => true,
        (Kind::Number, ValueRef::Integer(_) | ValueRef::Real(_)) => true,
        (Kind::Bool, ValueRef::Integer(i)) => i == 0 || i == 1,
        (Kind::String, ValueRef::Text(_)) => true,
        (Kind::Date, ValueRef::Text(t)) => ascii(t, 10),
        (Kind::Timestamp, ValueRef::Text(t)) => ascii(t, 19) && t[10] == b' ',
        (Kind::Month, ValueRef::Text(t)) => ascii(t, 7),
        (Kind::Decimal { quick, .. }, ValueRef::Real(_)) => quick.test(v),
        _ => false,
    }
}

/// Whether a value is one of the column's type, stored or convertible.
fn fits(c: &Compiled, v: ValueRef<'_>) -> bool {
    match (&c.kind, v) {
        (Kind::Scaled { limit }, ValueRef::Integer(i)) => i128::from(i).abs() < *limit,
        (Kind::Scaled { .. }, _) => false,
        (
            Kind::Decimal {
                precision,
                scale,
                quick,
            },
            v,
        ) => {
            // The plain-SQL path's test (`sql::boundary`), without text.
            quick.test(v) || decimal::scaled(v, *precision, *scale).is_ok()
        }
        (Kind::Int, ValueRef::Integer(_))
        | (Kind::Number, ValueRef::Integer(_) | ValueRef::Real(_))
        | (Kind::String, ValueRef::Text(_))
        | (Kind::Any, _) => true,
        (Kind::Timestamp, ValueRef::Text(t)) if canonical_timestamp(t) => true,
        (Kind::Date, ValueRef::Text(t)) if t.len() == 10 && canonical_date(t) => true,
        (Kind::Enum, ValueRef::Text(t)) => c.check.variants.iter().any(|x| x.as_bytes() == t),
        (Kind::Enum, _) => false,
        (_, v) => convert(v, &c.check.kind).is_some(),
    }
}

/// The number of days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DD` naming a real day, checked without parsing; `t` holds at
/// least ten bytes.
fn canonical_date(t: &[u8]) -> bool {
    let num = |a: usize, b: usize| t[a..b].iter().fold(0u32, |n, d| n * 10 + (d - b'0') as u32);
    if !([0, 1, 2, 3, 5, 6, 8, 9]
        .iter()
        .all(|&i| t[i].is_ascii_digit())
        && t[4] == b'-'
        && t[7] == b'-')
    {
        return false;
    }
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

/// `YYYY-MM-DD HH:MM:SS` naming a real instant, checked without parsing.
fn canonical_timestamp(t: &[u8]) -> bool {
    let digit = |i: usize| t[i].is_ascii_digit();
    let num = |a: usize, b: usize| t[a..b].iter().fold(0u32, |n, d| n * 10 + (d - b'0') as u32);
    t.len() == 19
        && canonical_date(t)
        && [11, 12, 14, 15, 17, 18].iter().all(|&i| digit(i))
        && t[10] == b' '
        && t[13] == b':'
        && t[16] == b':'
        && num(11, 13) < 24
        && num(14, 16) < 60
        && num(17, 19) < 60
}

/// A value as SQLite's `quote()` writes it, for messages.
fn quoted(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

/// What is wrong with one value, or `None` when nothing is.
fn problem(c: &Compiled, v: ValueRef<'_>) -> Option<String> {
    let ok = match v {
        ValueRef::Null => !c.check.required,
        _ => fits(c, v),
    };
    if ok {
        return None;
    }
    let name = &c.check.name;
    Some(match (v, &c.kind) {
        (ValueRef::Null, _) => format!("{name}: null in a column that may not be null"),
        (
            _,
            Kind::Decimal {
                precision, scale, ..
            },
        ) => {
            let why = decimal::scaled(v, *precision, *scale)
                .err()
                .unwrap_or_else(|| format!("is not a valid {}", c.check.ty));
            format!("{name}: {} {why}", quoted(v))
        }
        _ => format!("{name}: {} is not a valid {}", quoted(v), c.check.ty),
    })
}

fn push_problem(out: &mut Option<String>, problem: String) {
    match out {
        Some(s) => {
            s.push_str("; ");
            s.push_str(&problem);
        }
        None => *out = Some(problem),
    }
}

/// What is wrong with a source row's values, `; `-separated, or `None`
/// for a good row: the typed input boundary's verdict on one row.
pub fn problems<'a>(
    checks: &[Compiled],
    values: impl Iterator<Item = ValueRef<'a>>,
) -> Option<String> {
    let mut out = None;
    for (c, v) in checks.iter().zip(values) {
        if let Some(p) = problem(c, v) {
            push_problem(&mut out, p);
        }
    }
    out
}

/// A source row's verdict at the typed input boundary, for
/// `sql::boundary::typed_read`: its problems (text) for a bad row; NULL
/// for a good row every value of which is already in the form its column
/// is stored in ([`stored_as_read`]); 1 for a good row with a value to
/// convert. `value(k)` is the row's value of the `k`th checked column.
pub fn row_status<'a>(checks: &[Compiled], value: impl Fn(usize) -> ValueRef<'a>) -> Value {
    let mut stored = true;
    let mut out = None;
    for (k, c) in checks.iter().enumerate() {
        let v = value(k);
        stored = stored && stored_as_read(c, v);
        // A value stored as read may still be no value of its type (a
        // date `2026-02-30`), or a null where none is allowed: judged in
        // full.
        if let Some(p) = problem(c, v) {
            push_problem(&mut out, p);
        }
    }
    match out {
        Some(p) => Value::Text(p),
        None if stored => Value::Null,
        None => Value::Integer(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written calendar agrees with chrono's on every day of four
    /// centuries and the edges around them.
    #[test]
    fn canonical_date_knows_the_calendar() {
        for year in [0u32, 1, 1900, 1999, 2000, 2024, 2026, 2100, 2400, 9999] {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let chrono = chrono::NaiveDate::from_ymd_opt(year as i32, month, day).is_some();
                    assert_eq!(canonical_date(text.as_bytes()), chrono, "{text}");
                }
            }
        }
    }

    #[test]
    fn kinds_are_parsed_once() {
        assert_eq!(kind("int"), Kind::Int);
        assert_eq!(
            kind("scaled:18:2"),
            Kind::Scaled {
                limit: 10i128.pow(18)
            }
        );
        assert!(matches!(
            kind("decimal:10:2"),
            Kind::Decimal {
                precision: 10,
                scale: 2,
                ..
            }
        ));
        assert_eq!(kind("float"), Kind::Other);
    }

    /// The quick decimal test: whole digits for an integer; for a float,
    /// at most `scale` digits and small enough to read without text.
    #[test]
    fn the_quick_decimal_test_knows_digits_and_limits() {
        let Kind::Decimal { quick, .. } = kind("decimal:10:2") else {
            panic!("a decimal");
        };
        let real = |f: f64| quick.test(ValueRef::Real(f));
        let int = |i: i64| quick.test(ValueRef::Integer(i));
        assert!(real(12.5) && real(-0.01) && real(0.0) && real(99999999.99));
        assert!(!real(0.125) && !real(123.456) && !real(1e20) && !real(1e8));
        assert!(int(0) && int(-12345) && int(99_999_999));
        assert!(!int(100_000_000) && !int(i64::MAX));
        assert!(!quick.test(ValueRef::Text(b"12.5")));
        // Beyond 2^51 / 10^scale a float is read through its text.
        let Kind::Decimal { quick, .. } = kind("decimal:18:2") else {
            panic!("a decimal");
        };
        assert!(!quick.test(ValueRef::Real(22517998136852.0)));
        assert!(quick.test(ValueRef::Real(22517998136851.0)));
    }
}
