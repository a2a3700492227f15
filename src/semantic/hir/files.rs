//! What a landing-folder source says about its files, for `src/ingest`.

use serde::Serialize;

/// `files "landing/*.csv" as csv ...` on a source, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSource {
    /// The glob, relative to the project's root.
    pub glob: String,
    pub format: FileFormat,
    /// `changed files replace`: a file whose content changed after it was
    /// ingested replaces its rows; otherwise the ingestion fails (E0383).
    pub replace_changed: bool,
    /// `clock file_arrival = col`: the column the ingestion fills with the
    /// time each file was first seen.
    pub arrival_column: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv {
        delimiter: u8,
        quote: u8,
        /// The text read as null (an empty field by default).
        null: String,
        /// Latin-1 rather than UTF-8.
        latin1: bool,
        /// The first record names the columns; without one, columns are
        /// read by position in declared order.
        header: bool,
    },
    JsonLines,
    Parquet,
}

impl FileFormat {
    pub fn name(&self) -> &'static str {
        match self {
            FileFormat::Csv { .. } => "csv",
            FileFormat::JsonLines => "json lines",
            FileFormat::Parquet => "parquet",
        }
    }
}
