//! The Parquet side of the ingest benchmark: writing the benchmark's rows
//! as one Parquet file, and the baseline `bplc ingest` is compared with —
//! a plain reader loop that reads the file through the Arrow reader in
//! batches of 8,192 rows (as `bplc` does) and inserts every row through
//! one prepared statement in one transaction, checking nothing. It runs
//! as a child process (this benchmark binary, started with [`FLAG`]), so
//! it is timed exactly as the other sides are.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// The argument that makes this binary the baseline loader.
pub const FLAG: &str = "--plain-parquet-load";
const BATCH: usize = 8192;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("account", DataType::Utf8, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// The benchmark's `rows` events as one Snappy-compressed Parquet file,
/// written a batch at a time so memory stays flat at 10M rows.
pub fn write(path: &Path, rows: u64) {
    let file = std::fs::File::create(path).expect("create the Parquet file");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema(), Some(props)).expect("a Parquet writer");
    let mut start = 0;
    while start < rows {
        let end = (start + BATCH as u64).min(rows);
        let events: Vec<crate::Event> = (start..end).map(crate::event).collect();
        let ids: StringArray = events.iter().map(|e| Some(e.id.as_str())).collect();
        let accounts: StringArray = events.iter().map(|e| Some(e.account.as_str())).collect();
        let amounts = Decimal128Array::from_iter_values(events.iter().map(|e| e.cents as i128))
            .with_precision_and_scale(18, 2)
            .expect("decimal(18, 2)");
        let times = TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.micros))
            .with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids),
            Arc::new(accounts),
            Arc::new(amounts),
            Arc::new(times),
        ];
        let batch = RecordBatch::try_new(schema(), columns).expect("a batch");
        writer.write(&batch).expect("write a batch");
        start = end;
    }
    writer.close().expect("close the Parquet file");
}

/// When started with [`FLAG`] FILE DB: loads FILE into a fresh table
/// `events` of DB and returns true (the process then exits).
pub fn child_main() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == FLAG) else {
        return false;
    };
    let (file, db) = (&args[at + 1], &args[at + 2]);
    let reader = ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).expect("open the Parquet file"),
    )
    .expect("a Parquet reader")
    .with_batch_size(BATCH)
    .build()
    .expect("a batch reader");
    let mut conn = rusqlite::Connection::open(db).expect("open the database");
    conn.execute_batch("CREATE TABLE events (event_id, account, amount, event_time)")
        .expect("create the table");
    let tx = conn.transaction().expect("a transaction");
    {
        let mut insert = tx
            .prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4)")
            .expect("prepare the insert");
        for batch in reader {
            let batch = batch.expect("read a batch");
            let column = |k: usize| batch.column(k).as_any();
            let ids = column(0).downcast_ref::<StringArray>().expect("ids");
            let accounts = column(1).downcast_ref::<StringArray>().expect("accounts");
            let amounts = column(2)
                .downcast_ref::<Decimal128Array>()
                .expect("amounts");
            let times = column(3)
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("times");
            for row in 0..batch.num_rows() {
                insert
                    .execute(rusqlite::params![
                        ids.value(row),
                        accounts.value(row),
                        amounts.value(row) as i64,
                        times.value(row),
                    ])
                    .expect("insert a row");
            }
        }
    }
    tx.commit().expect("commit");
    true
}
