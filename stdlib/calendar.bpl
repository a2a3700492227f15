// Calendars: the date arithmetic that partition boundaries and closed
// periods are written in. All of it is pure: no time zone of the host, no clock.

/// The calendar month containing a date (or the month itself).
function month(d: T) -> month
/// The first day of a month.
function month_start(m: month) -> date
/// The last day of a month (or of a date's month).
function month_end(m: T) -> date
/// Days in a month: 28 to 31.
function days_in_month(m: month) -> int
/// The Monday of a date's ISO week.
function week_start(d: date) -> date
/// The quarter of a date, 1 to 4.
function quarter(d: date) -> int
/// The year of a date.
function year(d: date) -> int
