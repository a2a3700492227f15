//! The engine suites (`tests/engine_suites`) on SQLite: crashes injected
//! at every step of the lifecycle (`BPLC_FAULT`, built with the
//! `fault-injection` feature), SIGINT and SIGTERM sent to a run, processes
//! racing for one partition and two `run-due` callers, quality routing,
//! manual review, versioned publish and rollback, the reporting commands,
//! the enforcement example's runs and backfills (initial load, completeness
//! gate, shadow, compare, restatement, resumed failures, saved plans), and
//! typed outputs and `stable_id`.
//! `tests/suites_postgres.rs` runs the same tests on PostgreSQL.

#[macro_use]
mod engine_suites;

engine_suite!(Engine::Sqlite);
