//! Ingesting a landing folder: `bplc ingest` of one CSV file of 1,000,000
//! rows (`BPLC_BENCH_ROWS=N`, or a comma list), against the sqlite3 command
//! line's `.import --csv` of the same file into a table of the same shape,
//! in the same run (issue 17). `BPLC_BENCH_RUNS=N` repetitions (default 3),
//! alternating which side goes first; `BPLC_BENCH_KEEP=DIR` keeps the files.
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

const SPEC: &str = r#"source events {
  files "landing/*.csv" as csv
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

/// A CSV file of `rows` events, deterministic.
fn write_csv(path: &Path, rows: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create the CSV"));
    writeln!(w, "event_id,account,amount,event_time").unwrap();
    for i in 0..rows {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        writeln!(
            w,
            "ev-{i:08},acct-{:05},{}.{:02},2026-06-{:02} {:02}:{:02}:{:02}",
            h % 50_000,
            h % 10_000,
            h % 100,
            1 + (i % 30),
            h % 24,
            (h >> 5) % 60,
            (h >> 11) % 60
        )
        .unwrap();
    }
    w.flush().unwrap();
}

fn main() {
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
    println!("| rows | side | wall (best) | wall (median) | CPU | peak RSS | rows/s |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for rows in sizes {
        let project = dir.join(format!("ingest-{rows}"));
        let _ = std::fs::remove_dir_all(&project);
        std::fs::create_dir_all(project.join("landing")).unwrap();
        std::fs::create_dir_all(project.join("target")).unwrap();
        std::fs::write(
            project.join("bpl.toml"),
            "name = \"ingest\"\ntime_zone = \"UTC\"\n",
        )
        .unwrap();
        std::fs::write(project.join("specs.bpl"), SPEC).unwrap();
        let csv = project.join("landing/events.csv");
        write_csv(&csv, rows);
        let sqlite_db = project.join("import.sqlite");
        let mut results = [Side::new("bplc ingest"), Side::new("sqlite3 .import")];
        for run in 0..runs {
            for k in 0..2 {
                let side = (k + run) % 2;
                let rss = project.join("rss.txt");
                let c = if side == 0 {
                    common::remove_db(&project.join("target/warehouse.sqlite"));
                    common::remove_db(&project.join("target/ledger.sqlite"));
                    let mut cmd = Command::new(&bplc);
                    cmd.args(["ingest", "--as-of", "2026-07-01T00:00:00Z", "--project"])
                        .arg(&project);
                    child::run_child(cmd, timed, &rss)
                } else {
                    common::remove_db(&sqlite_db);
                    let mut cmd = Command::new("sqlite3");
                    cmd.arg(&sqlite_db)
                        .arg("CREATE TABLE events (event_id, account, amount, event_time);")
                        .arg(format!(".import --csv --skip 1 {} events", csv.display()));
                    child::run_child(cmd, timed, &rss)
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
                let theirs = count(&sqlite_db);
                assert_eq!(ours, rows as i64, "bplc loaded another number of rows");
                assert_eq!(theirs, rows as i64, "sqlite3 loaded another number of rows");
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
                "| {rows} | {side} | {:.2} s | {:.2} s | {} | {} | {:.0} |",
                common::secs(best),
                common::secs(common::median(walls)),
                cpu.map_or("-".into(), |c| format!("{:.2} s", common::secs(c))),
                child::mb(*rss),
                rows as f64 / common::secs(best)
            );
        }
    }
}
