//! Demo landing files in Parquet (feature `parquet`): each column in the
//! Arrow type a source system would write for its declared type — 64-bit
//! integers, doubles, booleans, `decimal128(p, s)`, dates, UTC timestamps
//! in milliseconds, text for the rest — Snappy-compressed, in row groups
//! of [`ROWS_PER_BATCH`] rows. A generated value the column's type cannot
//! hold (the demo's invalid rows) is written as a null, which the typed
//! input boundary reports where the column may not be null.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::runtime::engine::Value;
use crate::semantic::T;

const ROWS_PER_BATCH: usize = 8192;

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(t) => Some(t.clone()),
        Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

fn instant(v: &Value) -> Option<i64> {
    let t = text(v)?;
    let t = t.trim().trim_end_matches('Z').replace('T', " ");
    chrono::NaiveDateTime::parse_from_str(&t, crate::sql::types::TIMESTAMP_FORMAT)
        .ok()
        .map(|d| d.and_utc().timestamp_millis())
}

fn day(v: &Value) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(text(v)?.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// One column's Arrow field and values.
fn column(name: &str, t: &T, values: &[&Value]) -> Result<(Field, ArrayRef), String> {
    let (ty, array): (DataType, ArrayRef) = match t {
        T::Int => {
            let a: Int64Array = values
                .iter()
                .map(|v| number(v).filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .collect();
            (DataType::Int64, Arc::new(a))
        }
        T::Bool => {
            let a: BooleanArray = values
                .iter()
                .map(|v| match v {
                    Value::Integer(i @ (0 | 1)) => Some(*i == 1),
                    _ => None,
                })
                .collect();
            (DataType::Boolean, Arc::new(a))
        }
        T::Float | T::Duration => {
            let a: Float64Array = values.iter().map(|v| number(v)).collect();
            (DataType::Float64, Arc::new(a))
        }
        T::Decimal(d) | T::DecimalLit(d) => {
            let m = 10f64.powi(i32::from(d.scale));
            let a = values
                .iter()
                .map(|v| number(v).map(|f| (f * m).round() as i128))
                .collect::<Decimal128Array>()
                .with_precision_and_scale(d.precision, d.scale as i8)
                .map_err(|e| e.to_string())?;
            (
                DataType::Decimal128(d.precision, d.scale as i8),
                Arc::new(a),
            )
        }
        T::Timestamp => {
            let a: TimestampMillisecondArray = values.iter().map(|v| instant(v)).collect();
            let a = a.with_timezone("UTC");
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                Arc::new(a),
            )
        }
        T::Date => {
            let a: Date32Array = values.iter().map(|v| day(v)).collect();
            (DataType::Date32, Arc::new(a))
        }
        _ => {
            let a: StringArray = values.iter().map(|v| text(v)).collect();
            (DataType::Utf8, Arc::new(a))
        }
    };
    Ok((Field::new(name, ty, true), array))
}

/// Writes `rows` (one value per column of `columns`) as a Parquet file.
pub fn write(path: &Path, columns: &[(&str, &T)], rows: &[Vec<Value>]) -> std::io::Result<()> {
    let failed = |e: String| std::io::Error::other(format!("writing Parquet: {e}"));
    let file = std::fs::File::create(path)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROWS_PER_BATCH)
        .build();
    let mut writer: Option<ArrowWriter<std::fs::File>> = None;
    let mut file = Some(file);
    let empty: [Vec<Value>; 1] = [Vec::new()];
    let chunks: Vec<&[Vec<Value>]> = if rows.is_empty() {
        vec![&empty[..0]]
    } else {
        rows.chunks(ROWS_PER_BATCH).collect()
    };
    for chunk in chunks {
        let mut fields = Vec::with_capacity(columns.len());
        let mut arrays = Vec::with_capacity(columns.len());
        for (k, (name, t)) in columns.iter().enumerate() {
            let values: Vec<&Value> = chunk
                .iter()
                .map(|r| r.get(k).unwrap_or(&Value::Null))
                .collect();
            let (f, a) = column(name, t, &values).map_err(failed)?;
            fields.push(f);
            arrays.push(a);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch =
            RecordBatch::try_new(schema.clone(), arrays).map_err(|e| failed(e.to_string()))?;
        if writer.is_none() {
            let f = file.take().expect("opened once");
            writer = Some(
                ArrowWriter::try_new(f, schema, Some(props.clone()))
                    .map_err(|e| failed(e.to_string()))?,
            );
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch).map_err(|e| failed(e.to_string()))?;
        }
    }
    match writer {
        Some(w) => w.close().map(|_| ()).map_err(|e| failed(e.to_string())),
        None => Ok(()),
    }
}
