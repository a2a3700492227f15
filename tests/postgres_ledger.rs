//! The ledger on PostgreSQL (`ledger = "postgres"`): what it refuses, each
//! with its code — an unreachable server or unset URL (E0366), a role that
//! may not use its schema (E0367), a connection lost mid-run (E0368), a
//! schema written by a newer bplc (E0303) — and a new ledger beside a
//! warehouse that holds runs (E0332). Landing folders with this ledger are
//! tested in `postgres_sources`. Run it under a server:
//! `scripts/with-postgres cargo test --all-features --test postgres_ledger`.

#[macro_use]
mod engine_suites;

use engine_suites::bodies::{reading, readings_project, AS_OF};
use engine_suites::{server_url, Engine, Project};

const RUN: &[&str] = &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];

fn client() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
}

/// A readings project on SQLite whose ledger is on PostgreSQL, with
/// `extra` lines under `[postgres]`.
fn sqlite_warehouse_pg_ledger(extra: &str) -> Project {
    let p = readings_project(Engine::Sqlite, "quarantine", "warn");
    std::fs::write(
        p.path().join("bpl.toml"),
        format!(
            "name = \"test\"\ntime_zone = \"UTC\"\nledger = \"postgres\"\n[postgres]\nledger_schema = \"{}_ledger\"\n{extra}",
            p.schema
        ),
    )
    .unwrap();
    reading(&p, "a", 5, "2026-07-01");
    p
}

#[test]
fn an_unreachable_ledger_server_or_unset_url_is_e0366() {
    let p = sqlite_warehouse_pg_ledger("ledger_url_env = \"BPL_LEDGER_NOWHERE\"\n");
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("E0366") && err.contains("BPL_LEDGER_NOWHERE"),
        "{err}"
    );
    let out = p
        .bplc()
        .args(RUN)
        .arg("--project")
        .arg(p.path())
        .env(
            "BPL_LEDGER_NOWHERE",
            "postgresql://bplc@127.0.0.1:1/bplc?connect_timeout=5",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0366") && err.contains("cannot reach"),
        "{err}"
    );
    // Nothing ran: the warehouse has no commit marker.
    assert_eq!(p.rows("SELECT count(*) FROM readings"), ["1"]);
}

#[test]
fn a_role_that_may_not_use_the_ledger_schema_is_told_the_grant() {
    let p = sqlite_warehouse_pg_ledger("");
    let mut c = client();
    c.batch_execute(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bplc_ledger_reader') \
         THEN CREATE ROLE bplc_ledger_reader LOGIN; END IF; END $$; \
         CREATE SCHEMA {}_ledger;",
        p.schema
    ))
    .unwrap();
    let reader = server_url().replacen("bplc@", "bplc_ledger_reader@", 1);
    let (code, _, err) = {
        let out = p
            .bplc()
            .args(RUN)
            .arg("--project")
            .arg(p.path())
            .env("BPLC_POSTGRES_URL", &reader)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::new(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("E0367") && err.contains("GRANT USAGE, CREATE ON SCHEMA"),
        "{err}"
    );
}

#[test]
fn a_ledger_schema_of_a_newer_bplc_is_refused() {
    let p = sqlite_warehouse_pg_ledger("");
    let (code, run) = p.json(RUN);
    assert_eq!(code, 0, "{run}");
    client()
        .batch_execute(&format!(
            "UPDATE {}_ledger._bpl_ledger SET version = 99",
            p.schema
        ))
        .unwrap();
    let (code, _, err) = p.text(&["runs"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0303") && err.contains("schema version 99"),
        "{err}"
    );
}

/// A warehouse holding runs beside a ledger schema that does not exist:
/// the runs' history is elsewhere, and starting an empty ledger takes a
/// deliberate `CREATE SCHEMA`.
#[test]
fn a_new_ledger_beside_a_warehouse_with_runs_is_refused_until_created() {
    let p = sqlite_warehouse_pg_ledger("");
    let (code, run) = p.json(RUN);
    assert_eq!(code, 0, "{run}");
    client()
        .batch_execute(&format!("DROP SCHEMA {}_ledger CASCADE", p.schema))
        .unwrap();
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("E0332") && err.contains("CREATE SCHEMA"),
        "{err}"
    );
    client()
        .batch_execute(&format!("CREATE SCHEMA {}_ledger", p.schema))
        .unwrap();
    let (code, run) = p.json(RUN);
    assert_eq!(code, 0, "{run}");
    assert_eq!(
        run["run_id"], "run-000002",
        "run ids go on after the warehouse's"
    );
}

/// The ledger's connection ended by the server while the run waits after
/// taking its leases: the next step fails with E0368; the run keeps its
/// leases, and `bplc recover` settles it from durable state.
#[test]
fn a_ledger_connection_killed_mid_run_is_e0368_and_recoverable() {
    let p = readings_project(
        Engine::Postgres {
            ledger_on_server: true,
        },
        "quarantine",
        "warn",
    );
    reading(&p, "a", 5, "2026-07-01");
    let (mut child, mut stderr) = engine_suites::paused(p.path(), RUN, "after-lock:3000");
    // Only this run's connection: the file's other tests run at the same
    // time, with ledger connections of their own.
    let killed = client()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&format!("bplc ledger {}", child.id())],
        )
        .unwrap();
    assert_eq!(killed.len(), 1, "one ledger connection");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{rest}");
    assert!(rest.contains("E0368"), "{rest}");

    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1, "the run still holds its lease: {err}");
    assert!(err.contains("E0301"), "{err}");
    let (code, recovered) = p.json(&["recover", "run-000001"]);
    assert_eq!(code, 0, "{recovered}");
    assert_eq!(recovered["decision"], "SAFE_TO_RETRY");
    let (code, retried) = p.json(&["run", "--retry", "run-000001"]);
    assert_eq!(code, 0, "{retried}");
    assert_eq!(p.rows("SELECT total FROM daily"), ["5"]);
}

/// Four processes' first opens of one new ledger at once: the schema is
/// created and migrated once, under the ledger's lock, and every open
/// finds it at the current version.
#[test]
fn concurrent_first_opens_of_a_new_ledger_migrate_it_once() {
    let schema = format!("t{}_first_open", std::process::id());
    client()
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .unwrap();
    let location = bplc::runtime::ledger::Location::Postgres {
        url_env: "BPLC_POSTGRES_URL".into(),
        schema: schema.clone(),
    };
    assert!(!location.exists().unwrap());
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let location = location.clone();
            std::thread::spawn(move || location.open().map(|l| l.runs(None).map(|r| r.len())))
        })
        .collect();
    for o in opened {
        let runs = o.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(runs.unwrap_or_else(|e| panic!("{e}")), 0);
    }
    assert!(location.exists().unwrap());
    let version: i64 = client()
        .query_one(&format!("SELECT version FROM {schema}._bpl_ledger"), &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 4);
    client()
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
