//! The pipeline benchmark on PostgreSQL (issue 15): the same project run by
//! `bplc` with `engine = "postgres"`, against the same hand-written SQL run
//! by a client on the same server, on copies of the same rows.
//!
//! `BPLC_BENCH_ENGINE=postgres scripts/with-postgres cargo bench
//! --features postgres --bench pipeline` (the server's URL in
//! `BPLC_POSTGRES_URL`, as `scripts/with-postgres` exports it).
//!
//! The rows are generated once on SQLite (the same generator as the SQLite
//! run, so the same rows) and copied into a schema `bench_pristine` with
//! `COPY`: integers as `bigint`, amounts as `numeric(18,2)`, dates as
//! `date`, timestamps as `timestamptz` (see `TABLES`). Each repetition copies them, untimed, into
//! `bench_bplc` (the project's schema) and `bench_hand`, with the indexes a
//! warehouse would have, and `ANALYZE`s both. The two sides are timed as
//! whole processes by wall clock; their own CPU time says little here, as
//! the server does the work, so the report gives wall time only.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use postgres::{Client, NoTls};
use rusqlite::Connection;

use super::child::{run_child, Child};
use super::common::{remove_db, secs};
use super::project::{self, Flavor, Spec, TableDiff};
use super::{repeat, run_bplc, Files, Measured, Sides, Step, CHILD_STEP};

/// The environment variable holding the server's URL.
pub const URL_ENV: &str = "BPLC_POSTGRES_URL";
/// Makes this binary the hand-written side on PostgreSQL.
pub const CHILD_SCHEMA: &str = "BPLC_BENCH_PIPELINE_SCHEMA";

const PRISTINE: &str = "bench_pristine";
const BPLC: &str = "bench_bplc";
const HAND: &str = "bench_hand";

/// The project's `bpl.toml` on PostgreSQL: the ledger stays a SQLite file.
const BPL_TOML: &str = r#"name = "pipeline_bench"
time_zone = "UTC"
engine = "postgres"
ledger = "target/ledger.sqlite"

[postgres]
schema = "bench_bplc"
"#;

/// The source as a warehouse keeps it: dates as `date`, timestamps as
/// `timestamptz`, amounts as `numeric`, on both sides alike.
const TABLES: &str = "
CREATE TABLE raw_events (event_id bigint, unit_id text, customer_id bigint, kind text,
    amount numeric(18, 2), event_time timestamptz, event_date date, ingested_at timestamptz);
CREATE TABLE raw_events_late (LIKE raw_events);
CREATE TABLE unit_regions (unit_id text, region text, valid_from timestamptz, valid_to timestamptz);";

const INDEXES: &str = "
CREATE INDEX raw_events_partition ON raw_events (event_date, ingested_at);
CREATE INDEX raw_events_ingested ON raw_events (ingested_at);
CREATE INDEX unit_regions_unit ON unit_regions (unit_id, valid_from);
ANALYZE;";

/// The server's own message, which `postgres::Error` shows only in part.
fn db_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.severity(), d.message()),
        None => e.to_string(),
    }
}

fn connect() -> Client {
    let url = std::env::var(URL_ENV)
        .unwrap_or_else(|_| panic!("{URL_ENV} is unset: run under scripts/with-postgres"));
    let mut c = Client::connect(&url, NoTls).expect("connect to PostgreSQL");
    // The generated timestamps are UTC, as `bplc` reads them.
    c.batch_execute("SET TimeZone = 'UTC'")
        .expect("set the time zone");
    c
}

/// The hand-written side of one step on PostgreSQL, nothing else.
pub fn hand_child(step: &str, schema: &str) {
    let mut c = connect();
    c.batch_execute(&format!("SET search_path = {schema}"))
        .expect("use the hand-written schema");
    let spec = Spec::new(0);
    let sql = match step {
        "build" => project::full_build_sql(spec, Flavor::Postgres),
        "rerun" => project::rerun_sql(spec, Flavor::Postgres),
        other => panic!("no step `{other}`"),
    };
    c.batch_execute(&sql)
        .unwrap_or_else(|e| panic!("the hand-written {step} on PostgreSQL: {}", db_error(&e)));
}

/// Copies the generated rows from SQLite into `bench_pristine`.
fn load_pristine(pg: &mut Client, sqlite: &Connection) {
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {PRISTINE} CASCADE; CREATE SCHEMA {PRISTINE};
         SET search_path = {PRISTINE}; {TABLES}"
    ))
    .expect("create the pristine schema");
    for table in ["raw_events", "raw_events_late", "unit_regions"] {
        let mut stmt = sqlite
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("read a generated table");
        let n = stmt.column_count();
        let mut writer = pg
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .expect("start COPY");
        let mut rows = stmt.query([]).expect("read the rows");
        let mut line = String::new();
        while let Some(row) = rows.next().expect("a generated row") {
            line.clear();
            for k in 0..n {
                if k > 0 {
                    line.push('\t');
                }
                match row.get_ref(k).expect("a value") {
                    rusqlite::types::ValueRef::Null => line.push_str("\\N"),
                    rusqlite::types::ValueRef::Integer(i) => line.push_str(&i.to_string()),
                    // Amounts are whole cents divided by 100: two digits.
                    rusqlite::types::ValueRef::Real(f) => line.push_str(&format!("{f:.2}")),
                    rusqlite::types::ValueRef::Text(t) => {
                        line.push_str(std::str::from_utf8(t).expect("UTF-8 text"))
                    }
                    rusqlite::types::ValueRef::Blob(_) => panic!("no blobs are generated"),
                }
            }
            line.push('\n');
            writer.write_all(line.as_bytes()).expect("COPY a row");
        }
        writer.finish().expect("finish COPY");
    }
}

/// A fresh copy of the pristine rows in `schema`, indexed and analyzed.
fn copy_schema(pg: &mut Client, schema: &str) {
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
         SET search_path = {schema};
         CREATE TABLE raw_events AS SELECT * FROM {PRISTINE}.raw_events;
         CREATE TABLE raw_events_late AS SELECT * FROM {PRISTINE}.raw_events_late;
         CREATE TABLE unit_regions AS SELECT * FROM {PRISTINE}.unit_regions;
         {INDEXES}
         CHECKPOINT;"
    ))
    .expect("copy the pristine schema");
}

fn run_hand(f: &Files, step: Step) -> Child {
    let mut cmd = Command::new(std::env::current_exe().expect("this binary"));
    cmd.env(CHILD_STEP, step.name())
        .env(CHILD_SCHEMA, HAND)
        .stdin(Stdio::null());
    // Wall time only: the server does the work, not the client.
    run_child(cmd, false, &f.rss)
}

/// Each dataset's consumer view in `bench_bplc` against the hand-written
/// table in `bench_hand`, every value compared as text, amounts to the cent.
fn compare(pg: &mut Client) -> Vec<TableDiff> {
    let mut out = Vec::new();
    for (table, columns) in project::TABLES {
        let cols = columns
            .iter()
            .map(|c| match *c {
                "amount" => "CAST(round(CAST(amount AS numeric), 2) AS text)".to_string(),
                // `bplc` keeps dates and timestamps as their text, the
                // hand-written tables as `date` and `timestamptz`.
                "event_date" => "CAST(CAST(event_date AS date) AS text)".to_string(),
                "event_time" => {
                    "to_char(CAST(event_time AS timestamp), 'YYYY-MM-DD HH24:MI:SS')".to_string()
                }
                c => format!("CAST({c} AS text)"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut count = |sql: String| -> i64 {
            pg.query_one(&sql, &[])
                .unwrap_or_else(|e| panic!("{sql}: {}", db_error(&e)))
                .get(0)
        };
        out.push(TableDiff {
            table,
            bplc_rows: count(format!("SELECT count(*) FROM {BPLC}.{table}")),
            hand_rows: count(format!("SELECT count(*) FROM {HAND}.{table}")),
            only_bplc: count(format!(
                "SELECT count(*) FROM (SELECT {cols} FROM {BPLC}.{table} \
                 EXCEPT SELECT {cols} FROM {HAND}.{table}) AS d"
            )),
            only_hand: count(format!(
                "SELECT count(*) FROM (SELECT {cols} FROM {HAND}.{table} \
                 EXCEPT SELECT {cols} FROM {BPLC}.{table}) AS d"
            )),
        });
    }
    out
}

/// Both sides on PostgreSQL: each a schema, copied from the pristine one.
struct PostgresSides<'a> {
    pg: &'a mut Client,
}

impl Sides for PostgresSides<'_> {
    fn reset(&mut self, f: &Files) {
        copy_schema(self.pg, BPLC);
        copy_schema(self.pg, HAND);
        remove_db(&f.ledger);
    }

    fn load_late(&mut self, _: &Files) {
        for schema in [BPLC, HAND] {
            self.pg
                .batch_execute(&format!(
                    "INSERT INTO {schema}.raw_events SELECT * FROM {schema}.raw_events_late;
                     ANALYZE {schema}.raw_events; CHECKPOINT;"
                ))
                .expect("load the late batch");
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
        (compare(self.pg), 0)
    }

    fn rejected_by_hand(&mut self, _: &Files) -> i64 {
        self.pg
            .query_one(
                &format!("SELECT count(*) FROM {HAND}.raw_events_rejected"),
                &[],
            )
            .expect("count the rejected rows")
            .get(0)
    }
}

/// One size on PostgreSQL.
pub fn measure(root: &Path, bin: &Path, n: u64, runs: usize) -> Measured {
    let dir = root.join(format!("pg-rows-{n}"));
    std::fs::create_dir_all(dir.join("target")).expect("create the project directory");
    std::fs::write(dir.join("bpl.toml"), BPL_TOML).expect("write bpl.toml");
    std::fs::write(dir.join("pipeline.bpl"), project::SPEC).expect("write the project");
    let f = Files::new(dir, "target/unused.sqlite", "unused.sqlite");
    let spec = Spec::new(n);
    let mut pg = connect();
    remove_db(&f.pristine);
    let t = Instant::now();
    let generated = {
        let c = Connection::open(&f.pristine).expect("create the pristine file");
        let g = project::generate(&c, spec).expect("generate the data");
        load_pristine(&mut pg, &c);
        g
    };
    let generate_time = t.elapsed();
    remove_db(&f.pristine);
    let size_mb = pg
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::float8 / 1e6 FROM pg_class c \
             JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1",
            &[&PRISTINE],
        )
        .map_or(0.0, |r| r.get::<_, Option<f64>>(0).unwrap_or(0.0));
    eprintln!(
        "pipeline on PostgreSQL {n}: generated and copied in {:.1} s ({size_mb:.0} MB)",
        secs(generate_time)
    );
    let mut m = Measured::new("PostgreSQL", n, spec, generated, generate_time, size_mb);
    repeat(&mut m, &mut PostgresSides { pg: &mut pg }, &f, bin, runs);
    // `BPLC_BENCH_KEEP` keeps the schemas too, to look into afterwards.
    for schema in [BPLC, HAND, PRISTINE] {
        if std::env::var_os("BPLC_BENCH_KEEP").is_some() {
            break;
        }
        let _ = pg.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
    m
}
