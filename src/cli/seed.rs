//! `bplc seed`: loads the project's seeds (references kept as CSV files,
//! `seed "seeds/regions.csv"`) into the warehouse, each whose content
//! changed since it was last loaded. A run that binds a seed loads it
//! itself. A changed seed is reported with the datasets that bind it, and
//! the command that plans their recompute. Exit codes: 0 loaded, 1 a seed
//! refused, 2 usage or I/O error.

use std::path::PathBuf;

use super::run::{runtime_error, Opened};
use super::{accept_format, usage_error, Cli, Format};
use crate::ingest::seed::{self, SeedReport};
use crate::plan::JobPlan;
use crate::runtime::engine::intake::Intake;
use crate::runtime::RuntimeError;
use crate::semantic::hir::{BindPolicyKind, Program};

#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    /// The seed references to load; all of them when none is named.
    pub references: Vec<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

fn seeds(program: &Program) -> impl Iterator<Item = &crate::semantic::hir::Decl> {
    program.decls.iter().filter(|d| d.access.seed.is_some())
}

/// Before a new run: loads the seeds the job binds, and checks the
/// content of those it pins.
pub(crate) fn before_run(
    o: &Opened,
    plan: &JobPlan,
    warehouse: &mut dyn Intake,
) -> Result<(), RuntimeError> {
    for b in &plan.binds {
        let Some(d) = o
            .program
            .lookup(&b.table.decl)
            .filter(|d| d.access.seed.is_some())
        else {
            continue;
        };
        seed::load(&o.root, warehouse, d)?;
        if let (BindPolicyKind::Pinned(v), None) = (&b.policy, &b.versioned_by) {
            seed::check_pin(warehouse, d, v, &b.table.alias)?;
        }
    }
    Ok(())
}

/// The datasets that bind a reference.
fn bound_by(program: &Program, reference: &str) -> Vec<String> {
    program
        .datasets()
        .filter(|d| {
            d.binds
                .iter()
                .any(|b| program.get(b.target).name == reference)
        })
        .map(|d| d.name.clone())
        .collect()
}

pub fn run(cli: &Cli, args: &SeedArgs) -> u8 {
    if let Err(code) = accept_format(cli, "seed") {
        return code;
    }
    let known = |o: &Opened| seeds(&o.program).map(|d| d.name.clone()).collect();
    let (o, names) = match super::ingest::opened_for(
        cli,
        &args.project,
        "seeds are only loaded",
        known,
        &args.references,
        "a seed reference",
    ) {
        Ok(x) => x,
        Err(c) => return c,
    };
    // Opened as a run opens them, checking both are this project's, and
    // kept open while the seeds load (on Spark, writers take turns).
    let _stores = match o.stores().open() {
        Ok(stores) => stores,
        Err(e) => return runtime_error(e),
    };
    let mut warehouse = match o.stores().warehouse().intake() {
        Ok(w) => w,
        Err(e) => return runtime_error(e),
    };
    let mut reports: Vec<(SeedReport, Vec<String>)> = Vec::new();
    for d in seeds(&o.program).filter(|d| names.contains(&d.name)) {
        match seed::load(&o.root, warehouse.as_mut(), d) {
            Ok(r) => reports.push((r, bound_by(&o.program, &d.name))),
            Err(e) => return runtime_error(e),
        }
    }
    match cli.format {
        Format::Json => {
            let seeds: Vec<serde_json::Value> = reports
                .iter()
                .map(|(r, bound)| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["bound_by"] = serde_json::json!(bound);
                    v
                })
                .collect();
            match serde_json::to_string_pretty(&serde_json::json!({ "seeds": seeds })) {
                Ok(text) => outln!("{text}"),
                Err(e) => return usage_error(e),
            }
        }
        _ if reports.is_empty() => outln!("the project has no seeds"),
        _ => {
            for (r, bound) in &reports {
                outln!(
                    "{:9} {}  {}  version {}  {} row(s)",
                    r.outcome,
                    r.reference,
                    r.path,
                    &r.hash[..12],
                    r.rows
                );
                if r.outcome == "changed" && !bound.is_empty() {
                    outln!(
                        "          was {}; bound by {}: see what to recompute with `bplc plan-backfill --from {}`",
                        r.previous.as_deref().map_or("", |p| &p[..p.len().min(12)]),
                        bound.join(", "),
                        r.reference
                    );
                }
            }
        }
    }
    0
}
