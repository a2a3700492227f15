//! One table's generation plan — what each column is for and how many rows
//! the table has — and the writer ([`rows`]) that streams its rows into the
//! warehouse.
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

mod rows;

use std::sync::Arc;

use super::calendar::{self, DAY, HOUR};
use super::domains::{entity_count, Analysis, DomainKind};
use super::rng::{below, hash, salt};
use crate::semantic::hir::{Decl, DeclId, Lock, Program};
use crate::semantic::T;
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
        Some(Lock::Files) | None => Vec::new(),
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

pub use rows::write;
