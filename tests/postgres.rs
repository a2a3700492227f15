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

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

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

fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            std::fs::create_dir_all(&target).unwrap();
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn bplc(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("bplc").unwrap();
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn client() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
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

/// The project's tables are in its own schema; a run that PostgreSQL
/// cannot stage yet fails with its code and publishes nothing.
#[test]
fn a_run_on_postgres_publishes_nothing_it_cannot_stage() {
    server_url();
    let pg = project("enforcement_sla", "t_run_sla", "postgres");
    let (code, out) = bplc(pg.path(), &["demo-data"], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = bplc(
        pg.path(),
        &["run", "silver_cases", "--date", "2026-06-15"],
        &[],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("E0366"), "{out}");
    let mut c = client();
    let published: i64 = c
        .query_one("SELECT count(*) FROM t_run_sla._bpl_pointer", &[])
        .unwrap()
        .get(0);
    assert_eq!(published, 0);
    let identity: i64 = c
        .query_one("SELECT count(*) FROM t_run_sla._bpl_project", &[])
        .unwrap()
        .get(0);
    assert_eq!(identity, 3, "the schema carries the project's identity");
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
