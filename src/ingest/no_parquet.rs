//! Parquet without the `parquet` feature: the reader is not built in, and
//! a source that reads Parquet files says how to get it.

use std::path::Path;

use super::read::{Line, ReadError};

pub fn read(
    _path: &Path,
    _columns: &[crate::plan::Column],
    _each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
) -> Result<(), ReadError> {
    Err(ReadError::Stopped(crate::runtime::RuntimeError::Coded {
        code: crate::diagnostic::codes::E0387,
        message: "this bplc was built without its Parquet reader".into(),
        help: "build bplc with `cargo install bplc --features parquet`, or deliver the files as CSV or JSON lines".into(),
    }))
}
