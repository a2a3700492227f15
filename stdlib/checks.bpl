// Reusable quality checks. Use them in `quality` blocks like functions:
//   require not_null(ev.case_id) else quarantine

/// The value is present.
check not_null(x: any?) = x is not null

/// The value lies in `[low, high]`.
check between(x: T, low: T, high: T) = x >= low and x <= high

/// The value is one of the listed ones.
check accepted_values(x: T, values: T...) = x in values

/// No two rows share the value (a partition-level expectation).
check unique(x: any) = count_distinct(x) == row_count()

/// The string is not empty: an empty string is often a missing value in disguise.
check not_empty(x: string) = x != ""
