//! Partition ordinals: a day is its day number, a month its month number,
//! so partition ranges are integer intervals and grain changes are
//! arithmetic. Unbounded ends use `i64::MIN` and `i64::MAX`.

use chrono::{Datelike, NaiveDate};

use crate::semantic::hir::Grain;

pub const UNBOUNDED_LOW: i64 = i64::MIN;
pub const UNBOUNDED_HIGH: i64 = i64::MAX;

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

/// The month containing a day.
pub fn month_of_day(day_ordinal: i64) -> i64 {
    match date(day_ordinal) {
        Some(d) => month(d.year(), d.month()),
        None if day_ordinal < 0 => UNBOUNDED_LOW,
        None => UNBOUNDED_HIGH,
    }
}

/// First day of a month.
pub fn first_day(month_ordinal: i64) -> i64 {
    let (y, m) = (
        month_ordinal.div_euclid(12),
        month_ordinal.rem_euclid(12) as u32 + 1,
    );
    i32::try_from(y)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, m, 1))
        .map_or(
            if month_ordinal < 0 {
                UNBOUNDED_LOW
            } else {
                UNBOUNDED_HIGH
            },
            day,
        )
}

/// Last day of a month.
pub fn last_day(month_ordinal: i64) -> i64 {
    match first_day(month_ordinal.saturating_add(1)) {
        UNBOUNDED_LOW => UNBOUNDED_LOW,
        UNBOUNDED_HIGH => UNBOUNDED_HIGH,
        d => d - 1,
    }
}

/// Parses a partition value at a grain: `2026-06-15` for days, `2026-06` for
/// months (a day given for a monthly grain means its month).
pub fn parse(text: &str, grain: Grain) -> Option<i64> {
    let t = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(match grain {
            Grain::Day => day(d),
            Grain::Month => month(d.year(), d.month()),
        });
    }
    let (y, m) = t.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    if y.to_string().len() != 4 || !(1..=12).contains(&m) || m.to_string().len() > 2 {
        return None;
    }
    Some(match grain {
        Grain::Month => month(y, m),
        // A month given for a daily grain: its first day (ranges use
        // `end_of` for the upper bound).
        Grain::Day => first_day(month(y, m)),
    })
}

/// Whether `text` names a whole month (`2026-06`), so as an upper bound it
/// means the month's last day on a daily grain.
pub fn is_month(text: &str) -> bool {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_err()
}

pub fn format(ordinal: i64, grain: Grain) -> String {
    match grain {
        Grain::Day => {
            date(ordinal).map_or_else(|| "?".into(), |d| d.format("%Y-%m-%d").to_string())
        }
        Grain::Month => format!(
            "{:04}-{:02}",
            ordinal.div_euclid(12),
            ordinal.rem_euclid(12) + 1
        ),
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
}
