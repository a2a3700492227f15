//! Landing-folder sources end to end: files discovered by pattern, each
//! ingested once and recorded in the ingestion ledger, read by runs through
//! the typed input boundary, locked by the files a run read; and every way
//! a landing folder goes wrong, each a coded error or quarantined lines
//! with their file, line number and reason.

mod runtime_support;

use runtime_support::*;
use serde_json::Value;

fn spec(files: &str, extra: &str) -> String {
    format!(
        r#"source events {{
  files {files}
  columns {{
    event_id: string
    amount: int
    event_time: timestamp
    arrived_at: timestamp
  }}
  key event_id
  clock event = event_time, file_arrival = arrived_at
  max lateness 2d
  {extra}
}}

dataset daily {{
  version 1
  partition by day: date
  publish replace
  input ev = events by event clock where to_date(event_time, "UTC") == p
  compute {{
    from ev
    group by day = p {{
      n = row_count()
      total = sum(ev.amount)
    }}
  }}
  reconcile {{
    input == accepted + quarantined + duplicates
  }}
}}

/// Rows by the day their file arrived: the `file_arrival` clock.
dataset arrivals {{
  version 1
  partition by day: date
  publish replace
  input ev = events by file_arrival clock where to_date(arrived_at, "UTC") == p
  compute {{
    from ev
    group by day = p {{
      n = row_count()
    }}
  }}
}}
"#
    )
}

fn project(files: &str, extra: &str) -> Project {
    let p = Project::new(&[("specs.bpl", &spec(files, extra))]);
    std::fs::create_dir_all(p.path().join("landing/events")).unwrap();
    p
}

fn csv_project() -> Project {
    project(r#""landing/events/*.csv" as csv"#, "")
}

fn deliver(p: &Project, name: &str, content: &[u8]) {
    let path = p.path().join("landing/events").join(name);
    std::fs::write(path, content).unwrap();
}

const DAY1: &str = "event_id,amount,event_time\n\
e1,10,2026-06-01 10:00:00\n\
e2,20,2026-06-01T11:00:00Z\n";

fn ingest(p: &Project, as_of: &str) -> (i32, Value) {
    p.json(&["ingest", "--as-of", as_of])
}

fn run(p: &Project, dataset: &str, date: &str, as_of: &str) -> (i32, Value) {
    p.json(&["run", dataset, "--date", date, "--as-of", as_of])
}

/// `(path, outcome, rows, bad rows)` of each file an ingestion reported.
fn outcomes(v: &Value) -> Vec<(String, String, i64, i64)> {
    v["sources"][0]["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files in {v}"))
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["outcome"].as_str().unwrap().to_string(),
                f["rows"].as_i64().unwrap(),
                f["bad_rows"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The code of a failed command's JSON error.
fn code(v: &Value) -> String {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {v}"))
        .to_string()
}

fn message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ledger_files(p: &Project) -> Vec<Value> {
    let (c, v) = p.json(&["files", "--bad"]);
    assert_eq!(c, 0, "{v}");
    v["files"].as_array().unwrap().clone()
}

/// The one partition's counters of a run.
fn counters(run: &Value) -> Value {
    run["outputs"][0]["counters"].clone()
}

#[test]
fn each_file_is_ingested_once_recorded_and_read_by_runs() {
    let p = csv_project();
    deliver(&p, "2026-06-01.csv", DAY1.as_bytes());
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        outcomes(&v),
        vec![(s("landing/events/2026-06-01.csv"), s("new"), 2, 0)]
    );
    // A second ingestion finds nothing new: the file is never read twice.
    let (c, v) = ingest(&p, "2026-06-01T13:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        outcomes(&v),
        vec![(s("landing/events/2026-06-01.csv"), s("unchanged"), 0, 0)]
    );
    // Stored as the declared types store them, so runs convert nothing.
    assert_eq!(
        p.rows("SELECT event_id, amount, event_time FROM events"),
        vec![
            s("Text(\"e1\")|Integer(10)|Text(\"2026-06-01 10:00:00\")"),
            s("Text(\"e2\")|Integer(20)|Text(\"2026-06-01 11:00:00\")"),
        ]
    );

    let files = ledger_files(&p);
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert_eq!(f["path"], "landing/events/2026-06-01.csv");
    assert_eq!(f["size"], DAY1.len() as i64);
    assert_eq!(f["rows"], 2);
    assert_eq!(f["bad_rows"], 0);
    assert_eq!(f["status"], "ingested");
    assert_eq!(f["first_seen"], "2026-06-01 12:00:00");
    assert_eq!(f["hash"].as_str().unwrap().len(), 64);
    assert!(!f["modified"].as_str().unwrap().is_empty());

    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(counters(&v)["accepted"], 2, "{v}");
    assert_eq!(
        p.rows("SELECT n, total FROM daily"),
        vec![s("Integer(2)|Integer(30)")]
    );
}

/// A CSV project whose `daily` runs fail while fewer than 3 events arrived.
fn gated_project() -> Project {
    let p = project(r#""landing/events/*.csv" as csv"#, "");
    let text = std::fs::read_to_string(p.path().join("specs.bpl"))
        .unwrap()
        .replace(
            "  reconcile {\n    input == accepted + quarantined + duplicates\n  }",
            "  quality {\n    expect sum(n) >= 3 else fail run\n  }",
        );
    std::fs::write(p.path().join("specs.bpl"), text).unwrap();
    p
}

#[test]
fn a_run_ingests_new_files_itself_and_a_retry_reads_the_files_it_locked() {
    let p = gated_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["status"], "FAILED", "{v}");
    let failed = v["run_id"].as_str().unwrap().to_string();
    // A third row arrives; the retry still reads only the first file.
    deliver(
        &p,
        "b.csv",
        b"event_id,amount,event_time\ne3,5,2026-06-01 12:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-02T01:00:00Z");
    assert_eq!(c, 0, "{v}");
    let (c, v) = p.json(&["run", "--retry", &failed]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(
        counters(&v)["input"],
        2,
        "the retry read another set of files: {v}"
    );
    // A new run reads both files.
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T02:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(counters(&v)["input"], 3, "{v}");
}

/// A warehouse whose landing table an earlier bplc filled (before each
/// row kept its line, and the warehouse its files' paths): a retry of a
/// run that failed on it gains the missing columns, ingests nothing, and
/// reads the rows it locked.
#[test]
fn a_retry_reads_a_landing_table_filled_before_lines_were_kept() {
    let p = gated_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
    assert_eq!((c, v["status"].as_str()), (1, Some("FAILED")), "{v}");
    let failed = v["run_id"].as_str().unwrap().to_string();
    p.warehouse()
        .execute_batch(
            "ALTER TABLE events DROP COLUMN _bpl_line; ALTER TABLE events DROP COLUMN _bpl_malformed;
             DROP TABLE _bpl_files;",
        )
        .unwrap();
    deliver(
        &p,
        "b.csv",
        b"event_id,amount,event_time\ne3,5,2026-06-01 12:00:00\n",
    );
    let (c, v) = p.json(&["run", "--retry", &failed]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(counters(&v)["input"], 2, "{v}");
    assert_eq!(p.count("SELECT count(*) FROM events"), 2);
}

#[test]
fn malformed_lines_are_quarantined_with_file_and_line_and_values_of_the_wrong_type_are_bad_rows() {
    let p = csv_project();
    deliver(
        &p,
        "2026-06-01.csv",
        b"event_id,amount,event_time\n\
e1,10,2026-06-01 10:00:00\n\
e2,ten,2026-06-01 11:00:00\n\
e3,5,2026-06-01 12:00:00,surplus\n\
e4,7,2026-06-01 13:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        outcomes(&v),
        vec![(s("landing/events/2026-06-01.csv"), s("new"), 3, 1)]
    );
    let files = ledger_files(&p);
    let bad = &files[0]["bad_lines"];
    assert_eq!(bad[0]["line"], 4, "{bad}");
    assert_eq!(bad[0]["reason"], "4 field(s), but the header has 3");
    assert_eq!(bad[0]["text"], "e3,5,2026-06-01 12:00:00,surplus");

    // `ten` is not an int: the run's typed input boundary quarantines it;
    // the ragged line is a bad row of the run too, in the partition its
    // fields name. Both say their file and line, in the run's quarantine
    // and in `bplc show`.
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(counters(&v)["quarantined"], 2, "{v}");
    assert_eq!(counters(&v)["accepted"], 2, "{v}");
    assert_eq!(counters(&v)["input"], 4, "{v}");
    let reasons = p.ledger_texts("SELECT reason FROM quarantine ORDER BY reason");
    assert_eq!(
        reasons,
        [
            "landing/events/2026-06-01.csv:3: amount: 'ten' is not a valid int",
            "landing/events/2026-06-01.csv:4: 4 field(s), but the header has 3",
        ]
    );
    let (c, out, _) = p.text(&["quarantine", v["run_id"].as_str().unwrap()]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("2026-06-01  typed_input  landing/events/2026-06-01.csv:4: 4 field(s), but the header has 3"),
        "{out}"
    );
}

#[test]
fn a_source_whose_bad_rows_fail_refuses_a_file_with_a_malformed_line() {
    let p = project(r#""landing/events/*.csv" as csv"#, "bad rows fail run");
    deliver(&p, "a.csv", b"event_id,amount,event_time\ne1,1\n");
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 1, "{v}");
    assert_eq!(code(&v), "E0385");
    assert_eq!(p.count("SELECT count(*) FROM events"), 0);
    assert_eq!(ledger_files(&p)[0]["status"], "abandoned");
}

#[test]
fn a_file_without_a_declared_column_is_refused() {
    let p = csv_project();
    deliver(
        &p,
        "a.csv",
        b"event_id,event_time\ne1,2026-06-01 10:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 1, "{v}");
    assert_eq!(code(&v), "E0380");
    assert!(message(&v).contains("no column `amount`"), "{v}");
    assert_eq!(p.count("SELECT count(*) FROM events"), 0);
}

#[test]
fn an_empty_or_missing_folder_and_a_pattern_that_matches_nothing_are_errors() {
    let p = csv_project();
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0381")), "{v}");
    assert!(message(&v).contains("is empty"), "{v}");

    deliver(&p, "a.CSV", DAY1.as_bytes());
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0382")), "{v}");

    let p = project(r#""landing/nowhere/*.csv" as csv"#, "");
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0381")), "{v}");
    assert!(message(&v).contains("does not exist"), "{v}");

    // Once files were ingested, an emptied folder is only nothing new.
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    std::fs::remove_file(p.path().join("landing/events/a.csv")).unwrap();
    let (c, v) = ingest(&p, "2026-06-02T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(outcomes(&v), vec![]);
}

/// Rewrites a delivered file with other content and another modification time.
fn change(p: &Project, name: &str, content: &[u8]) {
    let path = p.path().join("landing/events").join(name);
    std::fs::write(&path, content).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
}

#[test]
fn a_changed_file_is_an_error_unless_the_source_lets_it_replace_its_rows() {
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    change(
        &p,
        "a.csv",
        b"event_id,amount,event_time\ne1,99,2026-06-01 10:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-02T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0383")), "{v}");
    assert_eq!(p.count("SELECT count(*) FROM events"), 2);

    // Only touched: the same content is not read again.
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    change(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = ingest(&p, "2026-06-02T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(outcomes(&v)[0].1, "unchanged");
}

#[test]
fn a_replaced_file_changes_what_new_runs_read_and_not_what_earlier_locks_read() {
    let p = project(r#""landing/events/*.csv" as csv"#, "changed files replace");
    deliver(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(p.rows("SELECT total FROM daily"), vec![s("Integer(30)")]);
    let first_lock = v["input_lock"][0]["high_water_mark"].clone();

    change(
        &p,
        "a.csv",
        b"event_id,amount,event_time\ne1,99,2026-06-01 10:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-02T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        outcomes(&v),
        vec![(s("landing/events/a.csv"), s("replaced"), 1, 0)]
    );
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T13:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(p.rows("SELECT total FROM daily"), vec![s("Integer(99)")]);
    assert_ne!(v["input_lock"][0]["high_water_mark"], first_lock);
    // The old version's rows are kept for the runs that locked them.
    assert_eq!(
        p.rows("SELECT _bpl_file, count(*) FROM events GROUP BY 1"),
        vec![s("Integer(1)|Integer(2)"), s("Integer(2)|Integer(1)")]
    );
    let statuses: Vec<Value> = ledger_files(&p)
        .iter()
        .map(|f| f["status"].clone())
        .collect();
    assert_eq!(statuses, vec!["replaced", "ingested"]);
    // Each run's input lock names the files it read.
    let read_by = |run: &str| -> Vec<Value> {
        let (c, v) = p.json(&["files", "--run", run]);
        assert_eq!(c, 0, "{v}");
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["file_id"].clone())
            .collect()
    };
    assert_eq!(read_by("run-000001"), vec![1]);
    assert_eq!(read_by("run-000002"), vec![2]);
}

#[test]
fn the_file_arrival_clock_is_the_time_a_file_was_first_seen() {
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    // Late events of 1 June arrive on 3 June.
    deliver(
        &p,
        "late.csv",
        b"event_id,amount,event_time\ne9,1,2026-06-01 23:00:00\n",
    );
    assert_eq!(ingest(&p, "2026-06-03T02:00:00Z").0, 0);
    let (c, v) = run(&p, "arrivals", "2026-06-03", "2026-06-03T03:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        p.rows("SELECT day, n FROM arrivals"),
        vec![s("Text(\"2026-06-03\")|Integer(1)")]
    );
    // By event time the late row belongs to 1 June.
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-03T03:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(p.rows("SELECT n FROM daily"), vec![s("Integer(3)")]);
}

#[test]
fn csv_options_delimiter_quote_null_marker_latin1_and_no_header() {
    let p = project(
        r#""landing/events/*.txt" as csv delimiter ";" quote "'" null "NA" encoding "latin1" no header"#,
        "",
    );
    let spec = std::fs::read_to_string(p.path().join("specs.bpl"))
        .unwrap()
        .replace("amount: int", "amount: int?\n    note: string?");
    std::fs::write(p.path().join("specs.bpl"), spec).unwrap();
    // Columns by position, as declared: event_id, amount, note,
    // event_time (the arrival column is filled by the ingestion, not read).
    deliver(
        &p,
        "a.txt",
        b"e1;NA;'caf\xe9; cr\xe8me';2026-06-01 10:00:00\ne2;3;NA;2026-06-01 11:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(outcomes(&v)[0].2, 2, "{v}");
    assert_eq!(
        p.rows("SELECT event_id, amount, note FROM events"),
        vec![
            s("Text(\"e1\")|Null|Text(\"café; crème\")"),
            s("Text(\"e2\")|Integer(3)|Null")
        ]
    );
}

#[test]
fn text_that_is_not_utf8_is_a_malformed_line_with_a_hint() {
    let p = csv_project();
    deliver(
        &p,
        "a.csv",
        b"event_id,amount,event_time\ne\xe9,1,2026-06-01 10:00:00\ne2,2,2026-06-01 10:00:00\n",
    );
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(outcomes(&v)[0].2, 1);
    let bad = &ledger_files(&p)[0]["bad_lines"][0];
    assert_eq!(bad["line"], 2);
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("encoding \\\"latin1\\\"")
            || bad["reason"]
                .as_str()
                .unwrap()
                .contains("encoding \"latin1\""),
        "{bad}"
    );
}

#[test]
fn json_lines_are_read_by_field_name() {
    let p = project(r#""landing/events/*.jsonl" as json lines"#, "");
    deliver(
        &p,
        "a.jsonl",
        br#"{"event_id": "e1", "amount": 10, "event_time": "2026-06-01T10:00:00Z", "other": true}

{"event_id": "e2", "amount": 2.5, "event_time": "2026-06-01 11:00:00"}
{"event_id": "e3", "amount": [1], "event_time": "2026-06-01 11:00:00"}
not json
[1, 2]
{"event_id": "e4", "event_time": "2026-06-01 12:00:00"}
"#,
    );
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(outcomes(&v)[0].2, 3, "{v}");
    assert_eq!(outcomes(&v)[0].3, 3, "{v}");
    let bad: Vec<(i64, String)> = ledger_files(&p)[0]["bad_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["line"].as_i64().unwrap(),
                b["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(bad[0], (4, s("amount: an array, not a value")));
    assert_eq!(bad[1].0, 5);
    assert!(bad[1].1.starts_with("not JSON"), "{bad:?}");
    assert_eq!(bad[2], (6, s("not a JSON object")));
    // 2.5 is not an int, and e4 has no amount: both bad rows of the run;
    // so is e3's line, whose event time places it in the partition. The
    // two lines that are not objects name no partition: they stay in the
    // ingestion ledger only.
    let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
    assert_eq!(c, 0, "{v}");
    assert_eq!(counters(&v)["accepted"], 1, "{v}");
    assert_eq!(counters(&v)["quarantined"], 3, "{v}");
    let mut reasons = p.ledger_texts("SELECT reason FROM quarantine");
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "landing/events/a.jsonl:3: amount: 2.5 is not a valid int",
            "landing/events/a.jsonl:4: amount: an array, not a value",
            "landing/events/a.jsonl:7: amount: null in a column that may not be null",
        ]
    );
}

#[test]
fn a_file_deleted_between_discovery_and_read_is_a_coded_error() {
    let p = two_files();
    let (err, rows) = ingest_after_discovery(&p, |_| {
        std::fs::remove_file(p.path().join("landing/events/b.csv")).unwrap();
    });
    assert_eq!(err.code().as_str(), "E0384");
    assert!(
        err.to_string()
            .contains("deleted between discovery and read"),
        "{err}"
    );
    // The file read before it stays ingested; nothing of the deleted one.
    assert_eq!(rows, 2);
}

/// A project with two landing files of two rows each, `a.csv` and `b.csv`.
fn two_files() -> Project {
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    deliver(
        &p,
        "b.csv",
        DAY1.replace("e1", "e5").replace("e2", "e6").as_bytes(),
    );
    p
}

/// Discovers the events' files, lets `between` change what was found or
/// the files, then ingests: the ingestion's error, and the rows loaded.
fn ingest_after_discovery(
    p: &Project,
    between: impl FnOnce(&mut bplc::ingest::discover::Discovery),
) -> (bplc::runtime::RuntimeError, i64) {
    let analysis = bplc::driver::compile(p.path()).unwrap();
    let program = analysis.program.unwrap();
    let decl = program.lookup("events").unwrap();
    let glob = &decl.access.files.as_ref().unwrap().glob;
    let mut found = bplc::ingest::discover::discover(p.path(), glob).unwrap();
    assert_eq!(found.matched.len(), 2);
    between(&mut found);
    let warehouse_path = p.path().join("warehouse-of-this-test.sqlite");
    let mut warehouse =
        bplc::runtime::engine::sqlite::intake::SqliteIntake::open(&warehouse_path).unwrap();
    let ledger =
        bplc::runtime::ledger::Ledger::open(&p.path().join("ledger-of-this-test.sqlite")).unwrap();
    let mut progress = |_: bplc::ingest::Progress<'_>| {};
    let mut ingest = bplc::ingest::Ingest {
        root: p.path(),
        warehouse: &mut warehouse,
        ledger: &ledger,
        seen_at: "2026-06-01 12:00:00".into(),
        progress: &mut progress,
    };
    let err = ingest.discovered(decl, &found).unwrap_err();
    let rows: i64 = rusqlite::Connection::open(&warehouse_path)
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    (err, rows)
}

/// A file that is there but cannot be read (here: the path now names a
/// folder, which no user can read as a file, root included) is E0384
/// with the system's reason; files read before it stay ingested.
#[test]
fn a_file_that_cannot_be_read_is_a_coded_error() {
    let p = two_files();
    let (err, rows) = ingest_after_discovery(&p, |found| {
        let b = p.path().join("landing/events/b.csv");
        std::fs::remove_file(&b).unwrap();
        std::fs::create_dir(&b).unwrap();
        assert_eq!(found.matched[1].path, "landing/events/b.csv");
    });
    assert_eq!(err.code().as_str(), "E0384");
    assert!(err.to_string().contains("cannot be read"), "{err}");
    assert_eq!(rows, 2);
}

#[cfg(feature = "parquet")]
mod parquet_files {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
    use parquet::arrow::ArrowWriter;

    use super::*;

    /// Writes a Parquet file of the given columns into the landing folder.
    fn parquet(p: &Project, name: &str, columns: Vec<(&str, ArrayRef)>) {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let file = std::fs::File::create(p.path().join("landing/events").join(name)).unwrap();
        let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    fn ids() -> ArrayRef {
        Arc::new(StringArray::from(vec!["e1", "e2", "e3"]))
    }

    #[test]
    fn parquet_files_are_read_by_column_name_with_their_types() {
        let p = project(r#""landing/events/*.parquet" as parquet"#, "");
        parquet(
            &p,
            "a.parquet",
            vec![
                (
                    "amount",
                    Arc::new(Int64Array::from(vec![Some(10), None, Some(5)])) as ArrayRef,
                ),
                ("event_id", ids()),
                (
                    "event_time",
                    Arc::new(TimestampMillisecondArray::from(vec![
                        1_780_308_000_000,
                        1_780_311_600_500,
                        1_780_315_200_000,
                    ])),
                ),
                ("unused", Arc::new(StringArray::from(vec!["x", "y", "z"]))),
            ],
        );
        let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
        assert_eq!(c, 0, "{v}");
        assert_eq!(
            outcomes(&v),
            vec![(s("landing/events/a.parquet"), s("new"), 3, 0)]
        );
        assert_eq!(
            p.rows("SELECT event_id, amount, event_time FROM events"),
            vec![
                s("Text(\"e1\")|Integer(10)|Text(\"2026-06-01 10:00:00\")"),
                s("Text(\"e2\")|Null|Text(\"2026-06-01 11:00:00\")"),
                s("Text(\"e3\")|Integer(5)|Text(\"2026-06-01 12:00:00\")"),
            ]
        );
        // e2's null amount is not an int: a bad row of the run.
        let (c, v) = run(&p, "daily", "2026-06-01", "2026-06-02T00:00:00Z");
        assert_eq!(c, 0, "{v}");
        assert_eq!(counters(&v)["accepted"], 2, "{v}");
    }

    #[test]
    fn a_parquet_file_with_a_missing_or_mistyped_column_is_refused() {
        let p = project(r#""landing/events/*.parquet" as parquet"#, "");
        parquet(&p, "a.parquet", vec![("event_id", ids())]);
        let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
        assert_eq!((c, code(&v)), (1, s("E0380")), "{v}");
        assert!(message(&v).contains("its schema names `event_id`"), "{v}");

        let p = project(r#""landing/events/*.parquet" as parquet"#, "");
        parquet(
            &p,
            "a.parquet",
            vec![
                ("event_id", ids()),
                (
                    "amount",
                    Arc::new(StringArray::from(vec!["1", "2", "3"])) as ArrayRef,
                ),
                (
                    "event_time",
                    Arc::new(StringArray::from(vec!["2026-06-01 10:00:00"; 3])),
                ),
            ],
        );
        let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
        assert_eq!((c, code(&v)), (1, s("E0386")), "{v}");
        assert!(message(&v).contains("holds `amount` as Utf8"), "{v}");
        assert_eq!(p.count("SELECT count(*) FROM events"), 0);
    }

    #[test]
    fn a_file_that_is_not_parquet_cannot_be_read() {
        let p = project(r#""landing/events/*.parquet" as parquet"#, "");
        deliver(&p, "a.parquet", b"not parquet at all");
        let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
        assert_eq!((c, code(&v)), (1, s("E0384")), "{v}");
    }
}

/// `demo-data` writes a Parquet source's landing files as Parquet, one a
/// day, each column in the Arrow type of its declared type; every row is
/// ingested (a Parquet file has no lines to break) and runs read them.
#[cfg(feature = "parquet")]
#[test]
fn demo_data_writes_parquet_landing_files_that_ingest_and_run() {
    let p = project(r#""landing/events/*.parquet" as parquet"#, "");
    let (c, v) = p.json(&["demo-data", "--rows", "300", "--days", "5"]);
    assert_eq!(c, 0, "{v}");
    let written = &v["files"][0];
    assert_eq!(written["malformed"], 0, "{v}");
    let names: Vec<String> = std::fs::read_dir(p.path().join("landing/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.ends_with(".parquet")),
        "{names:?}"
    );
    for n in &names {
        let bytes = std::fs::read(p.path().join("landing/events").join(n)).unwrap();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{n}"
        );
    }
    let (c, v) = ingest(&p, "2026-06-07T00:00:00Z");
    assert_eq!(c, 0, "{v}");
    let rows: i64 = outcomes(&v).iter().map(|o| o.2).sum();
    let bad: i64 = outcomes(&v).iter().map(|o| o.3).sum();
    assert_eq!((rows, bad), (written["rows"].as_i64().unwrap(), 0), "{v}");
    let day = names
        .iter()
        .min()
        .unwrap()
        .trim_end_matches(".parquet")
        .to_string();
    let (c, v) = run(&p, "daily", &day, "2026-06-07T00:00:00Z");
    assert!(c == 0 || c == 1, "{v}");
    assert!(counters(&v)["accepted"].as_i64().unwrap() > 0, "{v}");
}

#[cfg(not(feature = "parquet"))]
#[test]
fn without_the_parquet_feature_a_parquet_source_says_how_to_get_it() {
    let p = project(r#""landing/events/*.parquet" as parquet"#, "");
    deliver(&p, "a.parquet", b"PAR1");
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0387")), "{v}");
}

#[test]
fn run_due_ingests_new_files_before_it_runs() {
    let p = csv_project();
    let spec = std::fs::read_to_string(p.path().join("specs.bpl")).unwrap().replacen(
        "  publish replace\n  input ev = events by event clock",
        "  publish replace\n  schedule daily at 01:00 \"UTC\"\n  input ev = events by event clock",
        1,
    );
    std::fs::write(p.path().join("specs.bpl"), spec).unwrap();
    deliver(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = p.json(&["run-due", "--as-of", "2026-06-02T02:00:00Z"]);
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["runs"][0]["dataset"], "daily", "{v}");
    assert_eq!(ledger_files(&p).len(), 1);
    assert_eq!(ledger_files(&p)[0]["first_seen"], "2026-06-02 02:00:00");
    assert_eq!(
        p.rows("SELECT day, n FROM daily"),
        vec![s("Text(\"2026-06-01\")|Integer(2)")]
    );
}

#[test]
fn the_file_and_seed_clauses_format_as_written_and_parse_back() {
    let text = r#"source events {
  files "landing/*.txt" as csv delimiter ";" quote "'" null "NA" encoding "latin1" no header
  columns {
    id: string
  }
  changed files replace
}

source clicks {
  files "landing/clicks/**/*.jsonl" as json lines
  columns {
    id: string
  }
}

source orders {
  files "landing/orders/*.parquet" as parquet
  columns {
    id: string
  }
  changed files fail
}

reference regions {
  seed "seeds/regions.csv"
  columns {
    region: string
  }
  key region
}

reference units {
  seed "seeds/units.txt" delimiter ";" null "-" encoding "latin1" no header
  columns {
    unit: string
  }
  key unit
}
"#;
    let file = bplc::syntax::span::FileId(0);
    let formatted = bplc::syntax::fmt::format(file, text).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(formatted, text);
}

#[test]
fn two_processes_ingesting_at_once_load_each_file_once() {
    let p = csv_project();
    let mut text = String::from("event_id,amount,event_time\n");
    for i in 0..30_000 {
        text.push_str(&format!("e{i},{i},2026-06-01 10:00:00\n"));
    }
    deliver(&p, "big.csv", text.as_bytes());
    // The warehouse and ledger exist before the race, as after any first use.
    deliver(
        &p,
        "first.csv",
        DAY1.replace("e1", "x1").replace("e2", "x2").as_bytes(),
    );
    std::fs::rename(
        p.path().join("landing/events/big.csv"),
        p.path().join("big.csv"),
    )
    .unwrap();
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    std::fs::rename(
        p.path().join("big.csv"),
        p.path().join("landing/events/big.csv"),
    )
    .unwrap();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bplc"))
            .args(["ingest", "--as-of", "2026-06-02T12:00:00Z", "--project"])
            .arg(p.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_eq!(p.count("SELECT count(*) FROM events"), 30_002);
    assert_eq!(ledger_files(&p).len(), 2);
}

#[test]
fn a_warehouse_table_bplc_did_not_fill_from_files_is_never_written_into() {
    let p = csv_project();
    p.warehouse()
        .execute_batch("CREATE TABLE events (event_id TEXT); INSERT INTO events VALUES ('theirs');")
        .unwrap();
    deliver(&p, "a.csv", DAY1.as_bytes());
    let (c, v) = ingest(&p, "2026-06-01T12:00:00Z");
    assert_eq!((c, code(&v)), (1, s("E0316")), "{v}");
    assert_eq!(p.rows("SELECT * FROM events"), vec![s("Text(\"theirs\")")]);
}

#[test]
fn the_content_of_a_file_already_read_under_a_new_name_is_not_loaded_again() {
    let p = csv_project();
    deliver(&p, "a.csv", DAY1.as_bytes());
    assert_eq!(ingest(&p, "2026-06-01T12:00:00Z").0, 0);
    deliver(&p, "a-resent.csv", DAY1.as_bytes());
    let (c, v) = ingest(&p, "2026-06-02T12:00:00Z");
    assert_eq!(c, 0, "{v}");
    // Files are read in path order: `a-resent.csv` before `a.csv`.
    let resent = &v["sources"][0]["files"][0];
    assert_eq!(resent["outcome"], "duplicate", "{v}");
    assert_eq!(resent["duplicate_of"], "landing/events/a.csv");
    assert_eq!(p.count("SELECT count(*) FROM events"), 2);
}

#[test]
fn demo_data_writes_landing_files_by_arrival_day_with_one_malformed_line() {
    let p = csv_project();
    let (c, v) = p.json(&["demo-data", "--rows", "300", "--days", "5"]);
    assert_eq!(c, 0, "{v}");
    let written = &v["files"][0];
    assert_eq!(written["declaration"], "events", "{v}");
    assert_eq!(written["malformed"], 1, "{v}");
    let days: Vec<String> = std::fs::read_dir(p.path().join("landing/events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(days.len() as i64, written["files"].as_i64().unwrap());
    assert!(
        days.iter()
            .all(|d| d.ends_with(".csv") && d.len() == "2026-06-01.csv".len()),
        "{days:?}"
    );
    // The source's table is the ingestion's: demo-data leaves it alone.
    let (c, v) = ingest(&p, "2026-06-07T00:00:00Z");
    assert_eq!(c, 0, "{v}");
    let bad: i64 = outcomes(&v).iter().map(|o| o.3).sum();
    let rows: i64 = outcomes(&v).iter().map(|o| o.2).sum();
    assert_eq!(bad, 1);
    assert_eq!(rows + 1, written["rows"].as_i64().unwrap());
}
