//! Reading landing files line by line: CSV (header, delimiter, quote,
//! null marker, UTF-8 or Latin-1) and JSON lines. Each line becomes the
//! values of the declared columns the file holds, or a malformed line with
//! its number and the reason; nothing is kept but the line being read, so
//! memory does not grow with the file. Values are passed on as the file
//! wrote them (text, or a JSON number): the typed input boundary judges
//! them when a run reads the source, as it does a table's.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use rusqlite::types::Value;

use crate::runtime::ingest_ledger::BadLine;
use crate::semantic::hir::FileFormat;

/// Why a file could not be read at all.
#[derive(Debug)]
pub enum ReadError {
    /// The header (or the Parquet schema) lacks a declared column.
    Missing {
        column: String,
        found: Vec<String>,
    },
    /// A column the file holds in a type that cannot be the declared one.
    Mistyped {
        column: String,
        found: String,
        declared: String,
    },
    Io(std::io::Error),
    /// The consumer of the rows stopped the reading.
    Stopped(crate::runtime::RuntimeError),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// One line of a file.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its number in the file, counting from 1 (a Parquet file's: the
    /// row's number).
    pub number: u64,
    /// The values of `columns` in order; for a malformed line, those that
    /// could be read (a field where the header puts the column), NULL for
    /// the rest.
    pub values: Vec<Value>,
    /// Why the line is malformed.
    pub bad: Option<BadLine>,
}

impl Line {
    pub fn row(number: u64, values: Vec<Value>) -> Line {
        Line {
            number,
            values,
            bad: None,
        }
    }
}

/// How much of a malformed line's text is kept.
const TEXT_KEPT: usize = 500;

/// Reads `path`, calling `each` for every line with the values of
/// `columns` (declared names, in order). `bytes` is told how far into the
/// file reading has got, for a progress bar.
pub fn read(
    path: &Path,
    format: &FileFormat,
    columns: &[crate::plan::Column],
    each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
    bytes: &mut dyn FnMut(u64),
) -> Result<(), ReadError> {
    if matches!(format, FileFormat::Parquet) {
        return super::parquet::read(path, columns, each);
    }
    let file = File::open(path)?;
    let counted = Counted {
        inner: file,
        read: 0,
        tell: bytes,
    };
    text(counted, format, columns, each)
}

/// Reads CSV or JSON lines from `input` (a file, or a seed held in
/// memory), as [`read`] reads a file of that format; Parquet, which is not
/// read line by line, reads nothing here.
pub fn text(
    input: impl Read,
    format: &FileFormat,
    columns: &[crate::plan::Column],
    each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
) -> Result<(), ReadError> {
    match format {
        FileFormat::Csv {
            delimiter,
            quote,
            null,
            latin1,
            header,
        } => csv(
            input, *delimiter, *quote, null, *latin1, *header, columns, each,
        ),
        FileFormat::JsonLines => json_lines(input, columns, each),
        FileFormat::Parquet => Ok(()),
    }
}

/// A reader that reports how many bytes it has given out.
struct Counted<'a, R> {
    inner: R,
    read: u64,
    tell: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.tell)(self.read);
        Ok(n)
    }
}

fn decode(bytes: &[u8], latin1: bool) -> Option<String> {
    if latin1 {
        Some(bytes.iter().map(|&b| b as char).collect())
    } else {
        std::str::from_utf8(bytes).ok().map(str::to_string)
    }
}

fn shown(text: String) -> String {
    match text.char_indices().nth(TEXT_KEPT) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[allow(clippy::too_many_arguments)]
fn csv(
    input: impl Read,
    delimiter: u8,
    quote: u8,
    null: &str,
    latin1: bool,
    header: bool,
    columns: &[crate::plan::Column],
    each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
) -> Result<(), ReadError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let mut record = ::csv::ByteRecord::new();
    let io = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(e) => ReadError::Io(e),
        other => ReadError::Io(std::io::Error::other(format!("{other:?}"))),
    };
    let (positions, width) = if header {
        if !reader.read_byte_record(&mut record).map_err(io)? {
            // An empty file: no header, no rows.
            return Ok(());
        }
        let names: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let f = if k == 0 {
                    f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
                } else {
                    f
                };
                String::from_utf8_lossy(f).trim().to_string()
            })
            .collect();
        let mut positions = Vec::with_capacity(columns.len());
        for c in columns {
            match names.iter().position(|n| *n == c.name) {
                Some(k) => positions.push(k),
                None => {
                    return Err(ReadError::Missing {
                        column: c.name.clone(),
                        found: names,
                    })
                }
            }
        }
        (positions, names.len())
    } else {
        ((0..columns.len()).collect(), columns.len())
    };
    let sep = (delimiter as char).to_string();
    let text = |r: &::csv::ByteRecord| {
        shown(
            r.iter()
                .map(|f| decode(f, true).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(&sep),
        )
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.into_kind() {
                    ::csv::ErrorKind::Io(e) => return Err(ReadError::Io(e)),
                    other => {
                        each(Line {
                            number: line,
                            values: vec![Value::Null; columns.len()],
                            bad: Some(BadLine {
                                line,
                                reason: format!("not CSV: {other:?}"),
                                text: String::new(),
                            }),
                        })
                        .map_err(ReadError::Stopped)?;
                        continue;
                    }
                }
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let mut bad = None;
        if record.len() != width {
            let what = if header {
                "the header has"
            } else {
                "the source declares"
            };
            bad = Some(format!("{} field(s), but {what} {width}", record.len()));
        }
        // A ragged line's fields are still read where the header puts
        // them, so its bad row lands in the partition its values say.
        let mut values = Vec::with_capacity(columns.len());
        for (c, &k) in columns.iter().zip(&positions) {
            let Some(field) = record.get(k) else {
                values.push(Value::Null);
                continue;
            };
            match decode(field, latin1) {
                Some(v) if v == null => values.push(Value::Null),
                Some(v) => values.push(Value::Text(v)),
                None => {
                    values.push(Value::Null);
                    bad.get_or_insert_with(|| {
                        format!(
                            "{}: not valid UTF-8 (if the file is Latin-1, say `encoding \"latin1\"`)",
                            c.name
                        )
                    });
                }
            }
        }
        let bad = bad.map(|reason| BadLine {
            line,
            reason,
            text: text(&record),
        });
        each(Line {
            number: line,
            values,
            bad,
        })
        .map_err(ReadError::Stopped)?;
    }
}

fn json_lines(
    input: impl Read,
    columns: &[crate::plan::Column],
    each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
) -> Result<(), ReadError> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |reason: String, buf: &[u8]| BadLine {
            line,
            reason,
            text: shown(String::from_utf8_lossy(buf).trim_end().to_string()),
        };
        let nothing = || vec![Value::Null; columns.len()];
        let (values, reason) = match serde_json::from_slice::<serde_json::Value>(&buf) {
            Err(e) => (nothing(), Some(format!("not JSON: {e}"))),
            Ok(serde_json::Value::Object(map)) => object(&map, columns),
            Ok(_) => (nothing(), Some("not a JSON object".into())),
        };
        each(Line {
            number: line,
            values,
            bad: reason.map(|r| bad(r, &buf)),
        })
        .map_err(ReadError::Stopped)?;
    }
}

/// The declared columns of one JSON object: a missing field is a null
/// (the boundary says whether the column may be null); an array or object
/// where a value belongs is a null too, and makes the line malformed.
fn object(
    map: &serde_json::Map<String, serde_json::Value>,
    columns: &[crate::plan::Column],
) -> (Vec<Value>, Option<String>) {
    use serde_json::Value as J;
    let mut bad = None;
    let values = columns
        .iter()
        .map(|c| match map.get(&c.name) {
            None | Some(J::Null) => Value::Null,
            Some(J::String(s)) => Value::Text(s.clone()),
            Some(J::Bool(b)) => Value::Integer(*b as i64),
            Some(J::Number(n)) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            Some(J::Array(_)) => {
                bad.get_or_insert_with(|| format!("{}: an array, not a value", c.name));
                Value::Null
            }
            Some(J::Object(_)) => {
                bad.get_or_insert_with(|| format!("{}: an object, not a value", c.name));
                Value::Null
            }
        })
        .collect();
    (values, bad)
}
