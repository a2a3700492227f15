//! Range staging: one statement computes every partition of a batch.
//!
//! A run over many partitions does not loop. The engine fills
//! `temp.bpl_parts` with the batch (one row per partition: its id, key
//! values and version) and, for each dataset input, `temp.bpl_win_<alias>`
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
//! rows pass through `bpl_tally`, a function the engine registers, which
//! counts them per partition (input, rule failures, quarantined,
//! duplicates, accepted), keeps quarantined records, and says whether a row
//! goes on. Each tally sits in a subquery with `LIMIT -1` (no limit): SQLite
//! neither flattens such a subquery into a query with a `WHERE` nor pushes
//! terms into it, so every row reaching that point is counted exactly once,
//! whatever else the planner rearranges.
//!
//! Row rules run where their columns first exist, before the first
//! `dedupe` when they can: a quarantined row never takes part in
//! deduplication, so a duplicate group never loses its valid row to an
//! invalid copy.

use serde::Serialize;

use super::expr::{flat, list, order_by, partition_column, sql, Columns, Ctx, Unsupported};
use super::sqlite::{bind_sql, cte, data_table, named, table_of, RowRule};
use super::types::{ident, string};
use crate::plan::{Boundary, InputPlan, JobPlan, Table};
use crate::semantic::hir::{BindPolicyKind, Expr, ExprKind, Lock, Step};
use crate::syntax::ast::{BinaryOp, DeclKind, RuleLevel, Severity};

const ROW: Ctx = Ctx {
    columns: Columns::Flat,
    ranges: false,
    range: true,
};
const PLAIN: Ctx = Ctx {
    columns: Columns::Plain,
    ranges: false,
    range: true,
};
const BOUNDARY: Ctx = Ctx {
    columns: Columns::Plain,
    ranges: true,
    range: true,
};
/// `p` as a bound parameter: a batch of one partition.
const PLAIN_SINGLE: Ctx = Ctx {
    columns: Columns::Plain,
    ranges: false,
    range: false,
};
const ROW_SINGLE: Ctx = Ctx {
    columns: Columns::Flat,
    ranges: false,
    range: false,
};

/// The batch table the engine fills before staging.
pub const PARTS: &str = "temp.bpl_parts";

/// What `bpl_tally`'s first argument asks.
pub mod tally {
    /// `bpl_tally(0, partition)`: a row of the input; always passes.
    pub const INPUT: i64 = 0;
    /// `bpl_tally(1, point, partition, flag.., record)`: the rules of one
    /// route point; passes unless a quarantine rule failed.
    pub const ROUTE: i64 = 1;
    /// `bpl_tally(2, partition, row_number)`: passes the first row of a
    /// dedupe group, counts the others as duplicates.
    pub const DEDUPE: i64 = 2;
    /// `bpl_tally(4, partition, problems, record)`: a row of the driving
    /// source's input at the typed input boundary; counted as input, and
    /// passes unless it has problems, which quarantine it.
    pub const BOUNDARY: i64 = 4;
    /// `bpl_tally(3, partition, unmatched..)`: an accepted row, and for
    /// each alias a gate's `unmatched()` reads, whether its join found no
    /// match; always passes.
    pub const ACCEPT: i64 = 3;
    /// `bpl_tally(5, partition, n)`: `n` accepted rows at once, from the
    /// `HAVING` of the `group by` they fall into; always passes.
    pub const ACCEPT_GROUP: i64 = 5;
    /// `bpl_tally(6, partition, row_number)`: a dedupe that is the last
    /// row step: passes the first row of a group, counted accepted, and
    /// counts the others as duplicates. One fence instead of two.
    pub const DEDUPE_ACCEPT: i64 = 6;
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
    /// Stages every partition of the batch, counting as it goes.
    pub stage: String,
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
}

/// The window table of a dataset input.
pub fn window_table(alias: &str) -> String {
    format!("temp.{}", ident(&format!("bpl_win_{alias}")))
}

/// The batch table's key columns as selected from it.
fn parts_columns(prefix: &str, keys: &[String]) -> String {
    let mut cols = vec![
        format!("{prefix}_bpl_no"),
        format!("{prefix}{}", partition_column(None)),
    ];
    cols.extend(
        keys.iter()
            .map(|k| format!("{prefix}{}", partition_column(Some(k)))),
    );
    cols.join(", ")
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

/// The top-level `and` terms of a condition.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, l, r) => {
            let mut v = conjuncts(l);
            v.extend(conjuncts(r));
            v
        }
        _ => vec![e],
    }
}

fn mentions_partition(e: &Expr) -> bool {
    let mut found = false;
    visit(e, &mut |x| {
        if matches!(x.kind, ExprKind::Partition { .. }) {
            found = true;
        }
    });
    found
}

fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Call { args, over, .. } => {
            for a in args {
                visit(a, f);
            }
            if let Some(o) = over {
                for a in &o.partition_by {
                    visit(a, f);
                }
                for k in &o.order_by {
                    visit(&k.expr, f);
                }
            }
        }
        ExprKind::List(items) => {
            for a in items {
                visit(a, f);
            }
        }
        ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } => visit(x, f),
        ExprKind::Binary(_, l, r) => {
            visit(l, f);
            visit(r, f);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            visit(cond, f);
            visit(then, f);
            visit(otherwise, f);
        }
        _ => {}
    }
}

/// The rows of an input, each tagged with the partition of the batch it
/// feeds and that partition's keys.
fn input_sql(i: &InputPlan, keys: &[String]) -> Result<String, Unsupported> {
    let t = &i.table;
    let cols = |q: &str| {
        t.columns
            .iter()
            .map(|c| format!("{q}.{}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tagged = parts_columns("parts.", keys);
    if t.kind == DeclKind::Dataset {
        // The window table pairs each output partition with the locked
        // input partitions it reads: an index lookup each, nothing else.
        let mut q = format!(
            "SELECT {tagged}, {} FROM {} AS w CROSS JOIN {} AS d \
             ON d._bpl_partition = w._bpl_in AND d._bpl_version = w._bpl_in_version \
             CROSS JOIN {PARTS} AS parts ON parts._bpl_partition = w._bpl_out",
            cols("d"),
            window_table(&t.alias),
            ident(&data_table(&t.table)),
        );
        if let Boundary::Filter(e) = &i.boundary {
            q.push_str(&format!(" WHERE {}", sql(e, BOUNDARY)?));
        }
        return Ok(q);
    }
    // A source: `key == p` terms of its boundary join the batch by value;
    // the rest filter the joined rows.
    let mut on = Vec::new();
    let mut rest = Vec::new();
    let mut prefilter = Vec::new();
    match &i.boundary {
        Boundary::Filter(e) => {
            for c in conjuncts(e) {
                let key = match &c.kind {
                    ExprKind::Binary(BinaryOp::Eq, l, r) => match (&l.kind, &r.kind) {
                        (ExprKind::Partition { key }, _) if !mentions_partition(r) => {
                            Some((key.clone(), r))
                        }
                        (_, ExprKind::Partition { key }) if !mentions_partition(l) => {
                            Some((key.clone(), l))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match key {
                    Some((k, value)) => {
                        let value_sql = sql(value, BOUNDARY)?;
                        // A bare column keyed by the time key is also bounded
                        // by the batch's first and last partition, so an
                        // index on it is used and rows outside the batch are
                        // never read.
                        if k.is_none() && matches!(value.kind, ExprKind::Column { .. }) {
                            prefilter.push(format!(
                                "s.{c} BETWEEN (SELECT min(_bpl_p) FROM {PARTS}) AND (SELECT max(_bpl_p) FROM {PARTS})",
                                c = value_sql
                            ));
                        }
                        on.push(format!(
                            "parts.{} = {value_sql}",
                            partition_column(k.as_deref()),
                        ))
                    }
                    None => rest.push(sql(c, BOUNDARY)?),
                }
            }
        }
        Boundary::All | Boundary::Partitions { .. } => {}
    }
    rest.push(match &i.lock {
        Some(Lock::Snapshot(col)) => format!("s.{} <= :hwm_{}", ident(col), t.alias),
        Some(Lock::Cursor(cs)) => format!(
            "({}) <= ({})",
            cs.iter()
                .map(|c| format!("s.{}", ident(c)))
                .collect::<Vec<_>>()
                .join(", "),
            (0..cs.len())
                .map(|k| format!(":hwm_{}_{k}", t.alias))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // The files up to the locked one, less rows a file up to it replaced.
        Some(Lock::Files) => format!(
            "s._bpl_file <= :hwm_{a} AND s._bpl_until > :hwm_{a}",
            a = t.alias
        ),
        None => format!("s.rowid <= :hwm_{}", t.alias),
    });
    // The source is the outer loop (CROSS JOIN keeps the order), so it is
    // scanned once for the whole batch, each row finding its partition by
    // its values as the boundary typed them; the lock reads them as stored.
    let on = if on.is_empty() {
        String::new()
    } else {
        format!(" ON {}", on.join(" AND "))
    };
    prefilter.push(rest.pop().expect("the lock condition"));
    let lock = prefilter.join(" AND ");
    let read = t
        .columns
        .iter()
        .map(|c| format!("{} AS {}", super::boundary::value("s", c), ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let problems =
        super::boundary::problems("s", &t.columns, |c| !c.nullable || i.key.contains(&c.name));
    let filter = if rest.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", rest.join(" AND "))
    };
    // `LIMIT -1` keeps SQLite from flattening the read into the statements
    // above it: flattened, every reference to a typed value or to
    // `_bpl_bad` would compute it again (the boundary's tally reads the
    // problems twice); fenced, each row's are computed once.
    Ok(format!(
        "SELECT {tagged}, {}, s._bpl_bad FROM (SELECT {read}, {} AS _bpl_bad FROM {} AS s WHERE {lock} LIMIT -1) AS s \
         CROSS JOIN {PARTS} AS parts{on}{filter}",
        cols("s"),
        problems,
        super::types::table_ref(&t.table),
    ))
}

/// The row-stage columns of an alias: an input's carry the partition it
/// feeds, so a join can match it.
fn flattened(t: &Table, first: bool, keys: &[String]) -> String {
    let mut cols = Vec::new();
    let source = t.kind == DeclKind::Source;
    if first {
        cols.push(parts_columns("", keys));
        if source {
            cols.push("_bpl_bad".into());
        }
    } else {
        // 1 on every joined row: NULL after a left join means no match.
        cols.push(format!("1 AS {}", flat(&t.alias, "_bpl_matched")));
        if t.kind != DeclKind::Reference {
            cols.push(format!("_bpl_no AS {}", flat(&t.alias, "_bpl_no")));
        }
    }
    cols.extend(
        t.columns
            .iter()
            .map(|c| format!("{} AS {}", ident(&c.name), flat(&t.alias, &c.name))),
    );
    // A joined source's bad rows take no part in the join; the engine
    // records them (`joined_bad_rows`).
    let good = if source && !first {
        " WHERE _bpl_bad IS NULL"
    } else {
        ""
    };
    format!("SELECT {} FROM {}{good}", cols.join(", "), cte(&t.alias))
}

/// The aliases and derived names an expression reads.
fn reads(e: &Expr) -> (Vec<String>, bool) {
    let (mut aliases, mut derived) = (Vec::new(), false);
    visit(e, &mut |x| match &x.kind {
        ExprKind::Column { alias: Some(a), .. } => aliases.push(a.clone()),
        ExprKind::Column { alias: None, .. } => derived = true,
        _ => {}
    });
    (aliases, derived)
}

/// Wraps `rows` so each row passes `call`, counted once (see the module doc).
fn fenced(rows: &str, call: &str, n: &mut usize) -> String {
    let t = format!("_bpl_t{n}");
    *n += 1;
    format!("SELECT * FROM (SELECT *, {call} AS {t} FROM ({rows}) LIMIT -1) WHERE {t}")
}

struct Builder<'a> {
    plan: &'a JobPlan,
    rules: &'a [RowRule],
    exprs: Vec<&'a Expr>,
    keys: &'a [String],
    /// With `bpl_tally` calls; without, the same rows by plain filters.
    tally: bool,
    /// Joined aliases whose unmatched rows a gate counts.
    unmatched: &'a [String],
    /// The alias the pipeline starts `from`.
    first: Option<String>,
    fences: usize,
    points: Vec<Vec<usize>>,
    /// A `where` step ran before the input was counted.
    filtered: bool,
    /// The input is counted by a statement of its own, not in staging.
    input_apart: bool,
    /// Accepted rows are counted by the `group by` that shapes them.
    accept_in_group: bool,
}

impl Builder<'_> {
    /// Evaluates `which` rules on `rows`: flags, then the route.
    fn route(
        &mut self,
        rows: String,
        which: Vec<usize>,
        present: &[String],
    ) -> Result<String, Unsupported> {
        if which.is_empty() {
            return Ok(rows);
        }
        let flags = which
            .iter()
            .map(|&k| {
                sql(self.exprs[k], ROW)
                    .map(|s| format!("coalesce({s}, 0) AS {}", ident(&self.rules[k].flag)))
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        let flagged = format!("SELECT *, {flags} FROM ({rows})");
        let quarantining: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&k| self.rules[k].severity == Severity::Quarantine)
            .collect();
        let passes = if quarantining.is_empty() {
            "1".to_string()
        } else {
            quarantining
                .iter()
                .map(|&k| format!("{} = 1", ident(&self.rules[k].flag)))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        if !self.tally {
            return Ok(format!("SELECT * FROM ({flagged}) WHERE {passes}"));
        }
        // The record keeps every column the row has at this point.
        let record = self
            .plan
            .inputs
            .iter()
            .map(|i| &i.table)
            .chain(self.plan.binds.iter().map(|b| &b.table))
            .filter(|t| present.contains(&t.alias))
            .flat_map(|t| {
                t.columns.iter().map(move |c| {
                    format!(
                        "{}, {}",
                        string(&format!("{}.{}", t.alias, c.name)),
                        flat(&t.alias, &c.name)
                    )
                })
            })
            .collect::<Vec<_>>()
            .join(", ");
        let point = self.points.len();
        let call = format!(
            "bpl_tally({}, {point}, _bpl_no, {}, CASE WHEN NOT ({passes}) THEN json_object({record}) END)",
            tally::ROUTE,
            which
                .iter()
                .map(|&k| ident(&self.rules[k].flag))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.points.push(which);
        Ok(fenced(&flagged, &call, &mut self.fences))
    }

    /// Counts the input and routes the driving source's bad rows: one
    /// tally point for both.
    fn input(&mut self, rows: String) -> String {
        let source = self
            .first
            .as_deref()
            .and_then(|a| table_of(self.plan, a))
            .is_some_and(|t| t.kind == DeclKind::Source);
        if !source {
            // A dataset's rows, unfiltered, are counted by an index-only
            // statement: a tally point here would hold every row in a
            // subquery SQLite must materialize before a join.
            let dataset = self
                .first
                .as_deref()
                .and_then(|a| table_of(self.plan, a))
                .is_some_and(|t| t.kind == DeclKind::Dataset);
            if self.tally && dataset && !self.filtered {
                self.input_apart = true;
                return rows;
            }
            return self.count(rows, tally::INPUT);
        }
        if !self.tally {
            return format!("SELECT * FROM ({rows}) WHERE _bpl_bad IS NULL");
        }
        let t = table_of(self.plan, self.first.as_deref().unwrap_or_default())
            .expect("the first input");
        let record = record_of(t, |c| flat(&t.alias, c));
        fenced(
            &rows,
            &format!(
                "bpl_tally({}, _bpl_no, _bpl_bad, CASE WHEN _bpl_bad IS NOT NULL THEN json_object({record}) END)",
                tally::BOUNDARY
            ),
            &mut self.fences,
        )
    }

    fn count(&mut self, rows: String, kind: i64) -> String {
        if !self.tally {
            return rows;
        }
        // Accepted rows also say which joins found no match.
        let unmatched = if kind == tally::ACCEPT {
            self.unmatched
                .iter()
                .map(|a| format!(", ({} IS NULL)", flat(a, "_bpl_matched")))
                .collect::<String>()
        } else {
            String::new()
        };
        fenced(
            &rows,
            &format!("bpl_tally({kind}, _bpl_no{unmatched})"),
            &mut self.fences,
        )
    }

    /// The row stage: accepted rows, and the shaping steps after it.
    fn row_stage(&mut self) -> Result<(String, Vec<Step>, Option<String>), Unsupported> {
        let plan = self.plan;
        let steps = &plan.job.steps;
        let first_dedupe = steps.iter().position(|s| matches!(s, Step::Dedupe { .. }));
        // Each rule goes to the first dedupe if its columns exist there,
        // else to the end of the row stage.
        let mut early = Vec::new();
        let mut late = Vec::new();
        for (k, e) in self.exprs.iter().enumerate() {
            let (aliases, derived) = reads(e);
            let available = |a: &String| {
                first_dedupe.is_some_and(|d| {
                    steps[..d].iter().any(|s| match s {
                        Step::From(x) => x == a,
                        Step::Join { alias, .. } => alias == a,
                        _ => false,
                    })
                })
            };
            if !derived && first_dedupe.is_some() && aliases.iter().all(available) {
                early.push(k);
            } else {
                late.push(k);
            }
        }
        let mut rows = String::new();
        let mut present: Vec<String> = Vec::new();
        let mut counted_input = false;
        let mut dedupes = 0;
        let mut first = None;
        let mut iter = steps.iter().peekable();
        // A dedupe's numbered rows, fenced by the next step: as the last row
        // step it also counts the accepted rows.
        let mut pending: Option<(String, String)> = None;
        while let Some(step) = iter.next() {
            if let Some((numbered, rn)) = pending.take() {
                if step.shapes() && late.is_empty() && self.unmatched.is_empty() {
                    let mut shaping = vec![step.clone()];
                    shaping.extend(iter.cloned());
                    return Ok((self.last_dedupe(&numbered, &rn), shaping, first));
                }
                rows = self.dedupe(&numbered, &rn);
            }
            if step.shapes() {
                let mut shaping = vec![step.clone()];
                shaping.extend(iter.cloned());
                if !counted_input {
                    rows = self.input(rows);
                }
                rows = self.route(rows, std::mem::take(&mut late), &present)?;
                // Rows that go straight into one `group by` are counted
                // there, a sum per group, not one by one.
                let grouped = matches!(shaping.as_slice(), [Step::Group { .. }]);
                if self.tally
                    && grouped
                    && self.unmatched.is_empty()
                    && self.plan.hash_key().is_none()
                {
                    self.accept_in_group = true;
                    return Ok((rows, shaping, first));
                }
                return Ok((self.count(rows, tally::ACCEPT), shaping, first));
            }
            if matches!(step, Step::Join { .. } | Step::Dedupe { .. }) && !counted_input {
                rows = self.input(rows);
                counted_input = true;
            }
            rows = match step {
                Step::From(a) => {
                    first = Some(a.clone());
                    present.push(a.clone());
                    let t = table_of(plan, a)
                        .ok_or_else(|| Unsupported(format!("no input called `{a}`")))?;
                    flattened(t, true, self.keys)
                }
                Step::Where(e) => {
                    self.filtered |= !counted_input;
                    format!("SELECT * FROM ({rows}) WHERE {}", sql(e, ROW)?)
                }
                Step::Join { left, alias, on } => {
                    present.push(alias.clone());
                    let t = table_of(plan, alias).ok_or_else(|| {
                        Unsupported(format!("no input or binding called `{alias}`"))
                    })?;
                    let mut condition = sql(on, ROW)?;
                    if t.kind != DeclKind::Reference {
                        condition = format!("{condition} AND {} = _bpl_no", flat(alias, "_bpl_no"));
                    }
                    if let Some(b) = plan.binds.iter().find(|b| b.table.alias == *alias) {
                        if let (Some(at), Some((from, to))) = (&b.as_of, &b.validity) {
                            let at = sql(at, ROW)?;
                            condition = format!(
                                "{condition} AND {f} <= {at} AND ({t} IS NULL OR {at} < {t})",
                                f = flat(alias, from),
                                t = flat(alias, to)
                            );
                        }
                    }
                    format!(
                        "SELECT * FROM ({rows}) {}JOIN ({}) ON {condition}",
                        if *left { "LEFT " } else { "" },
                        flattened(t, false, self.keys)
                    )
                }
                Step::Derive(items) => format!("SELECT *, {} FROM ({rows})", named(items, ROW)?),
                Step::Dedupe { by, order } => {
                    if dedupes == 0 {
                        rows = self.route(rows, std::mem::take(&mut early), &present)?;
                    }
                    let rn = ident(&format!("_bpl_rn{dedupes}"));
                    dedupes += 1;
                    let order = if order.is_empty() {
                        String::new()
                    } else {
                        format!(" ORDER BY {}", order_by(order, ROW)?)
                    };
                    let numbered = format!(
                        "SELECT *, row_number() OVER (PARTITION BY _bpl_no, {}{order}) AS {rn} FROM ({rows})",
                        list(by, ROW)?
                    );
                    if self.tally {
                        pending = Some((numbered, rn));
                        String::new()
                    } else {
                        format!("SELECT * FROM ({numbered}) WHERE {rn} = 1")
                    }
                }
                _ => unreachable!("shaping steps end the row stage"),
            };
        }
        if let Some((numbered, rn)) = pending.take() {
            if late.is_empty() && self.unmatched.is_empty() {
                return Ok((self.last_dedupe(&numbered, &rn), Vec::new(), first));
            }
            rows = self.dedupe(&numbered, &rn);
        }
        if !counted_input {
            rows = self.input(rows);
        }
        rows = self.route(rows, std::mem::take(&mut late), &present)?;
        Ok((self.count(rows, tally::ACCEPT), Vec::new(), first))
    }

    /// Keeps the first row of each dedupe group, counting the others.
    fn dedupe(&mut self, numbered: &str, rn: &str) -> String {
        let call = format!("bpl_tally({}, _bpl_no, {rn})", tally::DEDUPE);
        fenced(numbered, &call, &mut self.fences)
    }

    /// [`Self::dedupe`] as the last row step: the rows kept are the
    /// accepted ones, counted by the same call.
    fn last_dedupe(&mut self, numbered: &str, rn: &str) -> String {
        let call = format!("bpl_tally({}, _bpl_no, {rn})", tally::DEDUPE_ACCEPT);
        fenced(numbered, &call, &mut self.fences)
    }
}

/// The output rows, tagged with their partition, from accepted rows.
fn shape(
    plan: &JobPlan,
    shaping: &[Step],
    first: Option<&str>,
    accepted: &str,
    single: bool,
    keys: &[String],
    accept_in_group: bool,
) -> Result<String, Unsupported> {
    let mut q = accepted.to_string();
    let mut shaped = false;
    let carried = parts_columns("", keys);
    for step in shaping {
        q = match step {
            Step::Group {
                keys: group,
                aggregates,
            } => {
                shaped = true;
                let mut by = vec!["_bpl_no".to_string()];
                for k in group
                    .iter()
                    .filter(|k| !matches!(k.expr.kind, ExprKind::Lit(_)))
                {
                    by.push(sql(&k.expr, ROW)?);
                }
                let mut all = group.clone();
                all.extend(aggregates.iter().cloned());
                // `HAVING` runs once per group: the tally adds its rows.
                let having = if accept_in_group {
                    format!(
                        " HAVING bpl_tally({}, _bpl_no, count(*))",
                        tally::ACCEPT_GROUP
                    )
                } else {
                    String::new()
                };
                // The partition's keys are the same on every row of a group.
                format!(
                    "SELECT {carried}, {} FROM ({q}) GROUP BY {}{having}",
                    named(&all, ROW)?,
                    by.join(", ")
                )
            }
            Step::Aggregate(items) if single => {
                shaped = true;
                // One row even for an empty partition: its keys come from
                // the batch table, `p` from the bound parameters.
                let from_parts = parts_columns("", keys)
                    .split(", ")
                    .map(|c| format!("(SELECT {c} FROM {PARTS}) AS {c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT {from_parts}, {} FROM ({q})",
                    named(items, ROW_SINGLE)?
                )
            }
            Step::Aggregate(_) => unreachable!("an aggregate runs one partition at a time"),
            Step::Select(items) => {
                shaped = true;
                format!("SELECT {carried}, {} FROM ({q})", named(items, ROW)?)
            }
            Step::Derive(items) => format!(
                "SELECT *, {} FROM ({q})",
                named(items, if single { PLAIN_SINGLE } else { PLAIN })?
            ),
            Step::Where(e) => format!("SELECT * FROM ({q}) WHERE {}", sql(e, PLAIN)?),
            other => {
                return Err(Unsupported(format!(
                    "a {} after the output is shaped is not supported by the SQLite engine",
                    match other {
                        Step::Join { .. } => "join",
                        Step::Dedupe { .. } => "dedupe",
                        _ => "step",
                    }
                )))
            }
        };
    }
    let cols = plan
        .columns
        .iter()
        .map(|c| {
            let derived = shaping.iter().chain(&plan.job.steps).any(
                |s| matches!(s, Step::Derive(items) if items.iter().any(|n| n.name == c.name)),
            );
            match (first, shaped || derived) {
                (Some(a), false) => format!("{} AS {}", flat(a, &c.name), ident(&c.name)),
                _ => ident(&c.name),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // A hash-partitioned output keeps the rows of its bucket.
    let bucket = match plan.hash_key() {
        Some((key, column, n)) => format!(
            " WHERE bpl_bucket({}, {n}) = CAST({} AS INTEGER)",
            ident(column),
            partition_column(Some(key))
        ),
        None => String::new(),
    };
    Ok(format!("SELECT _bpl_no, {cols} FROM ({q}){bucket}"))
}

/// Whether a gate statement reads parameter `name` (not a longer one).
fn reads_param(gates: &[&str], name: &str) -> bool {
    gates.iter().any(|g| {
        g.match_indices(name).any(|(at, _)| {
            !g[at + name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// Lowers a job's staging for batches of partitions. `gates` are the gate
/// statements (to find which counters they read); `aggregates` the
/// aggregate calls lifted out of gates, in counter order (`agg0`, ...).
pub fn lower(
    plan: &JobPlan,
    rules: &[RowRule],
    gates: &[&str],
    aggregates: &[Expr],
) -> Result<RangeStage, Unsupported> {
    let single = needs_single(plan);
    let keys: Vec<String> = plan.partition.iter().map(|k| k.name.clone()).collect();
    let mut ctes = Vec::new();
    let mut windows = Vec::new();
    for i in &plan.inputs {
        ctes.push(format!(
            "{} AS ({})",
            cte(&i.table.alias),
            input_sql(i, &keys)?
        ));
        if i.table.kind == DeclKind::Dataset {
            windows.push((i.table.alias.clone(), window_table(&i.table.alias)));
        }
    }
    for b in &plan.binds {
        ctes.push(format!("{} AS ({})", cte(&b.table.alias), bind_sql(b)));
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
    let build = |tally: bool| {
        let mut b = Builder {
            plan,
            rules,
            exprs: exprs.clone(),
            keys: &keys,
            tally,
            unmatched: &unmatched,
            first: plan.job.steps.iter().find_map(|s| match s {
                Step::From(a) => Some(a.clone()),
                _ => None,
            }),
            fences: 0,
            points: Vec::new(),
            filtered: false,
            input_apart: false,
            accept_in_group: false,
        };
        let (rows, shaping, first) = b.row_stage()?;
        Ok::<_, Unsupported>((rows, shaping, first, b))
    };
    let (rows, shaping, first, built) = build(true)?;
    let (points, input_apart, accept_in_group) =
        (built.points, built.input_apart, built.accept_in_group);
    let output = shape(
        plan,
        &shaping,
        first.as_deref(),
        &rows,
        single,
        &keys,
        accept_in_group,
    )?;
    let input_count = match (&first, input_apart) {
        (Some(a), true) => Some(format!(
            "{with}SELECT _bpl_no, count(*) FROM {} GROUP BY 1",
            cte(a)
        )),
        _ => None,
    };
    let data = data_table(&plan.table);
    let out_cols: Vec<String> = plan.columns.iter().map(|c| ident(&c.name)).collect();
    let row_id = if plan.key.is_empty() {
        out_cols.clone()
    } else {
        plan.key.iter().map(|k| ident(k)).collect()
    };
    let stage = format!(
        "INSERT INTO {} ({cols}, _bpl_partition, _bpl_version, _bpl_row_id) \
         SELECT {o_cols}, parts._bpl_partition, parts._bpl_version, \
         bpl_stable_id({}, {}, {}) FROM ({with}{output}) AS o \
         CROSS JOIN {PARTS} AS parts ON parts._bpl_no = o._bpl_no",
        ident(&data),
        string(&plan.dataset),
        plan.version,
        row_id
            .iter()
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        cols = out_cols.join(", "),
        o_cols = out_cols
            .iter()
            .map(|c| format!("o.{c}"))
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
                    "{with}SELECT parts._bpl_no, (SELECT count(*) FROM {}) FROM {PARTS} AS parts",
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
                sql(call, ROW).map(|s| {
                    (
                        format!("agg{k}"),
                        format!("{with}SELECT _bpl_no, {s} FROM ({plain}) GROUP BY 1"),
                    )
                })
            })
            .collect::<Result<_, _>>()?
    };
    let joined_bad = joined_bad_rows(plan, &with);
    Ok(RangeStage {
        single,
        keys,
        windows,
        stage,
        rules: rules.to_vec(),
        points,
        rows: counts,
        partition_counts,
        input_aggregates,
        input_aggregates_empty: aggregates
            .iter()
            .map(|call| {
                sql(&without_columns(call), ROW)
                    .map(|s| format!("SELECT {s} FROM (SELECT 1) WHERE 0"))
            })
            .collect::<Result<_, _>>()?,
        unmatched,
        joined_bad,
        input_count,
    })
}

/// An aggregate call with its columns replaced by null, so it can be
/// computed over no rows without the rows' columns.
fn without_columns(call: &Expr) -> Expr {
    let mut e = call.clone();
    e.walk_mut(&mut |x| {
        if matches!(x.kind, ExprKind::Column { .. }) {
            x.kind = ExprKind::Lit(crate::semantic::hir::Lit::Null);
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
fn joined_bad_rows(plan: &JobPlan, with: &str) -> Vec<(String, String)> {
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
                    "{with}SELECT _bpl_no, _bpl_bad, json_object({record}) FROM {} WHERE _bpl_bad IS NOT NULL",
                    cte(&t.alias)
                ),
            )
        })
        .collect()
}

/// Statements creating the batch tables for a job.
pub fn batch_tables(stage: &RangeStage) -> String {
    let keys = stage
        .keys
        .iter()
        .map(|k| format!(", {} TEXT", partition_column(Some(k))))
        .collect::<String>();
    let mut sql = format!(
        "DROP TABLE IF EXISTS {PARTS}; \
         CREATE TEMP TABLE bpl_parts (_bpl_no INTEGER PRIMARY KEY, _bpl_partition TEXT NOT NULL UNIQUE, _bpl_p TEXT, \
         _bpl_version INTEGER NOT NULL{keys}); \
         CREATE INDEX temp.bpl_parts_p ON bpl_parts (_bpl_p);"
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
