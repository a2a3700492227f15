//! Parquet landing files, read with the Apache Arrow project's reader:
//! only the declared columns, in batches of [`BATCH`] rows, so memory
//! follows a batch and a row group, not the file. The file's schema is
//! checked against the declaration before a row is read: a missing column
//! (E0380) or one stored in a type that cannot be the declared one (E0386)
//! refuses the file. Values come out as the typed input boundary stores
//! them: integers, reals, text, dates as `YYYY-MM-DD` and timestamps as UTC
//! `YYYY-MM-DD HH:MM:SS`.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rusqlite::types::Value;

use super::read::{Line, ReadError};
use crate::semantic::T;

/// Rows decoded at a time.
pub const BATCH: usize = 8192;

fn failed(e: impl std::fmt::Display) -> ReadError {
    ReadError::Io(std::io::Error::other(format!(
        "not a readable Parquet file: {e}"
    )))
}

pub fn read(
    path: &Path,
    columns: &[crate::plan::Column],
    each: &mut dyn FnMut(Line) -> Result<(), crate::runtime::RuntimeError>,
) -> Result<(), ReadError> {
    let file = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(failed)?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(columns.len());
    for c in columns {
        let Ok(k) = schema.index_of(&c.name) else {
            return Err(ReadError::Missing {
                column: c.name.clone(),
                found: schema.fields().iter().map(|f| f.name().clone()).collect(),
            });
        };
        let found = schema.field(k).data_type();
        if !fits(&c.ty, found) {
            return Err(ReadError::Mistyped {
                column: c.name.clone(),
                found: found.to_string(),
                declared: c.ty.to_string(),
            });
        }
        roots.push(k);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()
        .map_err(failed)?;
    let mut number = 0u64;
    for batch in reader {
        let batch = batch.map_err(failed)?;
        let arrays: Vec<_> = columns
            .iter()
            .map(|c| batch.column_by_name(&c.name).cloned())
            .collect::<Option<_>>()
            .ok_or_else(|| failed("a projected column is missing from a batch"))?;
        // A dictionary's keys are resolved once per batch, not per value.
        let keys: Vec<Option<Vec<usize>>> = arrays
            .iter()
            .map(|a| {
                matches!(a.data_type(), DataType::Dictionary(..))
                    .then(|| a.as_any_dictionary().normalized_keys())
            })
            .collect();
        for row in 0..batch.num_rows() {
            number += 1;
            let values = arrays
                .iter()
                .zip(&keys)
                .map(|(a, keys)| match keys {
                    Some(_) if a.is_null(row) => Value::Null,
                    Some(k) => value(a.as_any_dictionary().values().as_ref(), k[row]),
                    None => value(a.as_ref(), row),
                })
                .collect();
            each(Line::row(number, values)).map_err(ReadError::Stopped)?;
        }
    }
    Ok(())
}

fn integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

fn text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => text(v),
        _ => false,
    }
}

/// Whether a column stored as `found` can hold values of type `t`.
fn fits(t: &T, found: &DataType) -> bool {
    let date = matches!(found, DataType::Date32 | DataType::Date64);
    match t {
        T::Int => integer(found),
        T::Float | T::Decimal(_) | T::DecimalLit(_) | T::Duration => {
            integer(found)
                || matches!(
                    found,
                    DataType::Float32 | DataType::Float64 | DataType::Decimal128(..)
                )
        }
        T::Bool => matches!(found, DataType::Boolean),
        T::String | T::Enum(_) | T::Month => text(found),
        T::Date => date || text(found),
        T::Timestamp => date || text(found) || matches!(found, DataType::Timestamp(..)),
        _ => true,
    }
}

fn day(days: i64) -> Value {
    let d = chrono::DateTime::from_timestamp(days * 86_400, 0).map(|t| t.date_naive());
    d.map_or(Value::Null, |d| {
        Value::Text(d.format("%Y-%m-%d").to_string())
    })
}

fn instant(secs: i64, nanos: u32) -> Value {
    chrono::DateTime::from_timestamp(secs, nanos).map_or(Value::Null, |t| {
        Value::Text(t.format(crate::sql::types::TIMESTAMP_FORMAT).to_string())
    })
}

/// A Parquet decimal by its digits, as ingestion keeps a decimal (the
/// float that reads back as exactly them, else the text; see
/// `runtime::engine::sqlite::decimal::as_written`), never rounded through
/// a float division.
fn decimal(v: i128, scale: i8) -> Value {
    let sign = if v < 0 { "-" } else { "" };
    let digits = v.unsigned_abs().to_string();
    let text = match usize::try_from(scale) {
        Ok(0) | Err(_) => format!(
            "{sign}{digits}{}",
            "0".repeat(usize::from(scale.unsigned_abs()))
        ),
        Ok(s) => {
            let padded = format!("{digits:0>w$}", w = s + 1);
            let (whole, frac) = padded.split_at(padded.len() - s);
            format!("{sign}{whole}.{frac}")
        }
    };
    crate::runtime::engine::sqlite::functions::convert(
        rusqlite::types::ValueRef::Text(text.as_bytes()),
        "decimal",
    )
    .unwrap_or(Value::Text(text))
}

/// One value of an Arrow array as the warehouse stores it.
fn value(a: &dyn Array, row: usize) -> Value {
    if a.is_null(row) {
        return Value::Null;
    }
    let int = |i: i64| Value::Integer(i);
    match a.data_type() {
        DataType::Int8 => int(a.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => int(a.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => int(a.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => int(a.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => int(a.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => int(a.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => int(a.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v).map_or(Value::Real(v as f64), int)
        }
        DataType::Float32 => Value::Real(a.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Real(a.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            decimal(a.as_primitive::<Decimal128Type>().value(row), *scale)
        }
        DataType::Boolean => int(a.as_boolean().value(row).into()),
        DataType::Utf8 => Value::Text(a.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::Text(a.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::Text(a.as_string_view().value(row).to_string()),
        DataType::Date32 => day(a.as_primitive::<Date32Type>().value(row).into()),
        DataType::Date64 => day(a.as_primitive::<Date64Type>().value(row) / 86_400_000),
        DataType::Timestamp(unit, _) => {
            let (v, per_sec) = match unit {
                TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().value(row), 1),
                TimeUnit::Millisecond => (
                    a.as_primitive::<TimestampMillisecondType>().value(row),
                    1_000,
                ),
                TimeUnit::Microsecond => (
                    a.as_primitive::<TimestampMicrosecondType>().value(row),
                    1_000_000,
                ),
                TimeUnit::Nanosecond => (
                    a.as_primitive::<TimestampNanosecondType>().value(row),
                    1_000_000_000,
                ),
            };
            let nanos = (v.rem_euclid(per_sec) * (1_000_000_000 / per_sec)) as u32;
            instant(v.div_euclid(per_sec), nanos)
        }
        other => Value::Text(format!("<{other}>")),
    }
}
