//! The text of nodes that print on one line: clauses, steps, rules, list
//! items. The printer in `mod.rs` decides where the lines go.

use super::expr::{self, duration, order_by, string, type_expr};
use crate::syntax::ast::*;
use crate::syntax::span::Span;

fn names(names: &[Ident]) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    names.join(", ")
}

pub fn named(n: &NamedExpr) -> (String, Span) {
    let e = expr::expr(&n.expr);
    let text = match &n.name {
        Some(name) => format!("{} = {e}", name.name),
        None => e,
    };
    (text, n.span)
}

pub fn assignment(a: &Assignment) -> (String, Span) {
    (format!("{} = {}", a.name.name, expr::expr(&a.expr)), a.span)
}

pub fn clause_line(kind: &ClauseKind) -> String {
    match kind {
        ClauseKind::Table(s) => format!("table {}", string(&s.value)),
        ClauseKind::Key(k) => format!("key {}", names(k)),
        ClauseKind::Clock(bindings) => {
            let parts: Vec<String> = bindings
                .iter()
                .map(|b| format!("{} = {}", b.kind.keyword(), b.column.name))
                .collect();
            format!("clock {}", parts.join(", "))
        }
        ClauseKind::Snapshot(col) => format!("snapshot by {}", col.name),
        ClauseKind::Cursor(cols) => format!("cursor by ({})", names(cols)),
        ClauseKind::MaxLateness(d) => format!("max lateness {}", duration(d)),
        ClauseKind::BadRows { severity, .. } => format!("bad rows {}", severity.words()),
        ClauseKind::Validity { from, to } => format!("valid from {} to {}", from.name, to.name),
        ClauseKind::VersionedBy(col) => format!("versioned by {}", col.name),
        ClauseKind::Versions(vs) => {
            let vs: Vec<String> = vs.iter().map(|v| string(&v.value)).collect();
            format!("versions {}", vs.join(", "))
        }
        ClauseKind::Version { number, .. } => format!("version {number}"),
        ClauseKind::Partition(keys) => {
            let keys: Vec<String> = keys.iter().map(partition_key).collect();
            format!("partition by {}", keys.join(", "))
        }
        ClauseKind::Publish(PublishMode::Replace) => "publish replace".to_string(),
        ClauseKind::Publish(PublishMode::Versioned) => "publish versioned".to_string(),
        ClauseKind::Schedule(s) => schedule(s),
        ClauseKind::Input(i) => input(i),
        ClauseKind::Bind(b) => bind(b),
        ClauseKind::ClosedAfter(e) => format!("closed after {}", expr::expr(e)),
        ClauseKind::Restate(RestatePolicy::WithReason) => "restate with reason".to_string(),
        ClauseKind::Restate(RestatePolicy::Never) => "restate never".to_string(),
        ClauseKind::Allow { code, reason } => {
            format!("allow {} because {}", code.name, string(&reason.value))
        }
        ClauseKind::Files(f) => files(f),
        ClauseKind::Seed(path, o) => {
            let mut words = vec![format!("seed {}", string(&path.value))];
            words.extend(csv_words(o));
            words.join(" ")
        }
        ClauseKind::ChangedFiles { replace, .. } => {
            format!(
                "changed files {}",
                if *replace { "replace" } else { "fail" }
            )
        }
        ClauseKind::Columns(_)
        | ClauseKind::Compute(_)
        | ClauseKind::Quality(_)
        | ClauseKind::Reconcile(_)
        | ClauseKind::Corrections(_) => unreachable!("blocks are printed by `Printer::clause`"),
    }
}

fn files(f: &FileSpec) -> String {
    let format = match &f.format {
        FileFormat::JsonLines => "json lines".to_string(),
        FileFormat::Parquet => "parquet".to_string(),
        FileFormat::Csv(o) => {
            let mut words = vec!["csv".to_string()];
            words.extend(csv_words(o));
            words.join(" ")
        }
    };
    format!("files {} as {format}", string(&f.glob.value))
}

/// The options a CSV format states, as written.
fn csv_words(o: &CsvOptions) -> Vec<String> {
    let mut words = Vec::new();
    for (word, value) in [
        ("delimiter", &o.delimiter),
        ("quote", &o.quote),
        ("null", &o.null),
        ("encoding", &o.encoding),
    ] {
        if let Some(v) = value {
            words.push(format!("{word} {}", string(&v.value)));
        }
    }
    if o.no_header.is_some() {
        words.push("no header".into());
    }
    words
}

fn partition_key(k: &PartitionKey) -> String {
    let kind = match &k.kind {
        PartitionType::Column(t) => type_expr(t),
        PartitionType::Hash { column, buckets } => format!("hash({}, {buckets})", column.name),
        PartitionType::Run(_) => "run".to_string(),
    };
    format!("{}: {kind}", k.name.name)
}

fn schedule(s: &Schedule) -> String {
    let cadence = match s.cadence {
        Cadence::Hourly => "hourly",
        Cadence::Daily => "daily",
        Cadence::Weekly => "weekly",
        Cadence::Monthly => "monthly",
    };
    let mut out = format!("schedule {cadence}");
    match &s.on {
        Some(ScheduleDay::DayOfMonth(day, _)) => out.push_str(&format!(" on day {day}")),
        Some(ScheduleDay::Weekday(day)) => out.push_str(&format!(" on {}", day.name)),
        None => {}
    }
    if let Some(at) = &s.at {
        out.push_str(&format!(" at {}", at.value));
    }
    if let Some(tz) = &s.time_zone {
        out.push(' ');
        out.push_str(&string(&tz.value));
    }
    if let Some(d) = &s.lookback {
        out.push_str(&format!(" lookback {}", duration(d)));
    }
    if let Some(d) = &s.sla {
        out.push_str(&format!(" sla {}", duration(d)));
    }
    out
}

fn input(i: &Input) -> String {
    let mut out = format!("input {} = {}", i.alias.name, i.target.name);
    if let Some((clock, _)) = i.clock {
        out.push_str(&format!(" by {} clock", clock.keyword()));
    }
    match &i.bound {
        InputBound::Unbounded => {}
        InputBound::Where(e) => out.push_str(&format!(" where {}", expr::expr(e))),
        InputBound::AllHistory(_) => out.push_str(" all history"),
    }
    out
}

fn bind(b: &Bind) -> String {
    let policy = match &b.policy {
        BindPolicy::AsOf(e) => format!("as of {}", expr::expr(e)),
        BindPolicy::ProcessingTime => "as of processing time".to_string(),
        BindPolicy::ReportClose => "as of report close".to_string(),
        BindPolicy::Pinned(v) => format!("pinned {}", string(&v.value)),
        BindPolicy::Latest { reason: None } => "latest".to_string(),
        BindPolicy::Latest { reason: Some(r) } => format!("latest because {}", string(&r.value)),
    };
    format!("bind {} = {} {policy}", b.alias.name, b.target.name)
}

pub fn step_line(kind: &StepKind) -> String {
    match kind {
        StepKind::From(name) => format!("from {}", name.name),
        StepKind::Where(e) => format!("where {}", expr::expr(e)),
        StepKind::Join { left, alias, on } => {
            let left = if *left { "left " } else { "" };
            format!("{left}join {} on {}", alias.name, expr::expr(on))
        }
        StepKind::Dedupe { by, order } => {
            let by: Vec<String> = by.iter().map(expr::expr).collect();
            let mut out = format!("dedupe by {}", by.join(", "));
            if !order.is_empty() {
                out.push(' ');
                out.push_str(&order_by(order));
            }
            out
        }
        StepKind::Derive { .. }
        | StepKind::Group { .. }
        | StepKind::Aggregate(_)
        | StepKind::Select(_) => unreachable!("lists and blocks are printed by `Printer::step`"),
    }
}

fn rule_name(name: &Option<Ident>) -> String {
    name.as_ref()
        .map_or(String::new(), |n| format!("{}: ", n.name))
}

pub fn quality_rule(r: &QualityRule) -> String {
    let kind = match r.level {
        RuleLevel::Row => "require",
        RuleLevel::Partition => "expect",
    };
    format!(
        "{kind} {}{} else {}",
        rule_name(&r.name),
        expr::expr(&r.expr),
        r.severity.words()
    )
}

pub fn reconcile_rule(r: &ReconcileRule) -> String {
    let mut out = format!("{}{}", rule_name(&r.name), expr::expr(&r.expr));
    if let Some(t) = &r.tolerance {
        out.push_str(&format!(" within {}", expr::literal(t)));
    }
    if let Some((severity, _)) = r.severity {
        out.push_str(&format!(" else {}", severity.words()));
    }
    out
}

pub fn correction_rule(r: &CorrectionRule) -> String {
    let class = match r.class {
        CorrectionClass::WithinLookback => "within lookback",
        CorrectionClass::ClosedPeriod => "closed period",
        CorrectionClass::UnknownImpact => "unknown impact",
    };
    let action = match r.action {
        CorrectionAction::Recompute => "recompute",
        CorrectionAction::Restate => "restate",
        CorrectionAction::PlanFirst => "plan first",
        CorrectionAction::Ignore => "ignore",
        CorrectionAction::ManualReview => "manual review",
    };
    format!("{class} => {action}")
}
