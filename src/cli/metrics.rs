//! `bplc metrics`: Prometheus text exposition of the ledger and the status,
//! on standard output or written atomically to `--out` (a temporary file
//! renamed over it, so the textfile collector never reads half a file).
//! `--format json` gives the same samples as a JSON document.
//! Exit codes: 0 written, 2 usage or I/O error (no ledger: E0351; a file
//! that cannot be written: E0353).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::run::Opened;
use super::run_args::refuse;
use super::status::judge;
use super::{accept_format, Cli};
use crate::diagnostic::codes;

#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    /// Write to this file (for the node exporter's textfile collector:
    /// a `*.prom` file in its directory) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The time staleness is measured at; default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

pub fn run(cli: &Cli, args: &MetricsArgs) -> u8 {
    if let Err(code) = accept_format(cli, "metrics") {
        return code;
    }
    let (report, (_, runs)) = match judge(cli, &args.project, &[], args.as_of.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let families = crate::ops::metrics::families(&report, &runs, chrono::Utc::now());
    let text = match cli.format {
        super::Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&crate::ops::metrics::json(&families))
                .expect("metrics serialise")
        ),
        _ => crate::ops::metrics::exposition(&families),
    };
    match &args.out {
        None => {
            out!("{text}");
            0
        }
        Some(path) => match write_atomically(path, &text) {
            Ok(()) => 0,
            Err(e) => unwritable(path, &e),
        },
    }
}

fn unwritable(path: &Path, e: &std::io::Error) -> u8 {
    refuse(
        codes::E0353,
        format!("cannot write the metrics to `{}`: {e}", path.display()),
        "create the directory, or make it writable for the user running bplc; the textfile collector reads `*.prom` files from its `--collector.textfile.directory`".into(),
    )
}

/// Before `run` or `run-due` runs anything: the `metrics` file of bpl.toml,
/// if any, can be written (E0353), so a run never ends with metrics that
/// silently went stale.
pub(crate) fn check_configured(o: &Opened) -> Result<(), u8> {
    let Some(path) = &o.metrics else {
        return Ok(());
    };
    let probe = temporary(path).and_then(|tmp| {
        std::fs::File::create(&tmp)?;
        std::fs::remove_file(&tmp)
    });
    probe.map_err(|e| unwritable(path, &e))
}

/// After `run` or `run-due`: rewrites the `metrics` file of bpl.toml, if
/// any, with the status now. Returns the command's exit code, or `2` if the
/// file could not be written after all (said on standard error: the
/// command's own report is already out).
pub(crate) fn after_runs(o: &Opened, code: u8) -> u8 {
    let Some(path) = &o.metrics else {
        return code;
    };
    let written = (|| -> Result<(), String> {
        let ledger = o
            .stores()
            .read_ledger()
            .map_err(|e| e.to_string())?
            .ok_or("no ledger")?;
        let runs = crate::ops::manifests(&ledger).map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        let inputs = crate::ops::status::Inputs {
            program: &o.program,
            runs: &runs,
            as_of: now,
            zone: o.time_zone.as_deref(),
            seeds: &crate::ingest::seed::versions_now(&o.root, &o.program),
        };
        let report = crate::ops::status::status(&inputs, &[])
            .map_err(|e| format!("{}: {}", e.dataset, e.detail))?;
        let families = crate::ops::metrics::families(&report, &runs, now);
        write_atomically(path, &crate::ops::metrics::exposition(&families))
            .map_err(|e| e.to_string())
    })();
    match written {
        Ok(()) => code,
        Err(e) => {
            errln!(
                "error[{}]: cannot write the metrics to `{}`: {e}",
                codes::E0353,
                path.display()
            );
            if code == 0 {
                super::EXIT_USAGE
            } else {
                code
            }
        }
    }
}

/// A temporary file beside `path`, hidden, named after this process.
fn temporary(path: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

/// Writes `text` to a temporary file beside `path`, flushes it to disk and
/// renames it over `path`: readers see the old file or the new one whole.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = temporary(path)?;
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
