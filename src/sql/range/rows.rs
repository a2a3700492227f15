//! The row stage of a range statement: rules, routing, joins, `dedupe`,
//! and the counting points rows pass (see [`super::points`]).

use super::inputs::{flattened, reads};
use super::points::{Point, Points};
use super::{partition_values, record_of, ROW};
use crate::plan::JobPlan;
use crate::semantic::hir::{Expr, Step};
use crate::sql::dialect::{Dialect, Staging};
use crate::sql::expr::{flat, list, order_by, sql, Unsupported};
use crate::sql::lower::{named, table_of, RowRule};
use crate::sql::types::{ident, string};
use crate::syntax::ast::{DeclKind, Severity};

pub(super) struct Builder<'a> {
    pub(super) plan: &'a JobPlan,
    pub(super) d: &'a dyn Dialect,
    pub(super) rules: &'a [RowRule],
    pub(super) exprs: Vec<&'a Expr>,
    pub(super) keys: &'a [String],
    /// Rows are counted at counting points; without, the same rows by
    /// plain filters.
    pub(super) tally: bool,
    /// Joined aliases whose unmatched rows a gate counts.
    pub(super) unmatched: &'a [String],
    /// The alias the pipeline starts `from`.
    pub(super) first: Option<String>,
    /// The counting points, as the dialect stages them.
    pub(super) counting: Points<'a>,
    pub(super) points: Vec<Vec<usize>>,
    /// A `where` step ran before the input was counted.
    pub(super) filtered: bool,
    /// The input is counted by a statement of its own, not in staging.
    pub(super) input_apart: bool,
    /// Accepted rows are counted by the `group by` that shapes them.
    pub(super) accept_in_group: bool,
    /// The staging `INSERT` counts the rows it writes per partition (see
    /// `Dialect::measures_staged_rows`).
    pub(super) insert_measured: bool,
    /// Accepted rows are counted by the staging `INSERT`: a last `dedupe`
    /// keeps them, and each becomes one output row.
    pub(super) accept_at_insert: bool,
    /// The rows reach the staging `INSERT` already in the order of their
    /// partition's place in the batch: a last `dedupe` numbers them in
    /// windows partitioned by it first, and each becomes one output row.
    pub(super) in_partition_order: bool,
}

/// A dedupe written as a `group by` (see [`Builder::grouped_dedupe`]).
pub(super) struct Grouped {
    /// The grouped `SELECT`, without its `HAVING`.
    select: String,
    /// The partition's columns it leaves out, joined back after it.
    rejoin: Vec<String>,
}

impl Builder<'_> {
    /// The rows of `rows` that go on past a counting point, each counted
    /// once there.
    fn fenced(&mut self, rows: &str, point: Point) -> String {
        self.counting.pass(rows, point)
    }

    /// Evaluates `which` rules on `rows`: flags, then the route.
    fn route(
        &mut self,
        rows: String,
        which: Vec<usize>,
        present: &[String],
    ) -> Result<String, Unsupported> {
        self.route_after(rows, which, present, None)
    }

    /// Counts the input and routes the driving source's bad rows, then
    /// routes `which` rules: with the tally, one counting point for both
    /// (a call per row saved), the rules' flags computed for good rows
    /// only.
    fn checked(
        &mut self,
        rows: String,
        which: Vec<usize>,
        present: &[String],
    ) -> Result<String, Unsupported> {
        let source = self
            .first
            .as_deref()
            .and_then(|a| table_of(self.plan, a))
            .filter(|t| t.kind == DeclKind::Source);
        match source {
            Some(t)
                if self.tally && self.counting.staging == Staging::Tally && !which.is_empty() =>
            {
                let record = self.d.json_object(&record_of(t, |c| flat(&t.alias, c)));
                self.route_after(rows, which, present, Some(record))
            }
            _ => {
                let rows = self.input(rows);
                self.route(rows, which, present)
            }
        }
    }

    /// [`Self::route`], after the boundary when `boundary` holds the
    /// record of a bad row (see [`Self::checked`]).
    fn route_after(
        &mut self,
        rows: String,
        which: Vec<usize>,
        present: &[String],
        boundary: Option<String>,
    ) -> Result<String, Unsupported> {
        if which.is_empty() {
            return Ok(rows);
        }
        let flags = which
            .iter()
            .map(|&k| {
                sql(self.exprs[k], ROW.on(self.d)).map(|s| {
                    let flag = self.d.flag(&s);
                    // A bad row's values may be null where no rule expects
                    // it: its rules are not evaluated (CASE is lazy).
                    let flag = match boundary {
                        Some(_) => format!("CASE WHEN _bpl_bad IS NULL THEN {flag} END"),
                        None => flag,
                    };
                    format!("{flag} AS {}", ident(&self.rules[k].flag))
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(", ");
        let flagged = format!("SELECT *, {flags} FROM ({rows}) AS _bpl_q");
        let quarantining: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&k| self.rules[k].severity == Severity::Quarantine)
            .collect();
        let passes = (!quarantining.is_empty()).then(|| {
            quarantining
                .iter()
                .map(|&k| format!("{} = 1", ident(&self.rules[k].flag)))
                .collect::<Vec<_>>()
                .join(" AND ")
        });
        if !self.tally {
            return Ok(match passes {
                Some(p) => format!("SELECT * FROM ({flagged}) AS _bpl_q WHERE {p}"),
                None => flagged,
            });
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
        let mut point = Point::Route {
            point: self.points.len(),
            flags: which.iter().map(|&k| ident(&self.rules[k].flag)).collect(),
            passes,
            record: self.d.json_object(&record),
        };
        if let Some(record) = boundary {
            point = Point::Checked {
                record,
                route: Box::new(point),
            };
        }
        self.points.push(which);
        Ok(self.fenced(&flagged, point))
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
            return self.count(rows, Point::Input);
        }
        if !self.tally {
            return format!("SELECT * FROM ({rows}) AS _bpl_q WHERE _bpl_bad IS NULL");
        }
        let t = table_of(self.plan, self.first.as_deref().unwrap_or_default())
            .expect("the first input");
        let record = self.d.json_object(&record_of(t, |c| flat(&t.alias, c)));
        self.fenced(&rows, Point::Boundary { record })
    }

    fn count(&mut self, rows: String, point: Point) -> String {
        if !self.tally {
            return rows;
        }
        self.fenced(&rows, point)
    }

    /// The row stage: accepted rows, and the shaping steps after it.
    pub(super) fn row_stage(&mut self) -> Result<(String, Vec<Step>, Option<String>), Unsupported> {
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
        let mut pending: Option<(String, String, Option<Grouped>)> = None;
        // The columns later steps can read: the partition's, each alias's
        // and the derived ones; not the counting points' fences and flags,
        // which a dedupe's sort would otherwise carry.
        let mut readable: Vec<String> = Vec::new();
        while let Some(step) = iter.next() {
            if let Some((numbered, rn, grouped)) = pending.take() {
                if step.shapes() && late.is_empty() && self.unmatched.is_empty() {
                    let mut shaping = vec![step.clone()];
                    shaping.extend(iter.cloned());
                    let rows = self.last_dedupe(&numbered, &rn, grouped.as_ref(), &shaping);
                    return Ok((rows, shaping, first));
                }
                rows = self.dedupe(&numbered, &rn);
            }
            if step.shapes() {
                let mut shaping = vec![step.clone()];
                shaping.extend(iter.cloned());
                rows = if counted_input {
                    self.route(rows, std::mem::take(&mut late), &present)?
                } else {
                    self.checked(rows, std::mem::take(&mut late), &present)?
                };
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
                return Ok((self.count(rows, Point::Accept), shaping, first));
            }
            if matches!(step, Step::Dedupe { .. }) && !counted_input && dedupes == 0 {
                // The first dedupe's early rules right after the input.
                rows = self.checked(rows, std::mem::take(&mut early), &present)?;
                counted_input = true;
            } else if matches!(step, Step::Join { .. } | Step::Dedupe { .. }) && !counted_input {
                rows = self.input(rows);
                counted_input = true;
            }
            rows = match step {
                Step::From(a) => {
                    first = Some(a.clone());
                    present.push(a.clone());
                    let t = table_of(plan, a)
                        .ok_or_else(|| Unsupported(format!("no input called `{a}`")))?;
                    readable.push("_bpl_no".to_string());
                    readable.extend(partition_values(self.keys));
                    readable.extend(t.columns.iter().map(|c| flat(a, &c.name)));
                    flattened(t, true, self.keys)
                }
                Step::Where(e) => {
                    self.filtered |= !counted_input;
                    format!(
                        "SELECT * FROM ({rows}) AS _bpl_q WHERE {}",
                        sql(e, ROW.on(self.d))?
                    )
                }
                Step::Join { left, alias, on } => {
                    present.push(alias.clone());
                    let t = table_of(plan, alias).ok_or_else(|| {
                        Unsupported(format!("no input or binding called `{alias}`"))
                    })?;
                    let mut condition = sql(on, ROW.on(self.d))?;
                    if t.kind != DeclKind::Reference {
                        condition = format!("{condition} AND {} = _bpl_no", flat(alias, "_bpl_no"));
                    }
                    if let Some(b) = plan.binds.iter().find(|b| b.table.alias == *alias) {
                        if let (Some(at), Some((from, to))) = (&b.as_of, &b.validity) {
                            let at = sql(at, ROW.on(self.d))?;
                            condition = format!(
                                "{condition} AND {f} <= {at} AND ({t} IS NULL OR {at} < {t})",
                                f = flat(alias, from),
                                t = flat(alias, to)
                            );
                        }
                    }
                    readable.push(flat(alias, "_bpl_matched"));
                    if t.kind != DeclKind::Reference {
                        readable.push(flat(alias, "_bpl_no"));
                    }
                    readable.extend(t.columns.iter().map(|c| flat(alias, &c.name)));
                    format!(
                        "SELECT * FROM ({rows}) AS _bpl_l {}JOIN ({}) AS _bpl_r ON {condition}",
                        if *left { "LEFT " } else { "" },
                        flattened(t, false, self.keys)
                    )
                }
                Step::Derive(items) => {
                    for n in items {
                        let name = ident(&n.name);
                        if !readable.contains(&name) {
                            readable.push(name);
                        }
                    }
                    format!(
                        "SELECT *, {} FROM ({rows}) AS _bpl_q",
                        named(items, ROW.on(self.d))?
                    )
                }
                Step::Dedupe { by, order } => {
                    if dedupes == 0 {
                        rows = self.route(rows, std::mem::take(&mut early), &present)?;
                    }
                    let rn = ident(&format!("_bpl_rn{dedupes}"));
                    dedupes += 1;
                    let ordered = if order.is_empty() {
                        String::new()
                    } else {
                        format!(" ORDER BY {}", order_by(order, ROW.on(self.d))?)
                    };
                    let numbered = format!(
                        "SELECT *, row_number() OVER (PARTITION BY _bpl_no, {}{ordered}) AS {rn} \
                         FROM (SELECT {} FROM ({rows}) AS _bpl_q) AS _bpl_d",
                        list(by, ROW.on(self.d))?,
                        readable.join(", ")
                    );
                    if self.tally {
                        let grouped = self.grouped_dedupe(by, order, &rows, &readable)?;
                        pending = Some((numbered, rn, grouped));
                        String::new()
                    } else {
                        format!("SELECT * FROM ({numbered}) AS _bpl_q WHERE {rn} = 1")
                    }
                }
                _ => unreachable!("shaping steps end the row stage"),
            };
        }
        if let Some((numbered, rn, grouped)) = pending.take() {
            if late.is_empty() && self.unmatched.is_empty() {
                let rows = self.last_dedupe(&numbered, &rn, grouped.as_ref(), &[]);
                return Ok((rows, Vec::new(), first));
            }
            rows = self.dedupe(&numbered, &rn);
        }
        rows = if counted_input {
            self.route(rows, std::mem::take(&mut late), &present)?
        } else {
            self.checked(rows, std::mem::take(&mut late), &present)?
        };
        Ok((self.count(rows, Point::Accept), Vec::new(), first))
    }

    /// A dedupe with one order key as a `group by` whose one `max` (or
    /// `min`) picks the kept row, for SQLite's tally staging: a sort and
    /// a pass over each group, where numbering the rows with a window
    /// buffers every group and steps through it (a fifth of a 1M-row
    /// staging statement). SQLite takes a grouped query's bare columns
    /// from the row the aggregate chose, as documented for a query with a
    /// single `min()` or `max()`. The same row as the window's first:
    /// `max` skips NULLs, which a descending order puts last; an ascending
    /// order puts them first, so `min` reads a NULL key as minus infinity
    /// (a key that is minus infinity itself then ties with it, and either
    /// may be kept, as with any tie). Ties are broken by the engine, as
    /// the window breaks them.
    fn grouped_dedupe(
        &self,
        by: &[Expr],
        order: &[crate::semantic::hir::SortKey],
        rows: &str,
        readable: &[String],
    ) -> Result<Option<Grouped>, Unsupported> {
        let [key] = order else {
            return Ok(None);
        };
        if self.counting.staging != Staging::Tally {
            return Ok(None);
        }
        let e = sql(&key.expr, ROW.on(self.d))?;
        let by = list(by, ROW.on(self.d))?;
        let top = if key.descending {
            format!("max({e})")
        } else {
            format!("min(coalesce({e}, -9e999))")
        };
        // The partition's own columns are one value per `_bpl_no`: they
        // are joined back after the sort instead of sorted with each row
        // (a tenth of the statement), unless the dedupe reads them.
        let mut rejoin = partition_values(self.keys);
        if by.contains("_bpl_p") || e.contains("_bpl_p") {
            rejoin.clear();
        }
        let carried: Vec<&str> = readable
            .iter()
            .map(String::as_str)
            .filter(|c| !rejoin.iter().any(|r| r == c))
            .collect();
        // The dedupe's key before `_bpl_no`: the groups are the same, and
        // SQLite's sorter settles a comparison on the first column when it
        // can. `_bpl_no` first (one value for a partition's thousands of
        // rows) sent nearly every comparison on to the whole record: 2.7%
        // of a three-day rerun's instructions, 1.3% of a build's.
        Ok(Some(Grouped {
            select: format!(
                "SELECT *, {top} AS _bpl_top FROM (SELECT {} FROM ({rows}) AS _bpl_q) AS _bpl_d \
                 GROUP BY {by}, _bpl_no",
                carried.join(", ")
            ),
            rejoin,
        }))
    }

    /// Keeps the first row of each dedupe group, counting the others.
    fn dedupe(&mut self, numbered: &str, rn: &str) -> String {
        let point = Point::Dedupe {
            rn: rn.into(),
            accept: false,
        };
        self.fenced(numbered, point)
    }

    /// [`Self::dedupe`] as the last row step, before `shaping`: the rows
    /// kept are the accepted ones, counted by the same call; or, when each
    /// becomes one output row and the staging `INSERT` counts what it
    /// writes, counted there, and only the duplicates are counted here.
    fn last_dedupe(
        &mut self,
        numbered: &str,
        rn: &str,
        grouped: Option<&Grouped>,
        shaping: &[Step],
    ) -> String {
        let one_to_one = shaping
            .iter()
            .all(|s| matches!(s, Step::Select(_) | Step::Derive(_)))
            && self.plan.hash_key().is_none();
        self.accept_at_insert = self.insert_measured && one_to_one;
        self.in_partition_order = one_to_one && grouped.is_none();
        if self.accept_at_insert {
            return match grouped {
                Some(g) => self.counting.last_duplicates_grouped(&g.select, &g.rejoin),
                None => self.counting.last_duplicates(numbered, rn),
            };
        }
        let point = Point::Dedupe {
            rn: rn.into(),
            accept: true,
        };
        self.fenced(numbered, point)
    }
}
