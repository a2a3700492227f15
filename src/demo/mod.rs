//! Demo data: fills every source and reference table of a project with
//! realistic, joinable, deterministic rows, so a project can be run end to
//! end without real data (`bplc demo-data`).
//!
//! Everything is read from the specs, nothing from the example at hand:
//!
//! - **Join domains** ([`domains`]): columns that a join compares, that a
//!   dataset copies, or that a boundary ties to a partition key share one
//!   set of values, so joins match — unit ids of events exist in the unit
//!   reference, assignment events carry ids of real case events.
//! - **References** get every key; effective-dated ones several validity
//!   intervals per key (the last open), versioned ones a row set per
//!   declared version.
//! - **Sources** get `rows` events over the date range; arrival clocks
//!   (ingestion, commit, file arrival, the input lock's columns) come after
//!   the event clock, a few late and a few beyond `max lateness`; some rows
//!   are delivered twice with a later arrival; a few are invalid the way
//!   quality rules catch: an empty id, a negative amount, a time after the
//!   event it must precede. Nullable columns are sometimes null.
//!
//! Same seed and options, same bytes: values are hashes of their
//! coordinates ([`rng`]), times are computed in UTC with the project's zone
//! only for day boundaries, and nothing reads the clock or the locale. Rows
//! stream into the warehouse through the engine's [`Loader`], in one
//! transaction; memory does not grow with `rows`.

mod calendar;
mod domains;
mod files;
#[cfg(feature = "parquet")]
mod parquet;
mod rng;
mod table;

use serde::Serialize;

use crate::runtime::engine::Loader;
use crate::runtime::RuntimeError;
use crate::semantic::hir::Program;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Rows of each event source (a source whose key reuses another's ids
    /// gets a quarter); references scale with it.
    pub rows: u64,
    pub seed: u64,
    /// The first day of the range, in the project's time zone.
    pub start: chrono::NaiveDate,
    pub days: u32,
    /// The project's time zone: where days begin. `None` is UTC.
    pub time_zone: Option<chrono_tz::Tz>,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            rows: 10_000,
            seed: 42,
            start: chrono::NaiveDate::from_ymd_opt(2026, 6, 1).expect("a valid date"),
            days: 61,
            time_zone: None,
        }
    }
}

/// What went into the warehouse.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub seed: u64,
    pub rows: u64,
    pub start: String,
    pub days: u32,
    pub time_zone: String,
    pub tables: Vec<TableReport>,
}

/// One table: rows written, and how many of them are the awkward kind.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// The source or reference.
    pub declaration: String,
    /// `source` or `reference`.
    pub kind: String,
    pub table: String,
    /// Rows written, duplicates included.
    pub rows: u64,
    /// Second deliveries of a row, with a later arrival time.
    pub duplicates: u64,
    /// Rows arriving hours after their event, within `max lateness`.
    pub late: u64,
    /// Rows arriving after `max lateness`.
    pub too_late: u64,
    /// Rows that break a typical quality rule.
    pub invalid: u64,
}

#[derive(Debug)]
pub enum DemoError {
    /// The options cannot make data.
    Options(String),
    /// The warehouse refused a write: what the engine said.
    Store(String),
}

impl From<RuntimeError> for DemoError {
    fn from(e: RuntimeError) -> DemoError {
        DemoError::Store(match e {
            RuntimeError::Engine(m) => m,
            other => other.to_string(),
        })
    }
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Options(m) => f.write_str(m),
            DemoError::Store(e) => write!(f, "writing the warehouse failed: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

pub use files::{fill_files, FilesReport};

/// The most days a range may have (a century).
pub const MAX_DAYS: u32 = 36_600;

fn setup(options: &DemoOptions) -> table::Setup {
    table::Setup::new(
        options.seed,
        options.rows,
        options.start,
        options.days,
        options.time_zone,
    )
}

/// (Re)creates the table of every source and reference of `program`
/// through `out` and fills it, in one transaction (committed here). `progress` is called with the
/// table, the rows written so far and the rows expected.
pub fn fill(
    program: &Program,
    mut out: Box<dyn Loader + '_>,
    options: &DemoOptions,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<DemoReport, DemoError> {
    if options.rows == 0 {
        return Err(DemoError::Options("`rows` must be at least 1".into()));
    }
    if options.days == 0 || options.days > MAX_DAYS {
        return Err(DemoError::Options(format!(
            "`days` must be between 1 and {MAX_DAYS}"
        )));
    }
    let setup = setup(options);
    let analysis = domains::analyse(program, options.rows);
    // Demo rows go into the warehouse only: a table of an attached
    // database (`raw.events`) is someone else's, and read-only to bplc.
    // A landing-folder source and a seed get files instead
    // (`fill_files`): their tables are the ingestion's and the seed's.
    let plans: Vec<_> = table::plan(program, &analysis, &setup)
        .into_iter()
        .filter(|p| !p.table.contains('.') && !files::reads_files(program, &p.name))
        .collect();
    let mut tables = Vec::with_capacity(plans.len());
    for p in &plans {
        let _span = tracing::info_span!("demo_data", table = %p.table).entered();
        tables.push(table::write(out.as_mut(), p, &setup, progress)?);
    }
    out.commit()?;
    Ok(DemoReport {
        seed: options.seed,
        rows: options.rows,
        start: options.start.format("%Y-%m-%d").to_string(),
        days: options.days,
        time_zone: options
            .time_zone
            .map_or_else(|| "UTC".to_string(), |z| z.name().to_string()),
        tables,
    })
}
