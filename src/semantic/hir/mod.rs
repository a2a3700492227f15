//! The checked program: what the graph, the planner and the runtime read.
//! Names are resolved to [`DeclId`]s, columns are typed, and every input
//! boundary is a [`Mapping`] from an output partition to input partitions.
//! The AST goes no further than the semantic pass.

use std::collections::HashMap;

mod files;
pub use files::{FileFormat, FileSource};

use serde::Serialize;

use super::expr::Col;
use crate::syntax::ast::{BindPolicy, Cadence, ClockKind, DeclKind, PublishMode, RestatePolicy};
use crate::syntax::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeclId(pub u32);

#[derive(Debug, Default)]
pub struct Program {
    pub decls: Vec<Decl>,
    by_name: HashMap<String, DeclId>,
}

impl Program {
    pub fn push(&mut self, mut decl: Decl) -> DeclId {
        let id = DeclId(self.decls.len() as u32);
        decl.id = id;
        self.by_name.insert(decl.name.clone(), id);
        self.decls.push(decl);
        id
    }

    pub fn get(&self, id: DeclId) -> &Decl {
        &self.decls[id.0 as usize]
    }

    pub fn lookup(&self, name: &str) -> Option<&Decl> {
        self.by_name.get(name).map(|id| self.get(*id))
    }

    pub fn datasets(&self) -> impl Iterator<Item = &Decl> {
        self.decls.iter().filter(|d| d.kind == DeclKind::Dataset)
    }
}

/// A source, reference or dataset, resolved.
#[derive(Debug, Clone)]
pub struct Decl {
    pub id: DeclId,
    pub kind: DeclKind,
    pub name: String,
    pub span: Span,
    /// The physical table it reads or writes.
    pub table: String,
    /// Job version; 0 for sources and references.
    pub version: u32,
    pub columns: Vec<Col>,
    pub key: Vec<String>,
    pub partition: Vec<PartitionKey>,
    pub publish: Option<PublishMode>,
    pub schedule: Option<Schedule>,
    pub inputs: Vec<Input>,
    pub binds: Vec<Bind>,
    /// When a partition closes: `closed after <grain end>(p) + offset`.
    pub closed_after: Option<CloseRule>,
    pub restate: Option<RestatePolicy>,
    /// Sources: how late rows may arrive, in seconds.
    pub max_lateness_secs: Option<u64>,
    /// Sources and references: locks, clocks, validity and versions.
    pub access: Access,
    /// Datasets: what they compute and promise.
    pub job: Option<Job>,
    /// How each output column combines across partitions, by name; empty
    /// for a dataset on a dependency cycle (see `semantic::additivity`).
    pub additivity: Vec<(String, Additivity)>,
}

impl Decl {
    /// The time grain of the partition, if it has a date or month key.
    pub fn grain(&self) -> Option<Grain> {
        self.partition.iter().find_map(|k| match k.kind {
            PartitionKind::Time(g) => Some(g),
            _ => None,
        })
    }
}

/// How a column's values combine across partitions, from harmless to
/// worst: what a roll-up over several partitions may `sum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Additivity {
    /// A grouping or partition key, a reference attribute or a constant:
    /// not a measure.
    Key,
    /// A value of one row, passed through: a sum over rows adds up however
    /// the rows are split into partitions.
    Row,
    /// A `sum` or `count` over the partition's own rows: the figures of
    /// several partitions add up to the figure of their union.
    Additive,
    /// A distinct count, an average, a ratio, a minimum or a maximum: the
    /// figure of a union is not the sum of the parts' figures.
    NonAdditive,
    /// Computed over a window wider than its partition: neighbouring
    /// partitions count the same rows, so their sum counts them again.
    Overlapping,
}

impl Additivity {
    /// The class as the book and hover name it.
    pub fn name(self) -> &'static str {
        match self {
            Additivity::Key => "key",
            Additivity::Row => "row value",
            Additivity::Additive => "additive",
            Additivity::NonAdditive => "non-additive",
            Additivity::Overlapping => "overlapping",
        }
    }

    /// Whether a sum of its values over several partitions is wrong.
    pub fn sums_wrongly(self) -> bool {
        self >= Additivity::NonAdditive
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    Quarter,
    Year,
}

impl Grain {
    /// The grain of a calendar type name, if it is one.
    pub fn of_type(t: &crate::syntax::ast::Type) -> Option<Grain> {
        use crate::syntax::ast::Type;
        Some(match t {
            Type::Date => Grain::Day,
            Type::Week => Grain::Week,
            Type::Month => Grain::Month,
            Type::Quarter => Grain::Quarter,
            Type::Year => Grain::Year,
            _ => return None,
        })
    }

    /// The grain a calendar function reads `p` at (`month(p)`), or the
    /// period its `_end` variant closes (`month_end(p)`).
    pub fn of_function(name: &str) -> Option<Grain> {
        Some(match name.strip_suffix("_end").unwrap_or(name) {
            "week" => Grain::Week,
            "month" => Grain::Month,
            "quarter" => Grain::Quarter,
            "year" => Grain::Year,
            _ => return None,
        })
    }

    /// The duration suffix one partition of this grain is written in.
    pub fn unit(self) -> &'static str {
        match self {
            Grain::Day => "d",
            Grain::Week => "w",
            Grain::Month | Grain::Quarter => "mo",
            Grain::Year => "y",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionKey {
    pub name: String,
    pub kind: PartitionKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKind {
    /// `date` (day), `week`, `month`, `quarter` or `year`.
    Time(Grain),
    /// A static dimension such as a tenant or a region.
    Dimension,
    Hash {
        column: String,
        buckets: u32,
    },
    /// Every run owns a partition of its own.
    Run,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub cadence: Cadence,
    pub at: Option<String>,
    pub time_zone: Option<String>,
    /// How many partitions of the partition grain before the run date a run
    /// recomputes (0: the run date only).
    pub lookback: i64,
    /// `sla 6h`: seconds after its scheduled time a run may publish
    /// before it is late (`bplc status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_secs: Option<u64>,
    /// `on day N` of a monthly schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_day: Option<u32>,
    /// `on monday` … of a weekly schedule, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_weekday: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub alias: String,
    pub target: DeclId,
    pub span: Span,
    pub clock: Option<ClockKind>,
    pub mapping: Mapping,
}

/// Which input partitions feed output partition `p`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub time: TimeMapping,
    /// Static dimensions passed through: `(output key, input key)`.
    pub dimensions: Vec<(String, String)>,
    /// The zone a source's clock is read in, `to_date(event_time,
    /// "Europe/London") == p`: a source's days are UTC days, so the
    /// output's day `p` is a window of UTC instants that can straddle two
    /// of them. `None` when the input's partition values are dates already.
    pub zone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeMapping {
    /// Input partitions `[p + lo, p + hi]`, offsets in units of the output's
    /// grain, then widened or narrowed to the input's grain (`month(p)` over
    /// daily input means every day of the month).
    Window { lo: i64, hi: i64 },
    /// Every input partition: `all history`, or an input with no time grain.
    All,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bind {
    pub alias: String,
    pub target: DeclId,
    pub policy: BindPolicyKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindPolicyKind {
    AsOfEventTime,
    AsOfProcessingTime,
    AsOfReportClose,
    Pinned(String),
    Latest { reason: Option<String> },
}

impl BindPolicyKind {
    pub fn from_ast(p: &BindPolicy) -> BindPolicyKind {
        match p {
            BindPolicy::AsOf(_) => BindPolicyKind::AsOfEventTime,
            BindPolicy::ProcessingTime => BindPolicyKind::AsOfProcessingTime,
            BindPolicy::ReportClose => BindPolicyKind::AsOfReportClose,
            BindPolicy::Pinned(v) => BindPolicyKind::Pinned(v.value.clone()),
            BindPolicy::Latest { reason } => BindPolicyKind::Latest {
                reason: reason.as_ref().map(|r| r.value.clone()),
            },
        }
    }

    /// Whether a backfill reads the same reference rows as the original run.
    pub fn reproducible(&self) -> bool {
        !matches!(
            self,
            BindPolicyKind::Latest { .. } | BindPolicyKind::AsOfProcessingTime
        )
    }
}

/// `closed after <grain>_end(p) + offset_days`: a partition closes
/// `offset_days` after the end of its period (its month for `month_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CloseRule {
    pub period: Grain,
    pub offset_days: i64,
}

mod job;
pub use job::*;
