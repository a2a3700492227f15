//! Builds the AST from pest's parse tree. Keyword tokens (`kw_*`) are skipped
//! by [`kids`]; catch-all tokens (`bad_item`, `bad_line`) are handed to
//! `errors` and become diagnostics.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use pest::iterators::Pair;

use super::errors::{self, Context};
use super::expr;
use super::Rule;
use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;
use crate::syntax::span::{FileId, Span};

pub(super) type P<'i> = Pair<'i, Rule>;

/// True for the `kw_*` rules, which carry no information once matched.
fn is_keyword(rule: Rule) -> bool {
    static TABLE: OnceLock<Vec<bool>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = vec![false; Rule::all_rules().len() + 1];
        for r in Rule::all_rules() {
            t[*r as usize] = format!("{r:?}").starts_with("kw_");
        }
        t
    });
    table[rule as usize]
}

/// True for the atomic token rules: their text never ends in skipped
/// whitespace or comments, so [`Builder::span`] need not look for any.
/// (Catch-alls are atomic too, but may end in a comment.)
fn is_token(rule: Rule) -> bool {
    static TABLE: OnceLock<Vec<bool>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = vec![false; Rule::all_rules().len() + 1];
        for r in Rule::all_rules() {
            t[*r as usize] = is_keyword(*r);
        }
        for r in [
            Rule::ident,
            Rule::string,
            Rule::integer,
            Rule::number,
            Rule::percent,
            Rule::duration,
            Rule::temporal,
            Rule::clock_time,
            Rule::code,
            Rule::clock_kind,
            Rule::publish_mode,
            Rule::cadence,
            Rule::weekday,
            Rule::rule_kind,
            Rule::member,
        ] {
            t[r as usize] = true;
        }
        t
    });
    table[rule as usize]
}

/// The meaningful children of a pair: everything but keyword tokens.
pub(super) fn kids(p: P<'_>) -> impl Iterator<Item = P<'_>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

/// Whether a keyword of this rule is among the direct children.
fn has_kw(p: &P<'_>, rule: Rule) -> bool {
    p.clone().into_inner().any(|c| c.as_rule() == rule)
}

pub(crate) struct Builder<'s> {
    pub file: FileId,
    /// The text pest parsed: the whole file, or one piece of it.
    pub src: &'s str,
    /// Where `src` starts in the file: added to pest's offsets in spans.
    base: usize,
    /// Where each `//` in `src` starts, ascending: the only places a line
    /// comment can start (see [`Builder::may_end_in_trivia`]).
    slashes: Vec<usize>,
    diags: RefCell<Vec<Diagnostic>>,
    /// How many expression nodes enclose the expression being built, and
    /// whether the one being built already hit [`super::MAX_EXPR_DEPTH`]
    /// (see `expr::build`).
    pub(super) expr_depth: Cell<usize>,
    pub(super) expr_too_deep: Cell<bool>,
}

impl<'s> Builder<'s> {
    /// A builder for `src`, which starts at offset `base` of the file.
    pub fn new(file: FileId, src: &'s str, base: usize) -> Builder<'s> {
        Builder {
            file,
            src,
            base,
            slashes: src.match_indices("//").map(|(at, _)| at).collect(),
            diags: RefCell::new(Vec::new()),
            expr_depth: Cell::new(0),
            expr_too_deep: Cell::new(false),
        }
    }

    pub fn finish(self) -> Vec<Diagnostic> {
        self.diags.into_inner()
    }

    pub fn report(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    /// The span of a pair without the whitespace and comments pest's
    /// implicit skipping leaves at its end (`a ~ b?` skips before trying `b`).
    pub fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        let (start, end) = (s.start(), s.end());
        if is_token(p.as_rule()) {
            return self.at(start, end);
        }
        if !self.may_end_in_trivia(start, end) {
            debug_assert_eq!(trim_trailing_trivia(s.as_str()), end - start);
            return self.at(start, end);
        }
        // Most pairs that end in trivia end in blanks only (`a ~ b?` skipped
        // them before failing to find `b`): with no `//` on the last line
        // left, the blanks were all there was to trim.
        let blanks_trimmed = start + s.as_str().trim_end().len();
        if !self.comment_on_last_line(start, blanks_trimmed) {
            debug_assert_eq!(trim_trailing_trivia(s.as_str()), blanks_trimmed - start);
            return self.at(start, blanks_trimmed);
        }
        self.at(start, start + trim_trailing_trivia(s.as_str()))
    }

    /// Whether a `//` starts between `start` and `end` on the line `end`
    /// is on (the only kind of comment that can end a pair's text there).
    fn comment_on_last_line(&self, start: usize, end: usize) -> bool {
        let before_end = self.slashes.partition_point(|&at| at < end);
        before_end > 0 && {
            let at = self.slashes[before_end - 1];
            at >= start && !self.src.as_bytes()[at..end].contains(&b'\n')
        }
    }

    /// Whether the pair at `start..end` of `src` can end in skipped trivia:
    /// only if its last character is a blank (or not ASCII: `trim_end`
    /// knows Unicode blanks), or it ends where a line does and a `//` on
    /// that line may start a comment (one runs to the end of its line).
    /// Most pairs end in a token, mid-line or at a line's end without a
    /// comment, and then need no look at their text.
    fn may_end_in_trivia(&self, start: usize, end: usize) -> bool {
        let bytes = self.src.as_bytes();
        let Some(&last) = bytes[start..end].last() else {
            return false;
        };
        if !last.is_ascii() || (last as char).is_whitespace() {
            return true;
        }
        if !matches!(bytes.get(end), None | Some(b'\n' | b'\r')) {
            return false;
        }
        self.comment_on_last_line(start, end)
    }

    /// The span of `start..end`, offsets into [`Builder::src`].
    pub fn at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.base + start, self.base + end)
    }

    /// The items of a block, each built by `build`; broken lines become
    /// diagnostics. A broken line that starts on the line where the item
    /// before it ended is that item running on, so the two are diagnosed
    /// together: `where a in [p, p` then reports the missing `]` (a `,`
    /// between them separates two items instead). An item is
    /// built only once the next one shows it is whole, so the part that
    /// parsed (`amount: decimal` of `amount: decimal(18)`) reports nothing
    /// of its own.
    ///
    /// A reconcile rule ends where its expression can no longer go on, so a
    /// second rule starting on the line where one ended is the first one
    /// broken (`input == accepted within` reads `within` as a rule).
    fn items<'i, T>(
        &self,
        pairs: impl Iterator<Item = P<'i>>,
        ctx: Context,
        mut build: impl FnMut(P<'i>) -> T,
    ) -> Vec<T> {
        let mut out = Vec::new();
        // The item read last, not yet built: its pair, start and end.
        let mut pending: Option<(P<'i>, usize, usize)> = None;
        for p in pairs {
            let span = p.as_span();
            let runs_on = |prev_end: usize| !self.src[prev_end..span.start()].contains(['\n', ',']);
            let bad = matches!(p.as_rule(), Rule::bad_line | Rule::bad_item);
            let broken = bad || ctx == Context::Reconcile;
            match pending.take() {
                // A stray `}` is its own mistake, not the item before running on.
                Some((_, start, end))
                    if broken && runs_on(end) && !self.src[span.start()..].starts_with('}') =>
                {
                    let end = if bad {
                        span.end()
                    } else {
                        self.span(&p).end as usize - self.base
                    };
                    let text = &self.src[start..end];
                    self.report(errors::diagnose_region(
                        self.file,
                        self.base + start,
                        text,
                        ctx,
                    ));
                    continue;
                }
                Some((q, ..)) => out.push(build(q)),
                None => {}
            }
            if bad {
                let text = &self.src[span.start()..span.end()];
                self.report(errors::diagnose_region(
                    self.file,
                    self.base + span.start(),
                    text,
                    ctx,
                ));
            } else {
                let end = self.span(&p).end as usize - self.base;
                pending = Some((p, span.start(), end));
            }
        }
        if let Some((q, ..)) = pending {
            out.push(build(q));
        }
        out
    }

    pub fn ident(&self, p: P<'_>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    pub fn string(&self, p: P<'_>) -> StrLit {
        let span = self.span(&p);
        let raw = p.as_str();
        let inner = &raw[1..raw.len() - 1];
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                other => {
                    let at = span.start as usize + 1 + i;
                    let len = 1 + other.map_or(0, |(_, c)| c.len_utf8());
                    self.report(
                        Diagnostic::new(codes::E0005, "unknown escape in string")
                            .primary(Span::new(self.file, at, at + len), "not an escape")
                            .help(r#"strings know `\"`, `\\`, `\n` and `\t`"#),
                    );
                }
            }
        }
        StrLit { value, span }
    }

    pub fn integer(&self, p: P<'_>) -> u32 {
        p.as_str().parse().unwrap_or_else(|_| {
            self.report(
                Diagnostic::new(codes::E0005, "number too large")
                    .primary(self.span(&p), "must be at most 4294967295"),
            );
            0
        })
    }

    pub fn module(&self, root: P<'_>) -> Module {
        let pairs = root.into_inner().filter(|p| p.as_rule() != Rule::EOI);
        Module {
            file: self.file,
            items: self.items(pairs, Context::TopLevel, |p| self.declaration(p)),
        }
    }

    fn docs(&self, p: &P<'_>) -> Vec<String> {
        p.clone()
            .into_inner()
            .filter(|c| c.as_rule() == Rule::doc)
            .map(|c| {
                let text = &c.as_str()[3..];
                text.strip_prefix(' ')
                    .unwrap_or(text)
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    fn declaration(&self, p: P<'_>) -> Item {
        let span = self.span(&p);
        let docs = self.docs(&p);
        let inner = p
            .into_inner()
            .find(|c| c.as_rule() != Rule::doc)
            .expect("a declaration has a body");
        match inner.as_rule() {
            Rule::function_decl => Item::Function(self.function(inner, docs, span)),
            Rule::check_decl => Item::Check(self.check(inner, docs, span)),
            rule => {
                let kind = match rule {
                    Rule::source_decl => DeclKind::Source,
                    Rule::reference_decl => DeclKind::Reference,
                    _ => DeclKind::Dataset,
                };
                let mut it = kids(inner);
                let name = self.ident(it.next().unwrap());
                let body = it.next().unwrap();
                let clauses = self.items(body.into_inner(), Context::Body, |c| self.clause(c));
                Item::Decl(Decl {
                    kind,
                    docs,
                    name,
                    clauses,
                    span,
                })
            }
        }
    }

    fn file_format(&self, p: P<'_>) -> FileFormat {
        match p.as_rule() {
            Rule::json_lines => FileFormat::JsonLines,
            Rule::parquet_format => FileFormat::Parquet,
            _ => FileFormat::Csv(self.csv_options(kids(p))),
        }
    }

    fn csv_options<'i>(&self, opts: impl Iterator<Item = P<'i>>) -> CsvOptions {
        let mut o = CsvOptions::default();
        for opt in opts {
            let word = opt.as_str().split_whitespace().next().unwrap_or_default();
            let span = self.span(&opt);
            let value = kids(opt).find(|k| k.as_rule() == Rule::string);
            let value = value.map(|v| self.string(v));
            match word {
                "delimiter" => o.delimiter = value,
                "quote" => o.quote = value,
                "null" => o.null = value,
                "encoding" => o.encoding = value,
                _ => o.no_header = Some(span),
            }
        }
        o
    }

    fn clause(&self, p: P<'_>) -> Clause {
        let span = self.span(&p);
        let rule = p.as_rule();
        let kind = match rule {
            Rule::table_clause => ClauseKind::Table(self.string(kids(p).next().unwrap())),
            Rule::columns_clause => {
                ClauseKind::Columns(self.items(kids(p), Context::Columns, |c| self.column(c)))
            }
            Rule::key_clause => ClauseKind::Key(self.names(kids(p).next().unwrap())),
            Rule::clock_clause => ClauseKind::Clock(
                kids(p)
                    .map(|b| {
                        let span = self.span(&b);
                        let mut it = kids(b);
                        let kind = clock_kind(it.next().unwrap().as_str());
                        ClockBinding {
                            kind,
                            column: self.ident(it.next().unwrap()),
                            span,
                        }
                    })
                    .collect(),
            ),
            Rule::snapshot_clause => ClauseKind::Snapshot(self.ident(kids(p).next().unwrap())),
            Rule::cursor_clause => ClauseKind::Cursor(self.names(kids(p).next().unwrap())),
            Rule::lateness_clause => {
                ClauseKind::MaxLateness(self.duration(kids(p).next().unwrap()))
            }
            Rule::bad_rows_clause => {
                let s = kids(p).next().unwrap();
                ClauseKind::BadRows {
                    severity: self.severity(&s),
                    span: self.span(&s),
                }
            }
            Rule::files_clause => {
                let mut it = kids(p);
                let glob = self.string(it.next().unwrap());
                ClauseKind::Files(FileSpec {
                    glob,
                    format: self.file_format(it.next().unwrap()),
                })
            }
            Rule::seed_clause => {
                let mut it = kids(p);
                let path = self.string(it.next().unwrap());
                ClauseKind::Seed(path, self.csv_options(it))
            }
            Rule::changed_clause => ClauseKind::ChangedFiles {
                replace: p.as_str().trim_end().ends_with("replace"),
                span,
            },
            Rule::validity_clause => {
                let mut it = kids(p);
                ClauseKind::Validity {
                    from: self.ident(it.next().unwrap()),
                    to: self.ident(it.next().unwrap()),
                }
            }
            Rule::versioned_clause => ClauseKind::VersionedBy(self.ident(kids(p).next().unwrap())),
            Rule::versions_clause => {
                ClauseKind::Versions(kids(p).map(|s| self.string(s)).collect())
            }
            Rule::version_clause => {
                let n = kids(p).next().unwrap();
                ClauseKind::Version {
                    span: self.span(&n),
                    number: self.integer(n),
                }
            }
            Rule::partition_clause => {
                ClauseKind::Partition(kids(p).map(|k| self.partition_key(k)).collect())
            }
            Rule::publish_clause => ClauseKind::Publish(match kids(p).next().unwrap().as_str() {
                "replace" => PublishMode::Replace,
                _ => PublishMode::Versioned,
            }),
            Rule::schedule_clause => ClauseKind::Schedule(self.schedule(p)),
            Rule::input_clause => ClauseKind::Input(self.input(p)),
            Rule::bind_clause => ClauseKind::Bind(self.bind(p)),
            Rule::compute_clause => {
                ClauseKind::Compute(self.items(kids(p), Context::Compute, |x| self.step(x)))
            }
            Rule::quality_clause => {
                ClauseKind::Quality(self.items(kids(p), Context::Quality, |x| self.quality_rule(x)))
            }
            Rule::reconcile_clause => {
                ClauseKind::Reconcile(
                    self.items(kids(p), Context::Reconcile, |x| self.reconcile_rule(x)),
                )
            }
            Rule::corrections_clause => {
                ClauseKind::Corrections(
                    self.items(kids(p), Context::Corrections, |x| self.correction_rule(x)),
                )
            }
            Rule::closed_clause => ClauseKind::ClosedAfter(self.expr(kids(p).next().unwrap())),
            Rule::restate_clause => ClauseKind::Restate(if has_kw(&p, Rule::kw_never) {
                RestatePolicy::Never
            } else {
                RestatePolicy::WithReason
            }),
            Rule::allow_clause => {
                let mut it = kids(p);
                ClauseKind::Allow {
                    code: self.ident(it.next().unwrap()),
                    reason: self.string(it.next().unwrap()),
                }
            }
            other => unreachable!("not a clause rule: {other:?}"),
        };
        Clause { kind, span }
    }

    fn names(&self, p: P<'_>) -> Vec<Ident> {
        kids(p).map(|i| self.ident(i)).collect()
    }

    fn column(&self, p: P<'_>) -> Column {
        let span = self.span(&p);
        let docs = self.docs(&p);
        let mut it = kids(p).filter(|c| c.as_rule() != Rule::doc);
        let name = self.ident(it.next().unwrap());
        let ty = self.type_expr(it.next().unwrap());
        Column {
            docs,
            name,
            ty,
            span,
        }
    }

    pub fn type_expr(&self, p: P<'_>) -> TypeExpr {
        let span = self.span(&p);
        let mut it = kids(p);
        let t = it.next().unwrap();
        let nullable = it.next().is_some();
        let ty = match t.as_rule() {
            Rule::decimal_type => {
                let mut n = kids(t);
                let (p_pair, s_pair) = (n.next().unwrap(), n.next().unwrap());
                let s_span = self.span(&s_pair);
                let precision = self.integer(p_pair);
                let scale = self.integer(s_pair);
                if !(1..=38).contains(&precision) || scale > precision {
                    self.report(
                        Diagnostic::new(codes::E0005, "invalid decimal precision or scale")
                            .primary(
                                s_span.to(span),
                                "precision must be 1 to 38 and scale at most the precision",
                            )
                            .help("a money amount is usually `decimal(18, 2)`"),
                    );
                }
                Type::Decimal { precision, scale }
            }
            Rule::enum_type => Type::Enum(kids(t).map(|v| self.ident(v)).collect()),
            _ => self.named_type(t),
        };
        TypeExpr { ty, nullable, span }
    }

    fn named_type(&self, p: P<'_>) -> Type {
        let name = p.as_str();
        match name {
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "date" => Type::Date,
            "timestamp" => Type::Timestamp,
            "month" => Type::Month,
            "week" => Type::Week,
            "quarter" => Type::Quarter,
            "year" => Type::Year,
            "duration" => Type::Duration,
            "any" => Type::Any,
            "numeric" => Type::Numeric,
            _ if name.len() == 1 && name.as_bytes()[0].is_ascii_uppercase() => {
                Type::Var(name.to_string())
            }
            _ => {
                let mut d = Diagnostic::new(codes::E0004, format!("unknown type `{name}`"))
                    .primary(self.span(&p), "not a column type");
                d = match sql_type(name).or_else(|| did_you_mean(name, TYPE_NAMES.iter().copied()))
                {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "column types are {}",
                        TYPE_NAMES
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                self.report(d);
                Type::Error
            }
        }
    }

    fn partition_key(&self, p: P<'_>) -> PartitionKey {
        let span = self.span(&p);
        let mut it = kids(p);
        let name = self.ident(it.next().unwrap());
        let t = it.next().unwrap();
        let kind = match t.as_rule() {
            Rule::hash_partition => {
                let mut h = kids(t);
                PartitionType::Hash {
                    column: self.ident(h.next().unwrap()),
                    buckets: self.integer(h.next().unwrap()),
                }
            }
            _ if t.as_str()[..self.span(&t).len()] == *"run" => PartitionType::Run(self.span(&t)),
            _ => PartitionType::Column(self.type_expr(t)),
        };
        PartitionKey { name, kind, span }
    }

    fn schedule(&self, p: P<'_>) -> Schedule {
        let mut s = Schedule {
            cadence: Cadence::Daily,
            on: None,
            at: None,
            time_zone: None,
            lookback: None,
            sla: None,
        };
        for c in kids(p) {
            match c.as_rule() {
                Rule::cadence => {
                    s.cadence = match c.as_str() {
                        "hourly" => Cadence::Hourly,
                        "weekly" => Cadence::Weekly,
                        "monthly" => Cadence::Monthly,
                        _ => Cadence::Daily,
                    }
                }
                Rule::integer => {
                    let span = self.span(&c);
                    let day = self.integer(c);
                    if !(1..=31).contains(&day) {
                        self.report(
                            Diagnostic::new(codes::E0005, "day of month out of range")
                                .primary(span, "must be 1 to 31")
                                .help("for the last day of the month, schedule on day 1 and read the month before"),
                        );
                    }
                    s.on = Some(ScheduleDay::DayOfMonth(day, span));
                }
                Rule::weekday => s.on = Some(ScheduleDay::Weekday(self.ident(c))),
                Rule::clock_time => {
                    self.check_clock_time(&c);
                    s.at = Some(StrLit {
                        value: c.as_str().to_string(),
                        span: self.span(&c),
                    });
                }
                Rule::string => s.time_zone = Some(self.string(c)),
                Rule::duration => s.lookback = Some(self.duration(c)),
                Rule::sla => s.sla = kids(c).next().map(|d| self.duration(d)),
                _ => {}
            }
        }
        s
    }

    fn check_clock_time(&self, p: &P<'_>) {
        let parts: Vec<u32> = p
            .as_str()
            .split(':')
            .filter_map(|x| x.parse().ok())
            .collect();
        let ok = parts.first().is_some_and(|&h| h < 24)
            && parts.get(1).is_some_and(|&m| m < 60)
            && parts.get(2).is_none_or(|&s| s < 60);
        if !ok {
            self.report(
                Diagnostic::new(
                    codes::E0005,
                    format!("`{}` is not a time of day", p.as_str()),
                )
                .primary(
                    self.span(p),
                    "hours run 00 to 23, minutes and seconds 00 to 59",
                ),
            );
        }
    }

    fn input(&self, p: P<'_>) -> Input {
        let mut it = kids(p);
        let alias = self.ident(it.next().unwrap());
        let target = self.ident(it.next().unwrap());
        let mut input = Input {
            alias,
            target,
            clock: None,
            bound: InputBound::Unbounded,
        };
        for c in it {
            match c.as_rule() {
                Rule::input_clock => {
                    let span = self.span(&c);
                    input.clock = Some((clock_kind(kids(c).next().unwrap().as_str()), span));
                }
                Rule::input_bound => {
                    let b = kids(c).next().unwrap();
                    input.bound = match b.as_rule() {
                        Rule::all_history => InputBound::AllHistory(self.span(&b)),
                        _ => InputBound::Where(self.expr(b)),
                    };
                }
                _ => {}
            }
        }
        input
    }

    fn bind(&self, p: P<'_>) -> Bind {
        let mut it = kids(p);
        let alias = self.ident(it.next().unwrap());
        let target = self.ident(it.next().unwrap());
        let pol = it.next().unwrap();
        let policy_span = self.span(&pol);
        let policy = match pol.as_rule() {
            Rule::pinned_policy => BindPolicy::Pinned(self.string(kids(pol).next().unwrap())),
            Rule::latest_policy => BindPolicy::Latest {
                reason: kids(pol).next().map(|s| self.string(s)),
            },
            _ => {
                let inner = kids(pol).next().unwrap();
                match inner.as_rule() {
                    Rule::processing_time => BindPolicy::ProcessingTime,
                    Rule::report_close => BindPolicy::ReportClose,
                    _ => BindPolicy::AsOf(self.expr(inner)),
                }
            }
        };
        Bind {
            alias,
            target,
            policy,
            policy_span,
        }
    }

    fn step(&self, p: P<'_>) -> Step {
        let span = self.span(&p);
        let rule = p.as_rule();
        let kind = match rule {
            Rule::from_step => StepKind::From(self.ident(kids(p).next().unwrap())),
            Rule::where_step => StepKind::Where(self.expr(kids(p).next().unwrap())),
            Rule::join_step => {
                let left = has_kw(&p, Rule::kw_left);
                let mut it = kids(p);
                StepKind::Join {
                    left,
                    alias: self.ident(it.next().unwrap()),
                    on: self.expr(it.next().unwrap()),
                }
            }
            Rule::derive_step => StepKind::Derive {
                assignments: self.assignments(kids(p)),
            },
            Rule::group_step => {
                let mut keys = Vec::new();
                let mut aggregates = Vec::new();
                for c in kids(p) {
                    match c.as_rule() {
                        Rule::named_expr => keys.push(self.named_expr(c)),
                        _ => aggregates = self.assignments(std::iter::once(c)),
                    }
                }
                StepKind::Group { keys, aggregates }
            }
            Rule::aggregate_step => StepKind::Aggregate(self.assignments(kids(p))),
            Rule::select_step => StepKind::Select(kids(p).map(|c| self.named_expr(c)).collect()),
            Rule::dedupe_step => {
                let mut by = Vec::new();
                let mut order = Vec::new();
                for c in kids(p) {
                    match c.as_rule() {
                        Rule::order_by => order = self.order_by(c),
                        _ => by.push(self.expr(c)),
                    }
                }
                StepKind::Dedupe { by, order }
            }
            other => unreachable!("not a step rule: {other:?}"),
        };
        Step { kind, span }
    }

    /// Assignments written inline (`derive a = x, b = y`) or in a block.
    fn assignments<'i>(&self, pairs: impl Iterator<Item = P<'i>>) -> Vec<Assignment> {
        let mut out = Vec::new();
        for p in pairs {
            match p.as_rule() {
                Rule::assignment => out.push(self.assignment(p)),
                Rule::assignment_block => {
                    out.extend(self.items(kids(p), Context::Assignments, |a| self.assignment(a)))
                }
                _ => {}
            }
        }
        out
    }

    fn assignment(&self, p: P<'_>) -> Assignment {
        let span = self.span(&p);
        let mut it = kids(p);
        Assignment {
            name: self.ident(it.next().unwrap()),
            expr: self.expr(it.next().unwrap()),
            span,
        }
    }

    fn named_expr(&self, p: P<'_>) -> NamedExpr {
        let span = self.span(&p);
        let inner = kids(p).next().unwrap();
        match inner.as_rule() {
            Rule::assignment => {
                let a = self.assignment(inner);
                NamedExpr {
                    name: Some(a.name),
                    expr: a.expr,
                    span,
                }
            }
            _ => NamedExpr {
                name: None,
                expr: self.expr(inner),
                span,
            },
        }
    }

    pub fn order_by(&self, p: P<'_>) -> Vec<SortKey> {
        kids(p)
            .map(|k| {
                let descending = has_kw(&k, Rule::kw_desc);
                SortKey {
                    expr: self.expr(kids(k).next().unwrap()),
                    descending,
                }
            })
            .collect()
    }

    fn severity(&self, p: &P<'_>) -> Severity {
        let words: Vec<&str> = p.as_str().split_whitespace().collect();
        match words.as_slice() {
            ["info"] => Severity::Info,
            ["warn"] => Severity::Warn,
            ["quarantine"] => Severity::Quarantine,
            ["fail", "partition"] => Severity::FailPartition,
            ["fail", "run"] => Severity::FailRun,
            _ => Severity::ManualReview,
        }
    }

    fn quality_rule(&self, p: P<'_>) -> QualityRule {
        let span = self.span(&p);
        let mut rule = QualityRule {
            level: RuleLevel::Row,
            name: None,
            expr: Expr {
                kind: ExprKind::Literal(Literal::Null),
                span,
            },
            severity: Severity::Warn,
            severity_span: span,
            span,
        };
        for c in kids(p) {
            match c.as_rule() {
                Rule::rule_kind if c.as_str() == "expect" => rule.level = RuleLevel::Partition,
                Rule::rule_name => rule.name = Some(self.ident(kids(c).next().unwrap())),
                Rule::expr => rule.expr = self.expr(c),
                Rule::severity => {
                    rule.severity = self.severity(&c);
                    rule.severity_span = self.span(&c);
                }
                _ => {}
            }
        }
        rule
    }

    fn reconcile_rule(&self, p: P<'_>) -> ReconcileRule {
        let span = self.span(&p);
        let mut name = None;
        let mut expr = None;
        let mut tolerance = None;
        let mut tolerance_span = None;
        let mut severity = None;
        for c in kids(p) {
            match c.as_rule() {
                Rule::rule_name => name = Some(self.ident(kids(c).next().unwrap())),
                Rule::expr => expr = Some(self.expr(c)),
                Rule::tolerance => {
                    let t = kids(c).next().unwrap();
                    tolerance_span = Some(self.span(&t));
                    tolerance = Some(self.literal(t));
                }
                Rule::severity => severity = Some((self.severity(&c), self.span(&c))),
                _ => {}
            }
        }
        ReconcileRule {
            name,
            expr: expr.expect("a reconcile rule has an expression"),
            tolerance,
            tolerance_span,
            severity,
            span,
        }
    }

    fn correction_rule(&self, p: P<'_>) -> CorrectionRule {
        let span = self.span(&p);
        let mut it = kids(p);
        let class = match it.next().unwrap().as_str().split_whitespace().next() {
            Some("within") => CorrectionClass::WithinLookback,
            Some("closed") => CorrectionClass::ClosedPeriod,
            _ => CorrectionClass::UnknownImpact,
        };
        let action = match it.next().unwrap().as_str().split_whitespace().next() {
            Some("recompute") => CorrectionAction::Recompute,
            Some("restate") => CorrectionAction::Restate,
            Some("plan") => CorrectionAction::PlanFirst,
            Some("ignore") => CorrectionAction::Ignore,
            _ => CorrectionAction::ManualReview,
        };
        CorrectionRule {
            class,
            action,
            span,
        }
    }

    fn function(&self, p: P<'_>, docs: Vec<String>, span: Span) -> FunctionDecl {
        let mut kind = FunctionKind::Scalar;
        let mut name = None;
        let mut params = Vec::new();
        let mut ret = None;
        for c in kids(p) {
            match c.as_rule() {
                Rule::function_kind => {
                    kind = if has_kw(&c, Rule::kw_aggregate) {
                        FunctionKind::Aggregate
                    } else {
                        FunctionKind::Window
                    }
                }
                Rule::ident => name = Some(self.ident(c)),
                Rule::params => params = self.params(c),
                Rule::type_expr => ret = Some(self.type_expr(c)),
                _ => {}
            }
        }
        FunctionDecl {
            docs,
            kind,
            name: name.unwrap(),
            params,
            ret: ret.unwrap(),
            span,
        }
    }

    fn check(&self, p: P<'_>, docs: Vec<String>, span: Span) -> CheckDecl {
        let mut name = None;
        let mut params = Vec::new();
        let mut body = None;
        for c in kids(p) {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(c)),
                Rule::params => params = self.params(c),
                Rule::expr => body = Some(self.expr(c)),
                _ => {}
            }
        }
        CheckDecl {
            docs,
            name: name.unwrap(),
            params,
            body: body.unwrap(),
            span,
        }
    }

    fn params(&self, p: P<'_>) -> Vec<Param> {
        kids(p)
            .map(|param| {
                let mut it = kids(param);
                Param {
                    name: self.ident(it.next().unwrap()),
                    ty: self.type_expr(it.next().unwrap()),
                    variadic: it.next().is_some(),
                }
            })
            .collect()
    }

    pub fn expr(&self, p: P<'_>) -> Expr {
        expr::build(self, p)
    }

    pub fn duration(&self, p: P<'_>) -> DurationLit {
        let span = self.span(&p);
        let text = p.as_str();
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = match &text[digits..] {
            "s" => DurationUnit::Seconds,
            "min" => DurationUnit::Minutes,
            "h" => DurationUnit::Hours,
            "d" => DurationUnit::Days,
            "w" => DurationUnit::Weeks,
            "mo" => DurationUnit::Months,
            _ => DurationUnit::Years,
        };
        let amount = text[..digits].parse().unwrap_or_else(|_| {
            self.report(
                Diagnostic::new(codes::E0005, "duration too large")
                    .primary(span, "must be at most 4294967295"),
            );
            0
        });
        DurationLit { amount, unit, span }
    }

    /// Literal tokens, shared by expressions and tolerances.
    pub fn literal(&self, p: P<'_>) -> Literal {
        let text = p.as_str();
        match p.as_rule() {
            Rule::number if text.contains('.') => Literal::Decimal(text.to_string()),
            Rule::number => text.parse().map(Literal::Integer).unwrap_or_else(|_| {
                self.report(
                    Diagnostic::new(codes::E0005, "integer too large")
                        .primary(self.span(&p), "does not fit in 64 bits")
                        .help("integers are 64-bit; write a larger number as a decimal with a point, e.g. `1000000000000000000000.0`"),
                );
                Literal::Integer(0)
            }),
            Rule::percent => Literal::Percent(text[..text.len() - 1].to_string()),
            Rule::duration => Literal::Duration(self.duration(p)),
            Rule::string => Literal::String(self.string(p).value),
            Rule::temporal => self.temporal(p),
            Rule::kw_true => Literal::Bool(true),
            Rule::kw_false => Literal::Bool(false),
            _ => Literal::Null,
        }
    }

    fn temporal(&self, p: P<'_>) -> Literal {
        let text = &p.as_str()[1..];
        let bad = |what: &str| {
            self.report(
                Diagnostic::new(codes::E0005, format!("`@{text}` is not a valid {what}"))
                    .primary(self.span(&p), format!("no such {what}"))
                    .help("dates are `@YYYY-MM-DD`, months `@YYYY-MM`, timestamps `@YYYY-MM-DDThh:mm:ssZ`"),
            );
        };
        match text.len() {
            7 => {
                let year = text[..4].parse().unwrap_or(0);
                let month = text[5..7].parse().unwrap_or(0);
                if !(1..=12).contains(&month) {
                    bad("month");
                }
                Literal::Month { year, month }
            }
            10 => match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(d) => Literal::Date(d),
                Err(_) => {
                    bad("date");
                    Literal::Date(chrono::NaiveDate::default())
                }
            },
            _ => {
                let date_ok = chrono::NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").is_ok();
                let time = &text[11..];
                let time_ok =
                    chrono::NaiveTime::parse_from_str(&time[..time.len().min(8)], "%H:%M:%S")
                        .or_else(|_| {
                            chrono::NaiveTime::parse_from_str(&time[..time.len().min(5)], "%H:%M")
                        })
                        .is_ok();
                if !(date_ok && time_ok) {
                    bad("timestamp");
                }
                Literal::Timestamp(text.to_string())
            }
        }
    }
}

/// The bpl type for a type name from SQL or another language.
fn sql_type(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "varchar" | "text" | "char" | "str" | "nvarchar" => "string",
        "integer" | "bigint" | "smallint" | "long" | "i64" | "int64" => "int",
        "double" | "real" | "float64" | "f64" => "float",
        "boolean" => "bool",
        "datetime" | "timestamptz" | "instant" => "timestamp",
        "numeric" | "money" | "number" => "decimal(18, 2)",
        _ => return None,
    })
}

/// Length of `text` without trailing whitespace and line comments.
fn trim_trailing_trivia(text: &str) -> usize {
    let mut len = text.len();
    loop {
        len = text[..len].trim_end().len();
        let line_start = text[..len].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&text[line_start..len]) {
            // A pair that is a comment from its start is a doc token, not trivia.
            Some(c) if line_start + c > 0 => len = line_start + c,
            _ => return len,
        }
    }
}

/// Offset of a `//` outside a string literal in one line.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn clock_kind(text: &str) -> ClockKind {
    match text {
        "event" => ClockKind::Event,
        "ingestion" => ClockKind::Ingestion,
        "source_commit" => ClockKind::SourceCommit,
        _ => ClockKind::FileArrival,
    }
}
