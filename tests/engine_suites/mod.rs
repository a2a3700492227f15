//! The runtime, crash, concurrency and backfill suites (`bodies`; the
//! enforcement example's backfills in `backfill`, its runs in
//! `enforcement`; typed outputs and `stable_id` in `typed`), written once
//! and run on every engine: `tests/suites_sqlite.rs` runs them on SQLite,
//! `tests/suites_postgres.rs` on PostgreSQL with the ledger in a file and
//! with it on the server. Each test body takes an [`Engine`]; a
//! [`Project`] writes `bpl.toml` for it, creates the source tables in its
//! warehouse, and reads the warehouse and the ledger back, each value as
//! text so the same assertion holds on both.
//!
//! On PostgreSQL every project has a schema of its own (dropped when the
//! project is), so the tests run in parallel; `BPLC_POSTGRES_URL` must be
//! set (`scripts/with-postgres cargo test --all-features`), and a test
//! without it fails saying so.

#![allow(dead_code)]

pub mod backfill;
pub mod bodies;
pub mod enforcement;
#[path = "../runtime_support/mod.rs"]
pub mod runtime_support;
pub mod typed;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use serde_json::Value;

/// Where a suite runs: the warehouse's engine and the ledger's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    /// The warehouse on PostgreSQL; the ledger in a file, or on the
    /// server too.
    Postgres {
        ledger_on_server: bool,
    },
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The server the PostgreSQL variants run against.
pub fn server_url() -> String {
    std::env::var("BPLC_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "BPLC_POSTGRES_URL is not set: run the PostgreSQL suites under a server, \
             `scripts/with-postgres cargo test --all-features`"
        )
    })
}

/// A project in a temporary directory, on one engine.
pub struct Project {
    /// The project's directory, and `bplc` run in it.
    pub files: runtime_support::Project,
    pub engine: Engine,
    /// The warehouse's schema on PostgreSQL (the ledger's is
    /// `{schema}_ledger`).
    pub schema: String,
}

impl Project {
    /// A project of the given files, `time_zone = "UTC"`, on `engine`.
    pub fn new(engine: Engine, files: &[(&str, &str)]) -> Project {
        let files = runtime_support::Project::new(files);
        Project::on(files, engine, "name = \"test\"\ntime_zone = \"UTC\"\n")
    }

    /// A copy of an example on `engine`: its `bpl.toml` with the engine's
    /// settings in place of its own.
    pub fn example(engine: Engine, name: &str) -> Project {
        let files = runtime_support::Project::example(name);
        let toml = std::fs::read_to_string(files.path().join("bpl.toml")).unwrap();
        let own: String = toml
            .lines()
            .filter(|l| {
                engine == Engine::Sqlite
                    || !["engine", "warehouse", "ledger"]
                        .iter()
                        .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let own = match engine {
            Engine::Sqlite => own,
            // The ledger's file where a SQLite project keeps it.
            Engine::Postgres { .. } => format!("{own}ledger = \"target/ledger.sqlite\"\n"),
        };
        Project::on(files, engine, &own)
    }

    /// `files` with `bpl.toml` of `toml` and the engine's settings; on
    /// PostgreSQL a schema of its own, created afresh.
    fn on(files: runtime_support::Project, engine: Engine, toml: &str) -> Project {
        let schema = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut toml = toml.to_string();
        if let Engine::Postgres { ledger_on_server } = engine {
            toml.push_str("engine = \"postgres\"\n");
            if ledger_on_server {
                toml = toml.replace("ledger = \"target/ledger.sqlite\"\n", "");
                toml.push_str("ledger = \"postgres\"\n");
            }
            toml.push_str(&format!("[postgres]\nschema = \"{schema}\"\n"));
            pg::batch(
                "public",
                &format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_ledger CASCADE; CREATE SCHEMA {schema}"
                ),
            );
        }
        std::fs::write(files.path().join("bpl.toml"), toml).unwrap();
        std::fs::create_dir_all(files.path().join("target")).unwrap();
        Project {
            files,
            engine,
            schema,
        }
    }

    pub fn path(&self) -> &Path {
        self.files.path()
    }

    /// Runs statements on the warehouse (the same SQL on both engines).
    pub fn exec(&self, sql: &str) {
        match self.engine {
            Engine::Sqlite => self.sqlite_warehouse().execute_batch(sql).unwrap(),
            Engine::Postgres { .. } => pg::batch(&self.schema, sql),
        }
    }

    /// Every row of a query on the warehouse, its values as text joined by
    /// `|`, sorted.
    pub fn rows(&self, sql: &str) -> Vec<String> {
        let mut rows = match self.engine {
            Engine::Sqlite => sqlite_rows(&self.sqlite_warehouse(), sql),
            Engine::Postgres { .. } => pg::rows(&self.schema, sql),
        };
        rows.sort();
        rows
    }

    /// A single number from the warehouse.
    pub fn count(&self, sql: &str) -> i64 {
        self.rows(sql)[0].parse().unwrap()
    }

    /// A single number from the ledger, wherever it is kept.
    pub fn ledger_count(&self, sql: &str) -> i64 {
        self.ledger_rows(sql)[0].parse().unwrap()
    }

    /// Every row of a query on the ledger, wherever it is kept, as
    /// [`Project::rows`] gives them (unsorted).
    pub fn ledger_rows(&self, sql: &str) -> Vec<String> {
        match self.engine {
            Engine::Postgres {
                ledger_on_server: true,
            } => pg::rows(&format!("{}_ledger", self.schema), sql),
            _ => sqlite_rows(
                &rusqlite::Connection::open(self.path().join("target/ledger.sqlite")).unwrap(),
                sql,
            ),
        }
    }

    fn sqlite_warehouse(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.path().join("target/warehouse.sqlite")).unwrap()
    }

    pub fn bplc(&self) -> Command {
        self.files.bplc()
    }

    /// Runs `bplc --format json ARGS --project DIR`: exit code and JSON.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        self.files.json(args)
    }

    pub fn json_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        self.files.json_with(args, env)
    }

    /// Runs `bplc ARGS --project DIR`: exit code, stdout and stderr.
    pub fn text(&self, args: &[&str]) -> (i32, String, String) {
        self.files.text(args)
    }
}

/// Starts `bplc ARGS --project DIR` paused at a lifecycle step
/// (`BPLC_PAUSE=point:ms`) and returns once it says it is paused there:
/// the process, and the rest of its standard error.
pub fn paused(
    dir: &Path,
    args: &[&str],
    pause: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bplc"))
        .env_remove("BPLC_FAULT")
        .env("BPLC_PAUSE", pause)
        .args(["--color", "never"])
        .args(args)
        .arg("--project")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let point = pause.split(':').next().unwrap_or_default();
    let mut line = String::new();
    while !line.contains(&format!("paused at {point}")) {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "bplc {args:?} ended before pausing at {point}"
        );
    }
    (child, stderr)
}

impl Drop for Project {
    fn drop(&mut self) {
        if let Engine::Postgres { .. } = self.engine {
            pg::drop_schemas(&self.schema);
        }
    }
}

fn sqlite_rows(c: &rusqlite::Connection, sql: &str) -> Vec<String> {
    use rusqlite::types::ValueRef;
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                ValueRef::Null => "NULL".to_string(),
                ValueRef::Integer(i) => i.to_string(),
                ValueRef::Real(f) => f.to_string(),
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
            })
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The warehouse and ledger schemas of the PostgreSQL variants.
#[cfg(feature = "postgres")]
mod pg {
    fn client(schema: &str) -> postgres::Client {
        let mut c = postgres::Client::connect(&super::server_url(), postgres::NoTls).unwrap();
        c.batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
        c
    }

    pub fn batch(schema: &str, sql: &str) {
        client(schema).batch_execute(sql).unwrap();
    }

    /// PostgreSQL's text form of each value (the simple query protocol's).
    pub fn rows(schema: &str, sql: &str) -> Vec<String> {
        client(schema)
            .simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect()
    }

    pub fn drop_schemas(schema: &str) {
        if let Ok(mut c) = postgres::Client::connect(&super::server_url(), postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_ledger CASCADE"
            ));
        }
    }
}

/// Without the `postgres` feature only the SQLite variants are built.
#[cfg(not(feature = "postgres"))]
mod pg {
    pub fn batch(_: &str, _: &str) {
        unreachable!("the PostgreSQL suites need the `postgres` feature")
    }

    pub fn rows(_: &str, _: &str) -> Vec<String> {
        unreachable!("the PostgreSQL suites need the `postgres` feature")
    }

    pub fn drop_schemas(_: &str) {}
}

/// Every suite test, run on `$engine`: the one list of tests both
/// engines' files expand.
#[allow(unused_macros)]
macro_rules! engine_suite {
    ($engine:expr) => {
        use crate::engine_suites::bodies;
        use crate::engine_suites::Engine;

        const ENGINE: Engine = $engine;

        #[test]
        fn crash_after_lock() {
            bodies::crash_at(ENGINE, "after-lock", "SAFE_TO_RETRY");
        }

        #[test]
        fn crash_inside_the_staging_transaction() {
            // Every partition of the run is staged in one transaction: a
            // crash in it leaves nothing staged.
            bodies::crash_at(ENGINE, "in-staging", "SAFE_TO_RETRY");
        }

        #[test]
        fn crash_mid_staging() {
            bodies::crash_at(ENGINE, "mid-staging", "FAILED_CLEANED");
        }

        #[test]
        fn crash_after_validate() {
            bodies::crash_at(ENGINE, "after-validate", "FAILED_CLEANED");
        }

        #[test]
        fn crash_mid_commit() {
            bodies::crash_at(ENGINE, "mid-commit", "FAILED_CLEANED");
        }

        #[test]
        fn crash_after_commit() {
            bodies::crash_at(ENGINE, "after-commit", "ALREADY_PUBLISHED");
        }

        #[test]
        fn a_crashed_run_keeps_its_lease_until_recovered() {
            bodies::a_crashed_run_keeps_its_lease_until_recovered(ENGINE);
        }

        #[test]
        fn processes_racing_for_a_partition_commit_it_once() {
            bodies::processes_racing_for_a_partition_commit_it_once(ENGINE);
        }

        #[test]
        fn sigint_and_sigterm_record_failed_and_release_the_leases() {
            bodies::sigint_and_sigterm_record_failed_and_release_the_leases(ENGINE);
        }

        #[test]
        fn a_second_signal_stops_at_once_and_recover_resolves_the_run() {
            bodies::a_second_signal_stops_at_once_and_recover_resolves_the_run(ENGINE);
        }

        #[test]
        fn manual_review_holds_until_approved_or_rejected_and_keeps_its_lease() {
            bodies::manual_review_holds_until_approved_or_rejected_and_keeps_its_lease(ENGINE);
        }

        #[test]
        fn a_held_run_whose_staged_rows_are_gone_is_not_approved() {
            bodies::a_held_run_whose_staged_rows_are_gone_is_not_approved(ENGINE);
        }

        #[test]
        fn warn_and_quarantine_publish_fail_run_publishes_nothing() {
            bodies::warn_and_quarantine_publish_fail_run_publishes_nothing(ENGINE);
        }

        #[test]
        fn fail_partition_holds_back_that_partition_only() {
            bodies::fail_partition_holds_back_that_partition_only(ENGINE);
        }

        #[test]
        fn replace_keeps_only_the_active_version() {
            bodies::replace_keeps_only_the_active_version(ENGINE);
        }

        #[test]
        fn versioned_runs_roll_back_and_are_reported() {
            bodies::versioned_runs_roll_back_and_are_reported(ENGINE);
        }

        #[test]
        fn reporting_commands_read_the_ledger() {
            bodies::reporting_commands_read_the_ledger(ENGINE);
        }

        #[test]
        fn two_run_due_callers_never_overlap() {
            bodies::two_run_due_callers_never_overlap(ENGINE);
        }

        #[test]
        fn repeating_a_backfill_without_as_of_resumes_it() {
            bodies::repeating_a_backfill_without_as_of_resumes_it(ENGINE);
        }

        #[test]
        fn the_initial_load_publishes_every_open_partition() {
            crate::engine_suites::backfill::the_initial_load_publishes_every_open_partition(ENGINE);
        }

        #[test]
        fn a_month_missing_a_day_is_withheld_by_its_completeness_gate() {
            crate::engine_suites::backfill::a_month_missing_a_day_is_withheld_by_its_completeness_gate(ENGINE);
        }

        #[test]
        fn a_correction_in_a_closed_month_is_shadowed_compared_and_restated() {
            crate::engine_suites::backfill::a_correction_in_a_closed_month_is_shadowed_compared_and_restated(ENGINE);
        }

        #[test]
        fn a_failure_stops_its_dependants_only_and_the_backfill_resumes() {
            crate::engine_suites::backfill::a_failure_stops_its_dependants_only_and_the_backfill_resumes(ENGINE);
        }

        #[test]
        fn a_dry_run_keeps_nothing_but_its_report() {
            crate::engine_suites::backfill::a_dry_run_keeps_nothing_but_its_report(ENGINE);
        }

        #[test]
        fn a_closed_month_is_never_replaced_and_a_saved_plan_runs_as_reviewed() {
            crate::engine_suites::backfill::a_closed_month_is_never_replaced_and_a_saved_plan_runs_as_reviewed(ENGINE);
        }

        #[test]
        fn repeating_a_shadow_backfill_without_as_of_resumes_it() {
            crate::engine_suites::backfill::repeating_a_shadow_backfill_without_as_of_resumes_it(ENGINE);
        }

        #[test]
        fn a_saved_plan_whose_job_changed_is_refused_before_the_first_wave() {
            crate::engine_suites::backfill::a_saved_plan_whose_job_changed_is_refused_before_the_first_wave(ENGINE);
        }

        #[test]
        fn the_enforcement_example_runs_end_to_end() {
            crate::engine_suites::enforcement::the_enforcement_example_runs_end_to_end(ENGINE);
        }

        #[test]
        fn stable_ids_are_the_same_for_every_argument_type() {
            crate::engine_suites::typed::stable_ids_are_the_same_for_every_argument_type(ENGINE);
        }

        #[test]
        fn dates_and_timestamps_are_stored_natively() {
            crate::engine_suites::typed::dates_and_timestamps_are_stored_natively(ENGINE);
        }

        #[test]
        fn a_failed_backfill_resumes_where_it_stopped() {
            bodies::a_failed_backfill_resumes_where_it_stopped(ENGINE);
        }
    };
}
