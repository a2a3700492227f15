//! Partition ordinals: a day is its day number, a week its number of
//! Mondays, a month `year * 12 + month - 1`, a quarter `year * 4 + q - 1`,
//! a year itself. Partition ranges are integer intervals, and grain changes
//! go through the first and last day of a partition. Unbounded ends use
//! `i64::MIN` and `i64::MAX`.

use chrono::{Datelike, NaiveDate};

use crate::semantic::hir::Grain;

pub const UNBOUNDED_LOW: i64 = i64::MIN;
pub const UNBOUNDED_HIGH: i64 = i64::MAX;

/// Day number of the Monday of ISO week 0 (0001-01-01 was a Monday).
const MONDAY: i64 = 1;

pub fn day(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64
}

pub fn date(ordinal: i64) -> Option<NaiveDate> {
    i32::try_from(ordinal)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

pub fn month(year: i32, month: u32) -> i64 {
    year as i64 * 12 + (month as i64 - 1)
}

fn unbounded_like(x: i64) -> i64 {
    if x < 0 {
        UNBOUNDED_LOW
    } else {
        UNBOUNDED_HIGH
    }
}

/// The partition of `grain` holding a day.
pub fn of_day(day_ordinal: i64, grain: Grain) -> i64 {
    if grain == Grain::Day {
        return day_ordinal;
    }
    if grain == Grain::Week {
        return (day_ordinal - MONDAY).div_euclid(7);
    }
    let Some(d) = date(day_ordinal) else {
        return unbounded_like(day_ordinal);
    };
    let m = month(d.year(), d.month());
    match grain {
        Grain::Month => m,
        Grain::Quarter => m.div_euclid(3),
        _ => d.year() as i64,
    }
}

/// The first day of a partition of `grain`.
pub fn first_day_of(ordinal: i64, grain: Grain) -> i64 {
    let month_start = |m: i64| {
        let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) as u32 + 1);
        i32::try_from(y)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, mo, 1))
            .map_or(unbounded_like(m), day)
    };
    match grain {
        Grain::Day => ordinal,
        Grain::Week => ordinal.saturating_mul(7).saturating_add(MONDAY),
        Grain::Month => month_start(ordinal),
        Grain::Quarter => month_start(ordinal.saturating_mul(3)),
        Grain::Year => month_start(ordinal.saturating_mul(12)),
    }
}

/// The last day of a partition of `grain`.
pub fn last_day_of(ordinal: i64, grain: Grain) -> i64 {
    match first_day_of(ordinal.saturating_add(1), grain) {
        x @ (UNBOUNDED_LOW | UNBOUNDED_HIGH) => x,
        d => d - 1,
    }
}

/// The month containing a day.
pub fn month_of_day(day_ordinal: i64) -> i64 {
    of_day(day_ordinal, Grain::Month)
}

/// First day of a month.
pub fn first_day(month_ordinal: i64) -> i64 {
    first_day_of(month_ordinal, Grain::Month)
}

/// Last day of a month.
pub fn last_day(month_ordinal: i64) -> i64 {
    last_day_of(month_ordinal, Grain::Month)
}

/// The days a partition value as written covers: `2026-06-15` one day,
/// `2026-W24` a week, `2026-06` a month, `2026-Q2` a quarter, `2026` a year.
pub fn parse_days(text: &str) -> Option<(i64, i64)> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some((day(d), day(d)));
    }
    let whole = |o: i64, g: Grain| (first_day_of(o, g), last_day_of(o, g));
    if let Some((y, w)) = t.split_once("-W") {
        let (y, w): (i32, u32) = (year_of(y)?, w.parse().ok()?);
        let monday = NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)?;
        return Some(whole(of_day(day(monday), Grain::Week), Grain::Week));
    }
    if let Some((y, q)) = t.split_once("-Q") {
        let (y, q): (i32, i64) = (year_of(y)?, q.parse().ok()?);
        return (1..=4)
            .contains(&q)
            .then(|| whole(y as i64 * 4 + q - 1, Grain::Quarter));
    }
    if let Some((y, m)) = t.split_once('-') {
        let (y, m): (i32, u32) = (year_of(y)?, m.parse().ok()?);
        return ((1..=12).contains(&m) && m.to_string().len() <= 2)
            .then(|| whole(month(y, m), Grain::Month));
    }
    Some(whole(year_of(t)? as i64, Grain::Year))
}

fn year_of(text: &str) -> Option<i32> {
    (text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

/// Parses a partition value at a grain: the partition holding the first
/// day of what is written (`2026-06` on a daily grain is 2026-06-01).
pub fn parse(text: &str, grain: Grain) -> Option<i64> {
    parse_days(text).map(|(first, _)| of_day(first, grain))
}

/// Whether `text` names more than one day (a week, month, quarter or year),
/// so as an upper bound it means its last day.
pub fn is_month(text: &str) -> bool {
    parse_days(text).is_some_and(|(a, b)| a != b)
}

pub fn format(ordinal: i64, grain: Grain) -> String {
    match grain {
        Grain::Day => {
            date(ordinal).map_or_else(|| "?".into(), |d| d.format("%Y-%m-%d").to_string())
        }
        Grain::Week => date(first_day_of(ordinal, Grain::Week)).map_or_else(
            || "?".into(),
            |d| format!("{:04}-W{:02}", d.iso_week().year(), d.iso_week().week()),
        ),
        Grain::Month => format!(
            "{:04}-{:02}",
            ordinal.div_euclid(12),
            ordinal.rem_euclid(12) + 1
        ),
        Grain::Quarter => format!(
            "{:04}-Q{}",
            ordinal.div_euclid(4),
            ordinal.rem_euclid(4) + 1
        ),
        Grain::Year => format!("{ordinal:04}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_round_trip() {
        let june = parse("2026-06", Grain::Month).unwrap();
        assert_eq!(format(june, Grain::Month), "2026-06");
        assert_eq!(format(first_day(june), Grain::Day), "2026-06-01");
        assert_eq!(format(last_day(june), Grain::Day), "2026-06-30");
        let feb = parse("2028-02", Grain::Month).unwrap();
        assert_eq!(format(last_day(feb), Grain::Day), "2028-02-29");
        assert_eq!(
            month_of_day(parse("2026-12-31", Grain::Day).unwrap()),
            parse("2026-12", Grain::Month).unwrap()
        );
        assert_eq!(parse("2026-13", Grain::Month), None);
    }

    #[test]
    fn weeks_quarters_and_years() {
        // 2026-06-15 is a Monday in ISO week 25.
        let d = parse("2026-06-15", Grain::Day).unwrap();
        let w = of_day(d, Grain::Week);
        assert_eq!(format(w, Grain::Week), "2026-W25");
        assert_eq!(
            format(first_day_of(w, Grain::Week), Grain::Day),
            "2026-06-15"
        );
        assert_eq!(
            format(last_day_of(w, Grain::Week), Grain::Day),
            "2026-06-21"
        );
        assert_eq!(parse("2026-W25", Grain::Week), Some(w));
        // The week holding new year 2027 is ISO week 53 of 2026.
        assert_eq!(
            format(
                of_day(parse("2027-01-01", Grain::Day).unwrap(), Grain::Week),
                Grain::Week
            ),
            "2026-W53"
        );
        let q = of_day(d, Grain::Quarter);
        assert_eq!(format(q, Grain::Quarter), "2026-Q2");
        assert_eq!(
            format(first_day_of(q, Grain::Quarter), Grain::Day),
            "2026-04-01"
        );
        assert_eq!(
            format(last_day_of(q, Grain::Quarter), Grain::Day),
            "2026-06-30"
        );
        assert_eq!(
            parse("2026-Q3", Grain::Month),
            parse("2026-07", Grain::Month)
        );
        let y = of_day(d, Grain::Year);
        assert_eq!(format(y, Grain::Year), "2026");
        assert_eq!(
            format(last_day_of(y, Grain::Year), Grain::Day),
            "2026-12-31"
        );
        assert_eq!(parse("2026-Q5", Grain::Quarter), None);
        assert!(is_month("2026-Q2") && is_month("2026") && !is_month("2026-06-15"));
    }
}
