//! The Spark SQL dialect. Dates, months and timestamps are stored as the
//! same sortable text SQLite stores (`2026-06-15`, `2026-06`,
//! `2026-06-15 08:30:00` in UTC), so every comparison, partition id and
//! checksum is the same on every engine; calendar arithmetic converts to
//! `date`/`timestamp` and back (the session's time zone is UTC). Spark
//! hosts no function bplc could create without shipping a jar, so what
//! PostgreSQL's `_bpl_*` functions do is written inline here.
//!
//! Statements are written in standard SQL, as the shared code writes them
//! (`"column"`, `'it''s'`); the session brings them to Spark's lexical
//! form (see `client::inline`). The session runs with ANSI mode off, as
//! SQLite computes: a failed conversion or a division by zero is NULL.

use crate::plan::Column;
use crate::project::SparkCache;
use crate::semantic::hir::DurationUnit;
use crate::semantic::{Dec, T};
use crate::sql::dialect::Dialect;
use crate::sql::types::{ident, power_of_ten, string};

/// The Spark SQL dialect, with where it caches a batch's counting points.
pub struct Spark {
    pub cache: SparkCache,
}

/// The Spark dialect with its counting points on disk (bpl.toml's
/// default), for lowering.
pub static SPARK: Spark = Spark {
    cache: SparkCache::DiskOnly,
};

/// The Spark column type for a language type.
pub fn spark_type(t: &T) -> &'static str {
    match t {
        T::Bool => "BOOLEAN",
        T::Int => "BIGINT",
        // A decimal is its integer scaled by 10^scale, as on SQLite (see
        // `sql::types`).
        T::Decimal(_) | T::DecimalLit(_) => "BIGINT",
        T::Float | T::Duration => "DOUBLE",
        _ => "STRING",
    }
}

/// The first day a date, month or timestamp text names, as a `date`.
fn first_day(x: &str) -> String {
    format!(
        "to_date(CASE WHEN length({x}) = 7 THEN concat({x}, '-01') ELSE substr({x}, 1, 10) END)"
    )
}

fn day_text(x: &str) -> String {
    format!("date_format({x}, 'yyyy-MM-dd')")
}

fn timestamp_text(x: &str) -> String {
    format!("date_format({x}, 'yyyy-MM-dd HH:mm:ss')")
}

const INT_TYPES: &str = "('bigint', 'int', 'smallint', 'tinyint')";
const NUMBER_TYPES: &str = "('bigint', 'int', 'smallint', 'tinyint', 'double', 'float')";

/// A source's value of type `t` from its text `s`, NULL when the text is
/// not one: the slow path of the typed input boundary (SQLite's `bpl_as`).
fn from_text(t: &T, s: &str) -> String {
    match t {
        T::Int => format!(
            "CASE WHEN {s} RLIKE '^[-+]?[0-9]+$' THEN CAST({s} AS BIGINT) \
             WHEN {s} RLIKE '^[-+]?[0-9]+\\.0*$' AND abs(CAST({s} AS DOUBLE)) < 9.0e15 \
             THEN CAST(CAST({s} AS DOUBLE) AS BIGINT) END"
        ),
        T::Float | T::Duration => format!(
            "CASE WHEN NOT isnan(CAST({s} AS DOUBLE)) AND abs(CAST({s} AS DOUBLE)) < double('Infinity') \
             THEN CAST({s} AS DOUBLE) END"
        ),
        T::Bool => format!(
            "CASE {s} WHEN 'true' THEN true WHEN 'TRUE' THEN true WHEN '1' THEN true \
             WHEN 'false' THEN false WHEN 'FALSE' THEN false WHEN '0' THEN false END"
        ),
        T::Date => format!(
            "CASE WHEN {s} RLIKE '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}$' THEN {} END",
            day_text(&format!("CAST({s} AS DATE)"))
        ),
        T::Timestamp => format!(
            "CASE WHEN {s} RLIKE '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(Z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)?$' \
             THEN {} END",
            timestamp_text(&format!("CAST({s} AS TIMESTAMP)"))
        ),
        T::Month => format!("CASE WHEN {s} RLIKE '^[0-9]{{4}}-(0[1-9]|1[0-2])$' THEN {s} END"),
        _ => s.to_string(),
    }
}

/// The `from_text` kind of a type and the SQL test for a value of column
/// `x` already in the stored shape (`None`: every value is).
fn fast(t: &T, x: &str) -> Option<String> {
    let of = |types: &str| format!("typeof({x}) IN {types}");
    match t {
        T::Int => Some(of(INT_TYPES)),
        T::Float | T::Duration => Some(of(NUMBER_TYPES)),
        T::Bool => Some(of("('boolean')")),
        T::Date => Some(format!(
            "CAST({x} AS STRING) RLIKE '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"
        )),
        T::Timestamp => Some(format!(
            "CAST({x} AS STRING) RLIKE '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$'"
        )),
        T::Month => Some(format!("length(CAST({x} AS STRING)) = 7")),
        _ => None,
    }
}

/// A decimal's value written out in digits: a float (a loaded table keeps
/// amounts as floats) by its shortest exact digits, never in the
/// scientific form Spark writes large floats in; anything else trimmed,
/// and its fraction's trailing zeros dropped (`12.300` is `12.3`, as on
/// SQLite, and a wider `DECIMAL` column's padding is no extra digit).
fn decimal_text(x: &str) -> String {
    format!(
        "CASE WHEN typeof({x}) IN ('double', 'float') \
         THEN regexp_replace(regexp_replace(CAST(CAST({x} AS DECIMAL(38, 18)) AS STRING), '0+$', ''), '\\.$', '') \
         ELSE regexp_replace(regexp_replace(trim(CAST({x} AS STRING)), '\\.0*$', ''), '(\\.[0-9]*[1-9])0+$', '$1') END"
    )
}

/// Whether `x` is written as a decimal of `d`: at most its whole digits
/// before the point and its scale after it. Nothing is rounded: a value
/// with more digits is a bad row, as on SQLite (Spark's own decimal cast
/// would round it silently).
fn decimal_digits(x: &str, d: &Dec) -> String {
    let whole = d.precision.saturating_sub(d.scale).max(1);
    format!(
        "({}) RLIKE '^[+-]?[0-9]{{1,{whole}}}(\\.[0-9]{{0,{}}})?$'",
        decimal_text(x),
        d.scale
    )
}

/// A decimal column's value as its integer scaled by 10^scale, exact for
/// a value [`decimal_digits`] accepts.
fn scaled(x: &str, d: &Dec) -> String {
    format!(
        "CAST(CAST(({}) AS DECIMAL(38, {s})) * {} AS BIGINT)",
        decimal_text(x),
        power_of_ten(d.scale),
        s = d.scale
    )
}

/// Whether a non-null value of column `c` (as `x`) is one of its type.
fn fits(c: &Column, x: &str) -> String {
    match &c.ty {
        T::Decimal(d) | T::DecimalLit(d) => decimal_digits(x, d),
        T::Enum(v) => enum_test(x, v),
        t => match fast(t, x) {
            Some(f) => format!(
                "({f} OR ({}) IS NOT NULL)",
                from_text(t, &format!("trim(CAST({x} AS STRING))"))
            ),
            None => "true".into(),
        },
    }
}

fn enum_test(x: &str, values: &[String]) -> String {
    format!(
        "CAST({x} AS STRING) IN ({})",
        values
            .iter()
            .map(|s| string(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// An integer literal the shared lowering passes (a scale shift), as `u8`.
fn shift(arg: &str) -> u8 {
    arg.trim().parse().unwrap_or(0)
}

impl Dialect for Spark {
    fn name(&self) -> &'static str {
        "Spark"
    }

    fn column_type(&self, t: &T) -> String {
        spark_type(t).to_string()
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value {
            "TRUE"
        } else {
            "FALSE"
        }
    }

    /// A temporary view of the session: the engine fills the batch and
    /// window tables as views over literal rows.
    fn temp_table(&self, name: &str) -> String {
        name.to_string()
    }

    /// A cached view needs no index.
    fn temp_index(&self, _index: &str, _table: &str, _columns: &str) -> String {
        "SELECT 1".into()
    }

    fn same(&self, a: &str, b: &str) -> String {
        format!("({a} <=> {b})")
    }

    fn join_same(&self, a: &str, b: &str) -> String {
        format!("({a} <=> {b})")
    }

    fn ordered_join(&self, table: &str, on: &str) -> String {
        match on {
            "" => format!(" CROSS JOIN {table}"),
            on => format!(" JOIN {table} ON {on}"),
        }
    }

    fn flag(&self, condition: &str) -> String {
        format!("CASE WHEN {condition} THEN 1 ELSE 0 END")
    }

    fn differs(&self, a: &str, b: &str) -> String {
        format!("(NOT ({a} <=> {b}))")
    }

    /// Spark plans the statement whole; materialized staging passes each
    /// counting point's rows through a cached view instead.
    fn unflattened(&self, select: &str) -> String {
        select.to_string()
    }

    /// When the file holding a row was written: a source table is appended
    /// to by adding files, so rows written after the lock are in newer
    /// files.
    fn row_order(&self) -> &'static str {
        "_metadata.file_modification_time"
    }

    /// A cached view keeps no order of its own: its rows are read back in
    /// the order of everything read (the partition, the problems, the
    /// row), so the first bad row reported is the same whatever order
    /// Spark wrote them in.
    fn point_order(&self) -> &'static str {
        "ALL"
    }

    fn total(&self, x: &str) -> String {
        format!("coalesce(CAST(sum({x}) AS DOUBLE), 0.0)")
    }

    fn create_view(&self, name: &str, select: &str) -> String {
        format!("CREATE VIEW IF NOT EXISTS {name} AS {select}")
    }

    /// Nulls kept as JSON nulls, as SQLite's and PostgreSQL's objects keep them.
    fn json_object(&self, args: &str) -> String {
        format!("to_json(named_struct({args}), map('ignoreNullFields', 'false'))")
    }

    fn checksum(&self, columns: &[String]) -> String {
        crate::sql::checksum::spark(columns)
    }

    fn shift(&self, x: &str, ty: &T, n: i64, unit: DurationUnit) -> String {
        let (months, days, seconds) = match unit {
            DurationUnit::Seconds => (0, 0, n),
            DurationUnit::Days => (0, n, 0),
            DurationUnit::Months => (n, 0, 0),
        };
        match ty {
            T::Timestamp => timestamp_text(&format!(
                "(CAST({x} AS TIMESTAMP) + make_interval(0, {months}, 0, {days}, 0, 0, {seconds}))"
            )),
            T::Month => {
                format!("date_format(add_months(to_date(concat({x}, '-01')), {months}), 'yyyy-MM')")
            }
            _ if seconds != 0 => day_text(&format!(
                "(CAST({x} AS TIMESTAMP) + make_interval(0, 0, 0, 0, 0, 0, {seconds}))"
            )),
            _ => day_text(&format!(
                "date_add(add_months(to_date({x}), {months}), {days})"
            )),
        }
    }

    fn days_between(&self, from: &str, to: &str) -> String {
        format!("CAST(datediff(to_date({to}), to_date({from})) AS BIGINT)")
    }

    fn seconds_between(&self, from: &str, to: &str) -> String {
        format!(
            "CAST(unix_timestamp(CAST({to} AS TIMESTAMP)) - unix_timestamp(CAST({from} AS TIMESTAMP)) AS DOUBLE)"
        )
    }

    fn calendar(&self, grain: &str, x: &str) -> String {
        let d = first_day(x);
        match grain {
            "month" => format!("substr({x}, 1, 7)"),
            "year" => format!("substr({x}, 1, 4)"),
            // The ISO week's year is the year of its Thursday.
            "week" => format!(
                "concat(CAST(year(date_add({d}, 3 - ((dayofweek({d}) + 5) % 7))) AS STRING), '-W', \
                 lpad(CAST(weekofyear({d}) AS STRING), 2, '0'))"
            ),
            _ => format!("concat(CAST(year({d}) AS STRING), '-Q', CAST(quarter({d}) AS STRING))"),
        }
    }

    fn month_start(&self, x: &str) -> String {
        format!("concat(substr({x}, 1, 7), '-01')")
    }

    /// Half away from zero, as SQLite rounds.
    fn round(&self, x: &str, digits: &str) -> String {
        format!("round(CAST({x} AS DOUBLE), {})", shift(digits))
    }

    fn to_float(&self, x: &str) -> String {
        format!("CAST({x} AS DOUBLE)")
    }

    fn typed_value(&self, q: &str, c: &Column) -> String {
        let x = format!("{q}.{}", ident(&c.name));
        match &c.ty {
            T::Decimal(d) | T::DecimalLit(d) => format!(
                "CASE WHEN {} THEN {} END",
                decimal_digits(&x, d),
                scaled(&x, d)
            ),
            T::Enum(_) => x,
            T::String => format!("CAST({x} AS STRING)"),
            t => match fast(t, &x) {
                Some(f) => format!(
                    "CASE WHEN {f} THEN CAST({x} AS {}) ELSE {} END",
                    spark_type(t),
                    from_text(t, &format!("trim(CAST({x} AS STRING))"))
                ),
                None => x,
            },
        }
    }

    /// A reference's decimal, scaled; one with more digits than its type
    /// keeps, or no number, stops the statement with the reason
    /// (`raise_error`), as on SQLite and PostgreSQL: a lookup value is
    /// never rounded.
    fn reference_value(&self, q: &str, c: &Column) -> String {
        let x = format!("{q}.{}", ident(&c.name));
        match &c.ty {
            T::Decimal(d) | T::DecimalLit(d) => format!(
                "CASE WHEN {x} IS NULL THEN NULL WHEN {} THEN {} \
                 ELSE CAST(raise_error(concat({}, CAST({x} AS STRING), {})) AS BIGINT) END",
                decimal_digits(&x, d),
                scaled(&x, d),
                string(&format!("a reference's column `{}`: ", c.name)),
                string(&format!(
                    " is not a valid decimal({}, {}) (more digits than it keeps, or not a number)",
                    d.precision, d.scale
                )),
            ),
            _ => x,
        }
    }

    fn row_problems(
        &self,
        q: &str,
        columns: &[Column],
        required: &dyn Fn(&Column) -> bool,
    ) -> String {
        if columns.is_empty() {
            return "CAST(NULL AS STRING)".into();
        }
        let each: Vec<String> = columns
            .iter()
            .map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                let null = if required(c) {
                    string(&format!(
                        "{}: null in a column that may not be null",
                        c.name
                    ))
                } else {
                    "NULL".into()
                };
                // A text quoted as PostgreSQL's quote_literal quotes it.
                let shown = format!(
                    "CASE WHEN typeof({x}) = 'string' \
                     THEN concat('''', replace(CAST({x} AS STRING), '''', ''''''), '''') \
                     ELSE CAST({x} AS STRING) END"
                );
                format!(
                    "CASE WHEN {x} IS NULL THEN {null} WHEN NOT {} THEN concat({}, {shown}, {}) END",
                    fits(c, &x),
                    string(&format!("{}: ", c.name)),
                    string(&format!(" is not a valid {}", c.ty)),
                )
            })
            .collect();
        format!("nullif(concat_ws('; ', {}), '')", each.join(", "))
    }

    fn misfit(&self, q: &str, columns: &[Column], required: &dyn Fn(&Column) -> bool) -> String {
        let tests: Vec<String> = columns
            .iter()
            .filter_map(|c| {
                let x = format!("{q}.{}", ident(&c.name));
                let shape = match &c.ty {
                    T::Enum(v) => enum_test(&x, v),
                    T::Decimal(d) | T::DecimalLit(d) => decimal_digits(&x, d),
                    t => match fast(t, &x) {
                        Some(f) => f,
                        None => return required(c).then(|| format!("{x} IS NULL")),
                    },
                };
                Some(if required(c) {
                    format!("NOT coalesce({shape}, false)")
                } else {
                    format!("({x} IS NOT NULL AND NOT ({shape}))")
                })
            })
            .collect();
        if tests.is_empty() {
            "false".into()
        } else {
            tests.join(" OR ")
        }
    }

    /// A counting point's rows, computed once and kept by the session:
    /// a cached view (Spark has no temporary tables), dropped (and so
    /// uncached) at the end of its batch.
    ///
    /// Cached on disk only unless bpl.toml's `cache_storage_level` says
    /// otherwise (`SparkCache`). Spark's default level, `MEMORY_AND_DISK`,
    /// first builds each block in the storage memory of the JVM that runs
    /// the task (on a local server, the driver, which also holds every
    /// Spark Connect session) and spills only what no longer fits, so a
    /// point as large as the staged rows (all of a batch's partitions at
    /// once) competes with the job's execution memory and ran a 2 GB
    /// driver out of heap at ten million rows. `DISK_ONLY` streams each
    /// block straight to the block manager's local files: the heap holds
    /// one batch of rows a task, whatever the point's size, and the
    /// point is read back a few times from the page cache.
    fn temp_table_as(&self, name: &str, select: &str) -> String {
        format!(
            "CACHE TABLE {name} OPTIONS ('storageLevel' '{}') AS {select}",
            self.cache.storage_level()
        )
    }

    fn function(&self, name: &str, args: &[String]) -> String {
        let a = |i: usize| args.get(i).cloned().unwrap_or_else(|| "NULL".into());
        let d = first_day(&a(0));
        match name {
            // The zone is a literal the checker knows.
            "to_date" => format!(
                "CASE WHEN {ts} RLIKE '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[ T][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$' \
                 THEN {} END",
                day_text(&format!(
                    "from_utc_timestamp(CAST(replace({}, 'T', ' ') AS TIMESTAMP), {})",
                    a(0),
                    a(1)
                )),
                ts = a(0)
            ),
            // Exact, interpolating between the two nearest values, as
            // PostgreSQL's percentile_cont.
            "percentile" => format!("percentile(CAST({} AS DOUBLE), {})", a(0), a(1)),
            "lower" | "upper" => format!("{name}({})", a(0)),
            "month_end" => day_text(&format!("last_day({d})")),
            "week_start" => day_text(&format!("date_trunc('week', {d})")),
            "week_end" => day_text(&format!("date_add(to_date(date_trunc('week', {d})), 6)")),
            "quarter_end" => day_text(&format!(
                "last_day(add_months(to_date(date_trunc('quarter', {d})), 2))"
            )),
            "year_end" => format!("concat(date_format({d}, 'yyyy'), '-12-31')"),
            "days_in_month" => format!("CAST(day(last_day({d})) AS BIGINT)"),
            // The same definition as every engine's (`checksum::stable_id`).
            "stable_id" => crate::sql::checksum::spark_stable_id(args),
            // Decimals are integers scaled by 10^scale; Spark's `round` of
            // a decimal is half away from zero, as SQLite's `bpl_dec_*`.
            "dec_div" => format!(
                "CAST(round(CAST({} AS DECIMAL(38, 0)) * {} / nullif(CAST({} AS DECIMAL(38, 0)), 0), 0) AS BIGINT)",
                a(0),
                power_of_ten(shift(&a(2))),
                a(1)
            ),
            "dec_round" => format!(
                "CAST(round(CAST({} AS DECIMAL(38, 0)) / {}, 0) AS BIGINT)",
                a(0),
                power_of_ten(shift(&a(1)))
            ),
            "dec_of_float" => format!(
                "CAST(round(CAST(CAST({} AS DOUBLE) AS DECIMAL(38, 18)) * {}, 0) AS BIGINT)",
                a(0),
                power_of_ten(shift(&a(1)))
            ),
            "bucket" => bucket(&a(0), &a(1)),
            other => format!("{other}({})", args.join(", ")),
        }
    }
}

/// A value's typed bytes as SQLite's `bpl_bucket` hashes them, as hex: a tag byte, an integer or a float's bits or a text's
/// length as 8 little-endian bytes, then a text's UTF-8 bytes.
fn typed_hex(x: &str) -> String {
    // 8 little-endian bytes of a bigint: its 16 hex digits, pairs reversed.
    let le8 = |v: &str| {
        let h = format!("lpad(hex(CAST({v} AS BIGINT)), 16, '0')");
        (0..8)
            .rev()
            .map(|k| format!("substr({h}, {}, 2)", 2 * k + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "CASE WHEN {x} IS NULL THEN '00' \
         WHEN typeof({x}) IN {INT_TYPES} OR typeof({x}) = 'boolean' THEN concat('01', {}) \
         WHEN typeof({x}) IN ('double', 'float') THEN concat('02', {}) \
         ELSE concat('03', {}, hex(encode(CAST({x} AS STRING), 'UTF-8'))) END",
        le8(x),
        le8(&crate::sql::checksum::spark_double_bits(&format!(
            "CAST({x} AS DOUBLE)"
        ))),
        le8(&format!("octet_length(CAST({x} AS STRING))"))
    )
}

/// FNV-1a (64 bits) over bytes given as hex, as a `bigint`: the bytes
/// walked by `aggregate`, the product wrapping as the hash's arithmetic
/// modulo 2^64 does (ANSI mode is off).
fn fnv(hex: &str) -> String {
    format!(
        "aggregate(sequence(0, length({hex}) DIV 2 - 1), CAST(-3750763034362895579 AS BIGINT), \
         (h, i) -> (h ^ CAST(conv(substr({hex}, 2 * i + 1, 2), 16, 10) AS BIGINT)) * CAST(1099511628211 AS BIGINT))"
    )
}

/// `bucket` of hash partitioning: the hash of the value, read unsigned,
/// modulo `n`, as on SQLite, so a row lands in the same bucket on every
/// engine.
fn bucket(x: &str, n: &str) -> String {
    format!(
        "CASE WHEN CAST({n} AS BIGINT) > 0 THEN CAST(pmod(CAST(conv(hex({}), 16, 10) AS DECIMAL(20, 0)), \
         CAST({n} AS DECIMAL(20, 0))) AS BIGINT) END",
        fnv(&typed_hex(x))
    )
}
