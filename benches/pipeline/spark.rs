//! The pipeline benchmark on Apache Spark (issue 16): the same project run
//! by `bplc` with `engine = "spark"`, against the same pipeline written by
//! hand in Spark SQL and run by a Spark Connect client on the same server,
//! on copies of the same rows.
//!
//! `BPLC_BENCH_ENGINE=spark scripts/with-spark cargo bench --features
//! spark --bench pipeline` (the server's URL in `BPLC_TEST_SPARK_URL`, as
//! `scripts/with-spark` exports it).
//!
//! The rows are generated once on SQLite (the same generator as the SQLite
//! run, so the same rows), sent to Spark as Arrow batches and written to a
//! database `bench_pristine` as a warehouse keeps them: integers as
//! `BIGINT`, amounts as `DECIMAL(18,2)`, dates as `DATE`, timestamps as
//! `TIMESTAMP`, in Parquet. Each repetition copies them, untimed, into
//! `bench_bplc` (the project's database) and `bench_hand`, the events
//! partitioned by day as a Spark warehouse partitions them. The
//! hand-written side writes each layer as a Parquet table partitioned by
//! its partition column (`CREATE TABLE ... AS SELECT`) and reruns it with
//! `INSERT OVERWRITE` of the partitions it recomputes (dynamic partition
//! overwrite): Parquet tables have no `DELETE`, and Spark no transaction.
//! The two sides are timed as whole processes by wall clock; the server
//! does the work, so the report gives wall time only.

// The client's error type is large; it is the client's API, as is.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use spark_connect::row::{Row, Value};
use spark_connect::types::{DataType, StructField};
use spark_connect::SparkSession;

use super::child::{run_child, Child};
use super::common::{remove_db, secs};
use super::project::{self, Flavor, Spec, TableDiff};
use super::{repeat, run_bplc, Files, Measured, Sides, Step, CHILD_STEP};

/// The environment variable holding the server's URL.
pub const URL_ENV: &str = "BPLC_TEST_SPARK_URL";
/// Makes this binary the hand-written side on Spark, in this database.
pub const CHILD_DATABASE: &str = "BPLC_BENCH_PIPELINE_SPARK_DATABASE";

const PRISTINE: &str = "bench_pristine";
const BPLC: &str = "bench_bplc";
const HAND: &str = "bench_hand";

/// The project's `bpl.toml` on Spark: the ledger stays a SQLite file.
const BPL_TOML: &str = r#"name = "pipeline_bench"
time_zone = "UTC"
engine = "spark"
ledger = "target/ledger.sqlite"

[spark]
url_env = "BPLC_TEST_SPARK_URL"
database = "bench_bplc"
"#;

/// The generated tables, each column with the type a warehouse keeps it
/// as; the generator's rows arrive as text and floats and are cast.
const TABLES: &[(&str, &[(&str, &str)])] = &[
    (
        "raw_events",
        &[
            ("event_id", "BIGINT"),
            ("unit_id", "STRING"),
            ("customer_id", "BIGINT"),
            ("kind", "STRING"),
            ("amount", "DECIMAL(18,2)"),
            ("event_time", "TIMESTAMP"),
            ("event_date", "DATE"),
            ("ingested_at", "TIMESTAMP"),
        ],
    ),
    ("raw_events_late", &[]),
    (
        "unit_regions",
        &[
            ("unit_id", "STRING"),
            ("region", "STRING"),
            ("valid_from", "TIMESTAMP"),
            ("valid_to", "TIMESTAMP"),
        ],
    ),
];

/// Rows sent to the server in one Arrow batch.
const BATCH: usize = 100_000;

/// Every statement's first line of error, or the rows.
fn sql(spark: &SparkSession, statement: &str) -> Vec<Row> {
    spark
        .sql(statement)
        .and_then(|df| df.collect())
        .unwrap_or_else(|e| {
            let message = e.message();
            panic!(
                "{statement}\n{}",
                message.lines().next().unwrap_or_default()
            )
        })
}

/// A whole number a statement answers.
fn count(spark: &SparkSession, statement: &str) -> i64 {
    match sql(spark, statement)
        .into_iter()
        .next()
        .and_then(|r| r.into_values().into_iter().next())
    {
        Some(Value::Long(n)) => n,
        Some(Value::Integer(n)) => n.into(),
        other => panic!("{statement}: not a count: {other:?}"),
    }
}

/// A session with the settings both sides run with: UTC, and a write
/// that replaces only the partitions it writes.
fn connect() -> SparkSession {
    let url = std::env::var(URL_ENV)
        .unwrap_or_else(|_| panic!("{URL_ENV} is unset: run under scripts/with-spark"));
    let spark = SparkSession::builder()
        .remote(&url)
        .get_or_create()
        .unwrap_or_else(|e| panic!("connect to Spark at {url}: {}", e.message()));
    sql(&spark, "SET spark.sql.session.timeZone = UTC");
    sql(
        &spark,
        "SET spark.sql.sources.partitionOverwriteMode = dynamic",
    );
    spark
}

/// The columns of a hand-written layer's table in their stored order:
/// the partition column last, as Spark keeps it.
fn stored_columns(table: &str, partition: &str) -> Vec<String> {
    let columns: Vec<&str> = match project::TABLES.iter().find(|(t, _)| *t == table) {
        Some((_, columns)) => columns.to_vec(),
        // The source's columns, and the rejected rows' the rule too.
        None => TABLES[0]
            .1
            .iter()
            .map(|(c, _)| *c)
            .chain((table == "raw_events_rejected").then_some("rule"))
            .collect(),
    };
    columns
        .into_iter()
        .filter(|c| *c != partition)
        .chain([partition])
        .map(String::from)
        .collect()
}

/// The hand-written side's statements for a step.
fn hand_statements(step: &str) -> Vec<String> {
    let spec = Spec::new(0);
    let rerun = match step {
        "build" => false,
        "rerun" => true,
        other => panic!("no step `{other}`"),
    };
    project::layer_statements(spec, rerun, Flavor::Spark)
        .into_iter()
        .map(|(table, column, select)| {
            if rerun {
                format!(
                    "INSERT OVERWRITE TABLE {table} SELECT {} FROM ({select}) AS layer",
                    stored_columns(table, column).join(", ")
                )
            } else {
                format!("CREATE TABLE {table} USING parquet PARTITIONED BY ({column}) AS {select}")
            }
        })
        .collect()
}

/// The hand-written side of one step on Spark, nothing else.
pub fn hand_child(step: &str, database: &str) {
    let spark = connect();
    sql(&spark, &format!("USE {database}"));
    for statement in hand_statements(step) {
        sql(&spark, &statement);
    }
}

/// Sends the generated rows from SQLite to `bench_pristine`, each table
/// in Arrow batches through a temporary view, cast to its column types.
fn load_pristine(spark: &SparkSession, sqlite: &Connection) {
    sql(
        spark,
        &format!("DROP DATABASE IF EXISTS {PRISTINE} CASCADE"),
    );
    sql(spark, &format!("CREATE DATABASE {PRISTINE}"));
    for (table, columns) in TABLES {
        let columns = if columns.is_empty() {
            TABLES[0].1
        } else {
            columns
        };
        let defs: Vec<String> = columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
        sql(
            spark,
            &format!(
                "CREATE TABLE {PRISTINE}.{table} ({}) USING parquet",
                defs.join(", ")
            ),
        );
        let kinds: Vec<DataType> = columns
            .iter()
            .map(|(_, t)| match *t {
                "BIGINT" => DataType::Long,
                "DECIMAL(18,2)" => DataType::Double,
                _ => DataType::String {
                    collation: "UTF8_BINARY".into(),
                },
            })
            .collect();
        let schema = DataType::Struct {
            fields: columns
                .iter()
                .zip(&kinds)
                .map(|((c, _), k)| StructField {
                    name: c.to_string(),
                    data_type: k.clone(),
                    nullable: true,
                    metadata: BTreeMap::new(),
                })
                .collect(),
        };
        let casts: Vec<String> = columns
            .iter()
            .map(|(c, t)| format!("CAST({c} AS {t})"))
            .collect();
        let names: Vec<String> = columns.iter().map(|(c, _)| c.to_string()).collect();
        let mut stmt = sqlite
            .prepare(&format!("SELECT {} FROM {table}", names.join(", ")))
            .expect("read a generated table");
        let mut rows = stmt.query([]).expect("read the rows");
        let mut batch = Vec::new();
        let flush = |batch: &mut Vec<Row>| {
            if batch.is_empty() {
                return;
            }
            spark
                .create_dataframe(std::mem::take(batch), schema.clone())
                .and_then(|df| df.create_or_replace_temp_view("bench_load"))
                .unwrap_or_else(|e| panic!("send rows of {table}: {}", e.message()));
            sql(
                spark,
                &format!(
                    "INSERT INTO {PRISTINE}.{table} SELECT {} FROM bench_load",
                    casts.join(", ")
                ),
            );
        };
        while let Some(row) = rows.next().expect("a generated row") {
            let values = (0..columns.len())
                .map(|k| match (row.get_ref(k).expect("a value"), &kinds[k]) {
                    (ValueRef::Null, _) => Value::Null,
                    (ValueRef::Integer(i), DataType::Long) => Value::Long(i),
                    (ValueRef::Integer(i), DataType::Double) => Value::Double(i as f64),
                    (ValueRef::Real(f), DataType::Double) => Value::Double(f),
                    (ValueRef::Integer(i), _) => Value::String(i.to_string()),
                    (ValueRef::Text(t), _) => {
                        Value::String(String::from_utf8_lossy(t).into_owned())
                    }
                    (other, kind) => panic!("{table}: {other:?} as {kind:?}"),
                })
                .collect();
            batch.push(Row::new(names.clone(), values));
            if batch.len() >= BATCH {
                flush(&mut batch);
            }
        }
        flush(&mut batch);
    }
}

/// A fresh copy of the pristine rows in `database`, the events
/// partitioned by day.
fn copy_database(spark: &SparkSession, database: &str) {
    sql(
        spark,
        &format!("DROP DATABASE IF EXISTS {database} CASCADE"),
    );
    sql(spark, &format!("CREATE DATABASE {database}"));
    for (table, partitioned) in [
        ("raw_events", " PARTITIONED BY (event_date)"),
        ("raw_events_late", ""),
        ("unit_regions", ""),
    ] {
        sql(
            spark,
            &format!(
                "CREATE TABLE {database}.{table} USING parquet{partitioned} \
                 AS SELECT * FROM {PRISTINE}.{table}"
            ),
        );
    }
}

fn run_hand(f: &Files, step: Step) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("this binary"));
    cmd.env(CHILD_STEP, step.name())
        .env(CHILD_DATABASE, HAND)
        .stdin(Stdio::null());
    // Wall time only: the server does the work, not the client.
    run_child(cmd, false, &f.rss)
}

/// Each dataset's consumer view in `bench_bplc` against the hand-written
/// table in `bench_hand`, every value compared as text, amounts to the
/// cent.
fn compare(spark: &SparkSession) -> Vec<TableDiff> {
    let mut out = Vec::new();
    for (table, columns) in project::TABLES {
        // The other processes rewrote the tables: this session's listing
        // of their files is stale.
        for database in [BPLC, HAND] {
            sql(spark, &format!("REFRESH TABLE {database}.{table}"));
        }
        sql(spark, &format!("REFRESH TABLE {BPLC}.{table}__data"));
        let cols = columns
            .iter()
            .map(|c| match *c {
                "amount" => "CAST(CAST(amount AS DECIMAL(38, 2)) AS STRING)".to_string(),
                // `bplc` keeps dates and timestamps as their text, the
                // hand-written tables as `DATE` and `TIMESTAMP`.
                "event_date" => "CAST(CAST(event_date AS DATE) AS STRING)".to_string(),
                "event_time" => {
                    "date_format(CAST(event_time AS TIMESTAMP), 'yyyy-MM-dd HH:mm:ss')".to_string()
                }
                c => format!("CAST({c} AS STRING)"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push(TableDiff {
            table,
            bplc_rows: count(spark, &format!("SELECT count(*) FROM {BPLC}.{table}")),
            hand_rows: count(spark, &format!("SELECT count(*) FROM {HAND}.{table}")),
            only_bplc: count(
                spark,
                &format!(
                    "SELECT count(*) FROM (SELECT {cols} FROM {BPLC}.{table} \
                     EXCEPT SELECT {cols} FROM {HAND}.{table}) AS d"
                ),
            ),
            only_hand: count(
                spark,
                &format!(
                    "SELECT count(*) FROM (SELECT {cols} FROM {HAND}.{table} \
                     EXCEPT SELECT {cols} FROM {BPLC}.{table}) AS d"
                ),
            ),
        });
    }
    out
}

/// Both sides on Spark: each a database, copied from the pristine one.
struct SparkSides<'a> {
    spark: &'a SparkSession,
}

impl Sides for SparkSides<'_> {
    fn reset(&mut self, f: &Files) {
        copy_database(self.spark, BPLC);
        copy_database(self.spark, HAND);
        remove_db(&f.ledger);
    }

    fn load_late(&mut self, _: &Files) {
        let columns = stored_columns("raw_events", "event_date").join(", ");
        for database in [BPLC, HAND] {
            sql(
                self.spark,
                &format!(
                    "INSERT INTO {database}.raw_events \
                     SELECT {columns} FROM {database}.raw_events_late"
                ),
            );
        }
    }

    /// Wall time only: the server does the work, not the client.
    fn bplc(&mut self, bin: &Path, f: &Files, step: Step, spec: Spec) -> (Child, usize) {
        run_bplc(bin, f, step, spec, false)
    }

    fn hand(&mut self, f: &Files, step: Step) -> Child {
        run_hand(f, step)
    }

    fn compare(&mut self, _: &Files) -> (Vec<TableDiff>, i64) {
        (compare(self.spark), 0)
    }

    fn rejected_by_hand(&mut self, _: &Files) -> i64 {
        count(
            self.spark,
            &format!("SELECT count(*) FROM {HAND}.raw_events_rejected"),
        )
    }
}

/// The pristine tables' size on disk, as the catalog's statistics say.
fn size_mb(spark: &SparkSession) -> f64 {
    let mut bytes = 0.0;
    for (table, _) in TABLES {
        let name = format!("{PRISTINE}.{table}");
        sql(
            spark,
            &format!("ANALYZE TABLE {name} COMPUTE STATISTICS NOSCAN"),
        );
        for row in sql(spark, &format!("DESCRIBE TABLE EXTENDED {name}")) {
            let values = row.into_values();
            if let [Value::String(key), Value::String(value), ..] = &values[..] {
                if key == "Statistics" {
                    bytes += value
                        .split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<f64>().ok())
                        .unwrap_or(0.0);
                }
            }
        }
    }
    bytes / 1e6
}

/// One size on Spark.
pub fn measure(root: &Path, bin: &Path, n: u64, runs: usize) -> Measured {
    let dir = root.join(format!("spark-rows-{n}"));
    std::fs::create_dir_all(dir.join("target")).expect("create the project directory");
    std::fs::write(dir.join("bpl.toml"), BPL_TOML).expect("write bpl.toml");
    std::fs::write(dir.join("pipeline.bpl"), project::SPEC).expect("write the project");
    let f = Files::new(dir, "target/unused.sqlite", "unused.sqlite");
    let spec = Spec::new(n);
    let spark = connect();
    remove_db(&f.pristine);
    let t = Instant::now();
    let generated = {
        let c = Connection::open(&f.pristine).expect("create the pristine file");
        let g = project::generate(&c, spec).expect("generate the data");
        load_pristine(&spark, &c);
        g
    };
    let generate_time = t.elapsed();
    remove_db(&f.pristine);
    let size_mb = size_mb(&spark);
    eprintln!(
        "pipeline on Spark {n}: generated and loaded in {:.1} s ({size_mb:.0} MB)",
        secs(generate_time)
    );
    let mut m = Measured::new(
        "Spark (local[2], Spark Connect)",
        n,
        spec,
        generated,
        generate_time,
        size_mb,
    );
    repeat(&mut m, &mut SparkSides { spark: &spark }, &f, bin, runs);
    // `BPLC_BENCH_KEEP` keeps the databases too, to look into afterwards.
    if std::env::var_os("BPLC_BENCH_KEEP").is_none() {
        for database in [BPLC, HAND, PRISTINE] {
            let _ = spark
                .sql(&format!("DROP DATABASE IF EXISTS {database} CASCADE"))
                .and_then(|df| df.collect());
        }
    }
    m
}
