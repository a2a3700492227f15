//! Range staging: one statement computes every partition of a batch.
//!
//! A run over many partitions does not loop. The engine fills the batch
//! table `bpl_parts` (one row per partition: its id, key values and
//! version) and, for each dataset input, a window table `bpl_win_<alias>`
//! with the locked input partitions inside each output partition's window.
//! Every input row is tagged with the partition it feeds (`_bpl_no`, its
//! position in the batch: an integer is cheaper to join, sort and hand to
//! `bpl_tally` than the partition's id),
//! joins between inputs match on it, windows and `dedupe` are split by it,
//! and shaping groups by it, so the statement's cost is the sum of the
//! partitions' work: no statement reads an input partition outside the
//! windows of the batch, and none runs once per partition.
//!
//! Counting happens in the same scan. At fixed points of the row stage the
//! rows pass through the tally (`bpl_tally` on SQLite), a function the
//! engine provides, which counts them per partition (input, rule failures,
//! quarantined, duplicates, accepted), keeps quarantined records, and says
//! whether a row goes on. Each tally sits in a subquery the dialect keeps
//! the planner from flattening into a query with a `WHERE` or pushing
//! terms into (`LIMIT -1` on SQLite), so every row reaching that point is
//! counted exactly once, whatever else the planner rearranges.
//!
//! That is the dialect's [`Staging::Tally`]. A server engine cannot host a
//! stateful function, so with [`Staging::Materialized`] each counting point
//! is a connection-private table of the rows reaching it instead
//! ([`PointTable`]): whether a row goes on is a pure function of the
//! columns the tally would have been given (rule flags, row numbers,
//! problems), so the next point reads the table through a plain filter,
//! grouped statements count it ([`PointCount`]), and [`RangeStage::stage`]
//! fills the data table from the last point. Both give the same counts.
//!
//! Row rules run where their columns first exist, before the first
//! `dedupe` when they can: a quarantined row never takes part in
//! deduplication, so a duplicate group never loses its valid row to an
//! invalid copy.

mod inputs;
mod points;
mod rows;
mod shape;

use serde::Serialize;

use self::inputs::{input_sql, window_count};
use self::points::Points;
pub use self::points::{PointCount, PointTable};
use self::rows::Builder;
use self::shape::{reads_param, shape, Batch};
use crate::plan::{Boundary, JobPlan, Table};
use crate::semantic::hir::{BindPolicyKind, Expr, ExprKind, Step};
use crate::sql::dialect::{Dialect, Staging};
use crate::sql::expr::{partition_column, sql, Columns, Place, Unsupported};
use crate::sql::lower::{bind_sql, cte, data_table, table_of, RowRule};
use crate::sql::types::{ident, string};
use crate::syntax::ast::{DeclKind, RuleLevel};

const ROW: Place = Place {
    columns: Columns::Flat,
    ranges: false,
    range: true,
};
const PLAIN: Place = Place {
    columns: Columns::Plain,
    ranges: false,
    range: true,
};
const BOUNDARY: Place = Place {
    columns: Columns::Plain,
    ranges: true,
    range: true,
};
/// `p` as a bound parameter: a batch of one partition.
const PLAIN_SINGLE: Place = Place {
    columns: Columns::Plain,
    ranges: false,
    range: false,
};
const ROW_SINGLE: Place = Place {
    columns: Columns::Flat,
    ranges: false,
    range: false,
};

/// The batch table the engine fills before staging.
pub fn parts_table(d: &dyn Dialect) -> String {
    d.temp_table("bpl_parts")
}

/// `grouped` (rows whose one partition column is `_bpl_no`) with
/// `columns` of the batch table joined back after the grouping, then
/// `computed` (expressions over them, or nothing): what is one value per
/// partition is not sorted with each row.
fn rejoin_parts(grouped: &str, columns: &[String], computed: &str, d: &dyn Dialect) -> String {
    let mut select: Vec<String> = columns.iter().map(|c| format!("_bpl_pt.{c}")).collect();
    if !computed.is_empty() {
        select.push(computed.to_string());
    }
    format!(
        "SELECT _bpl_g.*, {} FROM ({grouped}) AS _bpl_g{}",
        select.join(", "),
        d.ordered_join(
            &format!("{} AS _bpl_pt", parts_table(d)),
            "_bpl_pt._bpl_no = _bpl_g._bpl_no"
        )
    )
}

/// What `bpl_tally`'s first argument asks.
pub mod tally {
    /// `bpl_tally(0, partition)`: a row of the input; always passes.
    pub const INPUT: i64 = 0;
    /// `bpl_tally(1, point, partition, flag..)`: the rules of one route
    /// point; passes unless a quarantine rule failed.
    pub const ROUTE: i64 = 1;
    /// `bpl_tally(2, partition, row_number)`: passes the first row of a
    /// dedupe group, counts the others as duplicates.
    pub const DEDUPE: i64 = 2;
    /// `bpl_tally(4, partition, problems)`: a row of the driving source's
    /// input at the typed input boundary; counted as input, and passes
    /// unless it has problems, which quarantine it.
    pub const BOUNDARY: i64 = 4;
    /// `bpl_tally(3, partition, unmatched..)`: an accepted row, and for
    /// each alias a gate's `unmatched()` reads, whether its join found no
    /// match; always passes.
    pub const ACCEPT: i64 = 3;
    /// `bpl_tally(5, partition, n)`: `n` accepted rows at once, from the
    /// `HAVING` of the `group by` they fall into; always passes.
    pub const ACCEPT_GROUP: i64 = 5;
    /// `bpl_tally(7, point, partition, problems, flag..)`: [`BOUNDARY`]
    /// and the [`ROUTE`] right after it in one call; a bad row is
    /// quarantined as at the boundary, a good one counted as input and
    /// routed.
    pub const CHECKED: i64 = 7;
    /// `bpl_tally(9, record)`: the record (a JSON object) of the row the
    /// call just before quarantined; a `CASE` makes it only when that call
    /// said no, so a record is built for quarantined rows alone. Fails.
    pub const RECORD: i64 = 9;
    /// `bpl_tally(6, partition, row_number)`: a dedupe that is the last
    /// row step: passes the first row of a group, counted accepted, and
    /// counts the others as duplicates. One fence instead of two.
    pub const DEDUPE_ACCEPT: i64 = 6;
    /// `bpl_tally(8, partition, n)`: a dedupe group of `n > 1` rows, of
    /// which one is kept: counts the other `n - 1` as duplicates; passes.
    /// From the `HAVING` of a dedupe written as a `group by` (see
    /// `Points::last_duplicates_grouped`).
    pub const DEDUPE_GROUP: i64 = 8;
}

/// How a job stages a batch of partitions.
#[derive(Debug, Clone, Serialize)]
pub struct RangeStage {
    /// Statements compute one partition at a time (`p` bound as a
    /// parameter): an aggregate without `group by` must give a row even
    /// for an empty partition, and a binding as of report close reads
    /// other reference rows in each partition.
    pub single: bool,
    /// Key names of the partition, each a `_bpl_p_<key>` column of the batch table.
    pub keys: Vec<String>,
    /// Dataset inputs read through a window table: `(alias, table)`.
    pub windows: Vec<(String, String)>,
    /// How the row stage counts (the dialect's choice).
    #[serde(skip)]
    pub staging: Staging,
    /// Stages every partition of the batch: counting as it goes with the
    /// tally, or, materialized, reading the last counting point's table.
    pub stage: String,
    /// Materialized staging: the counting points' tables, created (and
    /// counted) in this order before [`RangeStage::stage`] runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<PointTable>,
    /// Every row rule, with the flag column it is computed into.
    pub rules: Vec<RowRule>,
    /// The rules each route point evaluates, by index into `rules`.
    pub points: Vec<Vec<usize>>,
    /// `(alias, SELECT partition, count)`: rows of an input a gate counts.
    pub rows: Vec<(String, String)>,
    /// `(alias, SELECT partition, count)`: partitions a gate counts.
    pub partition_counts: Vec<(String, String)>,
    /// `(counter, SELECT partition, value)`: aggregates over accepted
    /// input rows that gates read (control totals).
    pub input_aggregates: Vec<(String, String)>,
    /// Each input aggregate's value over no rows (`SELECT`), for a
    /// partition with no accepted rows, which its grouped statement gives
    /// no row: `sum` is 0 there, `count` 0, `max` null.
    pub input_aggregates_empty: Vec<String>,
    /// Joined aliases whose unmatched accepted rows are counted, in the
    /// order of the accept tally's arguments.
    pub unmatched: Vec<String>,
    /// `(alias, SELECT partition, problems, record)`: the rows of a joined
    /// source that failed the typed input boundary. They take no part in
    /// the join; this records them.
    pub joined_bad: Vec<(String, String)>,
    /// `SELECT partition, count`: the input rows of each partition, when
    /// they are counted apart from staging (see [`Builder::input`]).
    pub input_count: Option<String>,
    /// The staging `INSERT` measures each partition's rows as it writes
    /// them (see [`Dialect::measures_staged_rows`]).
    #[serde(skip)]
    pub measured: bool,
    /// The accepted rows are the rows the staging `INSERT` writes, counted
    /// there: a last `dedupe` keeps them and shaping maps each to one
    /// output row.
    #[serde(skip)]
    pub accept_at_insert: bool,
}

/// The window table of a dataset input.
pub fn window_table(alias: &str, d: &dyn Dialect) -> String {
    d.temp_table(&ident(&format!("bpl_win_{alias}")))
}

/// The batch table's key columns as selected from it.
fn parts_columns(prefix: &str, keys: &[String]) -> String {
    std::iter::once("_bpl_no".to_string())
        .chain(partition_values(keys))
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The batch table's columns that are the partition's own values (`_bpl_p`
/// and one per key), without its number.
fn partition_values(keys: &[String]) -> Vec<String> {
    std::iter::once(partition_column(None))
        .chain(keys.iter().map(|k| partition_column(Some(k))))
        .collect()
}

/// Whether a batch must be computed one partition at a time.
fn needs_single(plan: &JobPlan) -> bool {
    plan.job
        .steps
        .iter()
        .any(|s| matches!(s, Step::Aggregate(_)))
        || plan
            .binds
            .iter()
            .any(|b| b.policy == BindPolicyKind::AsOfReportClose)
}

/// Lowers a job's staging for batches of partitions. `gates` are the gate
/// statements (to find which counters they read); `aggregates` the
/// aggregate calls lifted out of gates, in counter order (`agg0`, ...).
pub fn lower(
    plan: &JobPlan,
    rules: &[RowRule],
    gates: &[&str],
    aggregates: &[Expr],
    d: &dyn Dialect,
) -> Result<RangeStage, Unsupported> {
    let batch_table = parts_table(d);
    let single = needs_single(plan);
    let keys: Vec<String> = plan.partition.iter().map(|k| k.name.clone()).collect();
    let mut ctes = Vec::new();
    let mut windows = Vec::new();
    for i in &plan.inputs {
        ctes.push(format!(
            "{} AS ({})",
            cte(&i.table.alias),
            input_sql(i, &keys, d)?
        ));
        if i.table.kind == DeclKind::Dataset {
            windows.push((i.table.alias.clone(), window_table(&i.table.alias, d)));
        }
    }
    for b in &plan.binds {
        ctes.push(format!("{} AS ({})", cte(&b.table.alias), bind_sql(b, d)));
    }
    let with = if ctes.is_empty() {
        String::new()
    } else {
        format!("WITH {} ", ctes.join(", "))
    };
    let exprs: Vec<&Expr> = plan
        .job
        .rules
        .iter()
        .filter(|r| r.level == RuleLevel::Row)
        .map(|r| &r.expr)
        .collect();
    // `unmatched(b)` counts accepted rows whose join with `b` found nothing.
    let unmatched: Vec<String> = plan
        .job
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Join { alias, .. } => Some(alias.clone()),
            _ => None,
        })
        .filter(|a| reads_param(gates, &format!(":unmatched_{a}")))
        .collect();
    let staging = d.staging();
    // Where the engine measures the rows its staging `INSERT` writes, the
    // stable id's key columns by position among the output columns.
    let key_columns: Option<Vec<usize>> = (d.measures_staged_rows() && staging == Staging::Tally)
        .then(|| {
            if plan.key.is_empty() {
                Some((0..plan.columns.len()).collect())
            } else {
                plan.key
                    .iter()
                    .map(|k| plan.columns.iter().position(|c| c.name == *k))
                    .collect()
            }
        })
        .flatten();
    let build = |tally: bool| {
        let mut b = Builder {
            plan,
            d,
            rules,
            exprs: exprs.clone(),
            keys: &keys,
            tally,
            unmatched: &unmatched,
            first: plan.job.steps.iter().find_map(|s| match s {
                Step::From(a) => Some(a.clone()),
                _ => None,
            }),
            counting: Points {
                d,
                staging,
                with: &with,
                unmatched: &unmatched,
                fences: 0,
                tables: Vec::new(),
            },
            points: Vec::new(),
            filtered: false,
            input_apart: false,
            accept_in_group: false,
            insert_measured: key_columns.is_some(),
            accept_at_insert: false,
            in_partition_order: false,
        };
        let (rows, shaping, first) = b.row_stage()?;
        Ok::<_, Unsupported>((rows, shaping, first, b))
    };
    let (rows, shaping, first, mut built) = build(true)?;
    let output = shape(
        plan,
        &shaping,
        first.as_deref(),
        &rows,
        built.accept_in_group.then_some(&mut built.counting),
        &Batch {
            keys: &keys,
            single,
            d,
        },
    )?;
    let (points, input_apart, tables) = (built.points, built.input_apart, built.counting.tables);
    let accept_at_insert = built.accept_at_insert;
    let in_partition_order = built.in_partition_order;
    let input_count = match (&first, input_apart) {
        (Some(a), true) => Some(
            plan.inputs
                .iter()
                .find(|i| i.table.alias == *a)
                .and_then(|i| window_count(i, d))
                .unwrap_or_else(|| {
                    format!("{with}SELECT _bpl_no, count(*) FROM {} GROUP BY 1", cte(a))
                }),
        ),
        _ => None,
    };
    let data = data_table(&plan.table);
    let out_cols: Vec<String> = plan.columns.iter().map(|c| ident(&c.name)).collect();
    // The key's columns in the key's order (every column without one).
    let row_id: Vec<String> = if plan.key.is_empty() {
        plan.columns.iter().collect::<Vec<_>>()
    } else {
        plan.key
            .iter()
            .filter_map(|k| plan.columns.iter().find(|c| c.name == *k))
            .collect()
    }
    .into_iter()
    .map(|c| d.stable_id_arg(&format!("o.{}", ident(&c.name)), &c.ty))
    .collect();
    let id_args: Vec<String> = [string(&plan.dataset), plan.version.to_string()]
        .into_iter()
        .chain(row_id)
        .collect();
    let row_id = match &key_columns {
        Some(keys) => d.staged_row_id(
            &id_args,
            keys,
            "o._bpl_no",
            &plan
                .columns
                .iter()
                .map(|c| (format!("o.{}", ident(&c.name)), sized_as_text(d, &c.ty)))
                .collect::<Vec<_>>(),
        ),
        None => d.function("stable_id", &id_args),
    };
    let stage = format!(
        "INSERT INTO {} ({cols}, _bpl_partition, _bpl_version, _bpl_row_id) \
         SELECT {o_cols}, parts._bpl_partition, parts._bpl_version, \
         {row_id} FROM ({with}{output}) AS o{}{}",
        ident(&data),
        d.ordered_join(
            &format!("{batch_table} AS parts"),
            "parts._bpl_no = o._bpl_no"
        ),
        // By the row's place in the batch (one per partition): the same
        // grouping as the partition's id, an integer to sort; not sorted
        // again when they come in that order (a sort of every staged row,
        // a twentieth of the statement on PostgreSQL).
        if in_partition_order {
            String::new()
        } else {
            d.insert_order("o._bpl_no")
        },
        cols = out_cols.join(", "),
        o_cols = plan
            .columns
            .iter()
            .map(|c| d.stored_value(&format!("o.{}", ident(&c.name)), &c.ty))
            .collect::<Vec<_>>()
            .join(", "),
    );
    // Counters gates read besides the pipeline's own, each one grouped
    // statement over the batch, and only when a gate reads it.
    let mut counts = Vec::new();
    let mut partition_counts = Vec::new();
    for i in &plan.inputs {
        let a = &i.table.alias;
        if reads_param(gates, &format!(":rows_{a}")) {
            counts.push((
                a.clone(),
                format!("{with}SELECT _bpl_no, count(*) FROM {} GROUP BY 1", cte(a)),
            ));
        }
        if let Boundary::Partitions { column, .. } = &i.boundary {
            if reads_param(gates, &format!(":partition_count_{a}")) {
                partition_counts.push((
                    a.clone(),
                    format!(
                        "{with}SELECT _bpl_no, count(DISTINCT {}) FROM {} GROUP BY 1",
                        ident(column),
                        cte(a)
                    ),
                ));
            }
        }
    }
    for b in &plan.binds {
        let a = &b.table.alias;
        if reads_param(gates, &format!(":rows_{a}")) {
            counts.push((
                a.clone(),
                format!(
                    "{with}SELECT parts._bpl_no, (SELECT count(*) FROM {}) FROM {batch_table} AS parts",
                    cte(a)
                ),
            ));
        }
    }
    let input_aggregates = if aggregates.is_empty() {
        Vec::new()
    } else {
        let (plain, ..) = build(false)?;
        aggregates
            .iter()
            .enumerate()
            .map(|(k, call)| {
                sql(call, ROW.on(d)).map(|s| {
                    (
                        format!("agg{k}"),
                        format!("{with}SELECT _bpl_no, {s} FROM ({plain}) AS _bpl_q GROUP BY 1"),
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    let joined_bad = joined_bad_rows(plan, &with, d);
    Ok(RangeStage {
        single,
        keys,
        windows,
        staging,
        stage,
        tables,
        rules: rules.to_vec(),
        points,
        rows: counts,
        partition_counts,
        input_aggregates,
        input_aggregates_empty: aggregates
            .iter()
            .map(|call| {
                sql(&without_columns(call), ROW.on(d)).map(|s| {
                    format!(
                        "SELECT {s} FROM (SELECT 1) AS _bpl_q WHERE {}",
                        d.boolean(false)
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        unmatched,
        joined_bad,
        input_count,
        measured: key_columns.is_some(),
        accept_at_insert,
    })
}

/// Whether a column's size in a partition's measurement is the bytes of
/// its values (text), or a fixed size per value: as the checksum
/// statement of `sql::lower` measures it, for an engine whose staging
/// `INSERT` measures the rows (SQLite: dates and timestamps are text).
pub fn sized_as_text(d: &dyn Dialect, ty: &crate::semantic::T) -> bool {
    // Spark names its text type STRING.
    matches!(
        d.column_type(ty).to_ascii_uppercase().as_str(),
        "TEXT" | "STRING"
    )
}

/// An aggregate call with its columns replaced by null, so it can be
/// computed over no rows without the rows' columns.
fn without_columns(call: &Expr) -> Expr {
    let mut e = call.clone();
    e.walk_mut(&mut |x| {
        // A typed null: `sum(NULL)` names no type, which an engine that
        // resolves aggregates by type (PostgreSQL) refuses.
        if matches!(x.kind, ExprKind::Column { .. }) {
            let null = Expr {
                kind: ExprKind::Lit(crate::semantic::hir::Lit::Null),
                ..x.clone()
            };
            x.kind = ExprKind::Call {
                name: "to_float".into(),
                kind: crate::semantic::hir::CallKind::Scalar,
                args: vec![null],
                over: None,
            };
        }
    });
    e
}

/// The arguments of `json_object` recording a row of `t` whose column `c`
/// is read as `column(c)`: `'alias.c', value, ...`.
fn record_of(t: &Table, column: impl Fn(&str) -> String) -> String {
    t.columns
        .iter()
        .map(|c| {
            format!(
                "{}, {}",
                string(&format!("{}.{}", t.alias, c.name)),
                column(&c.name)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// For each joined source, its rows that failed the typed input boundary.
fn joined_bad_rows(plan: &JobPlan, with: &str, d: &dyn Dialect) -> Vec<(String, String)> {
    plan.job
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Join { alias, .. } => table_of(plan, alias),
            _ => None,
        })
        .filter(|t| t.kind == DeclKind::Source)
        .map(|t| {
            let record = record_of(t, ident);
            (
                t.alias.clone(),
                format!(
                    "{with}SELECT _bpl_no, _bpl_bad, {} FROM {} WHERE _bpl_bad IS NOT NULL",
                    d.json_object(&record),
                    cte(&t.alias)
                ),
            )
        })
        .collect()
}

/// Statements creating the batch tables for a job.
pub fn batch_tables(stage: &RangeStage, d: &dyn Dialect) -> String {
    let batch_table = parts_table(d);
    let keys = stage
        .keys
        .iter()
        .map(|k| format!(", {} TEXT", partition_column(Some(k))))
        .collect::<String>();
    // A source row finds its partition by `_bpl_p` (and its keys): the
    // index holds every column it reads there, so the lookup is one search.
    let covered = std::iter::once("_bpl_p".to_string())
        .chain(stage.keys.iter().map(|k| partition_column(Some(k))))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "DROP TABLE IF EXISTS {batch_table}; \
         CREATE TEMP TABLE bpl_parts (_bpl_no INTEGER PRIMARY KEY, _bpl_partition TEXT NOT NULL UNIQUE, _bpl_p TEXT, \
         _bpl_version INTEGER NOT NULL{keys}); {};",
        d.temp_index("bpl_parts_p", "bpl_parts", &covered)
    );
    for (alias, table) in &stage.windows {
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS {table}; \
             CREATE TEMP TABLE {} (_bpl_out TEXT NOT NULL, _bpl_in TEXT NOT NULL, \
             _bpl_in_version INTEGER NOT NULL);",
            ident(&format!("bpl_win_{alias}"))
        ));
    }
    sql
}
