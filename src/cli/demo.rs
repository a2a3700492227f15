//! `bplc demo-data`: fills the project's sources and references in its
//! warehouse with deterministic demo rows, so the project can be run end to
//! end. Exit codes: 0 filled, 1 the project does not check, 2 usage or I/O
//! error.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde::Serialize;

use super::{accept_format, clean_project, usage_error, Cli, Format, Needs};
use crate::demo::{self, DemoOptions, DemoReport};
use crate::runtime::engine::Warehouse;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// The project directory (or a file or directory inside it).
    #[arg(conflicts_with = "project")]
    pub path: Option<PathBuf>,
    /// The project directory, as the runtime commands take it.
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// Rows of each event source; references and child sources scale with it.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rows: u64,
    /// The seed: the same seed and options write the same rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The first day of the range, in the project's time zone.
    #[arg(long, default_value = "2026-06-01", value_parser = parse_date)]
    pub start: chrono::NaiveDate,
    /// How many days the events span.
    #[arg(long, default_value_t = 61, value_parser = clap::value_parser!(u32).range(1..=i64::from(demo::MAX_DAYS)))]
    pub days: u32,
}

fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date: write `2026-06-01`"))
}

/// The JSON document: where the rows went, and the report.
#[derive(Serialize)]
struct Output<'r> {
    warehouse: String,
    #[serde(flatten)]
    report: &'r DemoReport,
    /// Landing-folder sources: the files written.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    files: &'r [demo::FilesReport],
}

pub fn run(cli: &Cli, args: &DemoArgs) -> u8 {
    if let Err(code) = accept_format(cli, "demo-data") {
        return code;
    }
    let path = args
        .project
        .as_ref()
        .or(args.path.as_ref())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let (checked, program) =
        match clean_project(cli, &path, "demo data is only written", Needs::Jobs) {
            Ok(c) => c,
            Err(code) => return code,
        };
    let config = &checked.project.config;
    let time_zone = match config.time_zone.as_deref().map(str::parse::<chrono_tz::Tz>) {
        None => None,
        Some(Ok(tz)) => Some(tz),
        Some(Err(_)) => {
            return usage_error(format!(
                "`time_zone` in bpl.toml is not a time zone: {:?}",
                config.time_zone
            ))
        }
    };
    let warehouse = match config.store_paths() {
        Ok((w, _)) => checked.project.root.join(w),
        Err(e) => return super::run::runtime_error(e.into()),
    };
    if let Some(dir) = warehouse.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return usage_error(format!("cannot create `{}`: {e}", dir.display()));
        }
    }
    if let Err(code) = super::run::writable("warehouse", &warehouse) {
        return code;
    }
    let store = Warehouse::of(&config.engine_settings(), warehouse.clone(), Vec::new());
    let loader = match store.loader() {
        Ok(l) => l,
        // A server engine's coded error names what to fix (not a path).
        Err(e @ crate::runtime::RuntimeError::Server { .. }) => {
            return super::run::runtime_error(e)
        }
        Err(e) => {
            return usage_error(format!(
                "cannot open `{}`: {}",
                warehouse.display(),
                demo::DemoError::from(e)
            ))
        }
    };
    let options = DemoOptions {
        rows: args.rows,
        seed: args.seed,
        start: args.start,
        days: args.days,
        time_zone,
    };
    let mut bar = Progress::new(std::io::stderr().is_terminal());
    let result = demo::fill(&program, loader, &options, &mut |table, done, total| {
        bar.update(table, done, total)
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    // Landing-folder sources get files in their folders instead of rows.
    let files = demo::fill_files(
        &program,
        &checked.project.root,
        &options,
        &mut |table, done, total| bar.update(table, done, total),
    );
    bar.finish();
    let files = match files {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let shown = store.describe(
        &warehouse
            .strip_prefix(std::env::current_dir().unwrap_or_default())
            .or_else(|_| warehouse.strip_prefix("."))
            .unwrap_or(&warehouse)
            .display()
            .to_string(),
    );
    match cli.format {
        Format::Json => {
            let out = Output {
                warehouse: shown,
                report: &report,
                files: &files,
            };
            match serde_json::to_string_pretty(&out) {
                Ok(text) => say(&format!("{text}\n")),
                Err(e) => return usage_error(e),
            }
        }
        _ => {
            say(&text(&shown, &report));
            for f in &files {
                say(&format!(
                    "wrote {} file(s) for `{}` into {}: {} rows ({} late, {} too late, {} duplicates, {} invalid) and {} malformed line(s)\n",
                    f.files, f.rows.declaration, f.folder, f.rows.rows, f.rows.late, f.rows.too_late, f.rows.duplicates, f.rows.invalid, f.malformed
                ));
            }
        }
    }
    0
}

fn say(text: &str) {
    out!("{text}");
}

/// The text summary: one line per table.
fn text(warehouse: &str, r: &DemoReport) -> String {
    let mut out = format!(
        "filled {warehouse}: seed {}, {} rows per event source, {} days from {} ({})\n",
        r.seed, r.rows, r.days, r.start, r.time_zone
    );
    let width = r
        .tables
        .iter()
        .map(|t| t.table.len())
        .chain([5])
        .max()
        .unwrap_or(5);
    out.push_str(&format!(
        "  {:width$}  {:9}  {:>9}  {:>10}  {:>6}  {:>8}  {:>7}\n",
        "table", "kind", "rows", "duplicates", "late", "too late", "invalid"
    ));
    for t in &r.tables {
        out.push_str(&format!(
            "  {:width$}  {:9}  {:>9}  {:>10}  {:>6}  {:>8}  {:>7}\n",
            t.table, t.kind, t.rows, t.duplicates, t.late, t.too_late, t.invalid
        ));
    }
    out
}

/// An indicatif bar for the table being written, on standard error when
/// it is a terminal; cleared when the table is done (the summary follows).
struct Progress {
    show: bool,
    bar: Option<(String, indicatif::ProgressBar)>,
}

impl Progress {
    fn new(show: bool) -> Progress {
        Progress { show, bar: None }
    }

    fn update(&mut self, table: &str, done: u64, total: u64) {
        if !self.show {
            return;
        }
        if self.bar.as_ref().is_none_or(|(t, _)| t != table) {
            self.finish();
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:24} [{bar:32}] {human_pos:>11}/{human_len} rows, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(table.to_string());
            self.bar = Some((table.to_string(), bar));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
