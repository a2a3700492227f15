//! `textDocument/definition` and `textDocument/references`.
//!
//! Both start from the name under the cursor, resolved as hover resolves it
//! (see `resolve`): a dataset, source or reference goes to its declaration;
//! an input or binding alias to the clause that binds it; a column to its
//! line in `columns { ... }`, or to the step of the pipeline that computes it
//! (through `from` when a pipeline passes a column on unchanged); `p.key` to
//! the partition key. References are every name in the project's files that
//! resolves to the same thing.

use lsp_types::Location;

use super::diagnostics::location;
use super::workspace::ProjectState;
use crate::syntax::span::{FileId, Span};

pub fn definition(p: &ProjectState, file: FileId, offset: usize) -> Option<Location> {
    let occurrence = p.occurrence(file, offset)?;
    let sym = p.resolve(&occurrence.sym)?;
    location(p, p.definition(&sym)?)
}

pub fn references(
    p: &ProjectState,
    file: FileId,
    offset: usize,
    include_declaration: bool,
) -> Vec<Location> {
    let Some(sym) = p.occurrence(file, offset).and_then(|o| p.resolve(&o.sym)) else {
        return Vec::new();
    };
    p.references(&sym)
        .into_iter()
        .filter(|(_, o)| include_declaration || !o.def)
        .filter_map(|(f, o)| location(p, Span::new(f, o.start as usize, o.end as usize)))
        .collect()
}
