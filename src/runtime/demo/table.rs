//! One table's generation plan — what each column is for and how many rows
//! the table has — and the writer that streams its rows into SQLite.
//!
//! Two shapes of table:
//!
//! - **facts**: event sources. `--rows` logical rows (a child source, whose
//!   key reuses another source's ids, a quarter of them), each possibly
//!   followed by a duplicate delivery. Row times spread over the date range;
//!   arrival clocks come after the event, some late, a few beyond the
//!   source's `max lateness`; a few rows are invalid.
//! - **entities**: references, and sources keyed only by shared ids (an
//!   account master). One row per entity (the product of the key's
//!   domains), per validity interval, per declared version.

use std::sync::Arc;

use rusqlite::{Connection, Statement};

use super::calendar::{self, DAY, HOUR};
use super::domains::{entity_count, Analysis, DomainKind};
use super::rng::{below, between, chance, hash, salt};
use super::{DemoError, TableReport};
use crate::semantic::hir::{Decl, DeclId, Lock, Program};
use crate::semantic::T;
use crate::sql::types::{ident, sqlite_type};
use crate::syntax::ast::{ClockKind, DeclKind};

/// Shares, in draws per thousand.
const DUPLICATES: u64 = 10;
const LATE: u64 = 20;
const TOO_LATE: u64 = 5;
const INVALID: u64 = 15;
const NULLS: u64 = 30;
/// Rows of a grouped table (a case's events) per group.
const GROUP: u64 = 4;
/// Rows of an owner per row of its child source.
const STRIDE: u64 = 4;
/// Progress is reported every this many rows.
const TICK: u64 = 16_384;

// What a draw is for, so two draws of one row never coincide.
const D_TIME: u64 = 1;
const D_GROUP: u64 = 2;
const D_GAP: u64 = 3;
const D_CHILD: u64 = 4;
const D_CHILD_TIME: u64 = 5;
const D_LATE: u64 = 6;
const D_DELAY: u64 = 7;
const D_INVALID: u64 = 8;
const D_INVALID_KIND: u64 = 9;
const D_DUP: u64 = 10;
const D_DUP_DELAY: u64 = 11;
const D_NULL: u64 = 12;
const D_VALUE: u64 = 13;
const D_VALUE2: u64 = 14;
const D_STEP: u64 = 15;
const D_INTERVALS: u64 = 16;
const D_CHANGE: u64 = 17;
const D_CHANGE_TIME: u64 = 18;
const D_ORIGIN: u64 = 19;
const D_DRIFT: u64 = 20;

/// The date range, the seed, and the time zone's day boundaries.
pub struct Setup {
    pub seed: u64,
    pub rows: u64,
    /// Local midnight of the first day, as UTC seconds.
    pub start: i64,
    pub span: i64,
    pub days: i64,
    zone: Zone,
}

/// UTC offsets of the project's time zone, one per day around the range,
/// so a time's local date costs a lookup.
struct Zone {
    first_day: i64,
    offsets: Vec<i64>,
}

impl Zone {
    fn offset(&self, secs: i64) -> i64 {
        let i = (secs.div_euclid(DAY) - self.first_day).clamp(0, self.offsets.len() as i64 - 1);
        self.offsets[i as usize]
    }

    fn local_day(&self, secs: i64) -> i64 {
        (secs + self.offset(secs)).div_euclid(DAY)
    }
}

impl Setup {
    pub fn new(
        seed: u64,
        rows: u64,
        start: chrono::NaiveDate,
        days: u32,
        zone: Option<chrono_tz::Tz>,
    ) -> Setup {
        use chrono::{Datelike, Offset, TimeZone};
        let start_day =
            calendar::days_from_civil(i64::from(start.year()), start.month(), start.day());
        let days = i64::from(days);
        let first_day = start_day - 800;
        let offsets = (first_day..start_day + days + 800)
            .map(|d| match zone {
                None => 0,
                Some(tz) => chrono::DateTime::from_timestamp(d * DAY + 12 * HOUR, 0)
                    .map(|t| {
                        i64::from(
                            tz.offset_from_utc_datetime(&t.naive_utc())
                                .fix()
                                .local_minus_utc(),
                        )
                    })
                    .unwrap_or(0),
            })
            .collect();
        let zone = Zone { first_day, offsets };
        let start = start_day * DAY - zone.offset(start_day * DAY);
        Setup {
            seed,
            rows,
            start,
            span: days * DAY,
            days,
            zone,
        }
    }

    fn h(&self, table: u64, what: u64, parts: &[u64]) -> u64 {
        let mut all = [0u64; 8];
        all[0] = self.seed;
        all[1] = table;
        all[2] = what;
        let n = parts.len().min(5);
        all[3..3 + n].copy_from_slice(&parts[..n]);
        hash(&all[..3 + n])
    }
}

/// How row times spread over the range.
#[derive(Debug, Clone, Copy)]
struct Spread {
    salt: u64,
    n: u64,
    /// Rows come in groups of [`GROUP`] (a case's events), hours apart.
    grouped: bool,
}

#[derive(Debug, Clone, Copy)]
enum TimeFn {
    Spread(Spread),
    /// A child row happens minutes after the owner row whose id it carries.
    Child {
        owner: Spread,
        stride: u64,
    },
}

impl Spread {
    fn group_start(&self, s: &Setup, g: u64) -> i64 {
        let groups = self.n.div_ceil(GROUP).max(1);
        // Leave room for the group's later events inside the range.
        let span = if s.span > 8 * DAY {
            s.span - 4 * DAY
        } else {
            (s.span / 2).max(1)
        };
        let frac = below(s.h(self.salt, D_GROUP, &[g]), span as u64);
        s.start + ((u128::from(g) * span as u128 + u128::from(frac)) / u128::from(groups)) as i64
    }

    fn base(&self, s: &Setup, r: u64) -> i64 {
        if self.grouped {
            let g = r / GROUP;
            let gaps: i64 = (1..=r % GROUP)
                .map(|k| 2 * HOUR + below(s.h(self.salt, D_GAP, &[g, k]), 28 * HOUR as u64) as i64)
                .sum();
            return self.group_start(s, g) + gaps;
        }
        let frac = below(s.h(self.salt, D_TIME, &[r]), s.span as u64);
        s.start
            + ((u128::from(r) * s.span as u128 + u128::from(frac)) / u128::from(self.n.max(1)))
                as i64
    }
}

fn child_index(s: &Setup, table: u64, stride: u64, r: u64) -> u64 {
    r * stride + below(s.h(table, D_CHILD, &[r]), stride)
}

#[derive(Debug, Clone)]
enum Role {
    /// The row's own id, from the row number.
    OwnId,
    /// An id of the owner source, one distinct owner row per child row.
    ChildId,
    /// An id of some row of another source.
    ForeignRow {
        n: u64,
    },
    /// A value of a population. `determines`: the size of a domain another
    /// column of this table derives from it.
    Entity {
        card: u64,
        determines: Option<u64>,
    },
    /// Derived from another column's entity: `index % card`.
    Derived {
        from: usize,
        card: u64,
    },
    Enum {
        variants: Arc<[String]>,
        lifecycle: bool,
    },
    Label {
        card: u64,
    },
    /// Consecutive rows share it: a case's events.
    Group,
    Event,
    /// Ingestion, commit or arrival time: after the event; `order` among
    /// the table's arrival columns.
    Arrival {
        order: i64,
    },
    /// Another time, before the event (`opened_at`).
    Before,
    /// A calendar value (date, month) from the row's time.
    Day,
    ValidFrom,
    ValidTo,
    Version,
    Amount {
        signed: bool,
        rate: bool,
        /// The declared scale: a value never has more digits after the
        /// point, or the typed input boundary would refuse it.
        scale: u8,
    },
    Int {
        lo: i64,
        hi: i64,
    },
    Float,
    Bool,
    /// 1, 2, 3, ... in insert order: an integer cursor.
    Sequence,
}

#[derive(Debug, Clone)]
struct ColPlan {
    name: String,
    ty: T,
    nullable: bool,
    key: bool,
    role: Role,
    salt: u64,
    /// Ids: `prefix-000042`, or numbers when `int`.
    prefix: String,
    width: usize,
    int: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalid {
    /// An empty string where an id belongs.
    Empty,
    /// A negative amount, or zero where amounts are signed.
    Amount,
    /// A time after the event that it must precede.
    Order,
}

#[derive(Debug)]
enum Shape {
    Facts {
        n: u64,
    },
    Entities {
        /// Key columns enumerated, with their sizes (mixed radix).
        radices: Vec<(usize, u64)>,
        entities: u64,
        versions: Vec<String>,
        validity: bool,
    },
}

#[derive(Debug)]
pub struct TablePlan {
    pub name: String,
    pub table: String,
    pub kind: DeclKind,
    salt: u64,
    cols: Vec<ColPlan>,
    shape: Shape,
    time: TimeFn,
    /// Late arrivals are possible: the source has an event clock and an
    /// arrival clock; the bound is its `max lateness`.
    lateness: Option<Option<i64>>,
    /// Rows come in balancing pairs (double entry): a signed amount.
    paired: bool,
    invalid: Vec<(Invalid, usize)>,
}

fn digits(n: u64) -> usize {
    n.max(1).to_string().len()
}

fn int_range(name: &str) -> (i64, i64) {
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&["level", "priority", "tier", "severity", "rank"]) {
        (1, 4)
    } else if name.ends_with("hours") {
        (24, 96)
    } else if name.ends_with("days") {
        (1, 30)
    } else if has(&["count", "qty", "quantity", "number"]) {
        (1, 20)
    } else {
        (1, 100)
    }
}

fn is_time(t: &T) -> bool {
    matches!(
        t,
        T::Timestamp | T::Date | T::Month | T::Week | T::Quarter | T::Year
    )
}

/// Whether the table has one row per entity rather than per event.
fn is_dimension(d: &Decl, a: &Analysis) -> bool {
    d.kind == DeclKind::Reference
        || d.access.validity.is_some()
        || d.access.versioned_by.is_some()
        || (!d.key.is_empty()
            && d.key.iter().all(|k| {
                matches!(
                    a.domain(d.id, k).map(|d| &d.kind),
                    Some(DomainKind::Entities { .. } | DomainKind::Enum(_))
                )
            }))
}

/// The column whose value groups consecutive rows (a case id): a string
/// `_id` column of an event source that is neither key nor shared.
fn group_column<'d>(d: &'d Decl, a: &Analysis) -> Option<&'d str> {
    if is_dimension(d, a) {
        return None;
    }
    d.columns
        .iter()
        .find(|c| {
            c.ty.t == T::String
                && c.name.ends_with("_id")
                && !d.key.contains(&c.name)
                && matches!(
                    a.domain(d.id, &c.name).map(|d| &d.kind),
                    Some(DomainKind::Free) | None
                )
        })
        .map(|c| c.name.as_str())
}

fn spread(program: &Program, a: &Analysis, decl: DeclId, rows: u64) -> Spread {
    let d = program.get(decl);
    Spread {
        salt: salt(&d.table),
        n: rows,
        grouped: group_column(d, a).is_some(),
    }
}

/// Plans every source and reference of the program, in declaration order.
pub fn plan(program: &Program, a: &Analysis, s: &Setup) -> Vec<TablePlan> {
    program
        .decls
        .iter()
        .filter(|d| matches!(d.kind, DeclKind::Source | DeclKind::Reference))
        .map(|d| plan_table(program, a, s, d))
        .collect()
}

fn plan_table(program: &Program, a: &Analysis, s: &Setup, d: &Decl) -> TablePlan {
    let dimension = is_dimension(d, a);
    let group = group_column(d, a);
    let event = d
        .access
        .clocks
        .iter()
        .find(|(k, _)| *k == ClockKind::Event)
        .map(|(_, c)| c.as_str());
    let mut arrivals: Vec<&str> = d
        .access
        .clocks
        .iter()
        .filter(|(k, _)| *k != ClockKind::Event)
        .map(|(_, c)| c.as_str())
        .collect();
    let lock_cols: Vec<&str> = match &d.access.lock {
        Some(Lock::Snapshot(c)) => vec![c.as_str()],
        Some(Lock::Cursor(cs)) => cs.iter().map(String::as_str).collect(),
        None => Vec::new(),
    };
    for c in &lock_cols {
        let timed = d
            .columns
            .iter()
            .any(|col| col.name == *c && is_time(&col.ty.t));
        if timed && Some(*c) != event && !arrivals.contains(c) {
            arrivals.push(c);
        }
    }
    let mut lifecycle_taken = false;
    let mut child_stride = None;
    let mut cols: Vec<ColPlan> = Vec::new();
    for c in &d.columns {
        let key = d.key.contains(&c.name);
        let dom = a.domain(d.id, &c.name);
        let mut prefix = dom.map_or_else(|| c.name.replace('_', "-"), |x| x.prefix.clone());
        let mut width = 3;
        let mut int = c.ty.t == T::Int;
        let validity = d.access.validity.as_ref();
        let role = if validity.is_some_and(|(f, _)| *f == c.name) {
            Role::ValidFrom
        } else if validity.is_some_and(|(_, t)| *t == c.name) {
            Role::ValidTo
        } else if d.access.versioned_by.as_deref() == Some(c.name.as_str()) {
            Role::Version
        } else if event == Some(c.name.as_str()) {
            Role::Event
        } else if let Some(order) = arrivals.iter().position(|x| *x == c.name) {
            Role::Arrival {
                order: order as i64,
            }
        } else {
            match dom.map(|x| &x.kind) {
                Some(DomainKind::Enum(v)) => {
                    let lifecycle = group.is_some()
                        && !key
                        && v.len() >= 3
                        && !std::mem::replace(&mut lifecycle_taken, true);
                    Role::Enum {
                        variants: v.clone(),
                        lifecycle,
                    }
                }
                Some(DomainKind::Rows { owner }) => {
                    width = digits(s.rows).max(6);
                    int = dom.is_some_and(|x| x.int);
                    if *owner == d.id {
                        Role::OwnId
                    } else if key && d.key.last() == Some(&c.name) && !dimension {
                        child_stride = Some((*owner, if s.rows >= STRIDE { STRIDE } else { 1 }));
                        Role::ChildId
                    } else {
                        Role::ForeignRow { n: s.rows }
                    }
                }
                Some(DomainKind::Entities { card }) => {
                    width = digits(*card).max(3);
                    int = dom.is_some_and(|x| x.int);
                    Role::Entity {
                        card: *card,
                        determines: None,
                    }
                }
                Some(DomainKind::Free) | None => match &c.ty.t {
                    T::String if group == Some(c.name.as_str()) => {
                        width = digits(s.rows.div_ceil(GROUP)).max(6);
                        Role::Group
                    }
                    T::Int if lock_cols.contains(&c.name.as_str()) => Role::Sequence,
                    T::Int => {
                        let (lo, hi) = int_range(&c.name);
                        Role::Int { lo, hi }
                    }
                    T::Decimal(dec) | T::DecimalLit(dec) => Role::Amount {
                        scale: dec.scale,
                        signed: a.signed.contains(&(d.id, c.name.clone())),
                        rate: ["rate", "ratio", "factor", "pct", "percent"]
                            .iter()
                            .any(|w| c.name.contains(w)),
                    },
                    T::Float | T::Duration => Role::Float,
                    T::Bool => Role::Bool,
                    T::Timestamp => Role::Before,
                    t if is_time(t) => Role::Day,
                    _ => {
                        let card = (entity_count(s.rows) / 2).clamp(5, 50);
                        width = digits(card).max(2);
                        prefix = c.name.replace('_', "-");
                        Role::Label { card }
                    }
                },
            }
        };
        cols.push(ColPlan {
            name: c.name.clone(),
            ty: c.ty.t.clone(),
            nullable: c.ty.nullable,
            key,
            role,
            salt: salt(&c.name),
            prefix,
            width,
            int,
        });
    }
    // Columns whose domain another column's domain determines are derived.
    for i in 0..cols.len() {
        let Some(dom) = a.id(d.id, &cols[i].name) else {
            continue;
        };
        let Some(det) = a.domains[dom].determinant else {
            continue;
        };
        let from = (0..cols.len()).find(|&j| {
            j != i
                && a.id(d.id, &cols[j].name) == Some(det)
                && matches!(cols[j].role, Role::Entity { .. })
        });
        if let (Some(from), Role::Entity { card, .. }) = (from, cols[i].role.clone()) {
            cols[i].role = Role::Derived { from, card };
            if let Role::Entity { determines, .. } = &mut cols[from].role {
                determines.get_or_insert(card);
            }
        }
    }
    let table_salt = salt(&d.table);
    let shape = if dimension {
        let radices: Vec<(usize, u64)> = cols
            .iter()
            .enumerate()
            .filter(|(_, c)| c.key)
            .filter_map(|(i, c)| match &c.role {
                Role::Entity { card, .. } => Some((i, *card)),
                Role::Enum { variants, .. } => Some((i, variants.len().max(1) as u64)),
                _ => None,
            })
            .collect();
        let entities = if radices.is_empty() {
            entity_count(s.rows)
        } else {
            radices.iter().fold(1u64, |n, (_, r)| n.saturating_mul(*r))
        };
        let versions = match &d.access.versioned_by {
            Some(_) if d.access.versions.is_empty() => vec!["1".to_string()],
            Some(_) => d.access.versions.clone(),
            None => vec![String::new()],
        };
        Shape::Entities {
            radices,
            entities,
            versions,
            validity: d.access.validity.is_some(),
        }
    } else {
        let n = match child_stride {
            Some((_, stride)) => s.rows / stride,
            None => s.rows,
        };
        Shape::Facts { n }
    };
    let time = match child_stride {
        Some((owner, stride)) if !dimension => TimeFn::Child {
            owner: spread(program, a, owner, s.rows),
            stride,
        },
        _ => TimeFn::Spread(Spread {
            salt: table_salt,
            n: match shape {
                Shape::Facts { n } => n,
                Shape::Entities { .. } => 1,
            },
            grouped: group.is_some(),
        }),
    };
    let paired = !dimension
        && cols
            .iter()
            .any(|c| matches!(c.role, Role::Amount { signed: true, .. }));
    let mut invalid = Vec::new();
    if !dimension && d.kind == DeclKind::Source {
        for (i, c) in cols.iter().enumerate() {
            let kind = match c.role {
                Role::Entity { .. } | Role::Label { .. } if !c.key && c.ty == T::String => {
                    Invalid::Empty
                }
                Role::Amount { rate: false, .. } => Invalid::Amount,
                Role::Before => Invalid::Order,
                _ => continue,
            };
            if !invalid.iter().any(|(k, _)| *k == kind) {
                invalid.push((kind, i));
            }
        }
    }
    let lateness = (!dimension && event.is_some() && !arrivals.is_empty())
        .then(|| d.max_lateness_secs.map(|x| x as i64));
    TablePlan {
        name: d.name.clone(),
        table: d.table.clone(),
        kind: d.kind,
        salt: table_salt,
        cols,
        shape,
        time,
        lateness,
        paired,
        invalid,
    }
}

#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    /// The column's text buffer.
    Text,
    /// Seconds since the epoch, written in the column's type.
    Time(i64),
    /// A local day number, written in the column's type.
    Day(i64),
}

/// One row being built: reused for every row, so nothing grows.
struct Row {
    cells: Vec<Cell>,
    text: Vec<String>,
    /// The entity index each entity column drew.
    index: Vec<u64>,
}

impl Row {
    fn new(n: usize) -> Row {
        Row {
            cells: vec![Cell::Null; n],
            text: vec![String::new(); n],
            index: vec![0; n],
        }
    }

    fn id(&mut self, i: usize, c: &ColPlan, idx: u64) {
        use std::fmt::Write;
        self.index[i] = idx;
        if c.int {
            self.cells[i] = Cell::Int(idx as i64 + 1);
        } else {
            let t = &mut self.text[i];
            t.clear();
            let _ = write!(t, "{}-{:0w$}", c.prefix, idx, w = c.width);
            self.cells[i] = Cell::Text;
        }
    }

    fn text(&mut self, i: usize, value: &str) {
        self.text[i].clear();
        self.text[i].push_str(value);
        self.cells[i] = Cell::Text;
    }
}

fn write_time(out: &mut String, ty: &T, secs: i64, zone: &Zone) {
    match ty {
        T::Date | T::Month | T::Week | T::Quarter | T::Year => {
            write_day(out, ty, zone.local_day(secs))
        }
        _ => calendar::write_timestamp(out, secs),
    }
}

fn write_day(out: &mut String, ty: &T, day: i64) {
    match ty {
        T::Month => calendar::write_month(out, day),
        T::Week => calendar::write_week(out, day),
        T::Quarter => calendar::write_quarter(out, day),
        T::Year => calendar::write_year(out, day),
        T::Timestamp => calendar::write_timestamp(out, day * DAY),
        _ => calendar::write_date(out, day),
    }
}

fn insert(
    stmt: &mut Statement<'_>,
    cols: &[ColPlan],
    row: &mut Row,
    zone: &Zone,
) -> rusqlite::Result<()> {
    for (i, c) in cols.iter().enumerate() {
        let p = i + 1;
        match row.cells[i] {
            Cell::Null => stmt.raw_bind_parameter(p, rusqlite::types::Null)?,
            Cell::Int(v) => stmt.raw_bind_parameter(p, v)?,
            Cell::Real(v) => stmt.raw_bind_parameter(p, v)?,
            Cell::Text => stmt.raw_bind_parameter(p, row.text[i].as_str())?,
            Cell::Time(t) => {
                let out = &mut row.text[i];
                out.clear();
                write_time(out, &c.ty, t, zone);
                stmt.raw_bind_parameter(p, out.as_str())?
            }
            Cell::Day(d) => {
                let out = &mut row.text[i];
                out.clear();
                write_day(out, &c.ty, d);
                stmt.raw_bind_parameter(p, out.as_str())?
            }
        }
    }
    stmt.raw_execute()?;
    Ok(())
}

/// An amount in cents (or millionths for a rate): 1 to 10,000 in four
/// decades, so most are small and a few are large. Integer arithmetic only,
/// so the value is the same on every machine.
fn amount(h: u64, h2: u64, rate: bool) -> f64 {
    if rate {
        return between(h, 50, 2_000_000) as f64 / 1_000_000.0;
    }
    let decade = 10i64.pow(below(h, 4) as u32);
    between(h2, 100 * decade, 1000 * decade) as f64 / 100.0
}

/// The column type of a demo table, as a source system would have it: a
/// decimal as a float column of amounts in their units (the typed input
/// boundary reads them exactly into scaled integers), the rest as stored.
pub fn raw_type(t: &T) -> &'static str {
    match t {
        T::Decimal(_) | T::DecimalLit(_) => "REAL",
        _ => sqlite_type(t),
    }
}

/// `x` with at most `scale` digits after the point, rounded half away
/// from zero: the float nearest to that decimal.
fn to_scale(x: f64, scale: u8) -> f64 {
    let m = 10f64.powi(i32::from(scale.min(15)));
    (x * m).round() / m
}

/// `x` moved by `per_mille` thousandths, kept to its scale (cents, or
/// millionths for a rate) with integer arithmetic.
fn drift(x: f64, rate: bool, per_mille: i64) -> f64 {
    let scale = if rate { 1_000_000.0 } else { 100.0 };
    let units = (x * scale).round() as i64;
    let moved = units + (units * per_mille).div_euclid(1000);
    moved as f64 / scale
}

/// The expected rows of a table, for the progress bar.
pub fn expected_rows(p: &TablePlan, s: &Setup) -> u64 {
    match &p.shape {
        Shape::Facts { n } => *n,
        Shape::Entities {
            entities,
            versions,
            validity,
            ..
        } => {
            let per_version: u64 = if *validity {
                (0..*entities)
                    .map(|e| intervals(p, s, e).len() as u64)
                    .sum()
            } else {
                *entities
            };
            per_version * versions.len() as u64
        }
    }
}

/// The validity intervals of an entity: `(from, to)`, the last open. The
/// first starts well before the range; about one entity in three changes
/// once or twice inside it.
fn intervals(p: &TablePlan, s: &Setup, e: u64) -> Vec<(i64, Option<i64>)> {
    let roll = below(s.h(p.salt, D_INTERVALS, &[e]), 100);
    let changes = usize::from(roll < 30) + usize::from(roll < 10);
    let origin = s.start - (30 + below(s.h(p.salt, D_ORIGIN, &[e]), 335) as i64) * DAY;
    let mut points = [0i64; 2];
    let mut n = 0;
    if s.days >= 2 {
        for j in 0..changes {
            let day = 1 + below(s.h(p.salt, D_CHANGE, &[e, j as u64]), s.days as u64 - 1) as i64;
            let at = s.start
                + day * DAY
                + below(s.h(p.salt, D_CHANGE_TIME, &[e, j as u64]), DAY as u64) as i64;
            if !points[..n].contains(&at) {
                points[n] = at;
                n += 1;
            }
        }
    }
    points[..n].sort_unstable();
    let mut out = Vec::with_capacity(n + 1);
    let mut from = origin;
    for &at in &points[..n] {
        out.push((from, Some(at)));
        from = at;
    }
    out.push((from, None));
    out
}

/// Creates the table and fills it; returns what went in.
pub fn write(
    conn: &Connection,
    p: &TablePlan,
    s: &Setup,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<TableReport, DemoError> {
    let columns: Vec<String> = p
        .cols
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), raw_type(&c.ty)))
        .collect();
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({});",
        columns.join(", "),
        t = ident(&p.table)
    ))?;
    let marks: Vec<String> = (1..=p.cols.len()).map(|i| format!("?{i}")).collect();
    let mut stmt = conn.prepare(&format!(
        "INSERT INTO {} VALUES ({})",
        ident(&p.table),
        marks.join(", ")
    ))?;
    let mut report = TableReport {
        declaration: p.name.clone(),
        kind: p.kind.keyword().to_string(),
        table: p.table.clone(),
        rows: 0,
        duplicates: 0,
        late: 0,
        too_late: 0,
        invalid: 0,
    };
    let total = expected_rows(p, s);
    progress(&p.table, 0, total);
    match &p.shape {
        Shape::Facts { n } => facts(&mut stmt, p, s, *n, &mut report, progress)?,
        Shape::Entities { .. } => entities(&mut stmt, p, s, total, &mut report, progress)?,
    }
    Ok(report)
}

fn facts(
    stmt: &mut Statement<'_>,
    p: &TablePlan,
    s: &Setup,
    n: u64,
    report: &mut TableReport,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> rusqlite::Result<()> {
    let mut row = Row::new(p.cols.len());
    let t = p.salt;
    for r in 0..n {
        // The two legs of a pair share every draw but their ids, their
        // sign and their accounts.
        let draw = if p.paired { r & !1 } else { r };
        let odd = p.paired && r & 1 == 1;
        let base = match p.time {
            TimeFn::Spread(sp) => sp.base(s, draw),
            TimeFn::Child { owner, stride } => {
                owner.base(s, child_index(s, t, stride, draw))
                    + 60
                    + below(s.h(t, D_CHILD_TIME, &[draw]), 44 * 60) as i64
            }
        };
        let mut delay = 60 + below(s.h(t, D_DELAY, &[draw]), 2 * HOUR as u64) as i64;
        if let Some(max) = p.lateness {
            let roll = below(s.h(t, D_LATE, &[draw]), 1000);
            let bound = max.unwrap_or(2 * DAY);
            let dh = s.h(t, D_DELAY, &[draw, 1]);
            if roll < LATE {
                let lo = if bound > 12 * HOUR {
                    6 * HOUR
                } else {
                    bound / 2
                };
                delay = between(dh, lo, bound);
                report.late += 1;
            } else if roll < LATE + TOO_LATE && max.is_some() {
                delay = between(dh, bound + HOUR, bound + 2 * DAY);
                report.too_late += 1;
            }
        }
        let bad = if !p.invalid.is_empty() && chance(s.h(t, D_INVALID, &[draw]), INVALID) {
            report.invalid += 1;
            let k = below(s.h(t, D_INVALID_KIND, &[draw]), p.invalid.len() as u64);
            Some(p.invalid[k as usize])
        } else {
            None
        };
        // A grouped row's earlier time is its group's start: a case's
        // `opened_at`, the same on every event of the case.
        let group_start = match p.time {
            TimeFn::Spread(sp) if sp.grouped => Some(sp.group_start(s, r / GROUP)),
            _ => None,
        };
        // The rows of a group (a case's events) share its entities: a case
        // stays with its unit.
        let owner = match p.time {
            TimeFn::Spread(sp) if sp.grouped => r / GROUP,
            _ => draw,
        };
        for (i, c) in p.cols.iter().enumerate() {
            let v = s.h(t, D_VALUE, &[draw, c.salt]);
            let shared = s.h(t, D_VALUE, &[owner, c.salt]);
            match &c.role {
                Role::OwnId => row.id(i, c, r),
                Role::ChildId => {
                    let stride = match p.time {
                        TimeFn::Child { stride, .. } => stride,
                        TimeFn::Spread(_) => 1,
                    };
                    row.id(i, c, child_index(s, t, stride, r))
                }
                Role::ForeignRow { n } => row.id(i, c, below(v, *n)),
                Role::Entity { card, determines } => {
                    let first = below(shared, *card);
                    let idx = match (odd, determines) {
                        (false, _) => first,
                        // The other leg stays with the same owner (tenant).
                        (true, Some(dc)) => {
                            let r0 = first % dc;
                            let slots = (card - 1 - r0) / dc + 1;
                            r0 + dc * below(s.h(t, D_VALUE2, &[r, c.salt]), slots)
                        }
                        (true, None) => below(s.h(t, D_VALUE2, &[r, c.salt]), *card),
                    };
                    row.id(i, c, idx)
                }
                Role::Derived { .. } => {}
                Role::Enum {
                    variants,
                    lifecycle,
                } => {
                    let nv = variants.len() as u64;
                    let k = if *lifecycle {
                        match r % GROUP {
                            0 => 0,
                            x if x == GROUP - 1 => nv - 1,
                            _ => 1 + below(v, nv - 2),
                        }
                    } else {
                        below(v, nv)
                    };
                    row.index[i] = k;
                    row.text(i, &variants[k as usize]);
                }
                Role::Label { card } => row.id(i, c, below(shared, *card)),
                Role::Group => row.id(i, c, r / GROUP),
                Role::Event => row.cells[i] = Cell::Time(base),
                Role::Arrival { order } => {
                    let extra = order * (30 + below(v, 600) as i64);
                    row.cells[i] = Cell::Time(base + delay + extra)
                }
                Role::Before => {
                    let at = if bad == Some((Invalid::Order, i)) {
                        base + HOUR + below(v, 47 * HOUR as u64) as i64
                    } else if let Some(start) = group_start {
                        start
                    } else {
                        base - 600 - below(v, 72 * HOUR as u64) as i64
                    };
                    row.cells[i] = Cell::Time(at)
                }
                Role::Day => {
                    let roll = below(v, 100);
                    let shift = i64::from(roll >= 75) + i64::from(roll >= 90);
                    row.cells[i] = Cell::Day(s.zone.local_day(base) + shift)
                }
                Role::Amount {
                    signed,
                    rate,
                    scale,
                } => {
                    let mut x = to_scale(amount(v, s.h(t, D_VALUE2, &[draw, c.salt]), *rate), *scale);
                    if bad == Some((Invalid::Amount, i)) {
                        x = if *signed { 0.0 } else { -x };
                    } else if odd && *signed {
                        x = -x;
                    }
                    row.cells[i] = Cell::Real(x)
                }
                Role::Int { lo, hi } => row.cells[i] = Cell::Int(between(v, *lo, *hi)),
                Role::Float => row.cells[i] = Cell::Real(below(v, 100_000) as f64 / 1000.0),
                Role::Bool => row.cells[i] = Cell::Int((v & 1) as i64),
                Role::Sequence => row.cells[i] = Cell::Int(report.rows as i64 + 1),
                Role::ValidFrom | Role::ValidTo => row.cells[i] = Cell::Time(base),
                Role::Version => row.text(i, "1"),
            }
        }
        derive(p, &mut row);
        for (i, c) in p.cols.iter().enumerate() {
            if bad == Some((Invalid::Empty, i)) {
                row.text(i, "");
            } else if c.nullable
                && !c.key
                && bad.is_none_or(|(_, j)| j != i)
                && chance(s.h(t, D_NULL, &[draw, c.salt]), NULLS)
            {
                row.cells[i] = Cell::Null;
            }
        }
        insert(stmt, &p.cols, &mut row, &s.zone)?;
        report.rows += 1;
        // A child source (assignments of case events) is joined to its owner
        // by the owner's id: a second delivery would double the owner's row
        // in the join, which no spec could tell from a real second event.
        // Duplicates are the owner source's to exercise.
        let child = matches!(p.time, TimeFn::Child { .. });
        if !child && chance(s.h(t, D_DUP, &[r]), DUPLICATES) {
            // The same row delivered again, later.
            let later = 300 + below(s.h(t, D_DUP_DELAY, &[r]), 20 * HOUR as u64) as i64;
            redeliver(p, &mut row, later, report.rows);
            insert(stmt, &p.cols, &mut row, &s.zone)?;
            report.rows += 1;
            report.duplicates += 1;
        }
        if (r + 1) % TICK == 0 {
            progress(&p.table, r + 1, n);
        }
    }
    progress(&p.table, n, n);
    Ok(())
}

/// Fills the derived columns from the columns they derive from.
fn derive(p: &TablePlan, row: &mut Row) {
    for (i, c) in p.cols.iter().enumerate() {
        if let Role::Derived { from, card } = c.role {
            let idx = row.index[from] % card;
            row.id(i, c, idx);
        }
    }
}

/// Moves the arrival clocks of the row just written later, for a second
/// delivery of it.
fn redeliver(p: &TablePlan, row: &mut Row, later: i64, written: u64) {
    for (i, c) in p.cols.iter().enumerate() {
        match (&c.role, row.cells[i]) {
            (Role::Arrival { .. }, Cell::Time(at)) => row.cells[i] = Cell::Time(at + later),
            (Role::Sequence, _) => row.cells[i] = Cell::Int(written as i64 + 1),
            _ => {}
        }
    }
}

fn entities(
    stmt: &mut Statement<'_>,
    p: &TablePlan,
    s: &Setup,
    total: u64,
    report: &mut TableReport,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> rusqlite::Result<()> {
    let Shape::Entities {
        radices,
        entities,
        versions,
        validity,
    } = &p.shape
    else {
        return Ok(());
    };
    let mut row = Row::new(p.cols.len());
    let t = p.salt;
    let source = p.kind == DeclKind::Source;
    let evented = p.cols.iter().any(|c| matches!(c.role, Role::Event));
    for (vi, version) in versions.iter().enumerate() {
        let vi = vi as u64;
        for e in 0..*entities {
            let spans = if *validity {
                intervals(p, s, e)
            } else {
                vec![(s.start, None)]
            };
            for (iv, &(from, to)) in spans.iter().enumerate() {
                let iv = iv as u64;
                // An entity's times: its interval's start, a time in the
                // range when the table has an event clock, else a time
                // before the range (an account opened before it is used).
                let base = if *validity {
                    from.max(s.start)
                } else if evented {
                    s.start + below(s.h(t, D_TIME, &[e, vi]), s.span as u64) as i64
                } else {
                    s.start - (30 + below(s.h(t, D_ORIGIN, &[e]), 335) as i64) * DAY
                        + below(s.h(t, D_TIME, &[e]), DAY as u64) as i64
                };
                let mut rest = e;
                for (i, c) in p.cols.iter().enumerate() {
                    // Key columns enumerate the entities; attributes change
                    // from one validity interval to the next.
                    let radix = radices.iter().find(|(j, _)| *j == i).map(|(_, r)| *r);
                    let keyed = radix.map(|r| {
                        let k = rest % r;
                        rest /= r;
                        k
                    });
                    let v = s.h(t, D_VALUE, &[e, iv, vi, c.salt]);
                    // Numbers are drawn once per entity and interval, then
                    // drift by up to 5% per version.
                    let w = s.h(t, D_VALUE, &[e, iv, c.salt]);
                    let drift_by = (0..vi)
                        .map(|k| between(s.h(t, D_DRIFT, &[e, iv, k, c.salt]), -50, 50))
                        .sum::<i64>();
                    let changing = |n: u64| {
                        let first = below(s.h(t, D_VALUE, &[e, c.salt]), n);
                        let step = 1 + below(s.h(t, D_STEP, &[e, c.salt]), n.saturating_sub(1));
                        (first + iv * step) % n.max(1)
                    };
                    match &c.role {
                        Role::Entity { card, .. } => {
                            let idx = keyed.unwrap_or_else(|| changing(*card));
                            row.id(i, c, idx)
                        }
                        Role::Enum { variants, .. } => {
                            let k = keyed.unwrap_or_else(|| changing(variants.len() as u64));
                            row.index[i] = k;
                            row.text(i, &variants[k as usize]);
                        }
                        Role::Derived { .. } => {}
                        Role::OwnId => row.id(i, c, e),
                        Role::ChildId | Role::ForeignRow { .. } => row.id(i, c, below(v, s.rows)),
                        Role::Label { card } => {
                            row.id(i, c, below(s.h(t, D_VALUE, &[e, iv, c.salt]), *card))
                        }
                        Role::Group => row.id(i, c, e),
                        Role::Event => row.cells[i] = Cell::Time(base),
                        Role::Arrival { order } => {
                            let delay = 60 + below(v, 2 * HOUR as u64) as i64 + order * 60;
                            row.cells[i] = Cell::Time(base + delay)
                        }
                        Role::Before => {
                            row.cells[i] =
                                Cell::Time(base - 600 - below(v, 72 * HOUR as u64) as i64)
                        }
                        Role::Day => row.cells[i] = Cell::Day(s.zone.local_day(base)),
                        Role::ValidFrom => row.cells[i] = Cell::Time(from),
                        Role::ValidTo => {
                            row.cells[i] = match to {
                                Some(to) => Cell::Time(to),
                                None if c.nullable => Cell::Null,
                                // An open interval in a column that may not be null.
                                None => Cell::Time(calendar::days_from_civil(9999, 12, 31) * DAY),
                            }
                        }
                        Role::Version => row.text(i, version),
                        Role::Amount { rate, scale, .. } => {
                            let x = amount(w, s.h(t, D_VALUE2, &[e, iv, c.salt]), *rate);
                            row.cells[i] = Cell::Real(to_scale(drift(x, *rate, drift_by), *scale))
                        }
                        Role::Int { lo, hi } => {
                            let x = between(w, *lo, *hi);
                            let moved = x + (x * drift_by).div_euclid(1000);
                            row.cells[i] = Cell::Int(moved.clamp(*lo, *hi))
                        }
                        Role::Float => {
                            let x = below(w, 100_000) as f64 / 1000.0;
                            row.cells[i] = Cell::Real(drift(x, true, drift_by))
                        }
                        Role::Bool => row.cells[i] = Cell::Int((v & 1) as i64),
                        Role::Sequence => row.cells[i] = Cell::Int(report.rows as i64 + 1),
                    }
                }
                derive(p, &mut row);
                for (i, c) in p.cols.iter().enumerate() {
                    let special = matches!(c.role, Role::ValidFrom | Role::ValidTo | Role::Version);
                    if c.nullable
                        && !c.key
                        && !special
                        && chance(s.h(t, D_NULL, &[e, iv, vi, c.salt]), NULLS)
                    {
                        row.cells[i] = Cell::Null;
                    }
                }
                insert(stmt, &p.cols, &mut row, &s.zone)?;
                report.rows += 1;
                if source && chance(s.h(t, D_DUP, &[e, iv, vi]), DUPLICATES) {
                    let later =
                        300 + below(s.h(t, D_DUP_DELAY, &[e, iv, vi]), 20 * HOUR as u64) as i64;
                    redeliver(p, &mut row, later, report.rows);
                    insert(stmt, &p.cols, &mut row, &s.zone)?;
                    report.rows += 1;
                    report.duplicates += 1;
                }
                if report.rows % TICK == 0 {
                    progress(&p.table, report.rows.min(total), total);
                }
            }
        }
    }
    progress(&p.table, total, total);
    Ok(())
}
