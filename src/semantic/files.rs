//! Landing-folder sources (`files "landing/*.csv" as csv`): the options a
//! reader can honour, and the clauses that do not fit a source whose rows
//! come from files. What the checks pass is lowered to
//! [`hir::FileSource`](super::hir::FileSource) by [`lower`].

use super::hir::{FileFormat, FileSource};
use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::{self, ClauseKind, ClockKind, CsvOptions, Decl, StrLit, Type};

/// The encodings a CSV file may be read in, as they may be written.
const ENCODINGS: &[(&str, bool)] = &[
    ("utf-8", false),
    ("utf8", false),
    ("latin1", true),
    ("latin-1", true),
    ("iso-8859-1", true),
];

pub fn check(decl: &Decl, diags: &mut Vec<Diagnostic>) {
    let files = decl.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Files(f) => Some((f, c.span)),
        _ => None,
    });
    for c in &decl.clauses {
        if let ClauseKind::Seed(_, o) = &c.kind {
            check_csv(o, diags);
        }
    }
    let Some((files, files_span)) = files else {
        if let Some(c) = decl
            .clauses
            .iter()
            .find(|c| matches!(c.kind, ClauseKind::ChangedFiles { .. }))
        {
            diags.push(
                Diagnostic::new(
                    codes::E0316,
                    format!(
                        "`{}` says what changed files do, but reads no files",
                        decl.name.name
                    ),
                )
                .primary(c.span, "only a source with `files` has files that change")
                .help("add `files \"landing/<folder>/*.csv\" as csv`, or remove `changed files`"),
            );
        }
        return;
    };
    let glob = files.glob.value.trim();
    if glob.is_empty() || glob.ends_with('/') {
        diags.push(
            Diagnostic::new(codes::E0315, "the `files` pattern names no files")
                .primary(files.glob.span, "a folder, or nothing: no files to match")
                .help("name the landing folder and the files in it: `files \"landing/events/*.csv\" as csv`"),
        );
    }
    if let ast::FileFormat::Csv(o) = &files.format {
        check_csv(o, diags);
    }
    for c in &decl.clauses {
        let why = match &c.kind {
            ClauseKind::Snapshot(_) | ClauseKind::Cursor(_) => {
                "a landing-folder source is locked by the files a run reads, not by a column"
            }
            ClauseKind::Table(t) if t.value.contains('.') => {
                "its rows are loaded into a table of the warehouse; an attached database is never written"
            }
            _ => continue,
        };
        diags.push(
            Diagnostic::new(
                codes::E0316,
                format!(
                    "`{}` reads files, so `{}` does not fit it",
                    decl.name.name,
                    c.kind.keyword()
                ),
            )
            .primary(c.span, why)
            .secondary(files_span, "the source reads these files")
            .help("remove the clause; `bplc ingest` records which files each run reads"),
        );
    }
    // The arrival column is filled by the ingestion, with a timestamp.
    let arrival = arrival_column(decl);
    let columns = crate::semantic::declarations::columns(decl).unwrap_or_default();
    if let Some(col) = arrival.and_then(|a| columns.iter().find(|c| c.name.name == a.name)) {
        if col.ty.ty != Type::Timestamp {
            diags.push(
                Diagnostic::new(
                    codes::E0316,
                    format!(
                        "the `file_arrival` clock of `{}` is filled with the time a file was first seen, but `{}` is not a timestamp",
                        decl.name.name, col.name.name
                    ),
                )
                .primary(col.span, "declared here")
                .help(format!("declare it `{}: timestamp`", col.name.name)),
            );
        }
    }
}

fn check_csv(o: &CsvOptions, diags: &mut Vec<Diagnostic>) {
    for (word, value) in [("delimiter", &o.delimiter), ("quote", &o.quote)] {
        if let Some(v) = value.as_ref().filter(|v| !one_ascii(v)) {
            diags.push(
                Diagnostic::new(
                    codes::E0315,
                    format!("a CSV {word} is one character, not {:?}", v.value),
                )
                .primary(v.span, "not one ASCII character")
                .help(format!(
                    "write one ASCII character: `{word} \";\"`, or `{word} \"\\t\"` for a tab"
                )),
            );
        }
    }
    if let Some(e) = &o.encoding {
        if encoding(&e.value).is_none() {
            diags.push(
                Diagnostic::new(
                    codes::E0315,
                    format!("bplc cannot read CSV files in the encoding {:?}", e.value),
                )
                .primary(e.span, "unknown encoding")
                .help("write `encoding \"utf-8\"` (the default) or `encoding \"latin1\"`"),
            );
        }
    }
}

fn one_ascii(v: &StrLit) -> bool {
    v.value.len() == 1 && v.value.is_ascii()
}

/// Whether an encoding's name means Latin-1 (`Some(true)`), UTF-8
/// (`Some(false)`), or neither.
fn encoding(name: &str) -> Option<bool> {
    let name = name.to_ascii_lowercase();
    ENCODINGS.iter().find(|(n, _)| *n == name).map(|e| e.1)
}

fn arrival_column(decl: &Decl) -> Option<&ast::Ident> {
    decl.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Clock(bs) => bs
            .iter()
            .find(|b| b.kind == ClockKind::FileArrival)
            .map(|b| &b.column),
        _ => None,
    })
}

/// The CSV format options say (a landing folder's, a seed's).
pub fn csv_format(o: &CsvOptions) -> FileFormat {
    let byte = |v: &Option<StrLit>, default: u8| {
        v.as_ref()
            .filter(|v| one_ascii(v))
            .map_or(default, |v| v.value.as_bytes()[0])
    };
    FileFormat::Csv {
        delimiter: byte(&o.delimiter, b','),
        quote: byte(&o.quote, b'"'),
        null: o.null.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
        latin1: o
            .encoding
            .as_ref()
            .and_then(|e| encoding(&e.value))
            .unwrap_or(false),
        header: o.no_header.is_none(),
    }
}

/// What a checked source says about its files, if it reads any.
pub fn lower(decl: &Decl) -> Option<FileSource> {
    let spec = decl.clauses.iter().find_map(|c| match &c.kind {
        ClauseKind::Files(f) => Some(f),
        _ => None,
    })?;
    let format = match &spec.format {
        ast::FileFormat::JsonLines => FileFormat::JsonLines,
        ast::FileFormat::Parquet => FileFormat::Parquet,
        ast::FileFormat::Csv(o) => csv_format(o),
    };
    Some(FileSource {
        glob: spec.glob.value.clone(),
        format,
        replace_changed: decl
            .clauses
            .iter()
            .any(|c| matches!(c.kind, ClauseKind::ChangedFiles { replace: true, .. })),
        arrival_column: arrival_column(decl).map(|c| c.name.clone()),
    })
}
