//! Civil dates from day numbers and the text forms of src/sql/types.rs,
//! written without the host's time zone or locale. Times are seconds since
//! 1970-01-01 00:00:00 UTC.

use std::fmt::Write;

pub const DAY: i64 = 86_400;
pub const HOUR: i64 = 3_600;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number: `(year, month, day)`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-06-15 08:30:00`.
pub fn write_timestamp(out: &mut String, secs: i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    let s = secs.rem_euclid(DAY);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / HOUR,
        s % HOUR / 60,
        s % 60
    );
}

/// `2026-06-15`.
pub fn write_date(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
}

/// `2026-06`.
pub fn write_month(out: &mut String, day: i64) {
    let (y, m, _) = civil_from_days(day);
    let _ = write!(out, "{y:04}-{m:02}");
}

/// `2026-Q3`.
pub fn write_quarter(out: &mut String, day: i64) {
    let (y, m, _) = civil_from_days(day);
    let _ = write!(out, "{y:04}-Q{}", (m - 1) / 3 + 1);
}

/// `2026`.
pub fn write_year(out: &mut String, day: i64) {
    let (y, _, _) = civil_from_days(day);
    let _ = write!(out, "{y:04}");
}

/// `2026-W24`, the ISO week of the day.
pub fn write_week(out: &mut String, day: i64) {
    // 1970-01-01 was a Thursday; ISO weekday 1 is Monday.
    let weekday = (day + 3).rem_euclid(7) + 1;
    let thursday = day - weekday + 4;
    let (y, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(y, 1, 1)) / 7 + 1;
    let _ = write!(out, "{y:04}-W{week:02}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000, -1, 0, 1, 20_000, 20_605, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2026, 6, 1), 20_605);
    }

    #[test]
    fn text_forms() {
        let mut s = String::new();
        write_timestamp(
            &mut s,
            days_from_civil(2026, 6, 15) * DAY + 8 * HOUR + 30 * 60,
        );
        assert_eq!(s, "2026-06-15 08:30:00");
        s.clear();
        write_week(&mut s, days_from_civil(2026, 1, 1));
        assert_eq!(s, "2026-W01");
        s.clear();
        write_week(&mut s, days_from_civil(2027, 1, 1));
        assert_eq!(s, "2026-W53");
        s.clear();
        write_quarter(&mut s, days_from_civil(2026, 7, 1));
        assert_eq!(s, "2026-Q3");
    }
}
