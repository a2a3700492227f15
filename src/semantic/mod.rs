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
    let loops_or_grows = |d: &Diagnostic| {
        d.code == crate::diagnostic::codes::E0012 || d.code == crate::diagnostic::codes::E0013
    };
    let before = diags.len();
    let bodies = calls::check_prelude_checks(&symbols, &mut diags);
    // Types are recorded unless the checks themselves already stop
    // lowering; an expression that grows past reason is only found below.
    let record_types = options.lower_jobs && !diags[before..].iter().any(loops_or_grows);
    let decls: Vec<&Decl> = symbols.decls().collect();
    // Small groups of declarations, taken by whichever core is free.
    let groups: Vec<&[&Decl]> = decls.chunks(32).collect();
    let order: Vec<usize> = (0..groups.len()).collect();
    let per_chunk = crate::syntax::map_on_cores(&groups, &order, |part| {
        let mut expanded = Vec::new();
        let mut diags = Vec::new();
        let types = expr::TypeTable::default();
        let record = record_types.then_some(&types);
        for decl in part.iter() {
            if let Some(bodies) = bodies.as_ref() {
                expansion::check_decl(decl, bodies, &mut expanded);
            }
            declarations::check(decl, &mut diags);
            files::check(decl, &mut diags);
            inputs::check(decl, &symbols, &mut diags);
            calls::check(decl, &symbols, &mut diags);
            columns::check(decl, &symbols, &schemas, &variants, record, &mut diags);
        }
        (expanded, diags, types.into_inner())
    });
    // Every declaration's E0013 first, then the other checks' diagnostics,
    // as when the declarations were measured before being checked.
    let mut types = HashMap::default();
    let mut checked = Vec::new();
    for (expanded, d, t) in per_chunk {
        diags.extend(expanded);
        checked.extend(d);
        types.extend(t);
    }
    let lower_jobs = record_types && !diags[before..].iter().any(loops_or_grows);
    diags.extend(checked);
    // Contracts and time zones read only the symbols: checked on another
    // core while this one lowers the program. Their diagnostics still come
    // before lowering's, as when the passes ran one after the other.
    let (checked, lowered) = std::thread::scope(|scope| {
        let symbols = &symbols;
        let contracts = crate::syntax::spawn_scoped(scope, move || {
            let mut diags = Vec::new();
            contracts::check(symbols, options, &mut diags);
            time_zones::check(symbols, &mut diags);
            diags
        });
        let mut lowering = Vec::new();
        let program = lower::lower(
            symbols,
            &schemas,
            lower_jobs.then_some(&types),
            &mut lowering,
        );
        let checked = contracts.join().expect("checks never panic");
        (checked, (program, lowering))
    });
    let (mut program, lowering) = lowered;
    diags.extend(checked);
    diags.extend(lowering);
    additivity::check(&symbols, &mut program, &mut diags);
    gates::check(&symbols, &program, &mut diags);
    Analysis {
        program,
        diagnostics: allow::apply(&symbols, diags),
    }
}
