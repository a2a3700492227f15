//! Sources on the PostgreSQL engine (feature `postgres`): landing files
//! and seeds ingested into the project's schema, and tables of another
//! schema read without ever being written. Run under
//! `scripts/with-postgres`, which exports `BPLC_POSTGRES_URL`; without it
//! every test here fails, saying so.

mod runtime_support;

use runtime_support::Project;
use serde_json::Value;

fn server_url() -> String {
    std::env::var("BPLC_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "BPLC_POSTGRES_URL is not set: run the PostgreSQL tests under a server, \
             `scripts/with-postgres cargo test --all-features`"
        )
    })
}

fn client() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
}

/// Sets the top-level `key` of a project's `bpl.toml` to `value` (a line
/// of its own after the first), then appends `tail`.
fn set(p: &Project, key: &str, value: &str, tail: &str) {
    let toml = p.path().join("bpl.toml");
    let text: String = std::fs::read_to_string(&toml)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(key))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.replacen('\n', &format!("\n{key} = \"{value}\"\n"), 1);
    std::fs::write(&toml, format!("{text}{tail}")).unwrap();
}

/// `bpl.toml` of a project pointed at an engine: PostgreSQL in `schema`
/// (created afresh), or SQLite.
fn on_engine(p: &Project, engine: &str, schema: &str) {
    let mut tail = String::new();
    if engine == "postgres" {
        client()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        tail = format!("\n[postgres]\nschema = \"{schema}\"\n");
    }
    set(p, "engine", engine, &tail);
    std::fs::create_dir_all(p.path().join("target")).unwrap();
}

fn ok(p: &Project, args: &[&str]) -> Value {
    let (code, v) = p.json(args);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {v}");
    v
}

/// Per run: the dataset, each partition's counters, checksum and
/// decision, each quarantined row's reason (a landing file's bad rows with
/// their file and line), and each binding's version and checksum.
fn results(p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for run in ok(p, &["runs"]).as_array().unwrap() {
        let show = ok(p, &["show", run["run_id"].as_str().unwrap()]);
        for o in show["outputs"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} {} counters={} checksum={} decision={}",
                show["dataset"], o["partition"], o["counters"], o["checksum"], o["decision"]
            ));
        }
        let quarantined = ok(p, &["quarantine", run["run_id"].as_str().unwrap()]);
        for q in quarantined["quarantined"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} quarantined {} {} {}",
                show["dataset"], q["partition"], q["rule"], q["reason"]
            ));
        }
        for b in show["bindings"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} binding {} {} rows={} checksum={}",
                show["dataset"], b["alias"], b["version"], b["rows"], b["checksum"]
            ));
        }
    }
    out.sort();
    out
}

/// Keeps the ledger of a project on PostgreSQL (`ledger = "postgres"`),
/// in the schema bplc names after the warehouse's, created afresh: call
/// after [`on_engine`] made the warehouse PostgreSQL's in `schema`.
fn ledger_on_postgres(p: &Project, schema: &str) {
    client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema}_ledger CASCADE"))
        .unwrap();
    set(p, "ledger", "postgres", "");
}

/// The landing-folder example end to end — demo data, the files ingested,
/// the seed loaded, a backfill over the fortnight — on `engine`, its
/// ledger on PostgreSQL if `pg_ledger`: every run's results (see
/// [`results`]), and the files the ingestion ledger lists with their
/// malformed lines (`bplc files --bad`).
fn landing_example(engine: &str, pg_ledger: bool, schema: &str) -> Vec<String> {
    let p = Project::example("enforcement_landing");
    on_engine(&p, engine, schema);
    if pg_ledger {
        ledger_on_postgres(&p, schema);
    }
    ok(&p, &["demo-data", "--rows", "400", "--days", "14"]);
    let ingested = ok(&p, &["ingest", "--as-of", "2026-06-15T02:00:00Z"]);
    let files = &ingested["sources"][0]["files"];
    assert_eq!(files.as_array().map(Vec::len), Some(15), "{ingested}");
    let seeded = ok(&p, &["seed"]);
    assert_eq!(seeded["seeds"][0]["outcome"], "loaded", "{seeded}");
    let (code, backfill) = p.json(&[
        "backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-01..2026-06-14",
        "--mode",
        "replace",
        "--as-of",
        "2026-06-15T02:00:00Z",
    ]);
    let mut result = results(&p);
    assert!(result.len() > 20, "{engine}: {backfill}\n{result:#?}");
    // The line cut short in 2026-06-07.csv is a bad row of its day.
    assert!(
        result
            .iter()
            .any(|r| r.contains("quarantined") && r.contains("2026-06-07.csv:")),
        "{engine}: {result:#?}"
    );
    result.push(format!("backfill exit {code}"));
    result.push(format!("ingested {files}"));
    // Each file once, with its number, rows and malformed lines; less its
    // modification time, which is when this test wrote it.
    let mut listed = ok(&p, &["files", "--bad"]);
    let records = listed["files"].as_array_mut().unwrap();
    assert_eq!(records.len(), 15, "{engine}: {listed}");
    for f in records.iter_mut() {
        f.as_object_mut().unwrap().remove("modified");
        assert_eq!(f["status"], "ingested", "{f}");
    }
    assert!(listed.to_string().contains("bad_lines"), "{listed}");
    result.push(format!("files {listed}"));
    // The files each run read, by its input lock.
    for run in ok(&p, &["runs"]).as_array().unwrap() {
        let read = ok(&p, &["files", "--run", run["run_id"].as_str().unwrap()]);
        let paths: Vec<&Value> = read["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["path"])
            .collect();
        result.push(format!("{} read {paths:?}", run["run_id"]));
    }
    assert!(
        result
            .iter()
            .any(|r| r.contains(" read [") && r.contains(".csv")),
        "{engine}: no run read a file: {result:#?}"
    );
    let (code, text, err) = p.text(&["files", "raw_case_events"]);
    assert_eq!(code, 0, "{err}");
    result.push(format!("files as text: {} line(s)", text.lines().count()));
    result
}

/// What the landing example gives on SQLite, warehouse and ledger, and on
/// `engine` with the ledger on PostgreSQL if `pg_ledger`: the same files,
/// rows and malformed lines, and the same counters, checksums, decisions
/// and seed versions for every partition.
fn same_as_on_sqlite(engine: &str, pg_ledger: bool, schema: &str) {
    server_url();
    let lite = landing_example("sqlite", false, schema);
    let other = landing_example(engine, pg_ledger, schema);
    for (a, b) in lite.iter().zip(&other) {
        assert_eq!(a, b, "SQLite (left) and {engine} (right) differ");
    }
    assert_eq!(lite.len(), other.len());
}

#[test]
fn the_landing_example_gives_the_same_results_on_both_engines() {
    same_as_on_sqlite("postgres", false, "t_src_landing");
}

/// With the ledger on PostgreSQL too: the ingestion ledger is kept in
/// the ledger's schema, and nothing else differs.
#[test]
fn the_landing_example_gives_the_same_results_with_the_ledger_on_postgres() {
    same_as_on_sqlite("postgres", true, "t_src_landing_pgl");
    let tables: i64 = client()
        .query_one(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = 't_src_landing_pgl_ledger'
             AND table_name IN ('ingested_files', 'ingest_bad_rows')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 2);
    let files: i64 = client()
        .query_one(
            "SELECT count(*) FROM t_src_landing_pgl_ledger.ingested_files",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(files, 15);
}

const OTHER_SCHEMA: &str = r#"source events {
  table "SCHEMA.events"
  columns {
    event_id: string
    amount: int
    event_time: timestamp
  }
  key event_id
  clock event = event_time
  snapshot by event_time
}
"#;

fn other_schema_project(raw: &str, own: &str) -> Project {
    let spec = format!("{}{DAILY}", OTHER_SCHEMA.replace("SCHEMA", raw));
    let p = Project::new(&[("specs.bpl", &spec)]);
    on_engine(&p, "postgres", own);
    p
}

fn run_daily(p: &Project, env: &[(&str, &str)]) -> (i32, Value) {
    p.json_with(
        &[
            "run",
            "daily",
            "--date",
            "2026-06-01",
            "--as-of",
            "2026-06-02",
        ],
        env,
    )
}

fn error_code(v: &Value) -> String {
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// A source naming a table of another schema reads it where it is: the
/// run counts its rows, and the schema holds afterwards exactly what it
/// held before. A schema or table that is not there, or that the role may
/// not read, is each a coded error.
#[test]
fn a_table_of_another_schema_is_read_and_never_written() {
    let url = server_url();
    let mut c = client();
    c.batch_execute(
        "DROP SCHEMA IF EXISTS t_src_raw CASCADE; CREATE SCHEMA t_src_raw;
         CREATE TABLE t_src_raw.events (event_id text, amount bigint, event_time text);
         INSERT INTO t_src_raw.events VALUES ('e1', 10, '2026-06-01 10:00:00'),
           ('e2', 20, '2026-06-01 11:00:00'), ('e3', 5, '2026-06-02 09:00:00');",
    )
    .unwrap();
    let p = other_schema_project("t_src_raw", "t_src_own");
    let (code, v) = run_daily(&p, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["outputs"][0]["counters"]["input"], 2, "{v}");
    let tables: Vec<String> = c
        .query(
            "SELECT CAST(table_name AS text) FROM information_schema.tables WHERE table_schema = 't_src_raw'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["events"]);
    let n: i64 = c
        .query_one("SELECT count(*) FROM t_src_raw.events", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 3);

    let (code, v) = run_daily(&other_schema_project("t_src_nowhere", "t_src_own2"), &[]);
    assert_eq!((code, error_code(&v).as_str()), (1, "E0388"), "{v}");
    c.batch_execute("DROP SCHEMA IF EXISTS t_src_empty CASCADE; CREATE SCHEMA t_src_empty; CREATE TABLE t_src_empty.event_log (x text);")
        .unwrap();
    let (code, v) = run_daily(&other_schema_project("t_src_empty", "t_src_own3"), &[]);
    assert_eq!((code, error_code(&v).as_str()), (1, "E0389"), "{v}");
    assert!(v.to_string().contains("`event_log`"), "{v}");

    // A role of its own, owning its project's schema, with no grant on
    // the other schema; then USAGE without SELECT; then both.
    c.batch_execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bplc_src_user') \
         THEN CREATE ROLE bplc_src_user LOGIN; END IF; END $$; \
         DROP SCHEMA IF EXISTS t_src_own4 CASCADE; \
         CREATE SCHEMA t_src_own4 AUTHORIZATION bplc_src_user; \
         REVOKE ALL ON SCHEMA t_src_raw FROM bplc_src_user; \
         REVOKE ALL ON t_src_raw.events FROM bplc_src_user;",
    )
    .unwrap();
    let user = url.replacen("bplc@", "bplc_src_user@", 1);
    let as_user = [("BPLC_POSTGRES_URL", user.as_str())];
    let spec = format!("{}{DAILY}", OTHER_SCHEMA.replace("SCHEMA", "t_src_raw"));
    let p = Project::new(&[("specs.bpl", &spec)]);
    let toml = p.path().join("bpl.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}engine = \"postgres\"\n[postgres]\nschema = \"t_src_own4\"\n"),
    )
    .unwrap();
    std::fs::create_dir_all(p.path().join("target")).unwrap();
    let (code, v) = run_daily(&p, &as_user);
    assert_eq!((code, error_code(&v).as_str()), (1, "E0390"), "{v}");
    assert!(v.to_string().contains("GRANT USAGE ON SCHEMA"), "{v}");
    c.batch_execute("GRANT USAGE ON SCHEMA t_src_raw TO bplc_src_user")
        .unwrap();
    let (code, v) = run_daily(&p, &as_user);
    assert_eq!((code, error_code(&v).as_str()), (1, "E0390"), "{v}");
    assert!(v.to_string().contains("may not read it"), "{v}");
    c.batch_execute("GRANT SELECT ON t_src_raw.events TO bplc_src_user")
        .unwrap();
    let (code, v) = run_daily(&p, &as_user);
    assert_eq!(code, 0, "{v}");
}

const LANDING: &str = r#"source events {
  files "landing/*.csv" as csv
  columns {
    event_id: string
    amount: int
    event_time: timestamp
  }
  key event_id
  clock event = event_time
  changed files replace
}
"#;

/// Events by day, over the `events` source of each spec here.
const DAILY: &str = r#"
dataset daily {
  version 1
  partition by day: date
  publish replace
  input ev = events by event clock where to_date(event_time, "UTC") == p
  compute {
    from ev
    group by day = p {
      n = row_count()
      total = sum(ev.amount)
    }
  }
}
"#;

/// On PostgreSQL too: a file is read once, a changed file replaces its
/// rows for runs locked afterwards, and a malformed line and a value of
/// the wrong type are bad rows of the run naming their file and line.
#[test]
fn landing_files_are_replaced_and_bad_lines_quarantined_on_postgres() {
    server_url();
    let p = Project::new(&[("specs.bpl", &format!("{LANDING}{DAILY}"))]);
    on_engine(&p, "postgres", "t_src_files");
    std::fs::create_dir_all(p.path().join("landing")).unwrap();
    let file = p.path().join("landing/a.csv");
    std::fs::write(
        &file,
        "event_id,amount,event_time\n\
         e1,10,2026-06-01 10:00:00\n\
         e2,ten,2026-06-01 11:00:00\n\
         e3,5,2026-06-01 12:00:00,surplus\n",
    )
    .unwrap();
    let run = |p: &Project| {
        let (c, v) = p.json(&[
            "run",
            "daily",
            "--date",
            "2026-06-01",
            "--as-of",
            "2026-06-02T00:00:00Z",
        ]);
        assert_eq!(c, 0, "{v}");
        v
    };
    let v = run(&p);
    let counters = &v["outputs"][0]["counters"];
    assert_eq!(
        (
            &counters["input"],
            &counters["accepted"],
            &counters["quarantined"]
        ),
        (&3.into(), &1.into(), &2.into()),
        "{v}"
    );
    let q = ok(&p, &["quarantine", v["run_id"].as_str().unwrap()]);
    let mut reasons: Vec<&str> = q["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "landing/a.csv:3: amount: 'ten' is not a valid int",
            "landing/a.csv:4: 4 field(s), but the header has 3",
        ]
    );

    // Corrected in place: the new version's rows replace the old ones.
    std::fs::write(
        &file,
        "event_id,amount,event_time\n\
         e1,10,2026-06-01 10:00:00\n\
         e2,20,2026-06-01 11:00:00\n",
    )
    .unwrap();
    let ingested = ok(&p, &["ingest", "--as-of", "2026-06-02T01:00:00Z"]);
    assert_eq!(
        ingested["sources"][0]["files"][0]["outcome"], "replaced",
        "{ingested}"
    );
    let v = run(&p);
    let counters = &v["outputs"][0]["counters"];
    assert_eq!(
        (&counters["input"], &counters["accepted"]),
        (&2.into(), &2.into()),
        "{v}"
    );
}

/// Two `bplc ingest` at once, with the ledger on PostgreSQL, as on two
/// machines: the advisory lock on the ledger's server lets one ingest at a
/// time, so each file is read once and its rows loaded once, and the
/// other finds them all ingested (rather than a load in flight to undo,
/// or a file no one has read yet).
#[test]
fn two_ingestions_at_once_read_each_file_once_with_the_ledger_on_postgres() {
    server_url();
    let p = Project::new(&[("specs.bpl", &format!("{LANDING}{DAILY}"))]);
    on_engine(&p, "postgres", "t_src_twice");
    ledger_on_postgres(&p, "t_src_twice");
    std::fs::create_dir_all(p.path().join("landing")).unwrap();
    let deliver = |file: usize, rows: usize| {
        let mut text = String::from("event_id,amount,event_time\n");
        for r in 0..rows {
            text.push_str(&format!("e{file}_{r},{r},2026-06-01 10:00:00\n"));
        }
        std::fs::write(p.path().join(format!("landing/{file}.csv")), text).unwrap();
    };
    // A first file makes the warehouse and the ledger; then six more come.
    deliver(0, 1);
    let (code, v) = p.json(&["ingest"]);
    assert_eq!(code, 0, "{v}");
    let (files, rows) = (6, 3000);
    for f in 1..=files {
        deliver(f, rows);
    }
    let both: Vec<Value> = std::thread::scope(|s| {
        let ingest = || {
            let (code, v) = p.json(&["ingest"]);
            assert_eq!(code, 0, "{v}");
            v
        };
        let started: Vec<_> = (0..2).map(|_| s.spawn(ingest)).collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let outcomes: Vec<&Value> = both
        .iter()
        .flat_map(|v| v["sources"][0]["files"].as_array().unwrap())
        .map(|f| &f["outcome"])
        .collect();
    let new = outcomes.iter().filter(|o| **o == "new").count();
    assert_eq!(new, files, "{both:#?}");
    assert_eq!(outcomes.len(), 2 * (files + 1), "{both:#?}");
    let listed = ok(&p, &["files"]);
    let statuses: Vec<&Value> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["status"])
        .collect();
    assert_eq!(statuses, vec!["ingested"; files + 1], "{listed}");
    let loaded: i64 = client()
        .query_one("SELECT count(*) FROM t_src_twice.events", &[])
        .unwrap()
        .get(0);
    assert_eq!(loaded, (files * rows + 1) as i64);
}
