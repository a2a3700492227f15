//! When a schedule last fired, and which run date that firing is for.
//!
//! A schedule fires at a local time in its zone. The firing at or before
//! `--as-of` is the one `status` and `run-due` judge by. Its run date is
//! the last partition that had ended by then: a daily run at 01:00 on
//! 5 July is for 4 July, a monthly run on day 3 for the month before. An
//! hourly schedule keeps the current partition fresh: its run date is the
//! partition holding the firing's local day. A local time that falls in a
//! daylight-saving gap fires at the first instant after the gap; one that
//! happens twice fires at the first (see W0102).

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::graph::calendar;
use crate::semantic::hir::{Grain, Schedule};
use crate::syntax::ast::Cadence;

/// A schedule's latest firing at or before some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// When it fired, UTC.
    pub at: DateTime<Utc>,
    /// The run date: a partition ordinal of the dataset's grain (a day
    /// ordinal for a dataset without a time key, unused there).
    pub run_date: i64,
    /// `at` plus the schedule's `sla`, when it declares one.
    pub deadline: Option<DateTime<Utc>>,
}

/// Why a schedule cannot be judged at an instant (E0350).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unevaluable(pub String);

/// The latest firing of `schedule` at or before `as_of`, in `zone` (the
/// schedule's own, else the project's). `grain` is the dataset's.
pub fn last_firing(
    schedule: &Schedule,
    zone: &str,
    grain: Option<Grain>,
    as_of: DateTime<Utc>,
) -> Result<Firing, Unevaluable> {
    let tz: Tz = zone
        .parse()
        .map_err(|_| Unevaluable(format!("`{zone}` is not a time zone")))?;
    let time = at_time(schedule.at.as_deref())?;
    let local = as_of.with_timezone(&tz).naive_local();
    let out_of_range = || Unevaluable(format!("no scheduled time precedes {as_of}"));
    // Candidates from the latest possible one backwards; the first at or
    // before `as_of` is the firing (a few steps at most).
    let mut candidate = first_candidate(schedule, local, time).ok_or_else(out_of_range)?;
    for _ in 0..64 {
        let at = instant(&tz, candidate).ok_or_else(out_of_range)?;
        if at <= as_of {
            // The partition holding the firing's local day, or the one
            // before it: the last that had ended.
            let holding =
                calendar::of_day(calendar::day(candidate.date()), grain.unwrap_or(Grain::Day));
            let run_date = match schedule.cadence {
                Cadence::Hourly => holding,
                _ => holding - 1,
            };
            let deadline = schedule
                .sla_secs
                .and_then(|s| i64::try_from(s).ok())
                .and_then(|s| at.checked_add_signed(Duration::seconds(s)));
            return Ok(Firing {
                at,
                run_date,
                deadline,
            });
        }
        candidate = previous(schedule, candidate).ok_or_else(out_of_range)?;
    }
    Err(out_of_range())
}

fn at_time(at: Option<&str>) -> Result<NaiveTime, Unevaluable> {
    let Some(at) = at else {
        return Ok(NaiveTime::MIN);
    };
    NaiveTime::parse_from_str(at, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(at, "%H:%M"))
        .map_err(|_| Unevaluable(format!("`{at}` is not a time of day")))
}

/// The scheduled local time in the period holding `local` (its hour, day,
/// week or month), which may still lie after `local`.
fn first_candidate(s: &Schedule, local: NaiveDateTime, time: NaiveTime) -> Option<NaiveDateTime> {
    let day = local.date();
    match s.cadence {
        Cadence::Hourly => {
            let t = NaiveTime::from_hms_opt(local.hour(), time.minute(), time.second())?;
            Some(day.and_time(t))
        }
        Cadence::Daily => Some(day.and_time(time)),
        Cadence::Weekly => {
            let want = weekday(s).unwrap_or(chrono::Weekday::Mon);
            let back = (7 + day.weekday().num_days_from_monday() as i64
                - want.num_days_from_monday() as i64)
                % 7;
            Some((day - Duration::days(back)).and_time(time))
        }
        Cadence::Monthly => Some(day_of_month(day.year(), day.month(), s)?.and_time(time)),
    }
}

/// The firing before `c`.
fn previous(s: &Schedule, c: NaiveDateTime) -> Option<NaiveDateTime> {
    match s.cadence {
        Cadence::Hourly => c.checked_sub_signed(Duration::hours(1)),
        Cadence::Daily => c.checked_sub_signed(Duration::days(1)),
        Cadence::Weekly => c.checked_sub_signed(Duration::days(7)),
        Cadence::Monthly => {
            let (y, m) = match c.month() {
                1 => (c.year() - 1, 12),
                m => (c.year(), m - 1),
            };
            Some(day_of_month(y, m, s)?.and_time(c.time()))
        }
    }
}

/// `on day N` in a month, the month's last day when it is shorter.
fn day_of_month(year: i32, month: u32, s: &Schedule) -> Option<NaiveDate> {
    let want = s.on_day.unwrap_or(1).max(1);
    (1..=want)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

fn weekday(s: &Schedule) -> Option<chrono::Weekday> {
    s.on_weekday.as_deref().and_then(|w| w.parse().ok())
}

/// A local time as an instant: the earlier of two in an overlap, the first
/// instant after a gap.
fn instant(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    for shift in 0..=4 {
        let t = local.checked_add_signed(Duration::minutes(30 * shift))?;
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            let at = at.with_timezone(&Utc);
            return Some(if shift == 0 {
                at
            } else {
                // The gap's end: the first valid instant.
                at - Duration::minutes(30 * shift) + gap_end_offset(tz, local, t)
            });
        }
    }
    None
}

/// How far past `local` the first valid local time after a gap is; the
/// instant returned for `shifted` is moved back to it.
fn gap_end_offset(tz: &Tz, local: NaiveDateTime, shifted: NaiveDateTime) -> Duration {
    let mut lo = local;
    let mut hi = shifted;
    // Bisect to the minute: a gap ends on a whole minute in every zone.
    while hi - lo > Duration::minutes(1) {
        let mid = lo + (hi - lo) / 2;
        if tz.from_local_datetime(&mid).earliest().is_some() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi - local
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cadence: Cadence, at: &str, sla: Option<u64>) -> Schedule {
        Schedule {
            cadence,
            at: Some(at.into()),
            time_zone: None,
            lookback: 0,
            sla_secs: sla,
            on_day: None,
            on_weekday: None,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_daily_run_is_for_the_day_before_it_fires() {
        let s = schedule(Cadence::Daily, "01:00", Some(7200));
        // 01:00 in Jakarta is 18:00 UTC the day before.
        let f = last_firing(
            &s,
            "Asia/Jakarta",
            Some(Grain::Day),
            utc("2026-07-04T19:00:00Z"),
        )
        .unwrap();
        assert_eq!(f.at, utc("2026-07-04T18:00:00Z"));
        assert_eq!(calendar::format(f.run_date, Grain::Day), "2026-07-04");
        assert_eq!(f.deadline, Some(utc("2026-07-04T20:00:00Z")));
        // Just before it fires, the firing is the previous day's.
        let f = last_firing(
            &s,
            "Asia/Jakarta",
            Some(Grain::Day),
            utc("2026-07-04T17:59:59Z"),
        )
        .unwrap();
        assert_eq!(calendar::format(f.run_date, Grain::Day), "2026-07-03");
    }

    #[test]
    fn monthly_and_weekly_firings() {
        let mut s = schedule(Cadence::Monthly, "06:00", None);
        s.on_day = Some(31);
        let f = last_firing(&s, "UTC", Some(Grain::Month), utc("2026-07-15T00:00:00Z")).unwrap();
        // June has 30 days: on day 31 fires on its last, for May (June
        // has not ended yet).
        assert_eq!(f.at, utc("2026-06-30T06:00:00Z"));
        assert_eq!(calendar::format(f.run_date, Grain::Month), "2026-05");
        s.on_day = Some(3);
        let f = last_firing(&s, "UTC", Some(Grain::Month), utc("2026-07-15T00:00:00Z")).unwrap();
        assert_eq!(calendar::format(f.run_date, Grain::Month), "2026-06");
        let mut s = schedule(Cadence::Weekly, "05:00", None);
        s.on_weekday = Some("wednesday".into());
        let f = last_firing(&s, "UTC", Some(Grain::Day), utc("2026-07-06T00:00:00Z")).unwrap();
        assert_eq!(f.at, utc("2026-07-01T05:00:00Z"));
    }

    #[test]
    fn hourly_runs_keep_the_current_day_fresh() {
        let s = schedule(Cadence::Hourly, "00:15", None);
        let f = last_firing(&s, "UTC", Some(Grain::Day), utc("2026-07-04T10:05:00Z")).unwrap();
        assert_eq!(f.at, utc("2026-07-04T09:15:00Z"));
        assert_eq!(calendar::format(f.run_date, Grain::Day), "2026-07-04");
    }

    #[test]
    fn a_time_in_a_gap_fires_when_the_gap_ends() {
        // Europe/Amsterdam skips 02:00..03:00 on 2026-03-29.
        let s = schedule(Cadence::Daily, "02:30", None);
        let f = last_firing(&s, "Europe/Amsterdam", None, utc("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(f.at, utc("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn an_unknown_zone_cannot_be_evaluated() {
        let s = schedule(Cadence::Daily, "02:30", None);
        assert!(last_firing(&s, "Mars/Olympus", None, utc("2026-03-29T12:00:00Z")).is_err());
    }
}
