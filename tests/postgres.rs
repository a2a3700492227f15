//! The PostgreSQL engine against a real server (feature `postgres`).
//! Run it under `scripts/with-postgres`, which starts a throw-away cluster
//! and exports `BPLC_POSTGRES_URL`:
//!
//!     scripts/with-postgres cargo test --all-features --test postgres
//!
//! Without that variable every test here fails, saying so: a PostgreSQL
//! test never passes without a server.
//!
//! Each test works in a schema of its own, so they run in parallel.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
mod server_support;
use server_support::{all_at_once, bplc, copy};

fn server_url() -> String {
    std::env::var("BPLC_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "BPLC_POSTGRES_URL is not set: run the PostgreSQL tests under a server, \
             `scripts/with-postgres cargo test --all-features`"
        )
    })
}

/// A copy of an example with `engine = "postgres"` and its own schema.
fn project(example: &str, schema: &str, engine: &str) -> tempfile::TempDir {
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
    if engine == "postgres" {
        text.push_str(&format!("\n[postgres]\nschema = \"{schema}\"\n"));
    }
    std::fs::write(&toml, text).unwrap();
    std::fs::create_dir_all(dir.path().join("target")).unwrap();
    dir
}

fn client() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
}

/// A fresh `schema`, the session's search path, with bplc's session
/// settings and `_bpl_canon` in it.
fn schema_with_canon(c: &mut postgres::Client, schema: &str) {
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         SET search_path = {schema}; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; {}",
        bplc::sql::checksum::POSTGRES_CANON
    ))
    .unwrap();
}

/// Each source table's row count and canonical checksum, computed by the
/// SQLite engine's `bpl_checksum` and by the PostgreSQL checksum SQL,
/// over the same demo data: they agree value for value.
#[test]
fn demo_data_has_the_same_checksums_on_both_engines() {
    server_url();
    for (example, schema) in [
        ("enforcement_sla", "t_sums_sla"),
        ("finance_ledger", "t_sums_fin"),
    ] {
        let pg = project(example, schema, "postgres");
        let lite = project(example, schema, "sqlite");
        let (code, out) = bplc(pg.path(), &["demo-data"], &[]);
        assert_eq!(code, 0, "{out}");
        // It says where the rows went: the schema, not a file.
        assert!(
            out.contains(&format!("PostgreSQL schema `{schema}`")) && !out.contains(".sqlite"),
            "{out}"
        );
        let (code, out) = bplc(lite.path(), &["demo-data"], &[]);
        assert_eq!(code, 0, "{out}");

        let sqlite =
            rusqlite::Connection::open(lite.path().join("target/warehouse.sqlite")).unwrap();
        bplc::runtime::engine::sqlite::functions::register(&sqlite).unwrap();
        let tables: Vec<String> = sqlite
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_bpl%' ESCAPE '\\' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() >= 2, "{tables:?}");
        let mut pg_client = client();
        pg_client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
        for table in &tables {
            let columns: Vec<String> = sqlite
                .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|c| format!("\"{}\"", c.unwrap()))
                .collect();
            let on_sqlite: (i64, String) = sqlite
                .query_row(
                    &format!(
                        "SELECT count(*), bpl_checksum({}) FROM \"{table}\"",
                        columns.join(", ")
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            let row = pg_client
                .query_one(
                    &format!(
                        "SELECT count(*), {} FROM \"{table}\"",
                        bplc::sql::checksum::postgres(&columns)
                    ),
                    &[],
                )
                .unwrap();
            let on_postgres: (i64, String) = (row.get(0), row.get(1));
            assert!(on_sqlite.0 > 0, "{example}.{table} is empty");
            assert_eq!(on_sqlite, on_postgres, "{example}.{table}");
        }
    }
}

/// The server connection killed in the middle of the publish transaction
/// (`pg_terminate_backend` from another session while the run waits at the
/// `mid-commit` fault point): the run fails with E0364 and nothing of it is
/// published, neither a pointer nor its commit marker.
#[test]
fn a_connection_killed_mid_publish_publishes_nothing() {
    use std::io::{BufRead, BufReader};
    server_url();
    let pg = project("enforcement_sla", "t_kill_sla", "postgres");
    let (code, out) = bplc(pg.path(), &["demo-data"], &[]);
    assert_eq!(code, 0, "{out}");
    let mut child = Command::cargo_bin("bplc")
        .unwrap()
        .current_dir(pg.path())
        .args(["run", "silver_cases", "--date", "2026-06-15"])
        .env("BPLC_PAUSE", "mid-commit:4000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("paused at mid-commit") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("paused at mid-commit"), "{seen}");
    let mut c = client();
    // Only this run's connection: other tests' runs share the server.
    let killed = c
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'idle in transaction'",
            &[&format!("bplc {}", child.id())],
        )
        .unwrap();
    assert_eq!(killed.len(), 1, "one run in its publish transaction");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let all = format!("{seen}{rest}{stdout}");
    assert!(!status.success(), "{all}");
    assert!(all.contains("E0364"), "{all}");
    for table in ["_bpl_pointer", "_bpl_commits", "_bpl_versions"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM t_kill_sla.{table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}: {all}");
    }
}

#[test]
fn an_unset_url_variable_is_named() {
    let pg = project("enforcement_sla", "t_unset", "postgres");
    let toml = pg.path().join("bpl.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("[postgres]\n", "[postgres]\nurl_env = \"BPL_PG_NOWHERE\"\n"),
    )
    .unwrap();
    let (code, out) = bplc(
        pg.path(),
        &["run", "silver_cases", "--date", "2026-06-15"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("E0360") && out.contains("BPL_PG_NOWHERE"),
        "{out}"
    );
}

#[test]
fn an_unreachable_server_is_coded() {
    let pg = project("enforcement_sla", "t_unreachable", "postgres");
    let (code, out) = bplc(
        pg.path(),
        &["run", "silver_cases", "--date", "2026-06-15"],
        &[(
            "BPLC_POSTGRES_URL",
            "postgresql://bplc@127.0.0.1:1/bplc?connect_timeout=5",
        )],
    );
    assert_ne!(code, 0);
    assert!(out.contains("E0361"), "{out}");
}

/// A role that may neither create the project's schema nor use it is told
/// the GRANT it needs; a database that does not exist is named.
#[test]
fn a_role_without_the_schema_is_told_the_grant() {
    let url = server_url();
    let mut c = client();
    c.batch_execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bplc_reader') \
         THEN CREATE ROLE bplc_reader LOGIN; END IF; END $$; \
         CREATE SCHEMA IF NOT EXISTS t_locked;",
    )
    .unwrap();
    let reader = url.replacen("bplc@", "bplc_reader@", 1);
    let pg = project("enforcement_sla", "t_locked", "postgres");
    let (code, out) = bplc(
        pg.path(),
        &["run", "silver_cases", "--date", "2026-06-15"],
        &[("BPLC_POSTGRES_URL", &reader)],
    );
    assert_ne!(code, 0);
    assert!(
        out.contains("E0363") && out.contains("GRANT USAGE, CREATE ON SCHEMA"),
        "{out}"
    );
    let no_db = url.replacen("/bplc?", "/bplc_no_such_db?", 1);
    let (code, out) = bplc(
        pg.path(),
        &["run", "silver_cases", "--date", "2026-06-15"],
        &[("BPLC_POSTGRES_URL", &no_db)],
    );
    assert_ne!(code, 0);
    assert!(out.contains("E0362"), "{out}");
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
/// version: counters, checksum (unless `checksums` is false), size,
/// decision, and the bindings it read.
fn published(dir: &Path, checksums: bool) -> Vec<String> {
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
                if checksums {
                    &o["checksum"]
                } else {
                    &serde_json::Value::Null
                },
                if checksums {
                    &o["bytes"]
                } else {
                    &serde_json::Value::Null
                },
                o["decision"],
                o["quality"]
                    .as_array()
                    .filter(|_| checksums)
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

/// The enforcement example's backfill of four days.
const SLA_BACKFILL: &[&str] = &[
    "backfill",
    "--from",
    "raw_case_events",
    "--range",
    "2026-06-01..2026-06-04",
    "--mode",
    "replace",
    "--as-of",
    "2026-07-01",
];

/// An example, its schema, its demo-data and backfill commands, the
/// dataset partition rolled back and diffed (none: ""), and whether its
/// checksums, sizes and gates are compared.
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    (&'static str, &'static str),
    bool,
);

/// Both examples end to end on each engine — demo data, a backfill, a
/// run, a rollback and a diff — give the same counters, checksums and
/// decisions for every partition, and the same rollback and diff.
#[test]
fn both_examples_give_the_same_results_on_both_engines() {
    server_url();
    let cases: [Case; 2] = [
        (
            "enforcement_sla",
            "t_e2e_sla",
            &["demo-data"],
            SLA_BACKFILL,
            ("silver_cases", "2026-06-02"),
            true,
        ),
        (
            "finance_ledger",
            "t_e2e_fin",
            &["demo-data", "--rows", "2000"],
            &[
                "backfill",
                "--from",
                "ledger_entries",
                "--range",
                "2026-06-01..2026-06-03",
                "--mode",
                "replace",
                "--as-of",
                "2026-08-10",
            ],
            ("ledger_entries", ""),
            true,
        ),
    ];
    for (example, schema, demo, backfill, (dataset, partition), checksums) in cases {
        let mut results = Vec::new();
        for engine in ["sqlite", "postgres"] {
            let dir = project(example, schema, engine);
            let (code, out) = bplc(dir.path(), demo, &[]);
            assert_eq!(code, 0, "{engine} {example}: {out}");
            // A gate may hold a partition back (the exit code says so): the
            // same on both engines.
            let (first, _) = bplc(dir.path(), backfill, &[]);
            // Again: every partition gets a second version, to roll back.
            let (second, _) = bplc(dir.path(), backfill, &[]);
            let mut seen = published(dir.path(), checksums);
            seen.push(format!("backfill exit codes {first} {second}"));
            if !partition.is_empty() {
                let mut diff = json(
                    dir.path(),
                    &[
                        "diff",
                        dataset,
                        "--partition",
                        partition,
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
                        partition,
                        "--to-version",
                        "1",
                        "--reason",
                        "test",
                    ],
                    &[],
                );
                assert_eq!(code, 0, "{engine} {example}: {out}");
                seen.push(format!(
                    "after rollback {}",
                    published(dir.path(), checksums).len()
                ));
            }
            assert!(seen.len() > 4, "{engine} {example}: {seen:#?}");
            results.push(seen);
        }
        let (lite, pg) = (&results[0], &results[1]);
        if std::env::var("BPLC_TEST_SHOW").is_ok() {
            eprintln!("SQLITE {lite:#?}\nPG {pg:#?}");
        }
        for (a, b) in lite.iter().zip(pg) {
            assert_eq!(
                a, b,
                "{example}: SQLite (left) and PostgreSQL (right) differ"
            );
        }
        assert_eq!(lite.len(), pg.len(), "{example}");
    }
}

/// Converts every text column of the schema's tables whose values are all
/// dates (or all timestamps) to `date` (or `timestamptz`), and every
/// float column to `numeric`: the project's sources as a warehouse keeps
/// them, not as the demo data writes them.
fn to_native_types(schema: &str) {
    let mut c = client();
    c.batch_execute(&format!("SET search_path = {schema}; SET TimeZone = 'UTC'"))
        .unwrap();
    let columns = c
        .query(
            "SELECT CAST(table_name AS text), CAST(column_name AS text), CAST(data_type AS text)
             FROM information_schema.columns c
             WHERE table_schema = $1 AND table_name NOT LIKE '\\_bpl%'
               AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = c.table_schema
                 AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')
               AND table_name NOT LIKE '%\\_\\_data'",
            &[&schema],
        )
        .unwrap();
    let mut converted = 0;
    for row in columns {
        let (table, column, ty): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let to = if ty == "double precision" {
            Some("numeric")
        } else if ty == "text" {
            let found = c
                .query_one(
                    &format!(
                        "SELECT count(\"{column}\"), \
                         coalesce(bool_and(\"{column}\" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'), false), \
                         coalesce(bool_and(\"{column}\" ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}$'), false) \
                         FROM \"{table}\""
                    ),
                    &[],
                )
                .unwrap();
            let (n, dates, stamps): (i64, bool, bool) = (found.get(0), found.get(1), found.get(2));
            match (n > 0, dates, stamps) {
                (true, true, _) => Some("date"),
                (true, _, true) => Some("timestamptz"),
                _ => None,
            }
        } else {
            None
        };
        if let Some(to) = to {
            c.batch_execute(&format!(
                "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" TYPE {to} USING CAST(\"{column}\" AS {to})"
            ))
            .unwrap();
            converted += 1;
        }
    }
    assert!(converted >= 3, "{schema}: {converted} columns converted");
}

/// Sources and references whose dates, timestamps and amounts are the
/// server's own `date`, `timestamptz` and `numeric` give the same results,
/// checksums included, as the same rows kept as text and floats.
#[test]
fn native_date_timestamp_and_numeric_sources_give_the_same_results() {
    server_url();
    let mut results = Vec::new();
    for (schema, native) in [("t_native_text", false), ("t_native_typed", true)] {
        let dir = project("enforcement_sla", schema, "postgres");
        let (code, out) = bplc(dir.path(), &["demo-data"], &[]);
        assert_eq!(code, 0, "{out}");
        if native {
            to_native_types(schema);
        }
        let (code, out) = bplc(dir.path(), SLA_BACKFILL, &[]);
        assert!(code == 0 || code == 3, "{schema} exit {code}: {out}");
        let seen = published(dir.path(), true);
        assert!(seen.len() > 4, "{schema}: {seen:#?}");
        results.push(seen);
    }
    assert_eq!(
        results[0], results[1],
        "text (left) and native types (right)"
    );
}

/// A reference's decimal with more digits than its type keeps stops the
/// run with the reason on PostgreSQL, as on SQLite: never rounded.
#[test]
fn a_reference_decimal_with_extra_digits_is_an_error_on_both_engines() {
    server_url();
    let backfill = [
        "backfill",
        "--from",
        "ledger_entries",
        "--range",
        "2026-06-01..2026-06-01",
        "--mode",
        "replace",
        "--as-of",
        "2026-08-10",
    ];
    for engine in ["sqlite", "postgres"] {
        let dir = project("finance_ledger", "t_ref_digits", engine);
        let (code, out) = bplc(dir.path(), &["demo-data", "--rows", "200"], &[]);
        assert_eq!(code, 0, "{out}");
        let nine_digits = "UPDATE fx_rates SET rate_to_usd = 1.123456789";
        if engine == "postgres" {
            let mut c = client();
            c.batch_execute(&format!("SET search_path = t_ref_digits; {nine_digits}"))
                .unwrap();
        } else {
            rusqlite::Connection::open(dir.path().join("target/warehouse.sqlite"))
                .unwrap()
                .execute_batch(nine_digits)
                .unwrap();
        }
        let (code, out) = bplc(dir.path(), &backfill, &[]);
        assert_ne!(code, 0, "{engine}: {out}");
        assert!(out.contains("rate_to_usd"), "{engine}: {out}");
    }
}

/// `_bpl_canon` of a date or timestamp writes its text once where its
/// length is known (years 1 to 9999), by the type's own output: the same
/// canonical text as the general form, `_bpl_canon` of the text
/// `to_char` writes, in those years and outside them (year 10000, before
/// year 1, the infinities, a null), a fraction of a second left out as
/// `to_char` leaves it out.
#[test]
fn a_date_or_timestamp_canonical_text_is_the_general_one_at_every_year() {
    let mut c = client();
    schema_with_canon(&mut c, "canon_years");
    let dates = [
        "'0001-01-01'",
        "'0999-03-04'",
        "'2026-06-15'",
        "'9999-12-31'",
        "'10000-01-01'",
        "'0001-12-31 BC'",
        "'infinity'",
        "'-infinity'",
        "NULL",
    ];
    for d in dates {
        let row = c
            .query_one(
                &format!(
                    "SELECT _bpl_canon(CAST({d} AS date)), \
                     coalesce(_bpl_canon(to_char(CAST({d} AS date), 'YYYY-MM-DD')), 'N')"
                ),
                &[],
            )
            .unwrap();
        assert_eq!(row.get::<_, String>(0), row.get::<_, String>(1), "{d}");
    }
    let timestamps = [
        "'0001-01-01 00:00:00+00'",
        "'0999-03-04 05:06:07+00'",
        "'2026-06-15 08:30:00+02'",
        "'2026-06-15 08:30:00.75+00'",
        "'9999-12-31 23:59:59.999999+00'",
        "'9999-12-31 23:59:59+00'",
        "'10000-01-01 00:00:00+00'",
        "'0001-12-31 23:59:59+00 BC'",
        "'infinity'",
        "NULL",
    ];
    for t in timestamps {
        let row = c
            .query_one(
                &format!(
                    "SELECT _bpl_canon(CAST({t} AS timestamptz)), coalesce(_bpl_canon(to_char( \
                     CAST({t} AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')), 'N')"
                ),
                &[],
            )
            .unwrap();
        assert_eq!(row.get::<_, String>(0), row.get::<_, String>(1), "{t}");
    }
    let row = c
        .query_one(
            "SELECT _bpl_canon(CAST('2026-06-15' AS date)), \
             _bpl_canon(CAST('2026-06-15 08:30:00+02' AS timestamptz))",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "T10:2026-06-15");
    assert_eq!(row.get::<_, String>(1), "T19:2026-06-15 06:30:00");
    c.batch_execute("DROP SCHEMA canon_years CASCADE").unwrap();
}

/// A staged version measured by `bplc` from its rows read back in the
/// binary format gives the row count, checksum and size the server's own
/// checksum statement gives, over every stored type and its edges: the
/// smallest and largest integers, a negative zero, a not-a-number and the
/// infinities, empty and multi-byte text with tabs and backslashes, dates
/// and timestamps at years 1 and 9999 and beyond them (the `to_char`
/// text), fractions of a second, and nulls of every type.
/// The typed boundary's fast checks of a `timestamp`, `timestamptz` and
/// `numeric` source value answer as their plain definitions do, at the
/// edges: fractions of a microsecond's size, the last representable
/// second, infinities, `numeric` shown with extra zeros, NaN.
#[test]
fn the_boundarys_fast_checks_agree_with_their_definitions() {
    let mut c = client();
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS fast_checks CASCADE; CREATE SCHEMA fast_checks; \
         SET search_path = fast_checks; SET TimeZone = 'America/St_Johns'; {} {}",
        bplc::runtime::engine::postgres::dialect::FUNCTIONS,
        bplc::runtime::engine::postgres::dialect::TYPED
    ))
    .unwrap();
    let stamps = [
        "2026-06-15 10:20:30",
        "2026-06-15 10:20:30.5",
        "2026-06-15 10:20:30.000001",
        "2026-06-15 10:20:30.999999",
        "1969-12-31 23:59:59.5",
        "0001-01-01 00:00:00",
        "4713-01-01 00:00:00.25 BC",
        "294276-12-29 23:59:59.999999",
        "294276-12-31 23:59:59",
        "294276-12-31 23:59:59.999999",
        "infinity",
        "-infinity",
    ];
    for ty in ["timestamptz", "timestamp"] {
        for t in stamps {
            // In UTC: the last second is the last in UTC, whatever the zone.
            let t = match (ty, t.strip_suffix(" BC")) {
                (_, _) if ty == "timestamp" || t.contains("infinity") => t.to_string(),
                (_, Some(day)) => format!("{day}+00 BC"),
                _ => format!("{t}+00"),
            };
            let row = c
                .query_one(
                    &format!(
                        "SELECT _bpl_fits_timestamp(CAST('{t}' AS {ty})), \
                         isfinite(CAST('{t}' AS {ty})) \
                           AND CAST('{t}' AS {ty}) = date_trunc('second', CAST('{t}' AS {ty})), \
                         _bpl_typed_timestamp(CAST('{t}' AS {ty})) IS NOT NULL"
                    ),
                    &[],
                )
                .unwrap();
            let (fast, plain, typed): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
            assert_eq!(fast, plain, "{ty} {t}");
            assert_eq!(typed, plain, "{ty} {t}");
        }
    }
    let numbers = [
        "12.34",
        "12.3",
        "12",
        "12.345",
        "12.34000",
        "12.34001",
        "-0.01",
        "-0.001",
        "9999999999999999.99",
        "10000000000000000",
        "-9999999999999999.999",
        "NaN",
    ];
    for n in numbers {
        let row = c
            .query_one(
                &format!(
                    "SELECT _bpl_fits_decimal(CAST('{n}' AS numeric), 2, 16, ''), \
                     CAST('{n}' AS numeric) = trunc(CAST('{n}' AS numeric), 2) \
                       AND abs(CAST('{n}' AS numeric)) < 10000000000000000, \
                     _bpl_typed_decimal(CAST('{n}' AS numeric), 2, 16, ''), \
                     _bpl_typed_decimal(CAST('{n}' AS numeric(30, 6)), 2, 16, '')"
                ),
                &[],
            )
            .unwrap();
        let (fast, plain): (bool, bool) = (row.get(0), row.get(1));
        let (typed, declared): (Option<i64>, Option<i64>) = (row.get(2), row.get(3));
        assert_eq!(fast, plain, "{n}");
        assert_eq!(typed.is_some(), plain, "{n}");
        assert_eq!(declared, typed, "{n} as numeric(30, 6)");
    }
    let scaled: i64 = c
        .query_one(
            "SELECT _bpl_typed_decimal(CAST('-12.30' AS numeric(18, 2)), 2, 16, '')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(scaled, -1230);
    // A batch's bound as a source column's type: the value a cast gives
    // in bplc's sessions (UTC), and in canonical form a constant the
    // planner computes once, not a cast for each row a scan filters.
    c.batch_execute("SET TimeZone = 'UTC'").unwrap();
    for (ty, t) in [
        ("date", "2026-04-01"),
        ("date", "0001-01-01"),
        ("date", "2026-4-1"),
        ("timestamp", "2026-04-01"),
        ("timestamp", "2026-04-01 13:45:07"),
        ("timestamp", "2026-04-01T13:45:07"),
        ("timestamptz", "2026-04-01"),
        ("timestamptz", "2026-04-01 13:45:07"),
        ("timestamptz", "2026-04-01 13:45:07+02"),
    ] {
        let same: bool = c
            .query_one(
                &format!("SELECT _bpl_like(CAST(NULL AS {ty}), '{t}') = CAST('{t}' AS {ty})"),
                &[],
            )
            .unwrap()
            .get(0);
        assert!(same, "{ty} {t}");
        let plan: Vec<String> = c
            .query(
                &format!(
                    "EXPLAIN SELECT 1 FROM (SELECT CAST(NULL AS {ty}) AS x OFFSET 0) AS v \
                     WHERE x >= _bpl_like(x, '{t}')"
                ),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let folded = !plan.join(" ").contains("cstring");
        let canonical = t.len() == 10 || (t.len() == 19 && t.as_bytes()[10] == b' ');
        assert_eq!(folded, canonical, "{ty} {t}: {plan:?}");
    }
}

#[test]
fn staged_rows_measured_by_bplc_give_the_servers_checksum() {
    use bplc::runtime::engine::postgres::measured::measure_versions;
    let mut c = client();
    schema_with_canon(&mut c, "measured_rows");
    c.batch_execute(
        "CREATE TABLE t (_bpl_partition text, _bpl_version bigint, b boolean, i bigint, \
           f double precision, s text, d date, ts timestamp with time zone)",
    )
    .unwrap();
    let rows = [
        "('p1', 1, true, -9223372036854775808, -0.0, '', '0001-01-01', '0001-01-01 00:00:00+00')",
        "('p1', 1, false, 9223372036854775807, 'NaN', 'é\tx\\y', '9999-12-31', '9999-12-31 23:59:59.999999+00')",
        "('p1', 1, NULL, -1, 'Infinity', 'a''b', '10000-01-01', '10000-01-01 00:00:00+00')",
        "('p1', 1, true, 0, '-Infinity', NULL, '0001-12-31 BC', '0001-12-31 23:59:59+00 BC')",
        "('p1', 1, false, NULL, 1e-310, 'ünïcode', 'infinity', 'infinity')",
        "('p1', 1, true, 42, NULL, 'x', NULL, NULL)",
        "('p1', 2, true, 1, 1.5, 'another version', '2026-06-15', '2026-06-15 08:30:00.75+02')",
        "('p2', 1, false, 7, 0.1, 'p2', '-infinity', '-infinity')",
        "('p2', 1, NULL, NULL, NULL, NULL, '1999-12-31', '1999-12-31 23:59:59.5+00')",
    ];
    c.batch_execute(&format!("INSERT INTO t VALUES {}", rows.join(", ")))
        .unwrap();
    let columns = [
        ("b", "boolean"),
        ("i", "bigint"),
        ("f", "double precision"),
        ("s", "text"),
        ("d", "date"),
        ("ts", "timestamp with time zone"),
    ];
    // `p3` has no rows: a version with none.
    let versions = [("p1", 1), ("p1", 2), ("p2", 1), ("p3", 1)];
    let measured = measure_versions(&mut c, "t", &columns, &versions).unwrap();
    let names: Vec<String> = columns.iter().map(|(n, _)| n.to_string()).collect();
    let size = "coalesce(sum(octet_length(s)), 0) + 8 * count(b) + 8 * count(i) + 8 * count(f) \
                + 10 * count(d) + 19 * count(ts)";
    for ((partition, version), m) in versions.iter().zip(&measured) {
        let sql = bplc::sql::checksum::postgres_count(
            &names,
            &format!(", {size}"),
            &format!("t WHERE _bpl_partition = '{partition}' AND _bpl_version = {version}"),
        );
        let row = c.query_one(&sql, &[]).unwrap();
        let server = (
            row.get::<_, i64>(0),
            row.get::<_, String>(1),
            row.get::<_, Option<i64>>(2).unwrap_or(0),
        );
        assert_eq!(
            (m.rows, m.checksum.clone(), m.bytes),
            server,
            "{partition} version {version}"
        );
    }
    assert_eq!(
        measured.iter().map(|m| m.rows).collect::<Vec<_>>(),
        [6, 1, 2, 0]
    );
    c.batch_execute("DROP SCHEMA measured_rows CASCADE")
        .unwrap();
}

/// Several first runs of a dataset at once, in a schema none of them has
/// written to: they create its data table, index and view once between
/// them (PostgreSQL's `CREATE ... IF NOT EXISTS` alone lets two sessions
/// both create, the second failing on the catalog), and each publishes
/// its own day.
#[test]
fn concurrent_first_runs_of_a_dataset_create_its_storage_once() {
    server_url();
    let dir = project("enforcement_sla", "t_first_runs", "postgres");
    let (code, out) = bplc(dir.path(), &["demo-data", "--rows", "200"], &[]);
    assert_eq!(code, 0, "{out}");
    let days: Vec<String> = (10..18).map(|d| format!("2026-06-{d}")).collect();
    let runs: Vec<Vec<String>> = days
        .iter()
        .map(|day| {
            ["run", "silver_cases", "--no-lookback", "--date", day]
                .map(String::from)
                .to_vec()
        })
        .collect();
    all_at_once(dir.path(), &runs);
    let published = published(dir.path(), false);
    for day in &days {
        let head = format!("\"silver_cases\" \"{day}\" ");
        assert!(
            published
                .iter()
                .any(|p| p.starts_with(&head) && p.contains("decision=\"publish\"")),
            "{day} not published: {published:#?}"
        );
    }
}

/// A ledger of another project beside a PostgreSQL warehouse is refused
/// (E0330), and so is a missing ledger beside a schema holding runs
/// (E0332); each message names the warehouse as it is, the schema, not
/// the SQLite file path `bpl.toml` leaves unused.
#[test]
fn a_foreign_ledger_names_the_postgres_schema_not_a_file() {
    server_url();
    let ours = project("enforcement_sla", "t_foreign_ours", "postgres");
    let theirs = project("enforcement_sla", "t_foreign_theirs", "postgres");
    let run = [
        "run",
        "silver_cases",
        "--no-lookback",
        "--date",
        "2026-06-10",
    ];
    for dir in [&ours, &theirs] {
        let (code, out) = bplc(dir.path(), &["demo-data", "--rows", "200"], &[]);
        assert_eq!(code, 0, "{out}");
        let (code, out) = bplc(dir.path(), &run, &[]);
        assert_eq!(code, 0, "{out}");
    }
    std::fs::copy(
        theirs.path().join("target/ledger.sqlite"),
        ours.path().join("target/ledger.sqlite"),
    )
    .unwrap();
    let (code, out) = bplc(ours.path(), &run, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E0330"), "{out}");
    assert!(out.contains("PostgreSQL schema `t_foreign_ours`"), "{out}");
    assert!(!out.contains("warehouse.sqlite"), "{out}");
    // No ledger at all beside a schema holding runs (E0332): the same.
    std::fs::remove_file(ours.path().join("target/ledger.sqlite")).unwrap();
    let (code, out) = bplc(ours.path(), &run, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E0332"), "{out}");
    assert!(out.contains("PostgreSQL schema `t_foreign_ours`"), "{out}");
    assert!(!out.contains("warehouse.sqlite"), "{out}");
    let _ = client().batch_execute(
        "DROP SCHEMA IF EXISTS t_foreign_ours CASCADE; DROP SCHEMA IF EXISTS t_foreign_theirs CASCADE",
    );
}

/// The engine reads a relation's columns from the catalogs
/// (`dialect::columns_sql`), as `information_schema.columns` would give
/// them: the same columns in the same order with the same type names, for
/// every kind of relation and type, and for a role that may read only
/// some of them.
#[test]
fn columns_from_the_catalogs_are_the_information_schemas() {
    let url = server_url();
    let mut c = client();
    c.batch_execute(
        "DROP SCHEMA IF EXISTS t_columns CASCADE; DROP SCHEMA IF EXISTS t_columns_closed CASCADE;
         CREATE SCHEMA t_columns; SET search_path = t_columns;
         DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bplc_columns') \
         THEN CREATE ROLE bplc_columns LOGIN; END IF; END $$;
         CREATE DOMAIN cents AS numeric(18, 2);
         CREATE DOMAIN small_cents AS cents;
         CREATE DOMAIN tags AS text[];
         CREATE TYPE mood AS ENUM ('ok', 'bad');
         CREATE TABLE every_type (a bigint, b integer, c smallint, d numeric(18, 2), e numeric,
             f double precision, g real, h boolean, i text, j varchar(5), k char(2), l date,
             m timestamptz, n timestamp, o int[], p cents, q small_cents, r tags, s mood,
             t jsonb, \"Odd Name\" text, dropped int);
         ALTER TABLE every_type DROP COLUMN dropped;
         CREATE VIEW a_view AS SELECT a, m, s FROM every_type;
         CREATE MATERIALIZED VIEW a_matview AS SELECT a FROM every_type;
         CREATE TABLE parted (k date, v bigint) PARTITION BY RANGE (k);
         CREATE TABLE \"Mixed Case\" (x text);
         CREATE TABLE half_granted (open_col text, closed_col text);
         GRANT USAGE ON SCHEMA t_columns TO bplc_columns;
         GRANT SELECT (open_col) ON half_granted TO bplc_columns;
         CREATE SCHEMA t_columns_closed; CREATE TABLE t_columns_closed.hidden (x int);",
    )
    .unwrap();
    let relations = [
        "every_type",
        "a_view",
        "a_matview",
        "parted",
        "Mixed Case",
        "half_granted",
        "missing",
    ];
    let compare = |c: &mut postgres::Client, schema: &str, name: &str| {
        let literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let schema_sql = if schema == "current" {
            "current_schema()".to_string()
        } else {
            literal(schema)
        };
        let rows = |c: &mut postgres::Client, sql: &str| -> Vec<(String, String)> {
            c.query(sql, &[])
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        };
        let ours = rows(
            c,
            &bplc::runtime::engine::postgres::dialect::columns_sql(&schema_sql, &literal(name)),
        );
        let theirs = rows(
            c,
            &format!(
                "SELECT CAST(column_name AS text), CAST(data_type AS text)
                 FROM information_schema.columns
                 WHERE table_schema = {schema_sql} AND table_name = {}
                 ORDER BY ordinal_position",
                literal(name)
            ),
        );
        assert_eq!(ours, theirs, "{schema}.{name}");
        ours.len()
    };
    let mut seen = 0;
    for name in relations {
        seen += compare(&mut c, "t_columns", name);
        seen += compare(&mut c, "current", name);
    }
    assert_eq!(compare(&mut c, "t_columns_closed", "hidden"), 1);
    // The role reads one column of one table, and nothing of the rest.
    let mut limited =
        postgres::Client::connect(&url.replacen("bplc@", "bplc_columns@", 1), postgres::NoTls)
            .unwrap();
    for name in relations {
        compare(&mut limited, "t_columns", name);
    }
    assert_eq!(compare(&mut limited, "t_columns", "half_granted"), 1);
    assert_eq!(compare(&mut limited, "t_columns_closed", "hidden"), 0);
    // 21 + 3 + 2 + 1 + 2 columns, under both spellings of the schema.
    assert_eq!(seen, 2 * 29);
}
