//! The compiler's passes in order, for the front ends (CLI, language server):
//! load and parse a project, then check it.

use std::path::Path;

use crate::diagnostic::{self, Diagnostic, Level};
use crate::project::{self, LoadError, Project};
use crate::semantic;

pub struct Checked {
    pub project: Project,
    /// The checked program; `None` when the project does not parse.
    pub program: Option<semantic::hir::Program>,
    /// Every diagnostic, sorted by file and position, with `deny` applied.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads, parses and checks the project at `path`.
pub fn check(path: &Path) -> Result<Checked, LoadError> {
    Ok(check_project(project::load(path)?))
}

/// Checks a loaded (or in-memory) project: the diagnostics and the
/// program's graph, without what only running needs (see [`compile`]).
pub fn check_project(project: Project) -> Checked {
    passes(project, false)
}

/// Checks a loaded (or in-memory) project and lowers every dataset's job,
/// as [`compile`] does for one on disk.
pub fn compile_project(project: Project) -> Checked {
    passes(project, true)
}

/// Loads and checks the project at `path`, and lowers every dataset's job
/// for the runtime: what `run`, `backfill` and the SQL backends read.
pub fn compile(path: &Path) -> Result<Checked, LoadError> {
    Ok(passes(project::load(path)?, true))
}

fn passes(mut project: Project, lower_jobs: bool) -> Checked {
    let mut diagnostics = std::mem::take(&mut project.diagnostics);
    let mut program = None;
    // Names and contracts are checked once the text parses: a declaration
    // that failed to parse would otherwise show up as a cascade of unknown
    // names.
    if !diagnostics.iter().any(Diagnostic::is_error) {
        let options = semantic::Options {
            default_time_zone: project.config.time_zone.clone(),
            lower_jobs,
        };
        let analysis = semantic::analyze(&project.modules, &options);
        diagnostics.extend(analysis.diagnostics);
        program = Some(analysis.program);
    }
    let deny = &project.config.lint.deny;
    for d in &mut diagnostics {
        if d.level == Level::Warning && deny.iter().any(|c| c.eq_ignore_ascii_case(d.code.as_str()))
        {
            *d = d.clone().denied();
        }
    }
    diagnostic::sort(&mut diagnostics);
    Checked {
        project,
        program,
        diagnostics,
    }
}
