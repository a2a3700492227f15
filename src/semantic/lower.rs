//! AST to checked program. The interesting part is the input boundary: a
//! `where` over the input's partition column, written in terms of `p`,
//! becomes a [`Mapping`]; a boundary that cannot be read as one is an error,
//! because impact analysis and input locking both depend on it.

use rustc_hash::FxHashMap as HashMap;

use super::columns::Schemas;
use super::hir::*;
use super::ty::T;
use super::Symbols;
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::{
    self, BinaryOp, ClauseKind, DeclKind, DurationUnit, ExprKind, InputBound, PartitionType,
};
use crate::syntax::span::Span;

pub fn lower(
    symbols: &Symbols<'_>,
    schemas: &Schemas<'_>,
    types: Option<&HashMap<Span, T>>,
    diags: &mut Vec<Diagnostic>,
) -> Program {
    let mut program = Program::default();
    // Every declaration first, so inputs can point at any of them.
    for d in symbols.decls() {
        program.push(shell(d, schemas));
    }
    let columns = |name: &str| schemas.of(name).unwrap_or(&[]);
    let jobs = types.map(|types| super::job::Lowering {
        symbols,
        types,
        columns: &columns,
    });
    for d in symbols.decls() {
        let Some(id) = program.lookup(&d.name.name).map(|x| x.id) else {
            continue;
        };
        let mut inputs = Vec::new();
        let mut binds = Vec::new();
        let out = program.get(id).partition.clone();
        for clause in &d.clauses {
            match &clause.kind {
                ClauseKind::Input(i) => {
                    let Some(target) = program.lookup(&i.target.name) else {
                        continue;
                    };
                    let mapping = mapping(i, &out, target, diags);
                    inputs.push(Input {
                        alias: i.alias.name.clone(),
                        target: target.id,
                        span: clause.span,
                        clock: i.clock.map(|(c, _)| c),
                        mapping,
                    });
                }
                ClauseKind::Bind(b) => {
                    let Some(target) = program.lookup(&b.target.name) else {
                        continue;
                    };
                    binds.push(Bind {
                        alias: b.alias.name.clone(),
                        target: target.id,
                        policy: BindPolicyKind::from_ast(&b.policy),
                    });
                }
                ClauseKind::ClosedAfter(e) => {
                    let rule = close_rule(e, program.get(id).grain(), diags);
                    program.decls[id.0 as usize].closed_after = rule;
                }
                _ => {}
            }
        }
        let decl = &mut program.decls[id.0 as usize];
        decl.inputs = inputs;
        decl.binds = binds;
        decl.access = super::job::access(d);
        if let (DeclKind::Dataset, Some(jobs)) = (d.kind, &jobs) {
            decl.job = Some(jobs.job(d));
        }
    }
    program
}

/// A declaration without its inputs, bindings and close rule.
fn shell(d: &ast::Decl, schemas: &Schemas<'_>) -> Decl {
    let mut decl = Decl {
        id: DeclId(0),
        kind: d.kind,
        name: d.name.name.clone(),
        span: d.name.span,
        table: d.name.name.clone(),
        version: 0,
        columns: schemas
            .of(&d.name.name)
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
        key: Vec::new(),
        partition: Vec::new(),
        publish: None,
        schedule: None,
        inputs: Vec::new(),
        binds: Vec::new(),
        closed_after: None,
        restate: None,
        max_lateness_secs: None,
        access: Access::default(),
        job: None,
        additivity: Vec::new(),
    };
    for c in &d.clauses {
        match &c.kind {
            ClauseKind::Table(t) => decl.table = t.value.clone(),
            ClauseKind::Version { number, .. } => decl.version = *number,
            ClauseKind::Key(k) => decl.key = k.iter().map(|i| i.name.clone()).collect(),
            ClauseKind::Partition(keys) => {
                decl.partition = keys
                    .iter()
                    .map(|k| PartitionKey {
                        name: k.name.name.clone(),
                        kind: match &k.kind {
                            PartitionType::Column(t) => match Grain::of_type(&t.ty) {
                                Some(g) => PartitionKind::Time(g),
                                None => PartitionKind::Dimension,
                            },
                            PartitionType::Hash { column, buckets } => PartitionKind::Hash {
                                column: column.name.clone(),
                                buckets: *buckets,
                            },
                            PartitionType::Run(_) => PartitionKind::Run,
                        },
                    })
                    .collect()
            }
            ClauseKind::Publish(m) => decl.publish = Some(*m),
            ClauseKind::Restate(r) => decl.restate = Some(*r),
            ClauseKind::MaxLateness(l) => {
                decl.max_lateness_secs = Some(l.seconds(ast::Reckon::Longest))
            }
            _ => {}
        }
    }
    let grain = decl.grain();
    decl.schedule = d.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Schedule(s) => Some(Schedule {
            cadence: s.cadence,
            at: s.at.as_ref().map(|a| a.value.clone()),
            time_zone: s.time_zone.as_ref().map(|z| z.value.clone()),
            lookback: s.lookback.map_or(0, |l| lookback_units(&l, grain)),
            sla_secs: s.sla.map(|l| l.seconds(ast::Reckon::Longest)),
            on_day: match &s.on {
                Some(ast::ScheduleDay::DayOfMonth(d, _)) => Some(*d),
                _ => None,
            },
            on_weekday: match &s.on {
                Some(ast::ScheduleDay::Weekday(w)) => Some(w.name.clone()),
                _ => None,
            },
        }),
        _ => None,
    });
    decl
}

/// A lookback in partitions of the grain, rounded up.
fn lookback_units(l: &ast::DurationLit, grain: Option<Grain>) -> i64 {
    if let Some(n) = exact_units(l, grain.unwrap_or(Grain::Day)) {
        return n;
    }
    let days = (l.seconds(ast::Reckon::Longest) as i64 + 86_399) / 86_400;
    let per = match grain.unwrap_or(Grain::Day) {
        Grain::Day => 1,
        Grain::Week => 7,
        Grain::Month => 28,
        Grain::Quarter => 90,
        Grain::Year => 365,
    };
    (days + per - 1) / per
}

/// A duration as a whole number of partitions of `grain`, if it is one:
/// `2w` is 14 days or 2 weeks, `6mo` is 2 quarters, `1y` is 12 months.
fn exact_units(d: &ast::DurationLit, grain: Grain) -> Option<i64> {
    let n = d.amount as i64;
    let whole = |total: i64, per: i64| (total % per == 0).then_some(total / per);
    match (grain, d.unit) {
        (Grain::Day, DurationUnit::Days) => Some(n),
        (Grain::Day, DurationUnit::Weeks) => Some(7 * n),
        (Grain::Week, DurationUnit::Weeks) => Some(n),
        (Grain::Week, DurationUnit::Days) => whole(n, 7),
        (Grain::Month, DurationUnit::Months) => Some(n),
        (Grain::Month, DurationUnit::Years) => Some(12 * n),
        (Grain::Quarter, DurationUnit::Months) => whole(n, 3),
        (Grain::Quarter, DurationUnit::Years) => Some(4 * n),
        (Grain::Year, DurationUnit::Years) => Some(n),
        (Grain::Year, DurationUnit::Months) => whole(n, 12),
        _ => None,
    }
}

/// What one side of a boundary comparison says about `p`.
enum PSide {
    /// The time key of `p`, plus an offset in the output's grain.
    Time(i64),
    /// A window of two time offsets.
    Window(i64, i64),
    /// A static dimension key of `p`.
    Dimension(String),
}

fn mapping(
    i: &ast::Input,
    out: &[PartitionKey],
    target: &Decl,
    diags: &mut Vec<Diagnostic>,
) -> Mapping {
    let all = Mapping {
        time: TimeMapping::All,
        dimensions: Vec::new(),
        zone: None,
    };
    let e = match &i.bound {
        InputBound::Where(e) => e,
        InputBound::AllHistory(_) | InputBound::Unbounded => return all,
    };
    let out_grain = out.iter().find_map(|k| match k.kind {
        PartitionKind::Time(g) => Some(g),
        _ => None,
    });
    let mut time: Option<(i64, i64)> = None;
    let mut zone = None;
    let mut dimensions = Vec::new();
    for conjunct in conjuncts(e) {
        let (op, l, r) = match &conjunct.kind {
            ExprKind::Binary(op @ (BinaryOp::Eq | BinaryOp::In), l, r) => (*op, l, r),
            _ if mentions_p(conjunct) => {
                diags.push(unsupported(
                    conjunct.span,
                    "only `==` and `in` relate an input to `p`",
                ));
                continue;
            }
            _ => continue, // a plain row filter, e.g. `kind == closed`
        };
        let (col, pside) = match (mentions_p(l), mentions_p(r)) {
            (false, true) => (l, r),
            (true, false) if op == BinaryOp::Eq => (r, l),
            (false, false) => continue,
            _ => {
                diags.push(unsupported(conjunct.span, "write the input's column on the left and `p` on the right, e.g. `business_date == p`"));
                continue;
            }
        };
        let side = p_side(pside, out, out_grain, diags);
        if matches!(side, Some(PSide::Time(_) | PSide::Window(..))) {
            zone = clock_zone(col);
        }
        match side {
            Some(PSide::Time(o)) => time = Some((o, o)),
            Some(PSide::Window(lo, hi)) if op == BinaryOp::In => time = Some((lo, hi)),
            Some(PSide::Window(..)) => diags.push(unsupported(pside.span, "a window `[lo, hi]` follows `in`, not `==`")),
            Some(PSide::Dimension(key)) => match column_name(col) {
                Some(c) => dimensions.push((key, c)),
                None => diags.push(unsupported(col.span, "a dimension of `p` is compared with one of the input's columns, e.g. `tenant_id == p.tenant_id`")),
            },
            None => {}
        }
    }
    let time = match time {
        Some((lo, hi)) if target.grain().is_some() || target.kind == DeclKind::Source => {
            TimeMapping::Window { lo, hi }
        }
        _ => TimeMapping::All,
    };
    Mapping {
        time,
        dimensions,
        zone: zone.filter(|_| target.kind == DeclKind::Source),
    }
}

/// The zone of a clock date, `to_date(event_time, "Europe/London")`.
fn clock_zone(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Paren(x) => clock_zone(x),
        ExprKind::Call(c) if c.name.name == "to_date" && c.args.len() == 2 => {
            match &c.args[1].kind {
                ExprKind::Literal(ast::Literal::String(z)) => Some(z.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn conjuncts(e: &ast::Expr) -> Vec<&ast::Expr> {
    match &e.kind {
        ExprKind::Binary(BinaryOp::And, l, r) => {
            let mut v = conjuncts(l);
            v.extend(conjuncts(r));
            v
        }
        ExprKind::Paren(inner) => conjuncts(inner),
        _ => vec![e],
    }
}

fn mentions_p(e: &ast::Expr) -> bool {
    let mut found = false;
    crate::syntax::visit::walk_expr(e, &mut |x| {
        found |= matches!(&x.kind, ExprKind::Ident(n) if n == "p")
    });
    found
}

/// The input column a boundary compares: `col`, `alias.col` or a clock
/// date such as `to_date(event_time, "UTC")`.
fn column_name(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Ident(n) => Some(n.clone()),
        ExprKind::Member(_, c) => Some(c.name.clone()),
        ExprKind::Call(c) => c.args.first().and_then(column_name),
        ExprKind::Paren(x) => column_name(x),
        _ => None,
    }
}

fn p_side(
    e: &ast::Expr,
    out: &[PartitionKey],
    grain: Option<Grain>,
    diags: &mut Vec<Diagnostic>,
) -> Option<PSide> {
    match &e.kind {
        ExprKind::Paren(x) => p_side(x, out, grain, diags),
        ExprKind::List(bounds) if bounds.len() == 2 => {
            let lo = time_offset(&bounds[0], out, grain, diags)?;
            let hi = time_offset(&bounds[1], out, grain, diags)?;
            if lo > hi {
                let unit = match grain.unwrap_or(Grain::Day) {
                    Grain::Day => "days",
                    Grain::Week => "weeks",
                    Grain::Month => "months",
                    Grain::Quarter => "quarters",
                    Grain::Year => "years",
                };
                diags.push(
                    Diagnostic::new(
                        codes::E0111,
                        "the window's lower bound is after its upper bound",
                    )
                    .primary(bounds[0].span, format!("{lo:+} {unit} from `p`"))
                    .secondary(bounds[1].span, format!("{hi:+} {unit} from `p`"))
                    .help("swap the bounds: a window is `[earlier, later]`, e.g. `[p - 29d, p]`"),
                );
                return None;
            }
            Some(PSide::Window(lo, hi))
        }
        ExprKind::Member(base, key) if matches!(&base.kind, ExprKind::Ident(n) if n == "p") => {
            match out.iter().find(|k| k.name == key.name).map(|k| &k.kind) {
                Some(PartitionKind::Time(_)) => Some(PSide::Time(0)),
                Some(_) => Some(PSide::Dimension(key.name.clone())),
                None => None, // reported by column resolution
            }
        }
        _ => time_offset(e, out, grain, diags).map(PSide::Time),
    }
}

/// `p`, `p.day`, `month(p)`, `p - 29d`: the offset from `p` in the output's grain.
fn time_offset(
    e: &ast::Expr,
    out: &[PartitionKey],
    grain: Option<Grain>,
    diags: &mut Vec<Diagnostic>,
) -> Option<i64> {
    match &e.kind {
        ExprKind::Paren(x) => time_offset(x, out, grain, diags),
        ExprKind::Ident(n) if n == "p" => {
            if out.len() > 1 {
                diags.push(unsupported(
                    e.span,
                    "this dataset has several partition keys: name one, e.g. `p.business_date`",
                ));
                return None;
            }
            Some(0)
        }
        ExprKind::Member(base, _) if matches!(&base.kind, ExprKind::Ident(n) if n == "p") => {
            Some(0)
        }
        // `month(p)` (or `week`, `quarter`, `year`) reads p at that grain;
        // the grains of the two sides decide whether that widens or narrows.
        ExprKind::Call(c)
            if c.args.len() == 1
                && !c.name.name.ends_with("_end")
                && Grain::of_function(&c.name.name).is_some() =>
        {
            time_offset(&c.args[0], out, grain, diags)
        }
        ExprKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), l, r) => {
            let base = time_offset(l, out, grain, diags)?;
            let ExprKind::Literal(ast::Literal::Duration(d)) = &r.kind else {
                diags.push(unsupported(
                    r.span,
                    "offset `p` by a duration, e.g. `p - 29d` or `p - 1mo`",
                ));
                return None;
            };
            let g = grain.unwrap_or(Grain::Day);
            let Some(units) = exact_units(d, g) else {
                let help = match g {
                    Grain::Day => "a daily partition moves in whole days: write `29d` or `2w`; a month back is `month(p) - 1mo` on a monthly dataset",
                    Grain::Week => "a weekly partition moves in whole weeks: write `1w` or `14d`",
                    Grain::Month => "a monthly partition moves in whole months: write `1mo` or `1y`",
                    Grain::Quarter => "a quarterly partition moves in whole quarters: write `3mo` or `1y`",
                    Grain::Year => "a yearly partition moves in whole years: write `1y` or `12mo`",
                };
                diags.push(unsupported(r.span, help));
                return None;
            };
            Some(if *op == BinaryOp::Add {
                base + units
            } else {
                base - units
            })
        }
        _ => {
            diags.push(unsupported(
                e.span,
                "a boundary is `p`, `p ± duration`, `[lo, hi]` of those, `month(p)` or `p.key`",
            ));
            None
        }
    }
}

fn unsupported(span: Span, help: &str) -> Diagnostic {
    Diagnostic::new(
        codes::E0134,
        "cannot read this boundary as a partition mapping",
    )
    .primary(span, "not a form the planner understands")
    .help(help.to_string())
}

/// `closed after month_end(p) + 5d` or `closed after p + 3d`.
fn close_rule(
    e: &ast::Expr,
    grain: Option<Grain>,
    diags: &mut Vec<Diagnostic>,
) -> Option<CloseRule> {
    let (base, offset) = match &e.kind {
        ExprKind::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), l, r) => match &r.kind {
            ExprKind::Literal(ast::Literal::Duration(d))
                if matches!(d.unit, DurationUnit::Days | DurationUnit::Weeks) =>
            {
                let days = d.amount as i64 * if d.unit == DurationUnit::Weeks { 7 } else { 1 };
                (&**l, if *op == BinaryOp::Add { days } else { -days })
            }
            _ => (e, i64::MIN),
        },
        _ => (e, 0),
    };
    let period = match &base.kind {
        ExprKind::Ident(p) if p == "p" => grain,
        ExprKind::Member(b, _) if matches!(&b.kind, ExprKind::Ident(p) if p == "p") => grain,
        ExprKind::Call(c) if c.name.name.ends_with("_end") => Grain::of_function(&c.name.name),
        _ => None,
    };
    match period {
        Some(period) if offset != i64::MIN => Some(CloseRule {
            period,
            offset_days: offset,
        }),
        _ => {
            diags.push(
                Diagnostic::new(codes::E0135, "cannot tell when a partition closes from this rule")
                    .primary(e.span, "not a close rule the planner understands")
                    .help("write the end of the partition's period plus days, e.g. `closed after month_end(p) + 5d` or `closed after p + 3d`"),
            );
            None
        }
    }
}
