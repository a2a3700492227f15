//! The compiler's passes in order, for the front ends (CLI, language server):
//! load and parse a project, then check it.

use std::path::Path;

use crate::diagnostic::{self, Diagnostic, Level};
use crate::project::{self, LoadError, Project};

pub struct Checked {
    pub project: Project,
    /// Every diagnostic, sorted by file and position, with `deny` applied.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads, parses and checks the project at `path`.
pub fn check(path: &Path) -> Result<Checked, LoadError> {
    let mut project = project::load(path)?;
    let mut diagnostics = std::mem::take(&mut project.diagnostics);
    let deny = &project.config.lint.deny;
    for d in &mut diagnostics {
        if d.level == Level::Warning && deny.iter().any(|c| c.eq_ignore_ascii_case(d.code.as_str())) {
            *d = d.clone().denied();
        }
    }
    diagnostic::sort(&mut diagnostics);
    Ok(Checked {
        project,
        diagnostics,
    })
}
