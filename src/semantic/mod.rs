//! Semantic analysis: resolves names across all files and the prelude, and
//! checks the contract each declaration states — before anything runs.
//!
//! Each pass is a small module that reads the parsed modules and reports
//! diagnostics; [`analyze`] runs them in order. Warnings a declaration allows
//! (`allow W0101 because "..."`), and the few errors that may be allowed,
//! are dropped at the end.

mod additivity;
mod allow;
mod calls;
mod columns;
mod contracts;
mod declarations;
mod expansion;
mod expr;
mod files;
mod gates;
pub mod hir;
mod inputs;
mod job;
mod lower;
mod symbols;
mod time_zones;
mod ty;

use rustc_hash::FxHashMap as HashMap;

use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{Decl, Module};
use crate::syntax::span::Span;

pub use expr::Col;
pub use symbols::Symbols;
pub use ty::{unify, Dec, Ty, T};

/// Project settings the checks need.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `time_zone` from `bpl.toml`, used where a schedule names none.
    pub default_time_zone: Option<String>,
    /// Also lower each dataset's compute, quality and reconcile blocks to
    /// the program (`hir::Job`), for running. A check alone does not need
    /// them, and skipping them keeps `bplc check` and the editor fast.
    pub lower_jobs: bool,
}

/// The result of analysis: the checked program and what was found.
pub struct Analysis {
    pub program: hir::Program,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks every module (prelude first).
pub fn analyze(modules: &[Module], options: &Options) -> Analysis {
    let mut diags = Vec::new();
    let symbols = Symbols::collect(modules, &mut diags);
    let variants = columns::variants(&symbols);
    let schemas = columns::Schemas::build(&symbols, &variants);
    // Each declaration is checked on its own against the shared, read-only
    // tables: split them over the cores, keeping the diagnostics in order.
    // Checks that loop or grow past reason (E0012, E0013) are not written
    // out, so jobs are not lowered with them.
    let before = diags.len();
    calls::check_prelude_checks(&symbols, &mut diags);
    let lower_jobs = options.lower_jobs
        && !diags[before..].iter().any(|d| {
            d.code == crate::diagnostic::codes::E0012 || d.code == crate::diagnostic::codes::E0013
        });
    let decls: Vec<&Decl> = symbols.decls().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = decls.len().div_ceil(threads).max(1);
    let per_chunk: Vec<(Vec<Diagnostic>, HashMap<Span, T>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = decls
            .chunks(chunk)
            .map(|part| {
                let (symbols, schemas, variants) = (&symbols, &schemas, &variants);
                crate::syntax::spawn_scoped(scope, move || {
                    let mut diags = Vec::new();
                    let types = expr::TypeTable::default();
                    let record = lower_jobs.then_some(&types);
                    for decl in part {
                        declarations::check(decl, &mut diags);
                        files::check(decl, &mut diags);
                        inputs::check(decl, symbols, &mut diags);
                        calls::check(decl, symbols, &mut diags);
                        columns::check(decl, symbols, schemas, variants, record, &mut diags);
                    }
                    (diags, types.into_inner())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("checks never panic"))
            .collect()
    });
    let mut types = HashMap::default();
    for (d, t) in per_chunk {
        diags.extend(d);
        types.extend(t);
    }
    contracts::check(&symbols, options, &mut diags);
    time_zones::check(&symbols, &mut diags);
    let mut program = lower::lower(&symbols, &schemas, lower_jobs.then_some(&types), &mut diags);
    additivity::check(&symbols, &mut program, &mut diags);
    gates::check(&symbols, &program, &mut diags);
    Analysis {
        program,
        diagnostics: allow::apply(&symbols, diags),
    }
}
