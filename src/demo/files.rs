//! Demo data for landing-folder sources: the rows [`super::fill`] would
//! write to the source's table are written as files into its landing
//! folder instead, one file a day, in the source's format, named so its
//! pattern matches them. A row goes into the file of the day it arrived
//! (the `file_arrival` column, as generated), so late rows land in later
//! files; and one line of the middle file is malformed (a field short),
//! for the ingestion to quarantine.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{domains, table, DemoError, DemoOptions, TableReport};
use crate::runtime::engine::value::Cell;
use crate::runtime::engine::{Loader, Value};
use crate::runtime::RuntimeError;
use crate::semantic::hir::{Decl, FileFormat, Program};
use crate::semantic::T;

/// A [`Loader`] that keeps the one table it is given in memory, for the
/// rows to be written as files instead.
#[derive(Default)]
struct Collected {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Loader for Collected {
    fn table(&mut self, _name: &str, columns: &[(String, T)]) -> Result<(), RuntimeError> {
        self.columns = columns.iter().map(|(c, _)| c.clone()).collect();
        self.rows.clear();
        Ok(())
    }

    fn row(&mut self, values: &[Cell<'_>]) -> Result<(), RuntimeError> {
        self.rows.push(
            values
                .iter()
                .map(|v| match v {
                    Cell::Null => Value::Null,
                    Cell::Integer(i) => Value::Integer(*i),
                    Cell::Real(f) => Value::Real(*f),
                    Cell::Text(t) => Value::Text(t.to_string()),
                })
                .collect(),
        );
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), RuntimeError> {
        Ok(())
    }
}

impl Collected {
    /// The rows with only the `wanted` columns, in that order.
    fn columns_of(&self, wanted: &[&str]) -> Vec<Vec<Value>> {
        let at: Vec<Option<usize>> = wanted
            .iter()
            .map(|w| self.columns.iter().position(|c| c == w))
            .collect();
        self.rows
            .iter()
            .map(|r| {
                at.iter()
                    .map(|k| k.and_then(|k| r.get(k).cloned()).unwrap_or(Value::Null))
                    .collect()
            })
            .collect()
    }
}

/// Whether a declaration is a landing-folder source or a seed.
pub fn reads_files(program: &Program, name: &str) -> bool {
    program
        .lookup(name)
        .is_some_and(|d| d.access.files.is_some() || d.access.seed.is_some())
}

/// The files written for one source.
#[derive(Debug, Clone, Serialize)]
pub struct FilesReport {
    #[serde(flatten)]
    pub rows: TableReport,
    pub folder: String,
    pub files: u64,
    /// Lines written malformed on purpose.
    pub malformed: u64,
}

/// Writes demo files for every landing-folder source of `program`, under
/// `root`. Files of the same names are overwritten; others are left.
pub fn fill_files(
    program: &Program,
    root: &Path,
    options: &DemoOptions,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Vec<FilesReport>, DemoError> {
    let setup = super::setup(options);
    let analysis = domains::analyse(program, options.rows);
    let mut out = Vec::new();
    for p in table::plan(program, &analysis, &setup) {
        let Some(d) = program.lookup(&p.name) else {
            continue;
        };
        let mut rows = Collected::default();
        match (&d.access.files, &d.access.seed) {
            (Some(_), _) => {
                let report = table::write(&mut rows, &p, &setup, progress)?;
                out.push(export(&rows, d, root, report)?);
            }
            // A seed is the project's own file: written only if missing.
            (None, Some(seed)) if !root.join(seed).exists() => {
                let report = table::write(&mut rows, &p, &setup, progress)?;
                out.push(export_seed(&rows, d, &root.join(seed), report)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn export(
    collected: &Collected,
    d: &Decl,
    root: &Path,
    rows: TableReport,
) -> Result<FilesReport, DemoError> {
    let files = d.access.files.as_ref().expect("a file source");
    let (folder, name) = naming(root, &files.glob)?;
    std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
    let arrival = files.arrival_column.as_deref();
    let written_columns: Vec<&crate::semantic::Col> = d
        .columns
        .iter()
        .filter(|c| Some(c.name.as_str()) != arrival)
        .collect();
    let written: Vec<&str> = written_columns.iter().map(|c| c.name.as_str()).collect();
    let types: Vec<&T> = written_columns.iter().map(|c| &c.ty.t).collect();
    // The day of a row's file: its arrival, else its event time.
    let day_column = arrival.or_else(|| {
        d.access
            .clocks
            .iter()
            .find(|(k, _)| *k == crate::syntax::ast::ClockKind::Event)
            .map(|(_, c)| c.as_str())
    });
    let days = collected.columns_of(&[day_column.unwrap_or_default()]);
    let mut by_day: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    for (day, row) in days.iter().zip(collected.columns_of(&written)) {
        let day = match day.first() {
            Some(Value::Text(t)) if t.len() >= 10 => t[..10].to_string(),
            _ => "demo".to_string(),
        };
        by_day.entry(day).or_default().push(row);
    }
    let middle = by_day.len() / 2;
    let mut malformed = 0;
    for (k, (day, rows)) in by_day.iter().enumerate() {
        let path = folder.join(name.replace("{day}", day));
        // A Parquet file has no lines to break.
        let lines = !matches!(files.format, FileFormat::Parquet);
        let broken = (lines && k == middle && rows.len() > 1).then_some(rows.len() / 2);
        malformed += u64::from(broken.is_some());
        write_file(&path, &files.format, &written, &types, rows, broken)
            .map_err(|e| io(&path, e))?;
    }
    Ok(FilesReport {
        rows,
        folder: folder.display().to_string(),
        files: by_day.len() as u64,
        malformed,
    })
}

fn export_seed(
    collected: &Collected,
    d: &Decl,
    path: &Path,
    rows: TableReport,
) -> Result<FilesReport, DemoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let columns: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
    let csv = FileFormat::Csv {
        delimiter: b',',
        quote: b'"',
        null: String::new(),
        latin1: false,
        header: true,
    };
    let types: Vec<&T> = d.columns.iter().map(|c| &c.ty.t).collect();
    write_file(
        path,
        &csv,
        &columns,
        &types,
        &collected.columns_of(&columns),
        None,
    )
    .map_err(|e| io(path, e))?;
    Ok(FilesReport {
        rows,
        folder: path.display().to_string(),
        files: 1,
        malformed: 0,
    })
}

fn io(path: &Path, e: std::io::Error) -> DemoError {
    DemoError::Options(format!("cannot write `{}`: {e}", path.display()))
}

/// The folder files go into, and the name of a day's file (`{day}` in
/// it), so the pattern matches it: the pattern's last part with its first
/// `*` standing for the day.
fn naming(root: &Path, glob: &str) -> Result<(PathBuf, String), DemoError> {
    let parts: Vec<&str> = glob
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let (last, dirs) = parts
        .split_last()
        .ok_or_else(|| DemoError::Options(format!("the pattern `{glob}` names no files")))?;
    let mut folder = if glob.starts_with('/') {
        PathBuf::from("/")
    } else {
        root.to_path_buf()
    };
    for p in dirs.iter().filter(|p| **p != "**") {
        if p.contains(['*', '?']) {
            return Err(DemoError::Options(format!(
                "demo files are written into one folder, and `{glob}` has wildcards in its folders"
            )));
        }
        folder.push(p);
    }
    let name = match last.find('*') {
        Some(at) => format!(
            "{}{{day}}{}",
            &last[..at],
            last[at + 1..].replace(['*', '?'], "")
        ),
        None => last.replace('?', "x"),
    };
    Ok((folder, name))
}

fn write_file(
    path: &Path,
    format: &FileFormat,
    columns: &[&str],
    types: &[&T],
    rows: &[Vec<Value>],
    broken: Option<usize>,
) -> std::io::Result<()> {
    if matches!(format, FileFormat::Parquet) {
        return write_parquet(path, columns, types, rows);
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    match format {
        FileFormat::Csv {
            delimiter,
            quote,
            null,
            latin1,
            header,
        } => {
            let text = |v: &Value| match v {
                Value::Null => null.clone(),
                Value::Integer(i) => i.to_string(),
                Value::Real(f) => f.to_string(),
                Value::Text(t) => t.clone(),
                Value::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            };
            let mut w = csv::WriterBuilder::new()
                .delimiter(*delimiter)
                .quote(*quote)
                .flexible(true)
                .from_writer(Vec::new());
            if *header {
                w.write_record(columns)?;
            }
            for (k, row) in rows.iter().enumerate() {
                let fields: Vec<String> = row.iter().map(text).collect();
                let n = if Some(k) == broken {
                    fields.len().saturating_sub(1)
                } else {
                    fields.len()
                };
                w.write_record(&fields[..n])?;
            }
            let bytes = w.into_inner().map_err(|e| e.into_error())?;
            if *latin1 {
                let text = String::from_utf8_lossy(&bytes);
                let encoded: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect();
                out.write_all(&encoded)?;
            } else {
                out.write_all(&bytes)?;
            }
        }
        FileFormat::Parquet => unreachable!("written above"),
        FileFormat::JsonLines => {
            for (k, row) in rows.iter().enumerate() {
                let mut map = serde_json::Map::new();
                for (c, v) in columns.iter().zip(row) {
                    map.insert(c.to_string(), v.to_json());
                }
                let line = serde_json::Value::Object(map).to_string();
                if Some(k) == broken {
                    // Cut short: not JSON.
                    let mut cut = line.len() / 2;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    writeln!(out, "{}", &line[..cut])?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
        }
    }
    out.flush()
}

#[cfg(feature = "parquet")]
fn write_parquet(
    path: &Path,
    columns: &[&str],
    types: &[&T],
    rows: &[Vec<Value>],
) -> std::io::Result<()> {
    let typed: Vec<(&str, &T)> = columns.iter().copied().zip(types.iter().copied()).collect();
    super::parquet::write(path, &typed, rows)
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(
    _path: &Path,
    _columns: &[&str],
    _types: &[&T],
    _rows: &[Vec<Value>],
) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "Parquet demo files need bplc built with the `parquet` feature (`cargo install bplc --features parquet`)",
    ))
}
