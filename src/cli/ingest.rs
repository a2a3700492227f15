//! `bplc ingest` and `bplc files`: landing-folder sources. `ingest` reads
//! the new files of each file source into the warehouse (a run does this
//! by itself for the sources it reads); `files` lists what the ingestion
//! ledger recorded. Exit codes: 0 done, 1 a file refused (the error's code
//! says why), 2 usage or I/O error.

use std::io::IsTerminal;
use std::path::PathBuf;

use serde::Serialize;

use super::run::{as_of, open, runtime_error, Opened};
use super::{accept_format, usage_error, Cli, Format, Needs};
use crate::ingest::{file_sources, Ingest, Progress, SourceReport};
use crate::plan::JobPlan;
use crate::runtime::engine::intake::Intake;
use crate::runtime::ingest_ledger::{FileRecord, IngestLedger};
use crate::runtime::ledger::Ledger;
use crate::runtime::RuntimeError;
use crate::syntax::ast::DeclKind;

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// The file sources to ingest; all of them when none is named.
    pub sources: Vec<String>,
    /// The time the files found now are first seen (their `file_arrival`
    /// clock), to make an ingestion reproducible; the wall clock otherwise.
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// Only the files of this source.
    pub source: Option<String>,
    /// Also list each file's malformed lines (line number, reason, text).
    #[arg(long)]
    pub bad: bool,
    /// Only the files this run read: its input lock.
    #[arg(long)]
    pub run: Option<String>,
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// A progress bar over the bytes of the file being read, on a terminal.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new() -> Bar {
        Bar(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        }))
    }

    fn update(&self, p: Progress<'_>) {
        let Some(bar) = &self.0 else { return };
        match p {
            Progress::File(path, size) => {
                bar.set_length(size);
                bar.set_position(0);
                bar.set_message(path.to_string());
            }
            Progress::Bytes(n) => bar.set_position(n),
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn ingest(
    o: &Opened,
    warehouse: &mut dyn Intake,
    ledger: &Ledger,
    seen_at: String,
    names: &[String],
) -> Result<Vec<SourceReport>, RuntimeError> {
    let bar = Bar::new();
    let mut progress = |p: Progress<'_>| bar.update(p);
    let mut ingest = Ingest {
        root: &o.root,
        warehouse,
        ledger,
        seen_at,
        progress: &mut progress,
    };
    ingest.sources(&o.program, names)
}

/// A project whose sources include landing folders or seeds may start
/// without a warehouse: ingestion fills it, so it is created (empty) here.
/// Projects without either keep E0333 for a warehouse that is not there.
pub(crate) fn create_warehouse(o: &Opened) -> Result<(), u8> {
    let fills = file_sources(&o.program).next().is_some()
        || o.program.decls.iter().any(|d| d.access.seed.is_some());
    let file = matches!(o.engine, crate::project::EngineSettings::Sqlite);
    if o.warehouse.exists() || !fills || !file {
        return Ok(());
    }
    let made = o
        .warehouse
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::File::create(&o.warehouse).map(|_| ()));
    made.map_err(|e| usage_error(format!("cannot create `{}`: {e}", o.warehouse.display())))
}

/// Before a new run: ingests the new files of the file sources the job
/// reads, so its input lock includes them, and loads the seeds it binds.
pub(crate) fn before_run(
    o: &Opened,
    plan: &JobPlan,
    ledger: &Ledger,
    seen_at: &str,
    say: &mut dyn FnMut(&str),
) -> Result<(), RuntimeError> {
    let names: Vec<String> = plan
        .inputs
        .iter()
        .filter(|i| i.table.kind == DeclKind::Source)
        .map(|i| i.table.decl.clone())
        .collect();
    if nothing_to_load(o) {
        return Ok(());
    }
    let mut warehouse = o.stores().warehouse().intake()?;
    for r in ingest(o, warehouse.as_mut(), ledger, seen_at.to_string(), &names)? {
        say(&summary(&r));
    }
    super::seed::before_run(o, plan, warehouse.as_mut())
}

/// Before a retry: the tables of the landing folders the job reads in the
/// layout runs read (one a bplc before line numbers filled gains their
/// columns, empty for its rows), without ingesting anything: a retry reads
/// the files its first attempt locked.
pub(crate) fn before_retry(o: &Opened, plan: &JobPlan) -> Result<(), RuntimeError> {
    let reads: Vec<&crate::semantic::hir::Decl> = file_sources(&o.program)
        .filter(|d| plan.inputs.iter().any(|i| i.table.decl == d.name))
        .collect();
    if reads.is_empty() {
        return Ok(());
    }
    let mut warehouse = o.stores().warehouse().intake()?;
    for d in reads {
        let columns: Vec<String> = d.columns.iter().map(|c| c.name.clone()).collect();
        crate::ingest::table::prepare(warehouse.as_mut(), &d.name, &d.table, &columns)?;
    }
    Ok(())
}

/// Whether the project has neither landing folders nor seeds: nothing
/// for a run to load first, and no warehouse connection to open for it.
fn nothing_to_load(o: &Opened) -> bool {
    file_sources(&o.program).next().is_none()
        && !o.program.decls.iter().any(|d| d.access.seed.is_some())
}

/// Before a backfill: every landing folder's new files and every changed
/// seed, as a backfill may run any dataset.
pub(crate) fn before_backfill(
    o: &Opened,
    ledger: &Ledger,
    seen_at: &str,
) -> Result<(), RuntimeError> {
    if nothing_to_load(o) {
        return Ok(());
    }
    let mut warehouse = o.stores().warehouse().intake()?;
    let names: Vec<String> = file_sources(&o.program).map(|d| d.name.clone()).collect();
    ingest(o, warehouse.as_mut(), ledger, seen_at.to_string(), &names)?;
    for d in o.program.decls.iter().filter(|d| d.access.seed.is_some()) {
        crate::ingest::seed::load(&o.root, warehouse.as_mut(), d)?;
    }
    Ok(())
}

/// One line per source: what its ingestion found.
fn summary(r: &SourceReport) -> String {
    let count = |what: &str| r.files.iter().filter(|f| f.outcome == what).count();
    let rows: i64 = r.files.iter().map(|f| f.rows).sum();
    let bad: i64 = r.files.iter().map(|f| f.bad_rows).sum();
    format!(
        "{}: {} new file(s), {} replaced, {} unchanged, {} duplicate(s); {rows} row(s) loaded into `{}`, {bad} malformed line(s) quarantined",
        r.source,
        count("new"),
        count("replaced"),
        count("unchanged"),
        count("duplicate"),
        r.table
    )
}

/// Opens a project for writing, and the declarations a command acts on:
/// those `named`, or all it `known`s of when none is; a name it does not
/// know (`not "a source that reads files"`) is a usage error.
pub(crate) fn opened_for(
    cli: &Cli,
    project: &std::path::Path,
    what: &str,
    known: impl Fn(&Opened) -> Vec<String>,
    named: &[String],
    not: &str,
) -> Result<(Opened, Vec<String>), u8> {
    let o = open(cli, project, what, Needs::Graph).and_then(|o| o.writable().map(|()| o))?;
    let known = known(&o);
    if let Some(unknown) = named.iter().find(|s| !known.contains(s)) {
        return Err(usage_error(format!(
            "`{unknown}` is not {not}; the project's are: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    create_warehouse(&o)?;
    let names = if named.is_empty() {
        known
    } else {
        named.to_vec()
    };
    Ok((o, names))
}

pub fn run(cli: &Cli, args: &IngestArgs) -> u8 {
    if let Err(code) = accept_format(cli, "ingest") {
        return code;
    }
    let known = |o: &Opened| file_sources(&o.program).map(|d| d.name.clone()).collect();
    let (o, names) = match opened_for(
        cli,
        &args.project,
        "files are only ingested",
        known,
        &args.sources,
        "a source that reads files",
    ) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let seen_at = match as_of(args.as_of.as_deref()) {
        Ok(t) => t,
        Err(c) => return c,
    };
    if let Err(c) = create_warehouse(&o) {
        return c;
    }
    // Opened as a run opens them, checking both are this project's.
    let (_engine, ledger) = match o.stores().open() {
        Ok(x) => x,
        Err(e) => return runtime_error(e),
    };
    let mut warehouse = match o.stores().warehouse().intake() {
        Ok(w) => w,
        Err(e) => return runtime_error(e),
    };
    let reports = match ingest(&o, warehouse.as_mut(), &ledger, seen_at, &names) {
        Ok(r) => r,
        Err(e) => return runtime_error(e),
    };
    match cli.format {
        Format::Json => print_json(&serde_json::json!({ "sources": reports })),
        _ if reports.is_empty() => outln!("the project has no landing-folder sources"),
        _ => {
            for r in &reports {
                outln!("{}", summary(r));
                for f in r.files.iter().filter(|f| f.outcome != "unchanged") {
                    match &f.duplicate_of {
                        Some(of) => outln!(
                            "  {:9} {}  same content as {of}: not loaded",
                            f.outcome,
                            f.path
                        ),
                        None => outln!("  {:9} {}  {} row(s)", f.outcome, f.path, f.rows),
                    }
                    if let Some(b) = &f.first_bad {
                        outln!(
                            "  {:9} {}:{}  {} ({} in this file; `bplc files --bad` lists them)",
                            "bad line",
                            f.path,
                            b.line,
                            b.reason,
                            f.bad_rows
                        );
                    }
                }
            }
        }
    }
    0
}

fn print_json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => outln!("{text}"),
        Err(e) => {
            let _ = usage_error(e);
        }
    }
}

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    file: FileRecord,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bad_lines: Vec<crate::runtime::ingest_ledger::BadLine>,
}

pub fn files(cli: &Cli, args: &FilesArgs) -> u8 {
    if let Err(code) = accept_format(cli, "files") {
        return code;
    }
    let o = match open(cli, &args.project, "the ledger is only read", Needs::Graph) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let ledger = match o.stores().read_ledger() {
        Ok(l) => l,
        Err(e) => return runtime_error(e),
    };
    let listed = match ledger.as_ref().map(|l| listed(l, args)).transpose() {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => return runtime_error(e),
    };
    match cli.format {
        Format::Json => print_json(&serde_json::json!({ "files": listed })),
        _ if listed.is_empty() => outln!("no landing files ingested"),
        _ => {
            for l in &listed {
                let f = &l.file;
                outln!(
                    "{:>4}  {:9} {}  {}  {} row(s), {} malformed  first seen {}  sha256 {}",
                    f.file_id,
                    f.status,
                    f.source,
                    f.path,
                    f.rows,
                    f.bad_rows,
                    f.first_seen,
                    &f.hash[..f.hash.len().min(12)]
                );
                for b in &l.bad_lines {
                    outln!("        line {}: {}  | {}", b.line, b.reason, b.text);
                }
            }
        }
    }
    0
}

fn listed(ledger: &Ledger, args: &FilesArgs) -> Result<Vec<Listed>, RuntimeError> {
    let ingest = IngestLedger::of(ledger);
    let files = match &args.run {
        None => ingest.files(args.source.as_deref())?,
        Some(run) => {
            let mut read = Vec::new();
            for lock in ledger.manifest(run)?.input_lock {
                let locked = lock
                    .high_water_mark
                    .as_ref()
                    .and_then(|h| h.first())
                    .and_then(serde_json::Value::as_i64);
                let wanted = args.source.as_ref().is_none_or(|s| *s == lock.input);
                if let (Some(locked), true) = (locked, wanted) {
                    read.extend(ingest.read_by_lock(&lock.input, locked)?);
                }
            }
            read
        }
    };
    files
        .into_iter()
        .map(|file| {
            let bad_lines = if args.bad {
                ingest.bad_lines(file.file_id)?
            } else {
                Vec::new()
            };
            Ok(Listed { file, bad_lines })
        })
        .collect()
}
