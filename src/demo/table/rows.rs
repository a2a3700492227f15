//! Writing a planned table: rows built one at a time into a reused
//! buffer and streamed through the engine's [`Loader`].

use super::super::calendar::{self, DAY, HOUR};
use super::super::rng::{below, between, chance};
use super::super::{DemoError, TableReport};
use super::{
    child_index, ColPlan, Invalid, Role, Setup, Shape, TablePlan, TimeFn, Zone, DUPLICATES,
    D_CHANGE, D_CHANGE_TIME, D_CHILD_TIME, D_DELAY, D_DRIFT, D_DUP, D_DUP_DELAY, D_INTERVALS,
    D_INVALID, D_INVALID_KIND, D_LATE, D_NULL, D_ORIGIN, D_STEP, D_TIME, D_VALUE, D_VALUE2, GROUP,
    INVALID, LATE, NULLS, TICK, TOO_LATE,
};
use crate::runtime::engine::value::Cell as Value;
use crate::runtime::engine::Loader;
use crate::runtime::RuntimeError;
use crate::semantic::T;
use crate::syntax::ast::DeclKind;

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
    out: &mut dyn Loader,
    cols: &[ColPlan],
    row: &mut Row,
    zone: &Zone,
) -> Result<(), RuntimeError> {
    for (i, c) in cols.iter().enumerate() {
        match row.cells[i] {
            Cell::Time(t) => {
                let out = &mut row.text[i];
                out.clear();
                write_time(out, &c.ty, t, zone);
            }
            Cell::Day(d) => {
                let out = &mut row.text[i];
                out.clear();
                write_day(out, &c.ty, d);
            }
            _ => {}
        }
    }
    let values: Vec<Value<'_>> = row.cells[..cols.len()]
        .iter()
        .zip(&row.text)
        .map(|(cell, text)| match *cell {
            Cell::Null => Value::Null,
            Cell::Int(v) => Value::Integer(v),
            Cell::Real(v) => Value::Real(v),
            Cell::Text | Cell::Time(_) | Cell::Day(_) => Value::Text(text),
        })
        .collect();
    out.row(&values)
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
    out: &mut dyn Loader,
    p: &TablePlan,
    s: &Setup,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<TableReport, DemoError> {
    let columns: Vec<(String, T)> = p
        .cols
        .iter()
        .map(|c| (c.name.clone(), c.ty.clone()))
        .collect();
    out.table(&p.table, &columns)?;
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
        Shape::Facts { n } => facts(out, p, s, *n, &mut report, progress)?,
        Shape::Entities { .. } => entities(out, p, s, total, &mut report, progress)?,
    }
    Ok(report)
}

fn facts(
    out: &mut dyn Loader,
    p: &TablePlan,
    s: &Setup,
    n: u64,
    report: &mut TableReport,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<(), RuntimeError> {
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
                    let mut x =
                        to_scale(amount(v, s.h(t, D_VALUE2, &[draw, c.salt]), *rate), *scale);
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
        insert(out, &p.cols, &mut row, &s.zone)?;
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
            insert(out, &p.cols, &mut row, &s.zone)?;
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
    out: &mut dyn Loader,
    p: &TablePlan,
    s: &Setup,
    total: u64,
    report: &mut TableReport,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<(), RuntimeError> {
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
                insert(out, &p.cols, &mut row, &s.zone)?;
                report.rows += 1;
                if source && chance(s.h(t, D_DUP, &[e, iv, vi]), DUPLICATES) {
                    let later =
                        300 + below(s.h(t, D_DUP_DELAY, &[e, iv, vi]), 20 * HOUR as u64) as i64;
                    redeliver(p, &mut row, later, report.rows);
                    insert(out, &p.cols, &mut row, &s.zone)?;
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
