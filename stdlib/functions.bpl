// The prelude: built-in functions, written as signatures. A lone capital
// letter is a type variable; `numeric` is any of int, float and decimal.
// Functions that read the wall clock or draw random numbers are deliberately
// absent: a pipeline's output depends on its inputs and parameters only.

// ---------------------------------------------------------------- scalars

/// The first argument that is not null.
function coalesce(values: T?...) -> T
/// The calendar date of a timestamp in the given IANA time zone.
function to_date(ts: timestamp, time_zone: string) -> date
/// Hours from `start` to `end`, fractional.
function hours_between(start: timestamp, end: timestamp) -> float
/// Days from `start` to `end`.
function days_between(start: date, end: date) -> int
/// Absolute value.
function abs(x: T) -> T
/// Rounds to `digits` decimal places, half away from zero.
function round(x: T, digits: int) -> T
/// A number as a float: approximate, for ratios and statistics.
function to_float(x: numeric) -> float
/// A number as an exact decimal with `scale` digits after the point,
/// rounded half away from zero: a `decimal(18, scale)`, `scale` written
/// out as a number (the type below is a placeholder the checker replaces).
function to_decimal(x: numeric, scale: int) -> decimal(18, 9)
/// Lower-cases a string (Unicode simple case folding, locale-independent).
function lower(s: string) -> string
/// Upper-cases a string (Unicode simple case folding, locale-independent).
function upper(s: string) -> string
/// Joins strings.
function concat(parts: string...) -> string
/// A stable 64-bit hash of the arguments, hex-encoded; the same inputs give
/// the same id on every run and every machine.
function stable_id(parts: any...) -> string

// ------------------------------------------------------------- aggregates

/// Rows in the group.
aggregate function row_count() -> int
/// Rows where the condition holds; a row whose condition is null (unknown)
/// is not counted.
aggregate function count(condition: bool?) -> int
/// Distinct non-null values.
aggregate function count_distinct(x: any?) -> int
/// The sum of the non-null values; 0 when there are none.
aggregate function sum(x: T?) -> T
/// The mean; of a decimal, an exact decimal with the same scale and at
/// least 6 digits after the point, rounded half away from zero.
aggregate function avg(x: numeric?) -> float
aggregate function min(x: T?) -> T
aggregate function max(x: T?) -> T
/// The `q` quantile (0 to 1) by linear interpolation.
aggregate function percentile(x: numeric?, q: float) -> float
/// Share of rows where `x` is null, from 0 to 1.
aggregate function null_rate(x: any?) -> float

// ---------------------------------------------------------------- windows

window function row_number() -> int
window function lag(x: T?, offset: int) -> T?
window function lead(x: T?, offset: int) -> T?

// ---------------------------------------- reconciliation and input counters

/// Rows an input contributed to this partition.
aggregate function rows(input: any) -> int
/// Distinct input partitions present, for completeness checks.
aggregate function partition_count(input: any) -> int
/// Time from the newest value of `ts` to the run's as-of time.
aggregate function freshness(ts: timestamp) -> duration
/// Relative change of `sum(metric)` against the previous partition's
/// published rows; no value without a previous partition.
aggregate function drift(metric: numeric) -> float
/// Rows of an input that found no match in a join.
aggregate function unmatched(input: any) -> int
