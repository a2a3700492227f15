//! The `bplc` command line. One struct per subcommand; every reporting
//! command takes `--format`. Exit codes: 0 ok (warnings allowed), 1 the
//! project or the run is not OK, 2 usage or I/O error, 3 a backfill that
//! completed but skipped some partitions.

/// `print!`, `println!`, `eprint!` and `eprintln!` for commands: through
/// [`output`], so a closed pipe ends the output instead of the process.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::print(format_args!($($arg)*)) };
}
macro_rules! outln {
    () => { $crate::cli::output::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::print(format_args!("{}\n", format_args!($($arg)*))) };
}
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::eprint(format_args!("{}\n", format_args!($($arg)*))) };
}

mod backfill;
mod check;
mod demo;
mod docs;
mod explain;
mod fmt;
mod graph;
mod ingest;
mod lsp;
mod metrics;
pub mod output;
mod plan;
mod quarantine;
pub mod render;
mod run;
mod run_args;
mod run_due;
mod seed;
mod show;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: the project or the run is not OK.
pub const EXIT_NOT_OK: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `bplc backfill`: complete, but some partitions were
/// skipped (closed periods it may not change); the report says which and
/// how to restate them.
pub const EXIT_SKIPPED: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "bplc",
    version,
    about = "Compiler and runtime for .bpl batch pipeline specifications"
)]
pub struct Cli {
    /// When to use colours in text output.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Output format of reporting commands.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// GitHub Actions workflow annotations (`check` only).
    Github,
    /// Graphviz DOT (`graph` only).
    Dot,
    /// A Mermaid flowchart (`graph` only).
    Mermaid,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and check a project; exit 1 if it has errors.
    Check(CheckArgs),
    /// Explain a diagnostic code, with a wrong and a right example.
    Explain(ExplainArgs),
    /// Plan a backfill: every downstream partition a change touches.
    PlanBackfill(plan::PlanArgs),
    /// Rewrite `.bpl` files in the canonical layout; `--check` only lists them.
    Fmt(fmt::FmtArgs),
    /// The dependency graph, with partition mappings on its edges.
    Graph(graph::GraphArgs),
    /// Run a dataset's job for a date or range: lock, compute, validate, publish.
    Run(run::RunArgs),
    /// List the runs in the ledger.
    Runs(run::RunsArgs),
    /// Show a run's whole manifest.
    Show(run::RunIdArgs),
    /// List the rows a run quarantined, with their partition, rule and reason.
    Quarantine(run::RunIdArgs),
    /// Resolve a run a crash left mid-way, from durable state only.
    Recover(run::RunIdArgs),
    /// Publish a run held for manual review.
    Approve(run::ReviewArgs),
    /// Discard a run held for manual review.
    Reject(run::ReviewArgs),
    /// Make an earlier version of a versioned partition active again.
    Rollback(run::RollbackArgs),
    /// Fill the sources and references with deterministic demo rows
    ///
    /// Rows that join across tables, with late, duplicate and invalid ones
    /// mixed in, written to the warehouse named in `bpl.toml`.
    DemoData(demo::DemoArgs),
    /// Ingest the new files of landing-folder sources into the warehouse.
    ///
    /// Each file is read once and recorded in the ingestion ledger; `run`
    /// does this by itself for the sources it reads.
    Ingest(ingest::IngestArgs),
    /// List the landing files ingested, and their malformed lines.
    Files(ingest::FilesArgs),
    /// Load the project's seeds (references kept as CSV) into the warehouse.
    Seed(seed::SeedArgs),
    /// Execute a backfill: the planned runs, wave by wave, in a mode.
    Backfill(backfill::BackfillArgs),
    /// Compare two versions of a partition, row by row.
    Diff(backfill::DiffArgs),
    /// The language server, over stdio: editors start it.
    Lsp(lsp::LspArgs),
    /// Every partition's state: fresh, stale, due, late, running, held, failed or closed.
    Status(status::StatusArgs),
    /// Run what the schedules say is due, and what became stale upstream.
    RunDue(run_due::RunDueArgs),
    /// Prometheus metrics of the runs and the status, for the textfile collector.
    Metrics(metrics::MetricsArgs),
    /// A static lineage site: the graph, each contract, runs and status.
    Docs(docs::DocsArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The project directory (or a file or directory inside it).
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A code such as `E0001`.
    pub code: String,
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    crate::runtime::engine::sqlite::quiet_sqlite_statistics();
    let parsed = command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_requested() => {
            // The command line itself is wrong, but JSON was asked for.
            let message = e.render().to_string();
            let message = message.trim().trim_start_matches("error: ");
            let _ = FORMAT.set(Format::Json);
            return ExitCode::from(usage_error(message));
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let _ = FORMAT.set(cli.format);
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Backfill(_)
            | Command::Approve(_)
            | Command::Reject(_)
            | Command::Recover(_)
            | Command::RunDue(_)
    ) {
        crate::runtime::cancel::install();
    }
    let code = match &cli.command {
        Command::Check(args) => check::run(&cli, args),
        Command::Explain(args) => explain::run(&cli, args),
        Command::PlanBackfill(args) => plan::run(&cli, args),
        Command::Fmt(args) => fmt::run(&cli, args),
        Command::Graph(args) => graph::run(&cli, args),
        Command::Run(args) => run::run(&cli, args),
        Command::Runs(args) => run::runs(&cli, args),
        Command::Show(args) => run::show(&cli, args),
        Command::Quarantine(args) => quarantine::run(&cli, args),
        Command::Recover(args) => run::recover(&cli, args),
        Command::Approve(args) => run::on_held(&cli, args, "approve"),
        Command::Reject(args) => run::on_held(&cli, args, "reject"),
        Command::Rollback(args) => run::rollback(&cli, args),
        Command::DemoData(args) => demo::run(&cli, args),
        Command::Ingest(args) => ingest::run(&cli, args),
        Command::Files(args) => ingest::files(&cli, args),
        Command::Seed(args) => seed::run(&cli, args),
        Command::Backfill(args) => backfill::run(&cli, args),
        Command::Diff(args) => backfill::diff(&cli, args),
        Command::Lsp(args) => lsp::run(&cli, args),
        Command::Status(args) => status::run(&cli, args),
        Command::RunDue(args) => run_due::run(&cli, args),
        Command::Metrics(args) => metrics::run(&cli, args),
        Command::Docs(args) => docs::run(&cli, args),
    };
    if output::failed() && code == 0 {
        return ExitCode::from(EXIT_USAGE);
    }
    ExitCode::from(code)
}

/// Whether the arguments ask for `--format json`, read without clap (for
/// when clap refuses them).
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}

impl Format {
    /// The spelling of a `--format` value, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Github => "github",
            Format::Dot => "dot",
            Format::Mermaid => "mermaid",
        }
    }
}

/// The formats each command prints (the rest print `text` and `json`):
/// what its `--help` lists and what [`accept_format`] lets through.
const FORMATS: &[(&str, &[Format], &str)] = &[
    (
        "check",
        &[Format::Text, Format::Json, Format::Github],
        "Output format: `text`, `json`, or `github` (GitHub Actions workflow annotations)",
    ),
    (
        "graph",
        &[Format::Text, Format::Dot, Format::Mermaid, Format::Json],
        "Output format: `text`, `json`, `dot` (Graphviz DOT) or `mermaid` (a Mermaid flowchart)",
    ),
    (
        "metrics",
        &[Format::Text, Format::Json],
        "Output format: `text` (Prometheus text exposition) or `json` (the same samples)",
    ),
    (
        "lsp",
        &[Format::Text],
        "Output format: only `text` (the server speaks the language server protocol on stdio)",
    ),
];

fn formats_of(command: &str) -> (&'static [Format], &'static str) {
    FORMATS.iter().find(|(c, _, _)| *c == command).map_or(
        (
            &[Format::Text, Format::Json],
            "Output format: `text` or `json`",
        ),
        |(_, f, h)| (f, h),
    )
}

/// The command line, with each subcommand's `--format` help listing only
/// the formats that command prints.
fn command() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let format = cmd
        .get_arguments()
        .find(|a| a.get_id() == "format")
        .cloned()
        .expect("`--format` is an option of the command line");
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let (_, help) = formats_of(&name);
        // A subcommand that has the global option already is not given
        // the parent's copy: this one, the same but for its help.
        let own = format.clone().help(help).hide_possible_values(true);
        cmd = cmd.mut_subcommand(&name, |sub| sub.arg(own));
    }
    cmd
}

/// Refuses a `--format` the command does not print: `Err` carries exit code 2.
pub(crate) fn accept_format(cli: &Cli, command: &str) -> Result<(), u8> {
    let (allowed, _) = formats_of(command);
    if allowed.contains(&cli.format) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|f| f.name()).collect();
    let list = match names.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} or {last}", init.join(", ")),
        _ => names.join(""),
    };
    let owner = FORMATS
        .iter()
        .find(|(_, f, _)| f.contains(&cli.format))
        .map_or("graph", |(c, _, _)| c);
    Err(usage_error(format!(
        "`--format {}` is for `{owner}`; `{command}` takes {list}",
        cli.format.name()
    )))
}

/// What a command reads of the checked program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Declarations, mappings and the graph: what `check` builds. Commands
    /// that run no job (graph, plan-backfill, runs, show) stop here, so they
    /// cost no more than `check`.
    Graph,
    /// Every dataset's job lowered for the runtime as well (`run`,
    /// `backfill`, `demo-data`).
    Jobs,
}

/// Loads and checks the project for a command that needs a clean one (graph,
/// plan-backfill), and hands back its checked program. On errors it reports
/// the diagnostics (see [`fail`]), says what `what` needs, and returns the
/// exit code to end with.
pub(crate) fn clean_project(
    cli: &Cli,
    path: &std::path::Path,
    what: &str,
    needs: Needs,
) -> Result<(crate::driver::Checked, crate::semantic::hir::Program), u8> {
    let checked = match needs {
        Needs::Graph => crate::driver::check(path),
        Needs::Jobs => crate::driver::compile(path),
    };
    let mut checked = checked.map_err(load_error)?;
    if !checked.diagnostics.iter().any(|d| d.is_error()) {
        if let Some(program) = checked.program.take() {
            return Ok((checked, program));
        }
    }
    let message = format!("the project has errors; {what} for a project that checks clean");
    if cli.format == Format::Json {
        let diagnostics = checked
            .diagnostics
            .iter()
            .map(|d| render::JsonDiagnostic::new(&checked.project.sources, d))
            .collect();
        print_json_error(&Failure {
            message,
            diagnostics,
            ..Failure::default()
        });
        return Err(EXIT_NOT_OK);
    }
    let summary = render::Summary::of(&checked.diagnostics, checked.project.user_modules().len());
    let _ = render::emit(
        Format::Text,
        cli.color,
        &checked.project.sources,
        &checked.diagnostics,
        &summary,
        &mut output::stderr(),
    );
    errln!("error: {message}");
    Err(EXIT_NOT_OK)
}

/// The `--format` of this invocation, for the error paths that are not
/// handed the command line.
static FORMAT: std::sync::OnceLock<Format> = std::sync::OnceLock::new();

/// An error that ends a command before its normal output. As text it goes
/// to standard error; with `--format json` it is the command's output, on
/// standard output: `{"error": {"code", "message", "help", "diagnostics"}}`
/// (the shape is documented in the book's CLI reference).
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Failure {
    /// A diagnostic code, when the error has one.
    pub code: Option<String>,
    pub message: String,
    pub help: Option<String>,
    /// The project's diagnostics, when it does not check clean.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<render::JsonDiagnostic>,
}

/// Reports `failure` in this invocation's format; returns `exit`.
pub(crate) fn fail(failure: Failure, exit: u8) -> u8 {
    if FORMAT.get() == Some(&Format::Json) {
        print_json_error(&failure);
        return exit;
    }
    match (&failure.code, &failure.help) {
        (Some(code), Some(help)) => errln!("error[{code}]: {}\n  help: {help}", failure.message),
        (Some(code), None) => errln!("error[{code}]: {}", failure.message),
        (None, Some(help)) => errln!("error: {}\n  help: {help}", failure.message),
        (None, None) => errln!("error: {}", failure.message),
    }
    exit
}

fn print_json_error(failure: &Failure) {
    let json = serde_json::json!({ "error": failure });
    outln!(
        "{}",
        serde_json::to_string_pretty(&json).expect("errors serialize")
    );
}

/// Prints a usage or I/O error and returns exit code 2.
pub(crate) fn usage_error(message: impl std::fmt::Display) -> u8 {
    fail(
        Failure {
            message: message.to_string(),
            ..Failure::default()
        },
        EXIT_USAGE,
    )
}

/// A plan that could not be made: exit code 2 (the request, not the
/// project, is wrong), with the error's own code and help, or E0320 for a
/// `--range` that names no partitions.
pub(crate) fn plan_error(e: crate::graph::plan::PlanError) -> u8 {
    let code = e.code().map(|c| c.to_string()).or_else(|| {
        matches!(e, crate::graph::plan::PlanError::BadRange(_))
            .then(|| crate::diagnostic::codes::E0320.to_string())
    });
    fail(
        Failure {
            code,
            message: e.to_string(),
            help: e.help().map(str::to_string),
            ..Failure::default()
        },
        EXIT_USAGE,
    )
}

/// A project that could not be loaded: exit code 2, with E0010 for a file
/// that cannot be read.
pub(crate) fn load_error(e: crate::project::LoadError) -> u8 {
    fail(
        Failure {
            code: e.code().map(|c| c.to_string()),
            message: e.detail(),
            ..Failure::default()
        },
        EXIT_USAGE,
    )
}
