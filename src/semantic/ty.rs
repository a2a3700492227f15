//! Types as the checker sees them: the column types of the language, plus
//! the few the checker needs internally (an enum literal before it meets its
//! enum, a table alias passed to a counter, and `Unknown` for anything that
//! already failed, so one mistake is reported once).

use std::fmt;
use std::sync::Arc;

use crate::syntax::ast::{Type, TypeExpr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum T {
    /// Already reported, or not knowable yet: compatible with everything.
    Unknown,
    Bool,
    Int,
    Float,
    /// An exact number: stored as an integer scaled by `10^scale`.
    Decimal(Dec),
    /// A literal such as `0.01`: exact, so it fits a decimal or a float.
    /// Its precision and scale are its own digits (`12.50` is (4, 2)).
    DecimalLit(Dec),
    String,
    Date,
    Timestamp,
    Month,
    Week,
    Quarter,
    Year,
    Duration,
    Enum(Arc<[String]>),
    /// A bare word that is a variant of some enum.
    EnumLit(String),
    /// An input or binding alias, e.g. the argument of `rows(cases)`.
    Table,
    /// A window `[lo, hi]` or list of values of one type.
    List(Box<T>),
}

/// The precision (digits in all) and scale (digits after the point) of an
/// exact decimal. Every engine stores it as a 64-bit integer scaled by
/// `10^scale`, so a precision is at most [`Dec::MAX_PRECISION`] digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dec {
    pub precision: u8,
    pub scale: u8,
}

impl Dec {
    /// The digits a signed 64-bit integer always holds.
    pub const MAX_PRECISION: u8 = 18;

    pub fn new(precision: u8, scale: u8) -> Dec {
        Dec { precision, scale }
    }

    /// The digits before the point.
    pub fn whole_digits(self) -> u8 {
        self.precision.saturating_sub(self.scale)
    }

    /// The type holding both `self` and `other` exactly: the larger scale
    /// and enough whole digits for either, at most the maximum precision.
    pub fn join(self, other: Dec) -> Dec {
        let scale = self.scale.max(other.scale);
        let whole = self.whole_digits().max(other.whole_digits());
        Dec::new((whole + scale).min(Self::MAX_PRECISION), scale)
    }

    /// The scale a quotient or an average is computed at, rounded half away
    /// from zero: the dividend's scale, and at least six digits.
    pub fn quotient_scale(self) -> u8 {
        self.scale.max(6)
    }

    /// The precision and scale of a decimal literal as written: `12.50` is
    /// (4, 2), `0.01` is (3, 2).
    pub fn of_literal(text: &str) -> Dec {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let whole = whole.trim_start_matches('0').len().max(1);
        let digits = (whole + frac.len()).min(u8::MAX as usize) as u8;
        Dec::new(digits, frac.len().min(u8::MAX as usize) as u8)
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decimal({}, {})", self.precision, self.scale)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ty {
    pub t: T,
    pub nullable: bool,
}

impl Ty {
    pub fn of(t: T) -> Ty {
        Ty { t, nullable: false }
    }

    pub fn unknown() -> Ty {
        Ty::of(T::Unknown)
    }

    pub fn null() -> Ty {
        Ty {
            t: T::Unknown,
            nullable: true,
        }
    }

    pub fn nullable_if(mut self, n: bool) -> Ty {
        self.nullable |= n;
        self
    }

    pub fn from_ast(t: &TypeExpr) -> Ty {
        let t2 = match &t.ty {
            Type::String => T::String,
            Type::Int => T::Int,
            Type::Float => T::Float,
            Type::Bool => T::Bool,
            Type::Date => T::Date,
            Type::Timestamp => T::Timestamp,
            Type::Month => T::Month,
            Type::Week => T::Week,
            Type::Quarter => T::Quarter,
            Type::Year => T::Year,
            Type::Duration => T::Duration,
            Type::Decimal { precision, scale } => T::Decimal(Dec::new(
                (*precision).min(u8::MAX as u32) as u8,
                (*scale).min(u8::MAX as u32) as u8,
            )),
            Type::Enum(vs) => T::Enum(vs.iter().map(|v| v.name.clone()).collect()),
            Type::Any | Type::Numeric | Type::Var(_) | Type::Error => T::Unknown,
        };
        Ty {
            t: t2,
            nullable: t.nullable,
        }
    }
}

impl T {
    /// The calendar grains, finest first: a value of a finer grain lies in
    /// exactly one value of each coarser one (a week only in itself: weeks
    /// straddle months).
    pub fn calendar_rank(&self) -> Option<u8> {
        Some(match self {
            T::Date => 0,
            T::Week => 1,
            T::Month => 2,
            T::Quarter => 3,
            T::Year => 4,
            _ => return None,
        })
    }

    /// Whether every value of `self` lies inside one value of `coarser`.
    pub fn lies_in(&self, coarser: &T) -> bool {
        match (self.calendar_rank(), coarser.calendar_rank()) {
            (Some(0), Some(c)) => c > 0,
            (Some(1), _) => false,
            (Some(f), Some(c)) => c > f,
            _ => false,
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            T::Int | T::Float | T::Decimal(_) | T::DecimalLit(_) | T::Unknown
        )
    }

    /// The precision and scale of an exact number: a decimal, a decimal
    /// literal, or an int (scale 0).
    pub fn exact(&self) -> Option<Dec> {
        match self {
            T::Decimal(d) | T::DecimalLit(d) => Some(*d),
            T::Int => Some(Dec::new(Dec::MAX_PRECISION, 0)),
            _ => None,
        }
    }

    /// The scale a value of this type is stored at: a decimal's, else none.
    pub fn decimal_scale(&self) -> Option<u8> {
        match self {
            T::Decimal(d) | T::DecimalLit(d) => Some(d.scale),
            _ => None,
        }
    }
}

/// The common type of two values compared, combined or chosen between, if
/// they have one: an int widens to a decimal or a float, a decimal literal
/// fits either, but a decimal column and a float never mix silently (exact
/// money would become approximate). An enum literal meets its enum;
/// `Unknown` meets anything.
pub fn unify(a: &T, b: &T) -> Option<T> {
    use T::*;
    Some(match (a, b) {
        (Unknown, x) | (x, Unknown) => x.clone(),
        (x, y) if x == y => x.clone(),
        (Decimal(x), Decimal(y) | DecimalLit(y)) | (DecimalLit(y), Decimal(x)) => {
            Decimal(x.join(*y))
        }
        (Decimal(x), Int) | (Int, Decimal(x)) => Decimal(x.join(Dec::new(Dec::MAX_PRECISION, 0))),
        (DecimalLit(x), DecimalLit(y)) => DecimalLit(x.join(*y)),
        (Int, DecimalLit(x)) | (DecimalLit(x), Int) => {
            DecimalLit(x.join(Dec::new(Dec::MAX_PRECISION, 0)))
        }
        (Int | DecimalLit(_), Float) | (Float, Int | DecimalLit(_)) => Float,
        (Enum(vs), EnumLit(v)) | (EnumLit(v), Enum(vs)) if vs.contains(v) => Enum(vs.clone()),
        (EnumLit(_), EnumLit(_)) => a.clone(),
        (List(x), List(y)) => List(Box::new(unify(x, y)?)),
        _ => return None,
    })
}

impl fmt::Display for T {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            T::Unknown => f.write_str("any"),
            T::Bool => f.write_str("bool"),
            T::Int => f.write_str("int"),
            T::Float => f.write_str("float"),
            T::Decimal(d) | T::DecimalLit(d) => d.fmt(f),
            T::String => f.write_str("string"),
            T::Date => f.write_str("date"),
            T::Timestamp => f.write_str("timestamp"),
            T::Month => f.write_str("month"),
            T::Week => f.write_str("week"),
            T::Quarter => f.write_str("quarter"),
            T::Year => f.write_str("year"),
            T::Duration => f.write_str("duration"),
            T::Enum(vs) => write!(f, "enum({})", vs.join(", ")),
            T::EnumLit(v) => write!(f, "the enum value `{v}`"),
            T::Table => f.write_str("an input"),
            T::List(t) => write!(f, "a list of {t}"),
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.t, if self.nullable { "?" } else { "" })
    }
}
