//! The checker's diagnostics as the editor shows them: one
//! `textDocument/publishDiagnostics` per file, with the same code, level
//! and message `bplc check` prints.
//!
//! A diagnostic lands in the file of its primary label, on that label's
//! span. The help text follows the message on a line of its own (`help:
//! …`, as the terminal report and the GitHub annotations print it), and
//! every label with a message, the primary one included, becomes related
//! information, so "first defined here" points into the other file.
//!
//! Only what changed is sent: a file whose list is the same as last time is
//! skipped, unless the client just opened or edited it and waits for the
//! verdict; a file whose last problem went away gets an empty list.

use std::collections::HashMap;

use lsp_types::{
    DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    PublishDiagnosticsParams, Uri,
};

use super::workspace::ProjectState;
use crate::diagnostic::{Diagnostic, Level};
use crate::syntax::span::{FileId, Span};

/// Converts one diagnostic; `None` if it points nowhere the client knows.
pub fn to_lsp(p: &ProjectState, d: &Diagnostic) -> Option<(FileId, lsp_types::Diagnostic)> {
    let span = d.primary_span()?;
    let file = p.files.get(span.file.0 as usize)?;
    file.uri.as_ref()?;
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter(|l| !l.message.is_empty())
        .filter_map(|l| {
            Some(DiagnosticRelatedInformation {
                location: location(p, l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    Some((
        span.file,
        lsp_types::Diagnostic {
            range: range(p, span),
            severity: Some(match d.level {
                Level::Error => DiagnosticSeverity::ERROR,
                Level::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            code_description: None,
            source: Some("bplc".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        },
    ))
}

/// The protocol range of a span.
pub fn range(p: &ProjectState, span: Span) -> lsp_types::Range {
    let file = p.file(span.file);
    file.lines
        .range(p.text(span.file), span.start as usize, span.end as usize)
}

/// The protocol location of a span, if its file has a URI.
pub fn location(p: &ProjectState, span: Span) -> Option<Location> {
    let file = p.files.get(span.file.0 as usize)?;
    Some(Location::new(file.uri.clone()?, range(p, span)))
}

/// What to publish after a check: changed files, files the client waits
/// for, and files whose problems all went away. Records what was sent.
pub fn updates(p: &mut ProjectState) -> Vec<PublishDiagnosticsParams> {
    let mut by_file: HashMap<FileId, Vec<lsp_types::Diagnostic>> = HashMap::new();
    for d in &p.diagnostics {
        if let Some((file, diagnostic)) = to_lsp(p, d) {
            by_file.entry(file).or_default().push(diagnostic);
        }
    }
    let mut out = Vec::new();
    let mut now: HashMap<String, (Uri, Vec<lsp_types::Diagnostic>)> = HashMap::new();
    for (id, f) in p.client_files() {
        let Some(uri) = f.uri.clone() else {
            continue;
        };
        let diagnostics = by_file.remove(&id).unwrap_or_default();
        let changed = match p.published.get(uri.as_str()) {
            Some((_, before)) => *before != diagnostics,
            None => !diagnostics.is_empty(),
        };
        if changed || f.announce {
            out.push(PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: diagnostics.clone(),
                version: f.version,
            });
        }
        if !diagnostics.is_empty() {
            now.insert(uri.as_str().to_string(), (uri, diagnostics));
        }
    }
    // Files the project no longer has (deleted, or renamed by a reload).
    for (key, (uri, before)) in &p.published {
        if !before.is_empty() && !now.contains_key(key) && p.file_of(uri).is_none() {
            out.push(PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: Vec::new(),
                version: None,
            });
        }
    }
    for f in &mut p.files {
        f.announce = false;
    }
    p.published = now;
    out
}
