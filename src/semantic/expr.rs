//! Expression checking: resolves every name against a [`Scope`] and infers
//! its type, reporting unknown and ambiguous columns, type mismatches,
//! aggregates where a row is expected, ungrouped columns, and nullable values
//! where a value is required.

use rustc_hash::FxHashMap as HashMap;

use super::ty::{unify, Dec, Ty, T};
use super::Symbols;
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::span::Span;

/// A named, typed column.
#[derive(Debug, Clone, PartialEq)]
pub struct Col {
    pub name: String,
    pub ty: Ty,
}

impl Col {
    pub fn new(name: impl Into<String>, ty: Ty) -> Col {
        Col {
            name: name.into(),
            ty,
        }
    }
}

/// An alias in scope: its columns (unknown while its schema is), and
/// whether a left join made every column of it nullable.
#[derive(Debug, Clone, Copy)]
pub struct AliasCols<'s> {
    pub name: &'s str,
    pub cols: Option<&'s [Col]>,
    pub nullable: bool,
}

/// What names mean at one point of a dataset.
pub struct Scope<'s> {
    pub aliases: Vec<AliasCols<'s>>,
    /// Unqualified columns: derived, computed output.
    pub names: Vec<Col>,
    /// Values that are one per partition (counters): usable outside aggregates.
    pub scalars: &'s [Col],
    /// Enum variants declared anywhere: a bare word equal to one is a literal.
    pub variants: &'s [String],
    /// Partition keys, for `p` and `p.key`.
    pub partition: &'s [Col],
    pub symbols: &'s Symbols<'s>,
    /// The dataset being checked, for messages.
    pub dataset: &'s str,
    /// Columns a `where ... is not null` has already filtered: `col` or
    /// `alias.col`. Reading them gives a value, not a nullable one.
    pub not_null: Vec<String>,
    /// Where to record the type of every expression inferred, by span, for
    /// lowering to the checked program (see `super::job`).
    pub types: Option<&'s TypeTable>,
}

/// The inferred type of each expression node, by its span.
pub type TypeTable = std::cell::RefCell<HashMap<Span, T>>;

/// Where an expression is evaluated.
#[derive(Clone, Copy)]
pub enum Mode<'k> {
    /// Once per row: no aggregates (window functions are fine).
    Row,
    /// Once per group (or partition, with no keys): columns only inside
    /// aggregates or as one of the grouping keys.
    Grouped(&'k [NamedExpr]),
    /// Inside an aggregate's arguments.
    InAggregate,
}

impl Scope<'_> {
    fn alias(&self, name: &str) -> Option<&AliasCols<'_>> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// Infers the type of `e`, reporting what is wrong on the way.
    pub fn infer(&self, e: &Expr, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) -> Ty {
        let ty = self.infer_node(e, mode, diags);
        if let Some(types) = self.types {
            types.borrow_mut().insert(e.span, ty.t.clone());
        }
        ty
    }

    fn infer_node(&self, e: &Expr, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) -> Ty {
        if let Mode::Grouped(keys) = mode {
            if keys.iter().any(|k| same_expr(&k.expr, e)) {
                // A grouping key is one value per group.
                return self.infer(e, Mode::Row, diags);
            }
        }
        match &e.kind {
            ExprKind::Literal(l) => literal(l),
            ExprKind::Paren(inner) => self.infer(inner, mode, diags),
            ExprKind::Ident(name) => self.ident(name, e.span, mode, diags),
            ExprKind::Member(base, col) => self.member(base, col, e.span, mode, diags),
            ExprKind::Call(call) => self.call(call, e, mode, diags),
            ExprKind::Unary(op, inner) => {
                let t = self.infer(inner, mode, diags);
                match op {
                    UnaryOp::Not => {
                        self.expect_bool(&t, inner.span, "`not` applies to a condition", diags);
                        Ty::of(T::Bool).nullable_if(t.nullable)
                    }
                    UnaryOp::Neg => {
                        if !(t.t.is_numeric() || t.t == T::Duration) {
                            diags.push(mismatch(
                                inner.span,
                                format!("cannot negate {}", t.t),
                                "negation applies to numbers and durations",
                            ));
                            return Ty::unknown();
                        }
                        t
                    }
                }
            }
            ExprKind::Binary(op, l, r) => {
                let lt = self.infer(l, mode, diags);
                let rt = self.infer(r, mode, diags);
                self.binary(*op, e, (&lt, l.span), (&rt, r.span), diags)
            }
            ExprKind::IsNull { expr, .. } => {
                self.infer(expr, mode, diags);
                Ty::of(T::Bool)
            }
            ExprKind::List(items) => {
                let mut t = T::Unknown;
                let mut nullable = false;
                for item in items {
                    let it = self.infer(item, mode, diags);
                    nullable |= it.nullable;
                    match unify(&t, &it.t) {
                        Some(u) => t = u,
                        None => diags.push(mismatch(
                            item.span,
                            format!("{} in a list of {t}", it.t),
                            "every element of a list or window has one type",
                        )),
                    }
                }
                Ty::of(T::List(Box::new(t))).nullable_if(nullable)
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.infer(cond, mode, diags);
                self.expect_bool(&c, cond.span, "`if` takes a condition", diags);
                let a = self.infer(then, mode, diags);
                let b = self.infer(otherwise, mode, diags);
                match unify(&a.t, &b.t) {
                    Some(t) => Ty {
                        t,
                        nullable: a.nullable || b.nullable,
                    },
                    None => {
                        diags.push(
                            mismatch(
                                otherwise.span,
                                format!("`then` gives {} but `else` gives {}", a.t, b.t),
                                "both branches of an `if` give one type",
                            )
                            .secondary(then.span, format!("this is {}", a.t)),
                        );
                        Ty::unknown()
                    }
                }
            }
        }
    }

    fn narrowed(&self, mut ty: Ty, key: &str) -> Ty {
        if self.not_null.iter().any(|k| k == key) {
            ty.nullable = false;
        }
        ty
    }

    /// Records the columns a `where` condition proves present: the
    /// conjuncts `x is not null`.
    pub fn narrow(&mut self, condition: &Expr) {
        match &condition.kind {
            ExprKind::Binary(BinaryOp::And, l, r) => {
                self.narrow(l);
                self.narrow(r);
            }
            ExprKind::Paren(inner) => self.narrow(inner),
            ExprKind::IsNull {
                expr,
                negated: true,
            } => match &expr.kind {
                ExprKind::Ident(n) => self.not_null.push(n.clone()),
                ExprKind::Member(base, col) => {
                    if let ExprKind::Ident(b) = &base.kind {
                        self.not_null.push(format!("{b}.{}", col.name));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Infers `e` and requires a (possibly nullable) condition.
    pub fn condition(&self, e: &Expr, mode: Mode<'_>, what: &str, diags: &mut Vec<Diagnostic>) {
        let t = self.infer(e, mode, diags);
        self.expect_bool(&t, e.span, what, diags);
    }

    fn expect_bool(&self, t: &Ty, span: Span, what: &str, diags: &mut Vec<Diagnostic>) {
        if !matches!(t.t, T::Bool | T::Unknown) {
            diags.push(mismatch(
                span,
                format!("expected a condition, found {}", t.t),
                what,
            ));
        }
    }

    fn ident(&self, name: &str, span: Span, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) -> Ty {
        if name == "p" {
            return match self.partition {
                [one] => one.ty.clone(),
                _ => Ty::unknown(),
            };
        }
        if self.alias(name).is_some() {
            return Ty::of(T::Table);
        }
        if let Some(c) = self.scalars.iter().find(|c| c.name == name) {
            return c.ty.clone();
        }
        if let Some(c) = self.names.iter().rev().find(|c| c.name == name) {
            self.grouped_check(name, span, mode, diags);
            return self.narrowed(c.ty.clone(), name);
        }
        let owners: Vec<(&AliasCols<'_>, Option<&Col>)> = self
            .aliases
            .iter()
            .filter_map(|a| match a.cols {
                None => Some((a, None)),
                Some(cols) => cols.iter().find(|c| c.name == name).map(|c| (a, Some(c))),
            })
            .collect();
        if owners.is_empty() && self.variants.iter().any(|v| v == name) {
            return Ty::of(T::EnumLit(name.to_string()));
        }
        let known: Vec<&str> = self
            .aliases
            .iter()
            .filter(|a| a.cols.is_some())
            .map(|a| a.name)
            .collect();
        match owners.as_slice() {
            [(a, col)] => {
                self.grouped_check(name, span, mode, diags);
                let ty = col.map_or_else(Ty::unknown, |c| c.ty.clone().nullable_if(a.nullable));
                self.narrowed(ty, name)
            }
            [] => {
                let mut candidates: Vec<&str> =
                    self.names.iter().map(|c| c.name.as_str()).collect();
                for a in &self.aliases {
                    candidates.extend(a.cols.unwrap_or(&[]).iter().map(|c| c.name.as_str()));
                }
                candidates.extend(self.variants.iter().map(String::as_str));
                let scope = match known.as_slice() {
                    [] => format!("`{}`", self.dataset),
                    k => k
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let d = Diagnostic::new(codes::E0124, format!("no column `{name}` in scope"))
                    .primary(span, format!("not a column of {scope}"));
                diags.push(match did_you_mean(name, candidates) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("qualify a column with the input it comes from, e.g. `ev.case_id`; derive new columns with `derive name = ...`"),
                });
                Ty::unknown()
            }
            many => {
                if many.iter().all(|(a, _)| a.cols.is_some()) {
                    let names: Vec<&str> = many.iter().map(|(a, _)| a.name).collect();
                    diags.push(
                        Diagnostic::new(codes::E0125, format!("`{name}` is ambiguous"))
                            .primary(
                                span,
                                format!(
                                    "a column of {}",
                                    names
                                        .iter()
                                        .map(|a| format!("`{a}`"))
                                        .collect::<Vec<_>>()
                                        .join(" and ")
                                ),
                            )
                            .help(format!(
                                "qualify it: {}",
                                names
                                    .iter()
                                    .map(|a| format!("`{a}.{name}`"))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            )),
                    );
                }
                Ty::unknown()
            }
        }
    }

    fn member(
        &self,
        base: &Expr,
        col: &Ident,
        span: Span,
        mode: Mode<'_>,
        diags: &mut Vec<Diagnostic>,
    ) -> Ty {
        let ExprKind::Ident(base_name) = &base.kind else {
            self.infer(base, mode, diags);
            diags.push(mismatch(
                col.span,
                "only an input, a binding or `p` has fields".to_string(),
                "write `alias.column`",
            ));
            return Ty::unknown();
        };
        if base_name == "p" {
            return match self.partition.iter().find(|k| k.name == col.name) {
                Some(k) => k.ty.clone(),
                None => {
                    diags.push(unknown_column(
                        &col.name,
                        col.span,
                        "the partition `p`",
                        self.partition.iter().map(|c| c.name.as_str()),
                    ));
                    Ty::unknown()
                }
            };
        }
        let Some(alias) = self.alias(base_name) else {
            return self.ident(base_name, base.span, mode, diags);
        };
        // The name is only written out for a message: this runs for every
        // `alias.column` of every expression.
        if let Mode::Grouped(_) = mode {
            self.grouped_check(&format!("{base_name}.{}", col.name), span, mode, diags);
        }
        let Some(cols) = alias.cols else {
            return Ty::unknown();
        };
        match cols.iter().find(|c| c.name == col.name) {
            Some(c) => {
                let mut ty = c.ty.clone().nullable_if(alias.nullable);
                let proven = |k: &String| {
                    k.strip_prefix(base_name.as_str())
                        .and_then(|rest| rest.strip_prefix('.'))
                        == Some(col.name.as_str())
                };
                if self.not_null.iter().any(proven) {
                    ty.nullable = false;
                }
                ty
            }
            None => {
                diags.push(unknown_column(
                    &col.name,
                    col.span,
                    &format!("`{base_name}`"),
                    cols.iter().map(|c| c.name.as_str()),
                ));
                Ty::unknown()
            }
        }
    }

    /// A column read once per group must be a grouping key.
    fn grouped_check(&self, shown: &str, span: Span, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) {
        if let Mode::Grouped(_) = mode {
            diags.push(
                Diagnostic::new(codes::E0130, format!("`{shown}` is neither grouped nor aggregated"))
                    .primary(span, "one value per row, but this is evaluated once per group")
                    .help(format!("aggregate it (e.g. `max({shown})`, `count_distinct({shown})`) or add it to the grouping keys")),
            );
        }
    }

    fn call(&self, call: &Call, e: &Expr, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) -> Ty {
        let name = call.name.name.as_str();
        let n = call.args.len();
        let fits = |params: &[Param]| {
            n == params.len() || (params.last().is_some_and(|p| p.variadic) && n >= params.len())
        };
        let (params, ret, kind): (&[Param], Ty, FunctionKind) =
            match (self.symbols.functions(name), self.symbols.check(name)) {
                (Some(fs), _) => match fs.iter().find(|f| fits(&f.params)) {
                    Some(f) => (&f.params, Ty::from_ast(&f.ret), f.kind),
                    None => return self.args_unchecked(call, mode, diags),
                },
                (None, Some(c)) if fits(&c.params) => {
                    // A check whose body aggregates (`unique`) is used like
                    // an aggregate: its arguments are read across the rows.
                    let kind = if aggregates(self.symbols, &c.body) {
                        FunctionKind::Aggregate
                    } else {
                        FunctionKind::Scalar
                    };
                    (&c.params, Ty::of(T::Bool), kind)
                }
                // Unknown or wrong arity: reported by the call checks.
                _ => return self.args_unchecked(call, mode, diags),
            };
        let arg_mode = match (kind, call.over.is_some(), mode) {
            (FunctionKind::Aggregate, false, Mode::Row) => {
                diags.push(
                    Diagnostic::new(codes::E0129, format!("aggregate `{name}` where a row is expected"))
                        .primary(e.span, "aggregates many rows into one value")
                        .help("aggregate in `group by ... { }`, `aggregate { }` or an `expect` rule; a `require` rule, `where` and `derive` see one row at a time"),
                );
                Mode::InAggregate
            }
            (FunctionKind::Aggregate, false, Mode::InAggregate) => {
                diags.push(
                    Diagnostic::new(codes::E0129, format!("aggregate `{name}` inside another aggregate"))
                        .primary(e.span, "nested aggregate")
                        .help("aggregate once; to combine per-group results, group again in a downstream dataset"),
                );
                Mode::InAggregate
            }
            (FunctionKind::Aggregate, false, Mode::Grouped(_)) => Mode::InAggregate,
            (_, true, _) | (FunctionKind::Window, _, _) => Mode::Row,
            _ => mode,
        };
        let mut bound: HashMap<String, T> = HashMap::default();
        let mut arg_types = Vec::with_capacity(call.args.len());
        for (i, arg) in call.args.iter().enumerate() {
            let at = self.infer(arg, arg_mode, diags);
            arg_types.push(at.t.clone());
            let Some(param) = params.get(i).or(params.last()) else {
                continue;
            };
            self.check_arg(name, param, &at, arg.span, &mut bound, diags);
        }
        if let Some(over) = &call.over {
            over.partition_by
                .iter()
                .for_each(|x| drop(self.infer(x, Mode::Row, diags)));
            over.order_by
                .iter()
                .for_each(|k| drop(self.infer(&k.expr, Mode::Row, diags)));
        }
        let result = match &ret_var(self.symbols, name, n) {
            Some(var) => Ty {
                t: bound.get(var).cloned().unwrap_or(T::Unknown),
                nullable: ret.nullable,
            },
            None => ret,
        };
        match decimal_call(name, call, &arg_types) {
            Ok(Some(t)) => Ty { t, ..result },
            Ok(None) => result,
            Err(d) => {
                diags.push(d);
                Ty::unknown()
            }
        }
    }

    fn args_unchecked(&self, call: &Call, mode: Mode<'_>, diags: &mut Vec<Diagnostic>) -> Ty {
        for a in &call.args {
            self.infer(a, mode, diags);
        }
        Ty::unknown()
    }

    fn check_arg(
        &self,
        fname: &str,
        param: &Param,
        at: &Ty,
        span: Span,
        bound: &mut HashMap<String, T>,
        diags: &mut Vec<Diagnostic>,
    ) {
        let pname = &param.name.name;
        let ok = match &param.ty.ty {
            Type::Any => true,
            Type::Numeric => at.t.is_numeric(),
            Type::Var(v) => match bound.get(v) {
                None => {
                    bound.insert(v.clone(), at.t.clone());
                    true
                }
                Some(prev) => match unify(prev, &at.t) {
                    Some(u) => {
                        bound.insert(v.clone(), u);
                        true
                    }
                    None => false,
                },
            },
            _ => unify(&Ty::from_ast(&param.ty).t, &at.t).is_some() && at.t != T::Table,
        };
        if !ok {
            let wanted = match &param.ty.ty {
                Type::Numeric => "a number".to_string(),
                Type::Var(v) => format!("the same type as the other `{v}` arguments"),
                _ => Ty::from_ast(&param.ty).t.to_string(),
            };
            diags.push(mismatch(
                span,
                format!(
                    "argument `{pname}` of `{fname}` takes {wanted}, found {}",
                    at.t
                ),
                "see the function's signature in the book's prelude chapter",
            ));
            return;
        }
        if at.nullable
            && !param.ty.nullable
            && !matches!(param.ty.ty, Type::Any)
            && at.t != T::Unknown
        {
            diags.push(
                Diagnostic::new(codes::E0131, format!("argument `{pname}` of `{fname}` may be null"))
                    .primary(span, format!("{at} may be null here"))
                    .help(format!("handle the missing value first: `coalesce(<value>, <default>)`, or filter with `where <value> is not null`; `{fname}` needs a value")),
            );
        }
    }

    fn binary(
        &self,
        op: BinaryOp,
        e: &Expr,
        (l, ls): (&Ty, Span),
        (r, rs): (&Ty, Span),
        diags: &mut Vec<Diagnostic>,
    ) -> Ty {
        use BinaryOp::*;
        let nullable = l.nullable || r.nullable;
        let t = match op {
            And | Or => {
                self.expect_bool(l, ls, "`and` and `or` combine conditions", diags);
                self.expect_bool(r, rs, "`and` and `or` combine conditions", diags);
                Some(T::Bool)
            }
            Eq | Ne | Lt | Le | Gt | Ge => unify(&l.t, &r.t).map(|_| T::Bool),
            In => match &r.t {
                T::List(inner) => unify(&l.t, inner).map(|_| T::Bool),
                // `day in month(p)`: a value in the calendar unit holding it.
                c if l.t == T::Unknown || l.t.lies_in(c) => Some(T::Bool),
                T::Unknown => Some(T::Bool),
                _ => None,
            },
            Add | Sub => match (&l.t, &r.t) {
                (a, T::Duration) if a.calendar_rank().is_some() || *a == T::Timestamp => {
                    Some(l.t.clone())
                }
                (T::Duration, b)
                    if op == Add && (b.calendar_rank().is_some() || *b == T::Timestamp) =>
                {
                    Some(r.t.clone())
                }
                (T::Date, T::Date) if op == Sub => Some(T::Int),
                (T::Timestamp, T::Timestamp) if op == Sub => Some(T::Duration),
                (T::Duration, T::Duration) => Some(T::Duration),
                // A sum of decimals may carry one more whole digit.
                (a, b) if a.is_numeric() && b.is_numeric() => match unify(a, b) {
                    Some(T::Decimal(d)) => Some(T::Decimal(Dec::new(
                        (d.precision + 1).min(Dec::MAX_PRECISION),
                        d.scale,
                    ))),
                    other => other,
                },
                _ => None,
            },
            Mul | Div => match (&l.t, &r.t) {
                (T::Duration, b) if b.is_numeric() => Some(T::Duration),
                (a, b) if is_decimal(a) || is_decimal(b) => match decimal_product(op, a, b) {
                    Ok(t) => t,
                    Err(scale) => {
                        diags.push(too_many_digits(e.span, l, r, scale));
                        return Ty::unknown();
                    }
                },
                // `/` never truncates: 7 / 2 is 3.5, as a person reads it.
                (a, b) if a.is_numeric() && b.is_numeric() && op == Div => match unify(a, b) {
                    Some(T::Int | T::DecimalLit(_)) => Some(T::Float),
                    other => other,
                },
                (a, b) if a.is_numeric() && b.is_numeric() => match (a, b) {
                    // Exact literals multiply exactly: the scales add.
                    (T::DecimalLit(_) | T::Int, T::DecimalLit(_) | T::Int)
                        if *a != T::Int || *b != T::Int =>
                    {
                        let (x, y) = (a.exact().expect("exact"), b.exact().expect("exact"));
                        Some(T::DecimalLit(Dec::new(
                            (x.precision + y.precision).min(Dec::MAX_PRECISION),
                            x.scale + y.scale,
                        )))
                    }
                    _ => unify(a, b),
                },
                _ => None,
            },
        };
        match t {
            Some(t) => Ty { t, nullable },
            None => {
                let help = match (&l.t, &r.t) {
                    (T::Enum(vs), T::EnumLit(v)) | (T::EnumLit(v), T::Enum(vs)) => {
                        format!(
                            "`{v}` is not a value of this enum; its values are {}",
                            vs.iter()
                                .map(|v| format!("`{v}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                    _ => binary_help(op).to_string(),
                };
                diags.push(
                    Diagnostic::new(
                        codes::E0128,
                        format!("`{}` cannot combine {} and {}", op.symbol(), l.t, r.t),
                    )
                    .primary(e.span, format!("{} {} {}", l.t, op.symbol(), r.t))
                    .help(help),
                );
                Ty::unknown()
            }
        }
    }
}

fn is_decimal(t: &T) -> bool {
    matches!(t, T::Decimal(_))
}

/// The type of `a * b` or `a / b` where one side is a decimal column: a
/// product's scale is the sum of the scales (exact); a quotient is computed
/// at [`Dec::quotient_scale`] of the dividend, rounded half away from zero.
/// `Err(scale)` when the product would need more digits after the point
/// than a decimal holds; `Ok(None)` when the other side is not exact.
fn decimal_product(op: BinaryOp, a: &T, b: &T) -> Result<Option<T>, u8> {
    let (Some(x), Some(y)) = (a.exact(), b.exact()) else {
        return Ok(match (a, b) {
            (T::Unknown, d) | (d, T::Unknown) => Some(d.clone()),
            _ => None,
        });
    };
    if op == BinaryOp::Div {
        return Ok(Some(T::Decimal(Dec::new(
            Dec::MAX_PRECISION,
            x.quotient_scale(),
        ))));
    }
    let scale = x.scale + y.scale;
    if scale > Dec::MAX_PRECISION {
        return Err(scale);
    }
    let whole = (x.whole_digits() + y.whole_digits()).max(1);
    Ok(Some(T::Decimal(Dec::new(
        (whole + scale).min(Dec::MAX_PRECISION),
        scale,
    ))))
}

/// The result type of a call on an exact decimal, where the signature's
/// type variable does not say it: a sum has every digit it may need, an
/// average is a quotient, rounding and `to_decimal` give the scale their
/// literal second argument names.
fn decimal_call(name: &str, call: &Call, args: &[T]) -> Result<Option<T>, Diagnostic> {
    let first = args.first().and_then(T::exact);
    let decimal = matches!(args.first(), Some(T::Decimal(_) | T::DecimalLit(_)));
    Ok(match name {
        "sum" if decimal => first.map(|d| T::Decimal(Dec::new(Dec::MAX_PRECISION, d.scale))),
        "avg" if decimal => {
            first.map(|d| T::Decimal(Dec::new(Dec::MAX_PRECISION, d.quotient_scale())))
        }
        "round" if decimal => {
            let d = first.expect("a decimal is exact");
            let digits = scale_argument(name, call)?;
            Some(T::Decimal(Dec::new(
                d.precision.min(d.whole_digits() + digits).max(1),
                digits.min(d.scale),
            )))
        }
        "to_decimal" if call.args.len() == 2 => {
            let scale = scale_argument(name, call)?;
            Some(T::Decimal(Dec::new(Dec::MAX_PRECISION, scale)))
        }
        _ => None,
    })
}

/// The scale a call rounds to: its second argument, a whole-number
/// literal no larger than a decimal's maximum precision.
fn scale_argument(name: &str, call: &Call) -> Result<u8, Diagnostic> {
    let arg = &call.args[1];
    let literal = match &arg.kind {
        ExprKind::Literal(Literal::Integer(i)) => Some(*i),
        ExprKind::Paren(inner) => match &inner.kind {
            ExprKind::Literal(Literal::Integer(i)) => Some(*i),
            _ => None,
        },
        _ => None,
    };
    match literal {
        Some(i) if i <= Dec::MAX_PRECISION as i64 => Ok(i as u8),
        _ => Err(Diagnostic::new(
            codes::E0344,
            format!("`{name}` of a decimal needs the number of digits written out"),
        )
        .primary(arg.span, format!("a whole number from 0 to {} here", Dec::MAX_PRECISION))
        .help(format!(
            "the digits after the point are part of a decimal's type, so they are known when the job is checked: write them as a number, e.g. `{name}(x, 2)`"
        ))),
    }
}

fn too_many_digits(span: Span, l: &Ty, r: &Ty, scale: u8) -> Diagnostic {
    Diagnostic::new(
        codes::E0343,
        format!(
            "{} * {} needs {scale} digits after the point; a decimal holds at most {}",
            l.t,
            r.t,
            Dec::MAX_PRECISION
        ),
    )
    .primary(span, "the scales of a product add up")
    .help("round an operand first to the digits you need, e.g. `round(fx.rate, 6)`, or declare fewer digits after the point")
}

fn binary_help(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::In => "`x in [low, high]` needs bounds of x's type; `day in month(p)` takes a date and a month",
        BinaryOp::Add | BinaryOp::Sub => "add numbers to numbers, or a duration to a date or timestamp: `p - 29d`; a decimal and a float do not mix: convert with `to_float(x)` or `to_decimal(x, 2)`",
        BinaryOp::Mul | BinaryOp::Div => "multiply and divide numbers (or a duration by a number); a decimal and a float do not mix: convert with `to_float(x)` or `to_decimal(x, 2)`",
        _ => "compare values of one type; convert first, e.g. `to_date(ev.at, \"UTC\") == p`, `to_float(amount)`",
    }
}

/// Whether an expression calls an aggregate function.
fn aggregates(symbols: &Symbols<'_>, e: &Expr) -> bool {
    let mut found = false;
    crate::syntax::visit::walk_expr(e, &mut |x| {
        if let ExprKind::Call(c) = &x.kind {
            found |= c.over.is_none()
                && symbols
                    .functions(&c.name.name)
                    .is_some_and(|fs| fs.iter().any(|f| f.kind == FunctionKind::Aggregate));
        }
    });
    found
}

/// The type variable a function returns, if its return type is one.
fn ret_var(symbols: &Symbols<'_>, name: &str, n: usize) -> Option<String> {
    let f = symbols
        .functions(name)?
        .iter()
        .find(|f| n == f.params.len() || f.params.last().is_some_and(|p| p.variadic))?;
    match &f.ret.ty {
        Type::Var(v) => Some(v.clone()),
        _ => None,
    }
}

fn literal(l: &Literal) -> Ty {
    Ty::of(match l {
        Literal::Integer(_) => T::Int,
        Literal::Decimal(text) => T::DecimalLit(Dec::of_literal(text)),
        Literal::Percent(_) => T::Float,
        Literal::Duration(_) => T::Duration,
        Literal::Date(_) => T::Date,
        Literal::Month { .. } => T::Month,
        Literal::Timestamp(_) => T::Timestamp,
        Literal::String(_) => T::String,
        Literal::Bool(_) => T::Bool,
        Literal::Null => return Ty::null(),
    })
}

pub fn mismatch(span: Span, message: String, help: &str) -> Diagnostic {
    Diagnostic::new(codes::E0128, message)
        .primary(span, "type mismatch")
        .help(help)
}

pub fn unknown_column<'a>(
    name: &str,
    span: Span,
    of: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Diagnostic {
    let candidates: Vec<&str> = candidates.collect();
    let d = Diagnostic::new(codes::E0124, format!("{of} has no column `{name}`"))
        .primary(span, "no such column");
    match did_you_mean(name, candidates.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!(
            "its columns are {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Structural equality ignoring spans, to recognise a grouping key.
pub fn same_expr(a: &Expr, b: &Expr) -> bool {
    match (&a.kind, &b.kind) {
        (ExprKind::Ident(x), ExprKind::Ident(y)) => x == y,
        (ExprKind::Member(x, f), ExprKind::Member(y, g)) => f.name == g.name && same_expr(x, y),
        (ExprKind::Paren(x), _) => same_expr(x, b),
        (_, ExprKind::Paren(y)) => same_expr(a, y),
        (ExprKind::Literal(x), ExprKind::Literal(y)) => x == y,
        (ExprKind::Binary(o, l, r), ExprKind::Binary(p, m, s)) => {
            o == p && same_expr(l, m) && same_expr(r, s)
        }
        (ExprKind::Unary(o, x), ExprKind::Unary(p, y)) => o == p && same_expr(x, y),
        (ExprKind::Call(c), ExprKind::Call(d)) => {
            c.name.name == d.name.name
                && c.over.is_none()
                && d.over.is_none()
                && c.args.len() == d.args.len()
                && c.args.iter().zip(&d.args).all(|(x, y)| same_expr(x, y))
        }
        _ => false,
    }
}
