//! `bplc docs --out DIR`: the lineage site, written to a directory and
//! opened from disk (`DIR/index.html`). Exit codes: 0 written, 2 usage or
//! I/O error (a directory that cannot be written: E0354).

use std::path::{Path, PathBuf};

use super::run::{open, runtime_error};
use super::run_args::refuse;
use super::status::{as_of_instant, report_of};
use super::{accept_format, Cli, Format, Needs};
use crate::diagnostic::codes;

#[derive(clap::Args, Debug)]
pub struct DocsArgs {
    /// The directory to write the site to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The time the status is judged at; default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

pub fn run(cli: &Cli, args: &DocsArgs) -> u8 {
    if let Err(code) = accept_format(cli, "docs") {
        return code;
    }
    let as_of = match as_of_instant(args.as_of.as_deref()) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let o = match open(cli, &args.project, "the site is only made", Needs::Jobs) {
        Ok(o) => o,
        Err(c) => return c,
    };
    // Without a ledger the site shows the graph and the contracts only.
    let runs = match o.stores().read_ledger() {
        Ok(Some(l)) => match crate::ops::manifests(&l) {
            Ok(r) => Some(r),
            Err(e) => return runtime_error(e),
        },
        Ok(None) => None,
        Err(e) => return runtime_error(e),
    };
    let report = match &runs {
        Some(runs) => match report_of(&o, runs, &[], as_of) {
            Ok(r) => Some(r),
            Err(c) => return c,
        },
        None => None,
    };
    let site = crate::ops::site::site(
        &o.name,
        &o.program,
        &o.sources,
        runs.as_deref().unwrap_or(&[]),
        report.as_ref(),
    );
    if let Err(e) = write(&args.out, &site) {
        return refuse(
            codes::E0354,
            format!("cannot write the site to `{}`: {e}", args.out.display()),
            "point `--out` at a directory you can write to; it is created if missing".into(),
        );
    }
    let index = args.out.join("index.html");
    match cli.format {
        Format::Json => outln!(
            "{}",
            serde_json::json!({
                "format": "bplc-docs",
                "version": 1,
                "index": index,
                "declarations": site.nodes.len(),
                "edges": site.edges.len(),
            })
        ),
        _ => outln!(
            "wrote the lineage site of {} declarations to {}",
            site.nodes.len(),
            index.display()
        ),
    }
    0
}

fn write(dir: &Path, site: &crate::ops::site::Site) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in crate::ops::site::ASSETS {
        std::fs::write(dir.join(name), text)?;
    }
    let json = serde_json::to_string(site).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("data.js"), format!("window.BPLC = {json};\n"))
}
