//! The counting points of the row stage, in either staging mode (see
//! [`Staging`]). A point says what the tally would count and which rows go
//! on; whether a row goes on is a pure function of the point's columns, so
//! a materialized point is a table of the rows reaching it, grouped
//! statements counting them, and a filter for the next step.

use serde::Serialize;

use super::tally;
use crate::sql::dialect::{Dialect, Staging};
use crate::sql::expr::flat;

/// A counting point as the row stage builder meets it.
pub(super) enum Point {
    /// The input's rows (a dataset's, or filtered ones); all go on.
    Input,
    /// The driving source's rows at the typed input boundary: those with
    /// problems (`_bpl_bad`) are quarantined with `record`, a JSON object.
    Boundary { record: String },
    /// Route point `point` of the rules whose flag columns are `flags`:
    /// rows not passing `passes` (none when no rule quarantines) are
    /// quarantined with `record`.
    Route {
        point: usize,
        flags: Vec<String>,
        passes: Option<String>,
        record: String,
    },
    /// A [`Point::Boundary`] and the [`Point::Route`] right after it in one
    /// call: the route's flags are computed for good rows only (null on a
    /// bad row), so a rule never sees a row the boundary quarantines.
    Checked { record: String, route: Box<Point> },
    /// Numbered dedupe rows (`rn`): the first of a group goes on, the
    /// others are duplicates; `accept`: the first ones are the accepted.
    Dedupe { rn: String, accept: bool },
    /// The accepted rows, and which joins found no match (`unmatched`).
    Accept,
    /// The groups of a `group by` the accepted rows go straight into,
    /// each counting its rows: the accepted rows, a sum per group.
    Grouped,
}

/// What a materialized point's table is counted by, each a `SELECT` whose
/// first column is the partition's place in the batch (`_bpl_no`).
#[derive(Debug, Clone, Serialize)]
pub enum PointCount {
    /// `_bpl_no, rows`: input rows.
    Input(String),
    /// `_bpl_no, rows` input rows; `_bpl_no, problems, record`: the bad
    /// rows, in the order they reached the point.
    Boundary { input: String, bad: String },
    /// `_bpl_no, failing rows of each rule`; `_bpl_no, passed flag of
    /// each rule (1 or 0), record`: the quarantined rows in the order they
    /// reached the point. `point` indexes [`super::RangeStage::points`].
    Route {
        point: usize,
        failures: String,
        quarantined: Option<String>,
    },
    /// `_bpl_no, kept, duplicates`; `accept`: the kept rows are accepted.
    Dedupe { counts: String, accept: bool },
    /// `_bpl_no, rows, unmatched rows of each counted alias`.
    Accept(String),
}

/// A materialized counting point.
#[derive(Debug, Clone, Serialize)]
pub struct PointTable {
    /// Drops the table if it is there (also the clean-up after staging);
    /// empty when chained.
    pub drop: String,
    /// Creates the table of the rows reaching the point; when chained, the
    /// common table expression `name AS MATERIALIZED (...)` instead.
    pub create: String,
    pub count: PointCount,
}

/// Where a builder's counting points go.
pub(super) struct Points<'a> {
    pub d: &'a dyn Dialect,
    pub staging: Staging,
    /// The `WITH` clause naming the inputs, which each table's statement
    /// repeats.
    pub with: &'a str,
    /// Joined aliases whose unmatched accepted rows are counted.
    pub unmatched: &'a [String],
    /// Tally fences so far (their column names).
    pub fences: usize,
    pub tables: Vec<PointTable>,
}

/// The column of a materialized group holding its number of rows.
const GROUP_ROWS: &str = "_bpl_group_rows";

impl Points<'_> {
    /// `SELECT columns FROM (rows) GROUP BY by`, counting the rows that go
    /// into the groups as accepted: in the `HAVING` (once per group) with
    /// the tally, from the groups' row counts when materialized.
    pub fn group(&mut self, columns: &str, rows: &str, by: &str) -> String {
        match self.staging {
            Staging::Tally => {
                let call = self.d.function("tally", &self.tally_args(Point::Grouped));
                format!("SELECT {columns} FROM ({rows}) AS _bpl_q GROUP BY {by} HAVING {call}")
            }
            Staging::Materialized | Staging::Chained => {
                let groups = format!(
                    "SELECT {columns}, count(*) AS {GROUP_ROWS} FROM ({rows}) AS _bpl_q GROUP BY {by}"
                );
                self.materialize(&groups, Point::Grouped)
            }
        }
    }

    /// The rows of `rows` that go on past `point`, counted once each.
    pub fn pass(&mut self, rows: &str, point: Point) -> String {
        match self.staging {
            Staging::Tally => {
                // Most rows are the first of their dedupe group, which the
                // tally would only let pass: it is called for the others.
                let first = match &point {
                    Point::Dedupe { rn, accept: false } => Some(format!("{rn} = 1")),
                    _ => None,
                };
                let record = Self::record_of(&point);
                let mut call = self.d.function("tally", &self.tally_args(point));
                if let Some(first) = first {
                    call = format!("CASE WHEN {first} THEN 1 ELSE {call} END");
                }
                // A quarantined row's record is built only for that row, by
                // a second call `CASE` makes right after the first said no:
                // as an argument of the first it was tested on every row
                // (and its test computed the rules again).
                if let Some(record) = record {
                    let keep = self
                        .d
                        .function("tally", &[tally::RECORD.to_string(), record]);
                    call = format!("CASE WHEN {call} THEN 1 ELSE {keep} END");
                }
                let t = format!("_bpl_t{}", self.fences);
                self.fences += 1;
                // Kept from being flattened (see the module doc of `range`).
                let inner = self
                    .d
                    .unflattened(&format!("SELECT *, {call} AS {t} FROM ({rows}) AS _bpl_q"));
                format!("SELECT * FROM ({inner}) AS _bpl_q WHERE {t}")
            }
            Staging::Materialized | Staging::Chained => self.materialize(rows, point),
        }
    }

    /// The first row of each dedupe group of `numbered`, the duplicates
    /// counted, for a dedupe whose kept rows go one to one into the staging
    /// `INSERT` (tally staging only). No fence: the rows are numbered by a
    /// window, which SQLite neither flattens nor pushes a term reading the
    /// row number into, and the only query above the filter that could
    /// repeat it is the `INSERT`'s join with the batch table, a `CROSS
    /// JOIN` that keeps these rows in the outer loop; so the filter runs
    /// once per numbered row, and the tally only for the duplicates.
    pub fn last_duplicates(&mut self, numbered: &str, rn: &str) -> String {
        let call = self.d.function(
            "tally",
            &self.tally_args(Point::Dedupe {
                rn: rn.into(),
                accept: false,
            }),
        );
        format!(
            "SELECT * FROM ({numbered}) AS _bpl_q WHERE CASE WHEN {rn} = 1 THEN 1 ELSE {call} END"
        )
    }

    /// [`Self::last_duplicates`] for a dedupe written as a `group by` that
    /// keeps, of each group, the row with the top value of its one order
    /// key (`grouped`: SQLite takes a grouped query's bare columns from
    /// the row its one `max` or `min` chose). The `HAVING` counts a group's
    /// duplicates with one call per group of more than one row. SQLite
    /// never flattens a grouped subquery, so the call runs once per group.
    /// `rejoin`: the partition's columns `grouped` left out, joined back
    /// from the batch table by `_bpl_no`.
    pub fn last_duplicates_grouped(&mut self, grouped: &str, rejoin: &[String]) -> String {
        let call = self.d.function(
            "tally",
            &[
                tally::DEDUPE_GROUP.to_string(),
                "_bpl_no".into(),
                "count(*)".into(),
            ],
        );
        let kept = format!("{grouped} HAVING CASE WHEN count(*) = 1 THEN 1 ELSE {call} END");
        if rejoin.is_empty() {
            return kept;
        }
        super::rejoin_parts(&kept, rejoin, "", self.d)
    }

    /// The record of the row a point quarantines, for `bpl_tally`'s
    /// [`tally::RECORD`] call: a bad row's at a checked point, else the
    /// route's. `None` for points that quarantine nothing.
    fn record_of(point: &Point) -> Option<String> {
        match point {
            Point::Boundary { record } => Some(record.clone()),
            Point::Route { passes: None, .. } => None,
            Point::Route { record, .. } => Some(record.clone()),
            // Both records are usually the same object: then it needs no `CASE`.
            Point::Checked { record, route } => Some(match Self::record_of(route) {
                Some(routed) if routed != *record => {
                    format!("CASE WHEN _bpl_bad IS NOT NULL THEN {record} ELSE {routed} END")
                }
                _ => record.clone(),
            }),
            _ => None,
        }
    }

    /// The tally's arguments for a point (see [`tally`]); a quarantined
    /// row's record is not among them (see [`Self::record_of`]).
    fn tally_args(&self, point: Point) -> Vec<String> {
        let no = "_bpl_no".to_string();
        match point {
            Point::Input => vec![tally::INPUT.to_string(), no],
            Point::Boundary { .. } => vec![tally::BOUNDARY.to_string(), no, "_bpl_bad".into()],
            Point::Route { point, flags, .. } => vec![
                tally::ROUTE.to_string(),
                point.to_string(),
                no,
                flags.join(", "),
            ],
            Point::Checked { route, .. } => {
                let mut args = vec![
                    tally::CHECKED.to_string(),
                    String::new(),
                    no,
                    "_bpl_bad".into(),
                ];
                // The route's own arguments after its kind: point, partition
                // (already given), flags.
                let route = self.tally_args(*route);
                args[1] = route[1].clone();
                args.extend(route.into_iter().skip(3));
                args
            }
            Point::Dedupe { rn, accept } => {
                let kind = if accept {
                    tally::DEDUPE_ACCEPT
                } else {
                    tally::DEDUPE
                };
                vec![kind.to_string(), no, rn]
            }
            Point::Grouped => vec![tally::ACCEPT_GROUP.to_string(), no, "count(*)".into()],
            Point::Accept => {
                let mut args = vec![tally::ACCEPT.to_string(), no];
                args.extend(
                    self.unmatched
                        .iter()
                        .map(|a| format!("({} IS NULL)", flat(a, "_bpl_matched"))),
                );
                args
            }
        }
    }

    /// Keeps the rows reaching `point` in a table of their own (a
    /// materialized common table expression when chained), describes how
    /// they are counted, and reads on the ones that pass.
    fn materialize(&mut self, rows: &str, point: Point) -> String {
        let name = format!("bpl_point_{}", self.tables.len());
        let chained = self.staging == Staging::Chained;
        let table = if chained {
            name.clone()
        } else {
            self.d.temp_table(&name)
        };
        // Each counted column named `_bpl_c<k>`: an engine that returns a
        // chained statement's counts as JSON objects finds them by name.
        let named = |columns: &[String]| {
            columns
                .iter()
                .enumerate()
                .map(|(k, c)| format!("{c} AS _bpl_c{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let grouped = |columns: &[String]| {
            format!(
                "SELECT _bpl_no, {} FROM {table} GROUP BY _bpl_no",
                named(columns)
            )
        };
        // A common table expression is read back in the order its rows were
        // written, as a connection-private table is in its physical order.
        let in_order = |columns: &[String], filter: &str| {
            let order = if chained {
                String::new()
            } else {
                format!(" ORDER BY {}", self.d.point_order())
            };
            format!(
                "SELECT _bpl_no, {} FROM {table} WHERE {filter}{order}",
                named(columns)
            )
        };
        let count_all = || vec!["count(*)".to_string()];
        let (count, pass) = match point {
            // Two tables: the boundary's, then the route's of its good rows.
            Point::Checked { record, route } => {
                let good = self.materialize(rows, Point::Boundary { record });
                return self.materialize(&good, *route);
            }
            Point::Input => (PointCount::Input(grouped(&count_all())), None),
            Point::Boundary { record } => (
                PointCount::Boundary {
                    input: grouped(&count_all()),
                    bad: in_order(&["_bpl_bad".to_string(), record], "_bpl_bad IS NOT NULL"),
                },
                Some("_bpl_bad IS NULL".to_string()),
            ),
            Point::Route {
                point,
                flags,
                passes,
                record,
            } => {
                let failures: Vec<String> = flags
                    .iter()
                    .map(|f| format!("sum(CASE WHEN {f} = 1 THEN 0 ELSE 1 END)"))
                    .collect();
                let mut passed: Vec<String> = flags
                    .iter()
                    .map(|f| format!("CASE WHEN {f} = 1 THEN 1 ELSE 0 END"))
                    .collect();
                passed.push(record);
                let quarantined = passes
                    .as_deref()
                    .map(|p| in_order(&passed, &format!("NOT ({p})")));
                (
                    PointCount::Route {
                        point,
                        failures: grouped(&failures),
                        quarantined,
                    },
                    passes,
                )
            }
            Point::Dedupe { rn, accept } => (
                PointCount::Dedupe {
                    counts: grouped(&[
                        format!("sum(CASE WHEN {rn} = 1 THEN 1 ELSE 0 END)"),
                        format!("sum(CASE WHEN {rn} = 1 THEN 0 ELSE 1 END)"),
                    ]),
                    accept,
                },
                Some(format!("{rn} = 1")),
            ),
            Point::Accept => {
                let mut columns = vec!["count(*)".to_string()];
                columns.extend(self.unmatched.iter().map(|a| {
                    format!(
                        "sum(CASE WHEN {} IS NULL THEN 1 ELSE 0 END)",
                        flat(a, "_bpl_matched")
                    )
                }));
                (PointCount::Accept(grouped(&columns)), None)
            }
            Point::Grouped => (
                PointCount::Accept(grouped(&[format!("sum({GROUP_ROWS})")])),
                None,
            ),
        };
        let select = format!("{}SELECT * FROM ({rows}) AS r", self.with);
        self.tables.push(if chained {
            // A route point is its point before with each rule's flag: its
            // few readers (its counts, its quarantined rows, the next
            // point) compute the flags again from those kept rows, which
            // costs less than writing every row once more and reading it
            // back, and gives them the same rows in the same order.
            let kept = match count {
                PointCount::Route { .. } => "NOT MATERIALIZED",
                _ => "MATERIALIZED",
            };
            PointTable {
                drop: String::new(),
                create: format!("{name} AS {kept} ({select})"),
                count,
            }
        } else {
            PointTable {
                drop: format!("DROP TABLE IF EXISTS {table}"),
                create: self.d.temp_table_as(&name, &select),
                count,
            }
        });
        match pass {
            Some(p) => format!("SELECT * FROM {table} WHERE {p}"),
            None => format!("SELECT * FROM {table}"),
        }
    }
}
