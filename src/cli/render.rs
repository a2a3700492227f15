//! Renders diagnostics: miette's graphical report for people, a stable JSON
//! array for tools, and workflow commands for GitHub Actions. One list of
//! diagnostics drives all three.

use std::io::{self, Write};

mod snippet;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
use serde::Serialize;
use snippet::Snippet;

use super::{Color, Format};
use crate::diagnostic::{Diagnostic, Level};
use crate::syntax::span::{SourceMap, Span};

/// Counts for the closing line of a report.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
}

impl Summary {
    pub fn of(diags: &[Diagnostic], files: usize) -> Summary {
        let errors = diags.iter().filter(|d| d.level == Level::Error).count();
        Summary {
            errors,
            warnings: diags.len() - errors,
            files,
        }
    }
}

pub fn emit(
    format: Format,
    color: Color,
    sources: &SourceMap,
    diags: &[Diagnostic],
    summary: &Summary,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        // Diagnostics have no graph form: `check` refuses `dot` and
        // `mermaid`, and any other caller gets the text a person reads.
        Format::Text | Format::Dot | Format::Mermaid => {
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::env::var_os("NO_COLOR").is_none()
                        && io::IsTerminal::is_terminal(&io::stderr())
                }
            };
            let mut err = super::output::stderr();
            for d in diags {
                write!(err, "{}", text(sources, d, color))?;
            }
            writeln!(err, "{}", closing_line(summary))
        }
        Format::Json => {
            let json: Vec<JsonDiagnostic> = diags
                .iter()
                .map(|d| JsonDiagnostic::new(sources, d))
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json).expect("diagnostics serialize")
            )
        }
        Format::Github => {
            for d in diags {
                writeln!(out, "{}", github(sources, d))?;
            }
            Ok(())
        }
    }
}

pub fn closing_line(s: &Summary) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (s.errors, s.warnings) {
        (0, 0) => format!("checked {}: no problems found", plural(s.files, "file")),
        (0, w) => format!(
            "checked {}: {}",
            plural(s.files, "file"),
            plural(w, "warning")
        ),
        (e, w) => format!(
            "checked {}: {}, {}",
            plural(s.files, "file"),
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

/// One diagnostic as miette draws it: message, code, source snippet with
/// labels, help. Labels in other files than the primary one are drawn as
/// related reports under it.
pub fn text(sources: &SourceMap, d: &Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let report = Report::new(sources, d);
    let mut s = String::new();
    handler
        .render_report(&mut s, &report)
        .expect("rendering to a String cannot fail");
    s
}

#[derive(Debug)]
struct Report {
    message: String,
    code: String,
    /// `None` for a label drawn in another file: shown as advice under
    /// the diagnostic it belongs to, not as a second error.
    level: Option<Level>,
    help: Option<String>,
    source: Option<Snippet>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    fn new(sources: &SourceMap, d: &Diagnostic) -> Report {
        let file = d.primary_span().map(|s| s.file);
        let mut related = Vec::new();
        let mut labels = Vec::new();
        for l in &d.labels {
            let source = named(sources, l.span);
            if Some(l.span.file) == file {
                labels.push(labeled(&source, l.span, &l.message, l.primary));
            } else {
                related.push(Report {
                    message: l.message.clone(),
                    code: String::new(),
                    level: None,
                    help: None,
                    labels: vec![labeled(&source, l.span, "", true)],
                    source: Some(source),
                    related: Vec::new(),
                });
            }
        }
        Report {
            message: d.message.clone(),
            code: d.code.to_string(),
            level: Some(d.level),
            help: d.help.clone(),
            source: d.primary_span().map(|s| named(sources, s)),
            labels,
            related,
        }
    }
}

fn named(sources: &SourceMap, span: Span) -> Snippet {
    let f = sources.get(span.file);
    Snippet::new(&f.name, f.text.clone())
}

fn labeled(source: &Snippet, span: Span, message: &str, primary: bool) -> LabeledSpan {
    let text = (!message.is_empty()).then(|| message.to_string());
    let range = source.label_range(span.range());
    if primary {
        LabeledSpan::new_primary_with_span(text, range)
    } else {
        LabeledSpan::new_with_span(text, range)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        (!self.code.is_empty()).then(|| Box::new(&self.code) as Box<dyn std::fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.level {
            Some(Level::Error) => miette::Severity::Error,
            Some(Level::Warning) => miette::Severity::Warning,
            None => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

/// The stable JSON shape of a diagnostic (documented in the book).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub help: Option<String>,
    pub labels: Vec<JsonLabel>,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    pub primary: bool,
}

impl JsonDiagnostic {
    pub fn new(sources: &SourceMap, d: &Diagnostic) -> JsonDiagnostic {
        let at = d.primary_span().map(|s| position(sources, s));
        JsonDiagnostic {
            code: d.code.to_string(),
            severity: d.level.as_str(),
            message: d.message.clone(),
            file: at.as_ref().map(|p| p.0.clone()),
            line: at.as_ref().map(|p| p.1),
            column: at.as_ref().map(|p| p.2),
            end_line: at.as_ref().map(|p| p.3),
            end_column: at.as_ref().map(|p| p.4),
            help: d.help.clone(),
            labels: d
                .labels
                .iter()
                .map(|l| {
                    let (file, line, column, end_line, end_column) = position(sources, l.span);
                    JsonLabel {
                        file,
                        line,
                        column,
                        end_line,
                        end_column,
                        message: l.message.clone(),
                        primary: l.primary,
                    }
                })
                .collect(),
        }
    }
}

/// File name and one-based start and end line and column of a span.
fn position(sources: &SourceMap, span: Span) -> (String, usize, usize, usize, usize) {
    let f = sources.get(span.file);
    let (line, column) = f.line_col(span.start);
    let (end_line, end_column) = f.line_col(span.end);
    (f.name.clone(), line, column, end_line, end_column)
}

/// A GitHub Actions workflow command: `::error file=…,line=…,col=…::message`.
pub fn github(sources: &SourceMap, d: &Diagnostic) -> String {
    let kind = match d.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let mut message = format!("{} [{}]", d.message, d.code);
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    let props = match d.primary_span() {
        Some(s) => {
            let (file, line, col, end_line, end_col) = position(sources, s);
            format!(
                " file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}",
                escape_property(&file),
                d.code
            )
        }
        None => format!(" title={}", d.code),
    };
    format!("::{kind}{props}::{}", escape_data(&message))
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
