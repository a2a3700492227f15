//! The checked form of what a dataset computes and promises: its pipeline,
//! quality rules and reconciliation, with every name resolved and every
//! expression typed. The planner and the SQL backends read this, never the
//! AST.

use serde::Serialize;

use crate::semantic::ty::T;
use crate::syntax::ast::{BinaryOp, ClockKind, RuleLevel, Severity, UnaryOp};

/// A typed expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    #[serde(serialize_with = "ser_ty")]
    pub ty: T,
}

impl Expr {
    /// Whether `f` holds for this expression or any expression inside it
    /// (a call's arguments, not its `over` clause).
    pub fn any(&self, f: &impl Fn(&Expr) -> bool) -> bool {
        f(self)
            || match &self.kind {
                ExprKind::Call { args, .. } | ExprKind::List(args) => args.iter().any(|a| a.any(f)),
                ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } => x.any(f),
                ExprKind::Binary(_, l, r) => l.any(f) || r.any(f),
                ExprKind::If {
                    cond,
                    then,
                    otherwise,
                } => cond.any(f) || then.any(f) || otherwise.any(f),
                _ => false,
            }
    }

    /// Calls `f` on this expression, then on each expression inside it
    /// (a call's arguments, not its `over` clause), parents first.
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        f(self);
        match &mut self.kind {
            ExprKind::Call { args, .. } | ExprKind::List(args) => {
                args.iter_mut().for_each(|a| a.walk_mut(f))
            }
            ExprKind::Unary(_, x) | ExprKind::IsNull { expr: x, .. } => x.walk_mut(f),
            ExprKind::Binary(_, l, r) => {
                l.walk_mut(f);
                r.walk_mut(f);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                cond.walk_mut(f);
                then.walk_mut(f);
                otherwise.walk_mut(f);
            }
            _ => {}
        }
    }
}

fn ser_ty<S: serde::Serializer>(t: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    Lit(Lit),
    /// A column of an input or binding (`ev.case_id`; an unqualified column
    /// is qualified here when it belongs to one alias), or, with no alias, a
    /// column the pipeline computed (`derive`, `group`, `select`).
    Column {
        alias: Option<String>,
        name: String,
    },
    /// `p` (`key: None`) or `p.tenant`.
    Partition {
        key: Option<String>,
    },
    /// A pipeline counter: `input`, `accepted`, `quarantined`, `duplicates`, `output`.
    Counter(String),
    /// An enum value such as `closed`.
    Variant(String),
    /// An input or binding passed whole, as in `rows(cases)`.
    Alias(String),
    Call {
        name: String,
        kind: CallKind,
        args: Vec<Expr>,
        over: Option<Over>,
    },
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    List(Vec<Expr>),
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lit {
    Int(i64),
    /// An exact number as written (`0.95`).
    Number(String),
    String(String),
    Bool(bool),
    Null,
    /// `2026-06-15`.
    Date(String),
    /// `2026-06`.
    Month(String),
    /// `@2026-06-15T10:00:00Z`, as written.
    Timestamp(String),
    /// A calendar-aware duration: months and years stay months.
    Duration {
        amount: i64,
        unit: DurationUnit,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    Seconds,
    Days,
    Months,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Scalar,
    Aggregate,
    Window,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Over {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

/// `name = expr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Named {
    pub name: String,
    pub expr: Expr,
}

/// One step of a `compute` pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    From(String),
    Where(Expr),
    Join {
        left: bool,
        alias: String,
        on: Expr,
    },
    Derive(Vec<Named>),
    Dedupe {
        by: Vec<Expr>,
        order: Vec<SortKey>,
    },
    Group {
        keys: Vec<Named>,
        aggregates: Vec<Named>,
    },
    Aggregate(Vec<Named>),
    Select(Vec<Named>),
}

impl Step {
    /// Whether the step turns rows into output rows (and ends the row stage).
    pub fn shapes(&self) -> bool {
        matches!(
            self,
            Step::Group { .. } | Step::Aggregate(_) | Step::Select(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The rule's name, or one made from its position (`rule_3`).
    pub name: String,
    pub level: RuleLevel,
    pub expr: Expr,
    pub severity: Severity,
    /// The rule as the user wrote it, for reports.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciliation {
    pub name: String,
    pub expr: Expr,
    /// Allowed difference for an equality: an absolute amount, or relative
    /// (`0.5%` is `Relative(0.005)`).
    pub tolerance: Option<Tolerance>,
    /// What a failure does; a run fails unless the spec says otherwise.
    pub severity: Severity,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    Absolute(f64),
    Relative(f64),
}

/// What a derived dataset computes: the checked `compute`, `quality` and
/// `reconcile` blocks, plus each input's boundary as a condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Job {
    pub steps: Vec<Step>,
    pub rules: Vec<Rule>,
    pub reconcile: Vec<Reconciliation>,
    /// The boundary of each input, by alias, as a condition over the input's
    /// own columns and `p` (no alias on the columns).
    pub boundaries: Vec<(String, Option<Expr>)>,
    /// The `as of` expression of each binding that has one, by alias.
    pub as_of: Vec<(String, Expr)>,
}

/// How a source's rows are locked at run start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lock {
    /// `snapshot by col`: rows up to the column's high-water mark.
    Snapshot(String),
    /// `cursor by (a, b)`: rows up to a composite high-water mark.
    Cursor(Vec<String>),
    /// A landing-folder source: the files ingested up to a file number
    /// (`_bpl_file`), less rows a later file replaced (`_bpl_until`).
    Files,
}

/// What a source or reference says about reading it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Access {
    pub lock: Option<Lock>,
    pub clocks: Vec<(ClockKind, String)>,
    /// Effective-dated rows: `(valid_from, valid_to)`.
    pub validity: Option<(String, String)>,
    /// Versioned snapshots: the version column and the versions declared.
    pub versioned_by: Option<String>,
    pub versions: Vec<String>,
    /// Sources: what rows that fail the typed input boundary do:
    /// `Quarantine` (the default), `FailPartition` or `FailRun`.
    pub bad_rows: Option<crate::syntax::ast::Severity>,
    /// Sources: the landing folder it reads, if any.
    pub files: Option<super::FileSource>,
    /// References: the seed file it is loaded from, relative to the project.
    pub seed: Option<String>,
    /// How the seed file is written (a CSV format: delimiter, quote, null
    /// marker, encoding, header).
    pub seed_format: Option<super::FileFormat>,
}
