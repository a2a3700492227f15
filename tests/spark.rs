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
use server_support::{bplc, copy};

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
    let mut session = bplc::runtime::engine::spark::client::connect(URL_ENV, "default")
        .unwrap_or_else(|e| panic!("connecting to the Spark server of {URL_ENV}: {e}"));
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
    let mut session = bplc::runtime::engine::spark::client::connect(URL_ENV, database).unwrap();
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
    drop_database(database);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bpl.toml"),
        format!(
            "name = \"readings\"\nengine = \"spark\"\nwarehouse = \"target/warehouse.sqlite\"\n\
             ledger = \"target/ledger.sqlite\"\n[spark]\nurl_env = \"{URL_ENV}\"\ndatabase = \"{database}\"\n"
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
    spark_sql(
        database,
        "CREATE TABLE readings (id STRING, v BIGINT, day STRING, at STRING) USING parquet",
    );
    reading(database, "a", 5, "2026-06-30", "2026-06-30 12:00:00");
    reading(database, "b", 7, "2026-07-01", "2026-07-01 12:00:00");
    dir
}

fn reading(database: &str, id: &str, v: i64, day: &str, at: &str) {
    spark_sql(
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
    spark_sql(database, "SELECT day, total, n FROM daily ORDER BY day")
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
/// cannot be created, a warehouse path Spark may not write.
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
    let cases: [ErrorCase; 4] = [
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
