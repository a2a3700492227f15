//! Ingesting a landing folder: `bplc ingest` of one CSV file of 1,000,000
//! rows (`BPLC_BENCH_ROWS=N`, or a comma list), against the sqlite3 command
//! line's `.import --csv` of the same file into a table of the same shape,
//! in the same run (issue 17). With `--features parquet`, also `bplc
//! ingest` of the same rows as one Parquet file, against a plain reader
//! loop (`benches/ingest/plain_parquet.rs`: the Arrow reader's batches
//! inserted through one prepared statement, run as a child process like
//! the others). `BPLC_BENCH_RUNS=N` repetitions (default 3), alternating
//! which side goes first; `BPLC_BENCH_KEEP=DIR` keeps the files.
//!
//! Both sides start from an empty database and load every row in one
//! transaction; each is timed as a whole process (wall clock, user +
//! system CPU, peak RSS: `benches/common/child.rs`). What `bplc` does
//! beyond `.import`: it hashes the file (SHA-256) and records it in the
//! ingestion ledger, splits and checks every line (a malformed one is
//! quarantined, not loaded), and stamps each row with its file number and
//! arrival time. The first repetition checks both tables hold the same
//! rows. Skipped, with a note, when `sqlite3` is not on the PATH.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[allow(dead_code)]
#[path = "common/child.rs"]
mod child;
#[allow(dead_code)]
#[path = "common/mod.rs"]
mod common;
#[cfg(feature = "parquet")]
#[path = "ingest/plain_parquet.rs"]
mod plain_parquet;

/// The source, with `{FILES}` for its `files` clause.
const SPEC: &str = r#"source events {
  {FILES}
  columns {
    event_id: string
    account: string
    amount: decimal(18, 2)
    event_time: timestamp
    arrived_at: timestamp
  }
  key event_id
  clock event = event_time, file_arrival = arrived_at
}
"#;

/// What was measured of one side.
struct Side {
    name: &'static str,
    walls: Vec<Duration>,
    /// The least user + system CPU time of its runs.
    cpu: Option<Duration>,
    /// The highest peak RSS of its runs, in kB.
    rss_kb: Option<u64>,
}

impl Side {
    fn new(name: &'static str) -> Side {
        Side {
            name,
            walls: Vec::new(),
            cpu: None,
            rss_kb: None,
        }
    }
}

/// Event `i` of the file: id, account, amount in cents, and its time as
/// text and as microseconds since the epoch. Deterministic.
pub struct Event {
    pub id: String,
    pub account: String,
    pub cents: i64,
    pub time: String,
    pub micros: i64,
}

pub fn event(i: u64) -> Event {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let (day, hour, minute, second) = (1 + (i % 30), h % 24, (h >> 5) % 60, (h >> 11) % 60);
    let midnight = chrono::NaiveDate::from_ymd_opt(2026, 6, day as u32)
        .expect("a June day")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp();
    Event {
        id: format!("ev-{i:08}"),
        account: format!("acct-{:05}", h % 50_000),
        cents: ((h % 10_000) * 100 + h % 100) as i64,
        time: format!("2026-06-{day:02} {hour:02}:{minute:02}:{second:02}"),
        micros: (midnight + (hour * 3600 + minute * 60 + second) as i64) * 1_000_000,
    }
}

/// A CSV file of `rows` events.
fn write_csv(path: &Path, rows: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create the CSV"));
    writeln!(w, "event_id,account,amount,event_time").unwrap();
    for i in 0..rows {
        let e = event(i);
        let cents = e.cents;
        writeln!(
            w,
            "{},{},{}.{:02},{}",
            e.id,
            e.account,
            cents / 100,
            cents % 100,
            e.time
        )
        .unwrap();
    }
    w.flush().unwrap();
}

/// One kind of landing file and what `bplc ingest` of it is compared with.
struct Format {
    name: &'static str,
    files: &'static str,
    file: &'static str,
    baseline: &'static str,
    write: fn(&Path, u64),
    /// The baseline's command, loading `file` into a fresh database.
    load: fn(&Path, &Path) -> Command,
}

fn formats() -> Vec<Format> {
    #[allow(unused_mut)]
    let mut all = vec![Format {
        name: "CSV",
        files: r#"files "landing/*.csv" as csv"#,
        file: "events.csv",
        baseline: "sqlite3 .import",
        write: write_csv,
        load: |file, db| {
            let mut cmd = Command::new("sqlite3");
            cmd.arg(db)
                .arg("CREATE TABLE events (event_id, account, amount, event_time);")
                .arg(format!(".import --csv --skip 1 {} events", file.display()));
            cmd
        },
    }];
    #[cfg(feature = "parquet")]
    all.push(Format {
        name: "Parquet",
        files: r#"files "landing/*.parquet" as parquet"#,
        file: "events.parquet",
        baseline: "plain reader loop",
        write: plain_parquet::write,
        load: |file, db| {
            let mut cmd = Command::new(std::env::current_exe().expect("the benchmark's path"));
            cmd.arg(plain_parquet::FLAG).arg(file).arg(db);
            cmd
        },
    });
    all
}

fn main() {
    #[cfg(feature = "parquet")]
    if plain_parquet::child_main() {
        return;
    }
    if Command::new("sqlite3").arg("-version").output().is_err() {
        println!("ingest: sqlite3 is not on the PATH; nothing to compare with");
        return;
    }
    let sizes: Vec<u64> = common::env("BPLC_BENCH_ROWS")
        .unwrap_or_else(|| "1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("BPLC_BENCH_ROWS: numbers"))
        .collect();
    let runs: usize = common::env("BPLC_BENCH_RUNS").map_or(3, |s| s.parse().expect("a number"));
    let (_guard, dir) = common::work_dir();
    let bplc = common::bplc_copy(&dir);
    let timed = child::time_available();
    println!("| format | rows | side | wall (best) | wall (median) | CPU | peak RSS | rows/s |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for format in formats() {
        for &rows in &sizes {
            measure(&format, rows, runs, &dir, &bplc, timed);
        }
    }
}

/// Both sides of one format at one size, `runs` times.
fn measure(format: &Format, rows: u64, runs: usize, dir: &Path, bplc: &Path, timed: bool) {
    let project = dir.join(format!("ingest-{}-{rows}", format.name));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("landing")).unwrap();
    std::fs::create_dir_all(project.join("target")).unwrap();
    std::fs::write(
        project.join("bpl.toml"),
        "name = \"ingest\"\ntime_zone = \"UTC\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("specs.bpl"),
        SPEC.replace("{FILES}", format.files),
    )
    .unwrap();
    let file = project.join("landing").join(format.file);
    (format.write)(&file, rows);
    let baseline_db = project.join("baseline.sqlite");
    let mut results = [Side::new("bplc ingest"), Side::new(format.baseline)];
    for run in 0..runs {
        for k in 0..2 {
            let side = (k + run) % 2;
            let rss = project.join("rss.txt");
            let c = if side == 0 {
                common::remove_db(&project.join("target/warehouse.sqlite"));
                common::remove_db(&project.join("target/ledger.sqlite"));
                let mut cmd = Command::new(bplc);
                cmd.args(["ingest", "--as-of", "2026-07-01T00:00:00Z", "--project"])
                    .arg(&project);
                child::run_child(cmd, timed, &rss)
            } else {
                common::remove_db(&baseline_db);
                child::run_child((format.load)(&file, &baseline_db), timed, &rss)
            };
            let r = &mut results[side];
            r.walls.push(c.wall);
            r.cpu = match (r.cpu, c.cpu) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            r.rss_kb = r.rss_kb.max(c.rss_kb);
        }
        if run == 0 {
            let count = |db: &Path| -> i64 {
                rusqlite::Connection::open(db)
                    .unwrap()
                    .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                    .unwrap()
            };
            let ours = count(&project.join("target/warehouse.sqlite"));
            let theirs = count(&baseline_db);
            assert_eq!(ours, rows as i64, "bplc loaded another number of rows");
            assert_eq!(
                theirs, rows as i64,
                "the baseline loaded another number of rows"
            );
        }
    }
    for Side {
        name: side,
        walls,
        cpu,
        rss_kb: rss,
    } in &results
    {
        let best = common::best(walls);
        println!(
            "| {} | {rows} | {side} | {:.2} s | {:.2} s | {} | {} | {:.0} |",
            format.name,
            common::secs(best),
            common::secs(common::median(walls)),
            cpu.map_or("-".into(), |c| format!("{:.2} s", common::secs(c))),
            child::mb(*rss),
            rows as f64 / common::secs(best)
        );
    }
}
