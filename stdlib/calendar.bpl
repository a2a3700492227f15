// Calendars: the date arithmetic that partition boundaries and closed
// periods are written in. All of it is pure: no time zone of the host, no clock.

/// The calendar month containing a date (or the month itself). In a
/// boundary, `month(p)` reads `p` at month grain: `business_date in month(p)`
/// is every day of the month.
function month(d: T) -> month
/// The ISO week (Monday to Sunday) containing a date.
function week(d: T) -> week
/// The calendar quarter containing a date or month.
function quarter(d: T) -> quarter
/// The calendar year containing a date, month or quarter.
function year(d: T) -> year
/// The first day of a month.
function month_start(m: month) -> date
/// The last day of a month (or of a date's month).
function month_end(m: T) -> date
/// Days in a month: 28 to 31.
function days_in_month(m: month) -> int
/// The Monday of a date's ISO week.
function week_start(d: date) -> date
/// The Sunday of a week (or of a date's week).
function week_end(w: T) -> date
/// The last day of a quarter (or of a date's or month's quarter).
function quarter_end(q: T) -> date
/// The last day of a year (or of a date's year).
function year_end(y: T) -> date
