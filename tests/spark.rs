//! The Spark engine against a real Spark Connect server (feature `spark`).
//! Run it under `scripts/with-spark`, which starts a throw-away local
//! server and exports `BPLC_TEST_SPARK_URL`:
//!
//!     scripts/with-spark cargo test --features spark,fault-injection --test spark
//!
//! Without that variable every test here fails, saying so: a Spark test
//! never passes without a server.
//!
//! One server serves every test, each in a database of its own; a Spark
//! statement costs a job, so the tests are few and each covers much.

use std::path::Path;

mod server_support;
use server_support::{all_at_once, bplc, copy};

const URL_ENV: &str = "BPLC_TEST_SPARK_URL";

fn server_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{URL_ENV} is not set: run the Spark tests under a server, \
             `scripts/with-spark cargo test --features spark,fault-injection --test spark`"
        )
    })
}

/// Drops a test's database and everything in it, so a test starts from an
/// empty one on a server that served earlier runs too.
fn drop_database(database: &str) {
    drop_database_on(URL_ENV, database)
}

/// [`drop_database`] on the server of `url_env`.
fn drop_database_on(url_env: &str, database: &str) {
    let mut session = bplc::runtime::engine::spark::client::connect(url_env, "default", None)
        .unwrap_or_else(|e| panic!("connecting to the Spark server of {url_env}: {e}"));
    session
        .run(&format!("DROP DATABASE IF EXISTS `{database}` CASCADE"))
        .unwrap();
}

/// A copy of an example on `engine`, in its own Spark database (empty).
fn project(example: &str, database: &str, engine: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(example);
    copy(&from, dir.path());
    let toml = dir.path().join("bpl.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let mut text: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("engine") && !l.starts_with("warehouse") && !l.starts_with("ledger")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    text = text.replacen(
        "\n",
        &format!("\nengine = \"{engine}\"\nwarehouse = \"target/warehouse.sqlite\"\nledger = \"target/ledger.sqlite\"\n"),
        1,
    );
    if engine == "spark" {
        drop_database(database);
        text.push_str(&format!(
            "\n[spark]\nurl_env = \"{URL_ENV}\"\ndatabase = \"{database}\"\n"
        ));
    }
    std::fs::write(&toml, text).unwrap();
    std::fs::create_dir_all(dir.path().join("target")).unwrap();
    dir
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out) = bplc(dir, &all, &[]);
    let start = out.find(['{', '[']).unwrap_or(0);
    serde_json::from_str(&out[start..])
        .unwrap_or_else(|e| panic!("{args:?} exit {code}: {e}\n{out}"))
}

/// What every run of a project published, by dataset, partition and
/// version: counters, checksum, size, decision, gates, and the bindings
/// it read.
fn published(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for run in json(dir, &["runs"]).as_array().unwrap() {
        let id = run["run_id"].as_str().unwrap();
        let show = json(dir, &["show", id]);
        for o in show["outputs"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} {} counters={} checksum={} bytes={} decision={} quality={}",
                show["dataset"],
                o["partition"],
                o["counters"],
                o["checksum"],
                o["bytes"],
                o["decision"],
                o["quality"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|q| format!("{}:{}:{}", q["name"], q["passed"], q["failing_rows"]))
                    .collect::<Vec<_>>()
                    .join(",")
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

/// An example, its database, its demo-data command, the runs it makes (the
/// first run twice, so its partitions get a second version), and the
/// dataset partition diffed and rolled back.
struct Case {
    example: &'static str,
    database: &'static str,
    demo: &'static [&'static str],
    runs: &'static [&'static [&'static str]],
    rollback: (&'static str, &'static str),
}

/// Both examples end to end on each engine — demo data loaded through
/// Spark, runs over windows, dedupe, as-of joins, quarantine, gates and
/// reconciliations, a rerun, a diff and a rollback — give the same
/// counters, checksums, sizes and decisions for every partition.
#[test]
fn both_examples_give_the_same_results_on_both_engines() {
    server_url();
    let cases = [
        Case {
            example: "enforcement_sla",
            database: "t_e2e_sla",
            demo: &["demo-data", "--rows", "2000"],
            runs: &[
                &[
                    "run",
                    "silver_cases",
                    "--date",
                    "2026-06-05",
                    "--as-of",
                    "2026-07-01",
                ],
                &[
                    "run",
                    "case_daily_metrics",
                    "--date",
                    "2026-06-05",
                    "--as-of",
                    "2026-07-01",
                ],
            ],
            rollback: ("silver_cases", "2026-06-03"),
        },
        Case {
            example: "finance_ledger",
            database: "t_e2e_fin",
            demo: &["demo-data", "--rows", "2000"],
            runs: &[
                &[
                    "run",
                    "tenant_daily_balances",
                    "--date",
                    "2026-06-03",
                    "--as-of",
                    "2026-08-10",
                ],
                &[
                    "run",
                    "tenant_monthly_close",
                    "--date",
                    "2026-07-03",
                    "--as-of",
                    "2026-08-10",
                ],
            ],
            rollback: ("tenant_daily_balances", ""),
        },
    ];
    for case in cases {
        let mut results = Vec::new();
        for engine in ["sqlite", "spark"] {
            let dir = project(case.example, case.database, engine);
            let (code, out) = bplc(dir.path(), case.demo, &[]);
            assert_eq!(code, 0, "{engine} {}: {out}", case.example);
            let mut seen = Vec::new();
            for (n, run) in case.runs.iter().enumerate() {
                let (code, out) = bplc(dir.path(), run, &[]);
                seen.push(format!("{run:?} exit {code}"));
                if code > 1 {
                    panic!("{engine} {}: {out}", case.example);
                }
                if n == 0 {
                    let (again, _) = bplc(dir.path(), run, &[]);
                    seen.push(format!("{run:?} again exit {again}"));
                }
            }
            seen.extend(published(dir.path()));
            let (dataset, partition) = case.rollback;
            let partition = if partition.is_empty() {
                // The first partition the dataset published.
                let runs = json(dir.path(), &["runs"]);
                let id = runs.as_array().unwrap()[0]["run_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                json(dir.path(), &["show", &id])["outputs"][0]["partition"]
                    .as_str()
                    .unwrap()
                    .to_string()
            } else {
                partition.to_string()
            };
            let mut diff = json(
                dir.path(),
                &[
                    "diff",
                    dataset,
                    "--partition",
                    &partition,
                    "--versions",
                    "1..2",
                ],
            );
            // The counts and totals; the sample's rows come in no set order.
            diff.as_object_mut().unwrap().remove("rows");
            seen.push(format!("diff {diff}"));
            let (code, out) = bplc(
                dir.path(),
                &[
                    "rollback",
                    dataset,
                    "--partition",
                    &partition,
                    "--to-version",
                    "1",
                    "--reason",
                    "test",
                ],
                &[],
            );
            // A `publish replace` dataset refuses (it keeps no version 1):
            // the same on both engines.
            seen.push(format!(
                "rollback exit {code}: {}",
                out.lines().next().unwrap_or_default()
            ));
            seen.push(format!("after rollback {}", published(dir.path()).len()));
            assert!(seen.len() > 6, "{engine} {}: {seen:#?}", case.example);
            results.push(seen);
        }
        let (lite, spark) = (&results[0], &results[1]);
        if std::env::var("BPLC_TEST_SHOW").is_ok() {
            eprintln!("SQLITE {lite:#?}\nSPARK {spark:#?}");
        }
        for (a, b) in lite.iter().zip(spark) {
            assert_eq!(
                a, b,
                "{}: SQLite (left) and Spark (right) differ",
                case.example
            );
        }
        assert_eq!(lite.len(), spark.len(), "{}", case.example);
    }
}

/// Runs one statement (Spark SQL) in a test's database; its rows as text.
fn spark_sql(database: &str, sql: &str) -> Vec<String> {
    spark_sql_on(URL_ENV, database, sql)
}

/// [`spark_sql`] on the server of `url_env`.
fn spark_sql_on(url_env: &str, database: &str, sql: &str) -> Vec<String> {
    let mut session =
        bplc::runtime::engine::spark::client::connect(url_env, database, None).unwrap();
    query_text(&mut session, sql)
}

/// Runs one statement in `session`; its rows as text.
fn query_text(
    session: &mut bplc::runtime::engine::spark::client::Session,
    sql: &str,
) -> Vec<String> {
    session
        .query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|r| format!("{r:?}"))
        .collect()
}

/// A project of one source and one daily dataset on Spark, in database
/// `database`, with the source table created and two readings in it.
fn readings_project(database: &str, publish: &str) -> tempfile::TempDir {
    readings_project_on(URL_ENV, database, publish)
}

/// [`readings_project`] on the server of `url_env`.
fn readings_project_on(url_env: &str, database: &str, publish: &str) -> tempfile::TempDir {
    drop_database_on(url_env, database);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bpl.toml"),
        format!(
            "name = \"readings\"\nengine = \"spark\"\nwarehouse = \"target/warehouse.sqlite\"\n\
             ledger = \"target/ledger.sqlite\"\n[spark]\nurl_env = \"{url_env}\"\ndatabase = \"{database}\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("target")).unwrap();
    std::fs::write(
        dir.path().join("specs.bpl"),
        format!(
            r#"source readings {{
  table "readings"
  columns {{ id: string, v: int, day: date, at: timestamp }}
  key id
  clock event = at
  snapshot by at
}}

dataset daily {{
  version 1
  partition by day: date
  publish {publish}
  schedule daily at 01:00 "UTC" lookback 1d

  input r = readings where day == p

  compute {{
    from r
    group by day = p {{
      total = sum(r.v)
      n = row_count()
    }}
  }}

  quality {{
    require positive: r.v >= 0 else quarantine
    expect row_count() > 0 else fail partition
  }}

  reconcile {{
    input == accepted + quarantined + duplicates
  }}
}}
"#
        ),
    )
    .unwrap();
    spark_sql_on(
        url_env,
        database,
        "CREATE TABLE readings (id STRING, v BIGINT, day STRING, at STRING) USING parquet",
    );
    reading_on(
        url_env,
        database,
        "a",
        5,
        "2026-06-30",
        "2026-06-30 12:00:00",
    );
    reading_on(
        url_env,
        database,
        "b",
        7,
        "2026-07-01",
        "2026-07-01 12:00:00",
    );
    dir
}

fn reading(database: &str, id: &str, v: i64, day: &str, at: &str) {
    reading_on(URL_ENV, database, id, v, day, at)
}

fn reading_on(url_env: &str, database: &str, id: &str, v: i64, day: &str, at: &str) {
    spark_sql_on(
        url_env,
        database,
        &format!("INSERT INTO readings VALUES ('{id}', {v}, '{day}', '{at}')"),
    );
}

const RUN: &[&str] = &[
    "run",
    "daily",
    "--date",
    "2026-07-01",
    "--as-of",
    "2026-07-05T00:00:00Z",
];

/// What a reader of the consumer view sees.
fn contents(database: &str) -> Vec<String> {
    contents_on(URL_ENV, database)
}

fn contents_on(url_env: &str, database: &str) -> Vec<String> {
    spark_sql_on(
        url_env,
        database,
        "SELECT day, total, n FROM daily ORDER BY day",
    )
}

fn last_run(dir: &Path) -> String {
    json(dir, &["runs"]).as_array().unwrap().last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A crash (the process aborted, `BPLC_FAULT`) at each step of the
/// lifecycle: a reader of the view saw the old rows or, once the publish
/// log had the run's entry, all the new ones; `bplc recover` decides from
/// the ledger and the publish log; the retried or recovered run equals a
/// clean run; and no unpublished partition is left in the data table.
#[test]
fn a_crash_at_each_step_publishes_all_or_nothing_and_recovers() {
    server_url();
    let database = "t_crash";
    let p = readings_project(database, "replace");
    let (code, out) = bplc(p.path(), RUN, &[]);
    assert_eq!(code, 0, "{out}");
    let mut before = contents(database);
    assert_eq!(before.len(), 2, "{before:?}");
    for (n, (point, decisions)) in [
        ("after-lock", &["SAFE_TO_RETRY"][..]),
        // Spark has no transaction: rows staged before the crash are
        // found by the log's record of them and dropped.
        ("in-staging", &["SAFE_TO_RETRY", "FAILED_CLEANED"][..]),
        ("mid-staging", &["FAILED_CLEANED"][..]),
        ("after-validate", &["FAILED_CLEANED"][..]),
        ("mid-commit", &["FAILED_CLEANED"][..]),
        ("after-commit", &["ALREADY_PUBLISHED"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        // A new reading changes the result of the day.
        reading(
            database,
            &format!("c{n}"),
            11,
            "2026-07-01",
            "2026-07-01 13:00:00",
        );
        let (code, out) = bplc(p.path(), RUN, &[("BPLC_FAULT", point)]);
        assert!(code != 0 && code != 1, "aborted at {point}: {out}");
        let seen = contents(database);
        let id = last_run(p.path());
        let recovered = json(p.path(), &["recover", &id]);
        let decision = recovered["decision"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            decisions.contains(&decision.as_str()),
            "after a crash at {point}: {recovered}"
        );
        if decision == "ALREADY_PUBLISHED" {
            assert_ne!(seen, before, "the publish at {point} was whole");
        } else {
            assert_eq!(seen, before, "nothing was published at {point}");
            let retried = json(p.path(), &["run", "--retry", &id]);
            assert_eq!(retried["status"], "PUBLISHED", "{retried}");
        }
        let after = contents(database);
        assert_ne!(after, before, "{point}");
        // Nothing left behind: only the active versions are stored.
        assert_eq!(
            spark_sql(database, "SELECT count(*) FROM daily__data"),
            spark_sql(database, "SELECT count(*) FROM daily"),
            "{point}"
        );
        before = after;
    }
}

/// `publish versioned` keeps each version: a rollback moves the pointer
/// back (one append to the publish log) and readers see version 1 again.
#[test]
fn a_versioned_dataset_rolls_back() {
    server_url();
    let database = "t_versions";
    let p = readings_project(database, "versioned");
    let (code, out) = bplc(p.path(), RUN, &[]);
    assert_eq!(code, 0, "{out}");
    let first = contents(database);
    reading(database, "c", 11, "2026-07-01", "2026-07-01 13:00:00");
    let (code, out) = bplc(p.path(), RUN, &[]);
    assert_eq!(code, 0, "{out}");
    let second = contents(database);
    assert_ne!(first, second);
    let diff = json(
        p.path(),
        &[
            "diff",
            "daily",
            "--partition",
            "2026-07-01",
            "--versions",
            "1..2",
        ],
    );
    assert_eq!(
        (diff["changed"].as_i64(), diff["unchanged"].as_i64()),
        (Some(1), Some(0)),
        "{diff}"
    );
    let (code, out) = bplc(
        p.path(),
        &[
            "rollback",
            "daily",
            "--partition",
            "2026-07-01",
            "--to-version",
            "1",
            "--reason",
            "test",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(contents(database), first);
    // Both versions stay stored, for the next rollback.
    assert_eq!(
        spark_sql(
            database,
            "SELECT count(*) FROM daily__data WHERE _bpl_partition = '2026-07-01'"
        ),
        vec!["[Integer(2)]".to_string()]
    );
}

/// The `url_env` and `database` a project names, the environment the
/// command runs in, the code it must fail with and the fix it must name.
type ErrorCase = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

/// Each way of not reaching a usable database is a coded error naming
/// what to fix, before anything is written: the URL variable unset or not
/// a Spark Connect URL, a server that does not answer, a database that
/// cannot be created, a retry budget that is not seconds, a warehouse
/// path Spark may not write.
#[test]
fn unusable_endpoints_and_databases_are_coded() {
    server_url();
    let p = readings_project("t_errors", "replace");
    let toml = p.path().join("bpl.toml");
    let settings = std::fs::read_to_string(&toml).unwrap();
    let with = |url_env: &str, database: &str| {
        std::fs::write(
            &toml,
            settings
                .replace(
                    &format!("url_env = \"{URL_ENV}\""),
                    &format!("url_env = \"{url_env}\""),
                )
                .replace(
                    "database = \"t_errors\"",
                    &format!("database = \"{database}\""),
                ),
        )
        .unwrap();
    };
    let cases: [ErrorCase; 5] = [
        (
            "BPLC_TEST_SPARK_UNSET",
            "t_errors",
            &[],
            "E0370",
            "export BPLC_TEST_SPARK_UNSET=sc://",
        ),
        (
            "BPLC_TEST_SPARK_BAD",
            "t_errors",
            &[("BPLC_TEST_SPARK_BAD", "http://x")],
            "E0370",
            "sc://",
        ),
        (
            "BPLC_TEST_SPARK_DOWN",
            "t_errors",
            &[("BPLC_TEST_SPARK_DOWN", "sc://127.0.0.1:1")],
            "E0371",
            "start the Spark Connect server",
        ),
        (URL_ENV, "no such-db", &[], "E0372", "CREATE DATABASE"),
        (
            URL_ENV,
            "t_errors",
            &[("BPLC_SPARK_RETRY_SECONDS", "1m")],
            "E0336",
            "not a whole number of seconds",
        ),
    ];
    for (url_env, database, env, code, fix) in cases {
        with(url_env, database);
        let (exit, out) = bplc(p.path(), RUN, env);
        assert!(
            exit != 0 && out.contains(code) && out.contains(fix),
            "{code}: exit {exit}\n{out}"
        );
    }
    // Tables of a database whose location Spark cannot write: a file
    // where its directory should be.
    let place = tempfile::tempdir().unwrap();
    let location = place.path().join("denied");
    drop_database("t_denied");
    spark_sql(
        "default",
        &format!(
            "CREATE DATABASE t_denied LOCATION 'file:{}'",
            location.display()
        ),
    );
    std::fs::remove_dir_all(&location).ok();
    std::fs::write(&location, "not a directory").unwrap();
    with(URL_ENV, "t_denied");
    for command in [RUN, &["demo-data"]] {
        let (exit, out) = bplc(p.path(), command, &[]);
        assert!(
            exit != 0 && out.contains("E0374") && out.contains("let the Spark user write"),
            "{command:?}: exit {exit}\n{out}"
        );
    }
    drop_database("t_denied");
    // Nothing was published by any of them.
    assert!(json(p.path(), &["runs"]).as_array().unwrap().is_empty());
}

/// A reference's decimal with more digits than its type keeps stops the
/// run with the reason on Spark, as on SQLite (and PostgreSQL): never
/// rounded. One with exactly its digits runs, on Spark also when the
/// table pads it (a wider `DECIMAL` column's trailing zeros).
#[test]
fn a_reference_decimal_with_extra_digits_is_an_error_on_both_engines() {
    server_url();
    let database = "t_ref_digits";
    // A day's backfill (each day a backfill of its own, not resumed).
    let backfill = |day: &'static str| {
        [
            "backfill",
            "--from",
            "ledger_entries",
            "--range",
            day,
            "--mode",
            "replace",
            "--as-of",
            "2026-08-10",
        ]
    };
    // The reference's rates set to `rate` (SQL), as a column of `ty`.
    let set_rates = |dir: &Path, engine: &str, rate: &str, ty: &str| {
        if engine == "spark" {
            spark_sql(database, "DROP TABLE IF EXISTS fx_new");
            spark_sql(
                database,
                &format!(
                    "CREATE TABLE fx_new USING parquet AS SELECT currency, \
                     CAST({rate} AS {ty}) AS rate_to_usd, rate_version FROM fx_rates"
                ),
            );
            spark_sql(database, "DROP TABLE fx_rates");
            spark_sql(database, "ALTER TABLE fx_new RENAME TO fx_rates");
        } else {
            rusqlite::Connection::open(dir.join("target/warehouse.sqlite"))
                .unwrap()
                .execute_batch(&format!("UPDATE fx_rates SET rate_to_usd = {rate}"))
                .unwrap();
        }
    };
    let mut exact = Vec::new();
    for engine in ["sqlite", "spark"] {
        let dir = project("finance_ledger", database, engine);
        let (code, out) = bplc(dir.path(), &["demo-data", "--rows", "200"], &[]);
        assert_eq!(code, 0, "{out}");
        set_rates(dir.path(), engine, "1.12345678", "DECIMAL(38, 18)");
        let (code, out) = bplc(dir.path(), &backfill("2026-06-01..2026-06-01"), &[]);
        assert!(!out.contains("not a valid decimal"), "{engine}: {out}");
        exact.push(code);
        set_rates(dir.path(), engine, "1.123456789", "DOUBLE");
        let (code, out) = bplc(dir.path(), &backfill("2026-06-02..2026-06-02"), &[]);
        assert_ne!(code, 0, "{engine}: {out}");
        assert!(out.contains("rate_to_usd"), "{engine}: {out}");
        if engine == "spark" {
            assert!(out.contains("not a valid decimal(18, 8)"), "{out}");
        }
    }
    assert_eq!(exact[0], exact[1], "exit codes with exact rates");
}

/// A Spark Connect server of the test's own, started through
/// `scripts/with-spark` on a catalog directory and port that outlive it,
/// so a server started again on them finds the catalog as it was.
struct OwnServer {
    child: std::process::Child,
}

impl OwnServer {
    /// Starts the server and waits (minutes, on a loaded machine) until
    /// it answers; its URL is then in `url_env`.
    fn start(state: &Path, port: u16, url_env: &str) -> OwnServer {
        use std::os::unix::process::CommandExt;
        let ready = state.join("url.txt");
        std::fs::remove_file(&ready).ok();
        let child = std::process::Command::new(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/with-spark"),
        )
        .env("SPARK_STATE", state)
        .env("SPARK_PORT", port.to_string())
        .args([
            "sh",
            "-c",
            "echo \"$BPLC_TEST_SPARK_URL\" > \"$0.tmp\" && mv \"$0.tmp\" \"$0\" && exec sleep 900",
        ])
        .arg(&ready)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        // Its own process group: stopping it stops the script and its
        // command, whose exit stops the server.
        .process_group(0)
        .spawn()
        .expect("start scripts/with-spark");
        let server = OwnServer { child };
        let started = std::time::Instant::now();
        while !ready.exists() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "the test's own Spark server did not start in 300 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let url = std::fs::read_to_string(&ready).unwrap();
        std::env::set_var(url_env, url.trim());
        server
    }

    /// Stops the server (the script's trap stops the JVM) and waits for it.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server stops while a run is between staging and publishing: the
/// run fails with E0373 within the retry budget `retry_seconds` in
/// bpl.toml sets (not the client's ten minutes), nothing is published; on
/// the server started again on the same catalog, `bplc recover` drops the
/// staged partitions and the run retried publishes.
#[test]
fn a_server_lost_mid_run_is_coded_and_recovers() {
    use std::io::BufRead;
    server_url();
    const OWN: &str = "BPLC_TEST_SPARK_OWN_URL";
    let state = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = OwnServer::start(state.path(), port, OWN);
    let database = "t_lost";
    let p = readings_project_on(OWN, database, "replace");
    // The retry budget from bpl.toml (the environment variable, which
    // would override it, is not set).
    let toml = p.path().join("bpl.toml");
    let settings = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{settings}retry_seconds = 10\n")).unwrap();
    let (code, out) = bplc(p.path(), RUN, &[]);
    assert_eq!(code, 0, "{out}");
    let before = contents_on(OWN, database);
    reading_on(OWN, database, "c", 11, "2026-07-01", "2026-07-01 13:00:00");

    // The run pauses after validating its staged rows; the server stops.
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_bplc"))
        .current_dir(p.path())
        .args(RUN)
        .env("BPLC_PAUSE", "after-validate:15000")
        .env_remove("BPLC_SPARK_RETRY_SECONDS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = run.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("paused at after-validate") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(std::time::Duration::from_secs(300))
        .expect("the run reaches the pause");
    server.stop();
    let stopped = std::time::Instant::now();
    let status = run.wait().unwrap();
    let waited = stopped.elapsed();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut run.stdout.take().unwrap(), &mut out).unwrap();
    out.push_str(&reader.join().unwrap());
    assert!(
        !status.success()
            && out.contains("E0373")
            && out.contains(
                "not answered for 10 s (the retry budget, from `retry_seconds` in bpl.toml)"
            ),
        "{status}: {out}"
    );
    // The pause's rest, then ten seconds of refused connections: well
    // under the client's own ten minutes.
    assert!(
        waited < std::time::Duration::from_secs(60),
        "the run took {waited:?} to give up: {out}"
    );

    // The server again, on the same catalog: nothing was published.
    let _server = OwnServer::start(state.path(), port, OWN);
    assert_eq!(contents_on(OWN, database), before, "nothing was published");
    // The run recorded its failure, but could not drop its staged rows:
    // `recover` does.
    let id = last_run(p.path());
    assert!(
        out.contains(&format!("`bplc recover {id}` drops them")),
        "{out}"
    );
    let recovered = json(p.path(), &["recover", &id]);
    assert_eq!(recovered["decision"], "FAILED_CLEANED", "{recovered}");
    assert_eq!(recovered["status"], "FAILED", "{recovered}");
    let rerun = json(p.path(), RUN);
    assert_eq!(rerun["status"], "PUBLISHED", "{rerun}");
    let after = contents_on(OWN, database);
    assert_ne!(after, before);
    // Nothing left behind: only the active versions are stored.
    assert_eq!(
        spark_sql_on(OWN, database, "SELECT count(*) FROM daily__data"),
        spark_sql_on(OWN, database, "SELECT count(*) FROM daily"),
    );
}

/// A statement is a job on Spark (about 150 ms even on few rows), so a
/// run's statements must not grow with its partitions: the next versions,
/// the measuring statements (checksum, typed output, gates on the staged
/// rows), the publish's pointers and the shadows cleared are each asked
/// once per run, not once per partition. Only what reads the run's own
/// counters (here the reconciliation) is still one per partition.
#[test]
fn a_run_sends_its_statements_once_not_once_per_partition() {
    server_url();
    let database = "t_batched";
    let p = readings_project_on(URL_ENV, database, "replace");
    let days: Vec<String> = (2..=9)
        .map(|d| format!("('r{d}', {d}, '2026-07-0{d}', '2026-07-0{d} 12:00:00')"))
        .collect();
    spark_sql_on(
        URL_ENV,
        database,
        &format!("INSERT INTO readings VALUES {}", days.join(", ")),
    );
    // The statements a backfill of these days sends.
    let statements = |range: &str| traced_backfill(p.path(), range).len();
    let three = statements("2026-07-01..2026-07-03");
    let nine = statements("2026-07-01..2026-07-09");
    // Six partitions more, and no statement per partition: the readings'
    // reconciliation reads only the run's counters, which `bplc` computes
    // (each partition cost one statement more when the engine did; 50 and
    // 51 statements on 2026-12-06).
    assert!(
        nine <= three + 2,
        "3 partitions: {three} statements; 9 partitions: {nine}"
    );
}

/// The statements a replace backfill of the readings over `range` sends
/// (`BPLC_SPARK_TRACE`), in order.
fn traced_backfill(project: &Path, range: &str) -> Vec<String> {
    let (code, out) = bplc(
        project,
        &[
            "backfill",
            "--from",
            "readings",
            "--range",
            range,
            "--mode",
            "replace",
            "--as-of",
            "2026-07-20T00:00:00Z",
        ],
        &[("BPLC_SPARK_TRACE", "1")],
    );
    assert_eq!(code, 0, "{out}");
    out.lines()
        .filter_map(|l| {
            let (ms, sql) = l.strip_prefix("spark ")?.trim_start().split_once(" ms ")?;
            ms.parse::<u64>().is_ok().then(|| sql.to_string())
        })
        .collect()
}

/// A counting point holds a batch's staged rows (all ten million of them
/// in the 10M pipeline benchmark), so it is cached on disk, never in the
/// heap of the JVM running the tasks (a local server's driver ran out of
/// it at Spark's default level), and dropped at the end of its batch, so
/// a run of many batches does not accumulate them. Dropping the view
/// uncaches its rows: Spark's plan of the same query no longer reads a
/// cache.
#[test]
fn counting_points_are_cached_on_disk_and_dropped_with_their_batch() {
    server_url();
    let database = "t_points";
    let p = readings_project_on(URL_ENV, database, "replace");
    let statements = traced_backfill(p.path(), "2026-07-01..2026-07-02");
    let out = statements.join("\n");
    let cached: Vec<(usize, &str)> = statements
        .iter()
        .enumerate()
        .filter_map(|(at, s)| Some((at, s.strip_prefix("CACHE TABLE ")?)))
        .collect();
    assert!(!cached.is_empty(), "no counting point cached:\n{out}");
    for (at, rest) in cached {
        let (name, rest) = rest.split_once(' ').unwrap();
        assert!(
            rest.starts_with("OPTIONS ('storageLevel' 'DISK_ONLY') AS "),
            "{name} is not cached on disk: {rest}"
        );
        let drop = format!("DROP TABLE IF EXISTS {name}");
        assert!(
            statements[at + 1..].contains(&drop),
            "{name} is never dropped after it is cached:\n{out}"
        );
    }

    let mut session =
        bplc::runtime::engine::spark::client::connect(URL_ENV, database, None).unwrap();
    let query = "SELECT id * 7 AS x FROM range(1000)";
    let mut plan = |sql: &str| query_text(&mut session, sql).concat();
    plan(&format!(
        "CACHE TABLE bpl_point_probe OPTIONS ('storageLevel' 'DISK_ONLY') AS {query}"
    ));
    let while_cached = plan(&format!("EXPLAIN EXTENDED {query}"));
    assert!(
        while_cached.contains("InMemoryRelation") && while_cached.contains("StorageLevel(disk"),
        "{while_cached}"
    );
    plan("DROP TABLE IF EXISTS bpl_point_probe");
    let after = plan(&format!("EXPLAIN EXTENDED {query}"));
    assert!(!after.contains("InMemoryRelation"), "{after}");
}

/// Every operation a run starts is released once its result is read
/// (`ReleaseExecute`), as pyspark does: a Spark Connect server keeps a
/// finished operation, with its buffered responses, until the client
/// releases it or it counts as abandoned minutes later, so a long backfill
/// used to leave thousands behind. The server's own log says which it
/// created and which it removed, by session; the run's trace names its
/// sessions, so other tests' operations are left out.
#[test]
fn a_run_releases_every_operation_it_ran() {
    let log = std::env::var("BPLC_TEST_SPARK_LOG")
        .expect("BPLC_TEST_SPARK_LOG is not set: run under scripts/with-spark");
    let p = readings_project("t_release", "replace");
    let (code, out) = bplc(p.path(), RUN, &[("BPLC_SPARK_TRACE", "1")]);
    assert_eq!(code, 0, "{out}");
    let sessions: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("spark session ")?.split(' ').next())
        .collect();
    assert!(!sessions.is_empty(), "the trace names no session:\n{out}");

    let text = std::fs::read_to_string(&log).unwrap();
    // `ExecuteHolder ExecuteKey(USER,SESSION,OPERATION) is created.`
    let ours = |event: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.ends_with(event))
            .filter_map(|l| l.split_once("ExecuteHolder ExecuteKey(")?.1.split_once(')'))
            .map(|(key, _)| key.to_string())
            .filter(|key| sessions.iter().any(|s| key.contains(s)))
            .collect()
    };
    let created = ours(" is created.");
    let removed = ours(" is removed.");
    assert!(
        created.len() >= 5,
        "too few operations of sessions {sessions:?} in the server log {log}: {created:?}"
    );
    let kept: Vec<&String> = created.difference(&removed).collect();
    assert!(
        kept.is_empty(),
        "{} of {} operations were not released: {kept:?}",
        kept.len(),
        created.len()
    );
}

/// Several first runs of a project started together on Spark: the tables
/// they all create are created once without failing (`IF NOT EXISTS`
/// losing a race is its success), the runs take turns on the ledger's
/// writers' lock, so no two read the same next sequence number of the
/// publish log or write into one table's directory at once, and every day
/// is published with its own rows.
#[test]
fn runs_started_together_take_turns_and_all_publish() {
    let dir = readings_project("t_together", "replace");
    let toml = dir.path().join("bpl.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    // The runs wait for each other's turn: longer than a run takes here.
    std::fs::write(&toml, format!("lock_timeout = 600\n{text}")).unwrap();
    for (k, day) in ["2026-07-02", "2026-07-03"].iter().enumerate() {
        reading(
            "t_together",
            &format!("c{k}"),
            3,
            day,
            &format!("{day} 12:00:00"),
        );
    }
    let days = ["2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03"];
    let runs: Vec<Vec<String>> = days
        .iter()
        .map(|day| {
            ["run", "daily", "--no-lookback", "--date", day]
                .into_iter()
                .chain(["--as-of", "2026-07-06T00:00:00Z"])
                .map(String::from)
                .collect()
        })
        .collect();
    all_at_once(dir.path(), &runs);
    let seen = contents("t_together");
    assert_eq!(seen.len(), days.len(), "{seen:?}");
    let commits = spark_sql("t_together", "SELECT count(*) FROM _bpl_commits");
    assert_eq!(
        commits,
        vec![format!("[Integer({})]", days.len())],
        "one commit marker a run"
    );
}
