//! `textDocument/formatting`: the canonical layout of `bplc fmt`, by the
//! same function (`syntax::fmt::format`). A file with a syntax error is left
//! as it is, as `bplc fmt` leaves it; its errors are already on screen.

use lsp_types::TextEdit;

use super::workspace::ProjectState;
use crate::syntax::span::FileId;

/// The edits that format a file: none if it is already canonical, one that
/// replaces the whole text otherwise; `None` if it cannot be formatted.
pub fn format(p: &ProjectState, file: FileId) -> Option<Vec<TextEdit>> {
    p.module(file)?;
    let text = p.text(file);
    let formatted = crate::syntax::fmt::format(file, text).ok()?;
    if formatted == text {
        return Some(Vec::new());
    }
    let whole = p.file(file).lines.range(text, 0, text.len());
    Some(vec![TextEdit::new(whole, formatted)])
}
