//! The abstract syntax tree of one `.bpl` file. Every node carries a [`Span`];
//! nothing borrows the input, so the tree outlives the parser.
//!
//! The tree is what the user wrote, not what it means: names are unresolved
//! and a clause may sit in a declaration that does not allow it. The semantic
//! pass decides that.

use super::span::{FileId, Span};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum Item {
    Decl(Decl),
    Function(FunctionDecl),
    Check(CheckDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Decl(d) => d.span,
            Item::Function(f) => f.span,
            Item::Check(c) => c.span,
        }
    }

    pub fn name(&self) -> &Ident {
        match self {
            Item::Decl(d) => &d.name,
            Item::Function(f) => &f.name,
            Item::Check(c) => &c.name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclKind {
    Source,
    Reference,
    Dataset,
}

impl DeclKind {
    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Source => "source",
            DeclKind::Reference => "reference",
            DeclKind::Dataset => "dataset",
        }
    }
}

/// A `source`, `reference` or `dataset` declaration.
#[derive(Debug, Clone, Serialize)]
pub struct Decl {
    pub kind: DeclKind,
    pub docs: Vec<String>,
    pub name: Ident,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum ClauseKind {
    Table(StrLit),
    Columns(Vec<Column>),
    Key(Vec<Ident>),
    Clock(Vec<ClockBinding>),
    /// `snapshot by col`: the input lock records the column's high-water mark.
    Snapshot(Ident),
    /// `cursor by (a, b)`: a composite cursor for the input lock.
    Cursor(Vec<Ident>),
    MaxLateness(DurationLit),
    /// `bad rows fail partition`: what a source's rows that fail the typed
    /// input boundary do (by default they are quarantined).
    BadRows {
        severity: Severity,
        span: Span,
    },
    Validity {
        from: Ident,
        to: Ident,
    },
    VersionedBy(Ident),
    Versions(Vec<StrLit>),
    Version {
        number: u32,
        span: Span,
    },
    Partition(Vec<PartitionKey>),
    Publish(PublishMode),
    Schedule(Schedule),
    Input(Input),
    Bind(Bind),
    Compute(Vec<Step>),
    Quality(Vec<QualityRule>),
    Reconcile(Vec<ReconcileRule>),
    Corrections(Vec<CorrectionRule>),
    ClosedAfter(Expr),
    Restate(RestatePolicy),
    Allow {
        code: Ident,
        reason: StrLit,
    },
    /// `files "landing/*.csv" as csv ...`: the landing folder a source reads.
    Files(FileSpec),
    /// `seed "seeds/regions.csv"`: a reference kept in the project as CSV.
    /// The file, and how it is written.
    Seed(StrLit, CsvOptions),
    /// `changed files replace`: what a landing file that changed after it
    /// was ingested does (by default it fails the ingestion).
    ChangedFiles {
        replace: bool,
        span: Span,
    },
}

impl ClauseKind {
    /// The words a clause starts with, as the user writes them.
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseKind::Table(_) => "table",
            ClauseKind::Columns(_) => "columns",
            ClauseKind::Key(_) => "key",
            ClauseKind::Clock(_) => "clock",
            ClauseKind::Snapshot(_) => "snapshot by",
            ClauseKind::Cursor(_) => "cursor by",
            ClauseKind::MaxLateness(_) => "max lateness",
            ClauseKind::BadRows { .. } => "bad rows",
            ClauseKind::Validity { .. } => "valid from",
            ClauseKind::VersionedBy(_) => "versioned by",
            ClauseKind::Versions(_) => "versions",
            ClauseKind::Version { .. } => "version",
            ClauseKind::Partition(_) => "partition by",
            ClauseKind::Publish(_) => "publish",
            ClauseKind::Schedule(_) => "schedule",
            ClauseKind::Input(_) => "input",
            ClauseKind::Bind(_) => "bind",
            ClauseKind::Compute(_) => "compute",
            ClauseKind::Quality(_) => "quality",
            ClauseKind::Reconcile(_) => "reconcile",
            ClauseKind::Corrections(_) => "corrections",
            ClauseKind::ClosedAfter(_) => "closed after",
            ClauseKind::Restate(_) => "restate",
            ClauseKind::Allow { .. } => "allow",
            ClauseKind::Files(_) => "files",
            ClauseKind::Seed(..) => "seed",
            ClauseKind::ChangedFiles { .. } => "changed files",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub docs: Vec<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeExpr {
    pub ty: Type,
    pub nullable: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Type {
    String,
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    /// A calendar month, `@2026-06`.
    Month,
    /// An ISO week (Monday to Sunday).
    Week,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
    Duration,
    Decimal {
        precision: u32,
        scale: u32,
    },
    Enum(Vec<Ident>),
    /// Any type; prelude signatures only.
    Any,
    /// Any numeric type; prelude signatures only.
    Numeric,
    /// A type variable such as `T`; prelude signatures only.
    Var(String),
    /// A type name that did not resolve; a diagnostic was already reported.
    Error,
}

/// The built-in type names, for messages and suggestions.
pub const TYPE_NAMES: &[&str] = &[
    "string",
    "int",
    "float",
    "bool",
    "date",
    "timestamp",
    "month",
    "week",
    "quarter",
    "year",
    "duration",
    "decimal",
    "enum",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    Event,
    Ingestion,
    SourceCommit,
    FileArrival,
}

impl ClockKind {
    pub fn keyword(self) -> &'static str {
        match self {
            ClockKind::Event => "event",
            ClockKind::Ingestion => "ingestion",
            ClockKind::SourceCommit => "source_commit",
            ClockKind::FileArrival => "file_arrival",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClockBinding {
    pub kind: ClockKind,
    pub column: Ident,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionKey {
    pub name: Ident,
    pub kind: PartitionType,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum PartitionType {
    /// `date`, `month` or a static dimension such as `string`.
    Column(TypeExpr),
    /// `hash(col, buckets)`
    Hash { column: Ident, buckets: u32 },
    /// `run`: every run owns a partition of its own.
    Run(Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishMode {
    Replace,
    Versioned,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub cadence: Cadence,
    pub on: Option<ScheduleDay>,
    /// `hh:mm` or `hh:mm:ss` as written.
    pub at: Option<StrLit>,
    pub time_zone: Option<StrLit>,
    pub lookback: Option<DurationLit>,
    /// `sla 6h`: how long after its scheduled time a run may publish
    /// before `bplc status` calls it late.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<DurationLit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScheduleDay {
    DayOfMonth(u32, Span),
    Weekday(Ident),
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub alias: Ident,
    pub target: Ident,
    pub clock: Option<(ClockKind, Span)>,
    pub bound: InputBound,
}

#[derive(Debug, Clone, Serialize)]
pub enum InputBound {
    /// No boundary written; the checker decides whether that is allowed.
    Unbounded,
    Where(Expr),
    /// `all history`: the whole input, on purpose.
    AllHistory(Span),
}

#[derive(Debug, Clone, Serialize)]
pub struct Bind {
    pub alias: Ident,
    pub target: Ident,
    pub policy: BindPolicy,
    pub policy_span: Span,
}

/// The five temporal policies for reading reference data.
#[derive(Debug, Clone, Serialize)]
pub enum BindPolicy {
    /// `as of <expr>`, usually an event-time column.
    AsOf(Expr),
    ProcessingTime,
    ReportClose,
    Pinned(StrLit),
    Latest {
        reason: Option<StrLit>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum StepKind {
    From(Ident),
    Where(Expr),
    Join {
        left: bool,
        alias: Ident,
        on: Expr,
    },
    Derive {
        assignments: Vec<Assignment>,
    },
    Group {
        keys: Vec<NamedExpr>,
        aggregates: Vec<Assignment>,
    },
    Aggregate(Vec<Assignment>),
    Select(Vec<NamedExpr>),
    Dedupe {
        by: Vec<Expr>,
        order: Vec<SortKey>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
}

/// `name = expr`, or an expression that names itself (`units.region`).
#[derive(Debug, Clone, Serialize)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleLevel {
    /// `require`: evaluated per row.
    Row,
    /// `expect`: evaluated once per partition.
    Partition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Quarantine,
    FailPartition,
    FailRun,
    ManualReview,
}

impl Severity {
    pub fn words(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Quarantine => "quarantine",
            Severity::FailPartition => "fail partition",
            Severity::FailRun => "fail run",
            Severity::ManualReview => "manual review",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct QualityRule {
    pub level: RuleLevel,
    pub name: Option<Ident>,
    pub expr: Expr,
    pub severity: Severity,
    pub severity_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRule {
    pub name: Option<Ident>,
    pub expr: Expr,
    pub tolerance: Option<Literal>,
    pub tolerance_span: Option<Span>,
    pub severity: Option<(Severity, Span)>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionClass {
    WithinLookback,
    ClosedPeriod,
    UnknownImpact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionAction {
    Recompute,
    Restate,
    PlanFirst,
    Ignore,
    ManualReview,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrectionRule {
    pub class: CorrectionClass,
    pub action: CorrectionAction,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestatePolicy {
    WithReason,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    Scalar,
    Aggregate,
    Window,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionDecl {
    pub docs: Vec<String>,
    pub kind: FunctionKind,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub variadic: bool,
}

/// A reusable quality check: `check not_null(x: any?) = x is not null`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckDecl {
    pub docs: Vec<String>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub enum ExprKind {
    Literal(Literal),
    Ident(String),
    /// `ev.event_time`
    Member(Box<Expr>, Ident),
    /// Boxed: a call is three times the size of any other expression, and
    /// every `Expr` is as large as its largest kind.
    Call(Box<Call>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `[a, b]`: a window when it follows `in`, a list otherwise.
    List(Vec<Expr>),
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Expr>,
    pub over: Option<Over>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Over {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Literal {
    Integer(i64),
    /// Kept as written, so `0.10` stays exact and formats back unchanged.
    Decimal(String),
    /// `20%`, the number before the sign as written.
    Percent(String),
    Duration(DurationLit),
    Date(chrono::NaiveDate),
    Month {
        year: i32,
        month: u32,
    },
    /// As written after the `@`.
    Timestamp(String),
    String(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DurationLit {
    pub amount: u32,
    pub unit: DurationUnit,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

/// How long a calendar month or year counts as, where a duration must be
/// turned into seconds: the shortest when asking what a duration surely
/// covers, the longest when asking how far it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reckon {
    Shortest,
    Longest,
}

impl DurationLit {
    /// The duration in seconds; months and years reckoned as `reckon` says.
    pub fn seconds(&self, reckon: Reckon) -> u64 {
        let day = 86_400;
        let unit: u64 = match (self.unit, reckon) {
            (DurationUnit::Seconds, _) => 1,
            (DurationUnit::Minutes, _) => 60,
            (DurationUnit::Hours, _) => 3_600,
            (DurationUnit::Days, _) => day,
            (DurationUnit::Weeks, _) => 7 * day,
            (DurationUnit::Months, Reckon::Shortest) => 28 * day,
            (DurationUnit::Months, Reckon::Longest) => 31 * day,
            (DurationUnit::Years, Reckon::Shortest) => 365 * day,
            (DurationUnit::Years, Reckon::Longest) => 366 * day,
        };
        self.amount as u64 * unit
    }
}

impl DurationUnit {
    pub fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "min",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
            DurationUnit::Months => "mo",
            DurationUnit::Years => "y",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }

    /// Binding strength; higher binds tighter. The parser and the formatter
    /// share this table so formatted output never changes meaning.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::In => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div => 6,
        }
    }
}

/// Precedence of `not`: looser than comparison, tighter than `and`.
pub const NOT_PRECEDENCE: u8 = 3;
/// Precedence of unary minus.
pub const NEG_PRECEDENCE: u8 = 7;

/// A landing folder: the files a glob matches, and how to read them.
#[derive(Debug, Clone, Serialize)]
pub struct FileSpec {
    pub glob: StrLit,
    pub format: FileFormat,
}

#[derive(Debug, Clone, Serialize)]
pub enum FileFormat {
    Csv(CsvOptions),
    JsonLines,
    Parquet,
}

/// The options a CSV format states; `None` where it keeps the default.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsvOptions {
    pub delimiter: Option<StrLit>,
    pub quote: Option<StrLit>,
    pub null: Option<StrLit>,
    pub encoding: Option<StrLit>,
    /// `no header`: columns are read by position, in declared order.
    pub no_header: Option<Span>,
}
