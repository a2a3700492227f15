//! Columns and types through a dataset: every expression of a boundary,
//! binding, pipeline step, quality rule and reconciliation is checked in the
//! scope it is evaluated in, and the output a pipeline computes matches the
//! columns the dataset declares.
//!
//! A dataset that declares no columns gets the columns its pipeline
//! computes, with their inferred types, and downstream datasets are checked
//! against those, so names and types are checked across the whole graph.

use rustc_hash::FxHashMap as HashMap;

use super::declarations::columns as declared_columns;
use super::expr::{AliasCols, Col, Mode, Scope, TypeTable};
use super::ty::{unify, Ty, T};
use super::Symbols;
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::*;

/// Values every run counts, usable in reconciliation.
const COUNTERS: &[&str] = &["input", "accepted", "quarantined", "duplicates", "output"];

/// The typed columns of every declaration: declared, or computed.
pub struct Schemas<'a> {
    cols: HashMap<&'a str, Vec<Col>>,
}

impl<'a> Schemas<'a> {
    pub fn build(symbols: &'a Symbols<'a>, variants: &[String]) -> Schemas<'a> {
        let mut s = Schemas {
            cols: HashMap::default(),
        };
        for d in symbols.decls() {
            if let Some(cols) = declared_columns(d) {
                s.cols.insert(
                    &d.name.name,
                    cols.iter()
                        .map(|c| Col::new(c.name.name.clone(), Ty::from_ast(&c.ty)))
                        .collect(),
                );
            }
        }
        // Computed schemas read other computed schemas: settle them in
        // dependency order (Kahn), so a long chain costs one pass. Datasets on
        // a cycle (reported elsewhere) keep no schema and are not judged.
        let pending: HashMap<&str, &Decl> = symbols
            .decls()
            .filter(|d| d.kind == DeclKind::Dataset && !s.cols.contains_key(d.name.name.as_str()))
            .map(|d| (d.name.name.as_str(), d))
            .collect();
        let mut waiting: HashMap<&str, usize> = HashMap::default();
        let mut readers: HashMap<&str, Vec<&Decl>> = HashMap::default();
        for d in symbols
            .decls()
            .filter(|d| pending.contains_key(d.name.name.as_str()))
        {
            let mut n = 0;
            for c in &d.clauses {
                if let ClauseKind::Input(i) = &c.kind {
                    if pending.contains_key(i.target.name.as_str()) {
                        n += 1;
                        readers.entry(i.target.name.as_str()).or_default().push(d);
                    }
                }
            }
            waiting.insert(&d.name.name, n);
        }
        let mut ready: Vec<&Decl> = symbols
            .decls()
            .filter(|d| waiting.get(d.name.name.as_str()) == Some(&0))
            .collect();
        ready.reverse();
        while let Some(d) = ready.pop() {
            let cols = Context::new(d, symbols, &s, variants, None).pipeline(&mut Vec::new());
            s.cols.insert(&d.name.name, cols);
            for r in readers.get(d.name.name.as_str()).into_iter().flatten() {
                let n = waiting
                    .get_mut(r.name.name.as_str())
                    .expect("every reader waits");
                *n -= 1;
                if *n == 0 {
                    ready.push(r);
                }
            }
        }
        s
    }

    pub fn of(&self, decl: &str) -> Option<&[Col]> {
        self.cols.get(decl).map(Vec::as_slice)
    }
}

/// Every enum variant declared anywhere.
pub fn variants(symbols: &Symbols<'_>) -> Vec<String> {
    let mut v = Vec::new();
    for d in symbols.decls() {
        for c in declared_columns(d).unwrap_or(&[]) {
            if let Type::Enum(vs) = &c.ty.ty {
                v.extend(vs.iter().map(|i| i.name.clone()));
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// One dataset with what its expressions can see.
struct Context<'a, 's> {
    decl: &'a Decl,
    symbols: &'s Symbols<'s>,
    aliases: Vec<AliasCols<'s>>,
    partition: Vec<Col>,
    counters: Vec<Col>,
    variants: &'s [String],
    /// Where expression types are recorded; none while schemas are built.
    types: Option<&'s TypeTable>,
}

impl<'a, 's> Context<'a, 's>
where
    'a: 's,
{
    fn new(
        decl: &'a Decl,
        symbols: &'s Symbols<'s>,
        schemas: &'s Schemas<'s>,
        variants: &'s [String],
        types: Option<&'s TypeTable>,
    ) -> Context<'a, 's> {
        let aliases = decl
            .clauses
            .iter()
            .filter_map(|c| match &c.kind {
                ClauseKind::Input(i) => Some((&i.alias, &i.target)),
                ClauseKind::Bind(b) => Some((&b.alias, &b.target)),
                _ => None,
            })
            .map(|(alias, target)| AliasCols {
                name: &alias.name,
                cols: schemas.of(&target.name),
                nullable: false,
            })
            .collect();
        let partition = decl
            .clauses
            .iter()
            .filter_map(|c| match &c.kind {
                ClauseKind::Partition(keys) => Some(keys.iter().map(|k| {
                    let ty = match &k.kind {
                        PartitionType::Column(t) => Ty::from_ast(t),
                        PartitionType::Hash { .. } => Ty::of(T::Int),
                        PartitionType::Run(_) => Ty::of(T::String),
                    };
                    Col::new(k.name.name.clone(), ty)
                })),
                _ => None,
            })
            .flatten()
            .collect();
        Context {
            decl,
            symbols,
            aliases,
            partition,
            counters: COUNTERS
                .iter()
                .map(|c| Col::new(*c, Ty::of(T::Int)))
                .collect(),
            variants,
            types,
        }
    }

    fn scope(&self, aliases: Vec<AliasCols<'s>>, names: Vec<Col>, scalars: &'s [Col]) -> Scope<'_> {
        Scope {
            aliases,
            names,
            scalars,
            variants: self.variants,
            partition: &self.partition,
            symbols: self.symbols,
            dataset: &self.decl.name.name,
            not_null: Vec::new(),
            types: self.types,
        }
    }

    fn steps(&self) -> &'a [Step] {
        self.decl
            .clauses
            .iter()
            .find_map(|c| match &c.kind {
                ClauseKind::Compute(s) => Some(s.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Walks the pipeline step by step, checking each expression where it
    /// is evaluated; returns the output columns.
    fn pipeline(&self, diags: &mut Vec<Diagnostic>) -> Vec<Col> {
        let mut scope = self.scope(Vec::new(), Vec::new(), &[]);
        let mut output: Option<Vec<Col>> = None;
        for step in self.steps() {
            match &step.kind {
                StepKind::From(a) | StepKind::Join { alias: a, .. } => {
                    let left = matches!(step.kind, StepKind::Join { left: true, .. });
                    match self.aliases.iter().find(|x| x.name == a.name) {
                        Some(entry) => scope.aliases.push(AliasCols {
                            nullable: left,
                            ..*entry
                        }),
                        None => diags.push(
                            Diagnostic::new(
                                codes::E0124,
                                format!("no input or binding is called `{}`", a.name),
                            )
                            .primary(a.span, "not an alias of this dataset")
                            .help(format!(
                                "the pipeline reads the dataset's inputs and bindings by alias: {}",
                                self.aliases
                                    .iter()
                                    .map(|a| format!("`{}`", a.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                        ),
                    }
                    if let StepKind::Join { on, .. } = &step.kind {
                        scope.condition(on, Mode::Row, "a join matches rows on a condition, e.g. `on ev.unit_id == units.unit_id`", diags);
                    }
                }
                StepKind::Where(e) => {
                    scope.condition(
                        e,
                        Mode::Row,
                        "`where` keeps the rows for which a condition holds",
                        diags,
                    );
                    scope.narrow(e);
                }
                StepKind::Dedupe { by, order } => {
                    by.iter()
                        .for_each(|e| drop(scope.infer(e, Mode::Row, diags)));
                    order
                        .iter()
                        .for_each(|k| drop(scope.infer(&k.expr, Mode::Row, diags)));
                }
                StepKind::Derive { assignments } => {
                    for a in assignments {
                        let ty = scope.infer(&a.expr, Mode::Row, diags);
                        scope.names.push(Col::new(a.name.name.clone(), ty.clone()));
                        if let Some(out) = &mut output {
                            out.push(Col::new(a.name.name.clone(), ty));
                        }
                    }
                }
                StepKind::Group { keys, aggregates } => {
                    let mut cols: Vec<Col> = Vec::new();
                    for k in keys {
                        let ty = scope.infer(&k.expr, Mode::Row, diags);
                        match output_name(k) {
                            Some(n) => cols.push(Col::new(n, ty)),
                            None => diags.push(unnamed(k, "this grouping key has no name", "write `name = expression`, e.g. `group by day = to_date(ev.at, \"UTC\")`")),
                        }
                    }
                    for a in aggregates {
                        let ty = scope.infer(&a.expr, Mode::Grouped(keys), diags);
                        cols.push(Col::new(a.name.name.clone(), ty));
                    }
                    scope.aliases.clear();
                    scope.not_null.clear();
                    scope.names = cols.clone();
                    output = Some(cols);
                }
                StepKind::Aggregate(aggregates) => {
                    let cols: Vec<Col> = aggregates
                        .iter()
                        .map(|a| {
                            Col::new(
                                a.name.name.clone(),
                                scope.infer(&a.expr, Mode::Grouped(&[]), diags),
                            )
                        })
                        .collect();
                    scope.aliases.clear();
                    scope.not_null.clear();
                    scope.names = cols.clone();
                    output = Some(cols);
                }
                StepKind::Select(items) => {
                    let mut cols = Vec::new();
                    for item in items {
                        let ty = scope.infer(&item.expr, Mode::Row, diags);
                        match output_name(item) {
                            Some(n) => cols.push(Col::new(n, ty)),
                            None => diags.push(unnamed(
                                item,
                                "this output column has no name",
                                "write `name = expression`; only a plain column names itself",
                            )),
                        }
                    }
                    scope.aliases.clear();
                    scope.not_null.clear();
                    scope.names = cols.clone();
                    output = Some(cols);
                }
            }
        }
        match output {
            Some(cols) => cols,
            // No shaping step: the first input's columns plus what was derived.
            None => {
                let mut cols: Vec<Col> = scope
                    .aliases
                    .first()
                    .and_then(|a| a.cols)
                    .map(<[Col]>::to_vec)
                    .unwrap_or_default();
                cols.extend(scope.names);
                cols
            }
        }
    }

    fn check(&self, output: &[Col], diags: &mut Vec<Diagnostic>) {
        for clause in &self.decl.clauses {
            match &clause.kind {
                ClauseKind::Input(i) => {
                    if let InputBound::Where(e) = &i.bound {
                        // A boundary speaks of the input's own columns.
                        let own = self
                            .aliases
                            .iter()
                            .filter(|a| a.name == i.alias.name)
                            .copied()
                            .collect();
                        self.scope(own, Vec::new(), &[]).condition(e, Mode::Row, "a boundary is a condition on the input's partition column, e.g. `business_date in [p - 29d, p]`", diags);
                    }
                }
                ClauseKind::Bind(b) => {
                    if let BindPolicy::AsOf(e) = &b.policy {
                        let t = self.scope(self.aliases.clone(), Vec::new(), &[]).infer(
                            e,
                            Mode::Row,
                            diags,
                        );
                        if !matches!(t.t, T::Timestamp | T::Date | T::Unknown) {
                            diags.push(super::expr::mismatch(
                                e.span,
                                format!("`as of` takes a timestamp or date, found {}", t.t),
                                "bind as of the time the fact happened, e.g. `as of ev.event_time`",
                            ));
                        }
                    }
                }
                ClauseKind::Quality(rules) => {
                    for r in rules {
                        let scope =
                            self.scope(self.aliases.clone(), output.to_vec(), &self.counters);
                        let mode = match r.level {
                            RuleLevel::Row => Mode::Row,
                            RuleLevel::Partition => Mode::Grouped(&[]),
                        };
                        let what = match r.level {
                            RuleLevel::Row => "a `require` rule is a condition each row must meet",
                            RuleLevel::Partition => "an `expect` rule is a condition on the whole partition, e.g. `row_count() > 0`",
                        };
                        scope.condition(&r.expr, mode, what, diags);
                    }
                }
                ClauseKind::Reconcile(rules) => {
                    let scope = self.scope(self.aliases.clone(), output.to_vec(), &self.counters);
                    for r in rules {
                        scope.condition(&r.expr, Mode::Grouped(&[]), "a reconciliation is a condition over the partition, e.g. `input == accepted + quarantined + duplicates`", diags);
                    }
                }
                ClauseKind::ClosedAfter(e) => {
                    let t = self
                        .scope(Vec::new(), Vec::new(), &[])
                        .infer(e, Mode::Row, diags);
                    // On a monthly (weekly, ...) dataset `p` is a period, and
                    // `p + 3d` adds days to a month: say which day to count from.
                    let period = match t.t {
                        T::Week => Some("week"),
                        T::Month => Some("month"),
                        T::Quarter => Some("quarter"),
                        T::Year => Some("year"),
                        _ => None,
                    };
                    if let Some(period) = period {
                        diags.push(super::expr::mismatch(e.span, format!("`closed after` takes a date, found {}", t.t), &format!("`p` is a {period} here, not a day: count from the end of its period, e.g. `closed after {period}_end(p) + 3d`")));
                    } else if !matches!(t.t, T::Date | T::Timestamp | T::Unknown) {
                        diags.push(super::expr::mismatch(e.span, format!("`closed after` takes a date, found {}", t.t), "say when a partition closes in terms of `p`, e.g. `closed after month_end(p) + 5d`"));
                    }
                }
                _ => {}
            }
        }
        self.check_declared_output(output, diags);
    }

    /// A dataset that declares its columns computes exactly those.
    fn check_declared_output(&self, computed: &[Col], diags: &mut Vec<Diagnostic>) {
        let decl = self.decl;
        let Some(declared) = declared_columns(decl) else {
            return;
        };
        let Some(compute) = decl
            .clauses
            .iter()
            .find(|c| matches!(c.kind, ClauseKind::Compute(_)))
        else {
            return;
        };
        for c in declared {
            let Some(got) = computed.iter().find(|x| x.name == c.name.name) else {
                diags.push(
                    Diagnostic::new(
                        codes::E0127,
                        format!("declared column `{}` is not computed", c.name.name),
                    )
                    .primary(c.name.span, "declared here")
                    .secondary(compute.span, "the pipeline does not produce it")
                    .help(format!(
                        "compute it (e.g. in the final `select`), or remove `{}` from `columns`",
                        c.name.name
                    )),
                );
                continue;
            };
            let want = Ty::from_ast(&c.ty);
            if let Some((problem, help)) = scale_mismatch(&want.t, &got.ty.t) {
                diags.push(
                    Diagnostic::new(
                        codes::E0343,
                        format!(
                            "`{}` is declared {} but computed as {}",
                            c.name.name, want.t, got.ty.t
                        ),
                    )
                    .primary(c.ty.span, problem)
                    .secondary(
                        compute.span,
                        format!("computes `{}` as {}", c.name.name, got.ty.t),
                    )
                    .help(help.replace("NAME", &c.name.name)),
                );
            } else if unify(&want.t, &got.ty.t).is_none() {
                diags.push(
                    super::expr::mismatch(
                        c.ty.span,
                        format!(
                            "`{}` is declared {} but computed as {}",
                            c.name.name, want.t, got.ty.t
                        ),
                        "make the pipeline compute the declared type, or declare what it computes",
                    )
                    .secondary(
                        compute.span,
                        format!("computes `{}` as {}", c.name.name, got.ty.t),
                    ),
                );
            } else if got.ty.nullable && !want.nullable {
                diags.push(
                    Diagnostic::new(
                        codes::E0131,
                        format!(
                            "`{}` is declared not null but may be computed as null",
                            c.name.name
                        ),
                    )
                    .primary(c.ty.span, "declared without `?`")
                    .secondary(
                        compute.span,
                        format!("computes `{}` as {}", c.name.name, got.ty),
                    )
                    .help(format!(
                        "declare it `{}: {}?`, or give missing values a default with `coalesce`",
                        c.name.name, want.t
                    )),
                );
            }
        }
        for col in computed {
            if !declared.iter().any(|c| c.name.name == col.name) {
                diags.push(
                    Diagnostic::new(
                        codes::E0127,
                        format!(
                            "the pipeline computes `{}`, which `columns` does not declare",
                            col.name
                        ),
                    )
                    .primary(compute.span, format!("produces `{}`", col.name))
                    .secondary(
                        decl.name.span,
                        "declares its columns, so the output must match them",
                    )
                    .help(format!(
                        "declare `{}` in `columns`, or leave it out of the output",
                        col.name
                    )),
                );
            }
        }
    }
}

/// The name an output expression gets: its own, or the column it reads.
pub(super) fn output_name(n: &NamedExpr) -> Option<String> {
    match (&n.name, &n.expr.kind) {
        (Some(id), _) => Some(id.name.clone()),
        (None, ExprKind::Ident(x)) => Some(x.clone()),
        (None, ExprKind::Member(_, id)) => Some(id.name.clone()),
        _ => None,
    }
}

fn unnamed(n: &NamedExpr, message: &str, help: &str) -> Diagnostic {
    Diagnostic::new(codes::E0126, message)
        .primary(n.expr.span, "name it")
        .help(help)
}

/// Checks a dataset's expressions; records the type of each in `types`.
pub fn check<'s>(
    decl: &'s Decl,
    symbols: &'s Symbols<'s>,
    schemas: &'s Schemas<'s>,
    variants: &'s [String],
    types: Option<&'s TypeTable>,
    diags: &mut Vec<Diagnostic>,
) {
    if decl.kind != DeclKind::Dataset {
        return;
    }
    let ctx = Context::new(decl, symbols, schemas, variants, types);
    let output = ctx.pipeline(diags);
    ctx.check(&output, diags);
}

/// Why an exact value computed for a declared decimal column cannot be
/// stored as it is, and what to write instead: a decimal is stored at its
/// scale, and every reader of the column (rules, reconciliations,
/// downstream datasets) reads it at the declared one, so the pipeline
/// computes exactly that scale; `NAME` stands for the column.
fn scale_mismatch(declared: &T, computed: &T) -> Option<(String, String)> {
    let want = declared.decimal_scale()?;
    let got = match computed {
        T::Decimal(d) | T::DecimalLit(d) => d.scale,
        T::Int => 0,
        _ => return None,
    };
    match got.cmp(&want) {
        std::cmp::Ordering::Equal if *computed != T::Int => None,
        std::cmp::Ordering::Greater => Some((
            format!("storing it would drop {} digits after the point", got - want),
            format!("round where the digits may go: `NAME = round(<value>, {want})`"),
        )),
        _ => Some((
            format!("computed with {got} digits after the point, stored with {want}"),
            format!("say the scale: `NAME = to_decimal(<value>, {want})`, or write literals with every digit (`0.00`)"),
        )),
    }
}
