//! The engine suites (`tests/engine_suites`) on PostgreSQL, the same tests
//! `tests/suites_sqlite.rs` runs on SQLite: once with the ledger on the
//! server too (`ledger = "postgres"`), once with it in its SQLite file.
//! Run them under a server:
//!
//!     scripts/with-postgres cargo test --all-features --test suites_postgres
//!
//! Without `BPLC_POSTGRES_URL` every test here fails, saying so. Each
//! project has schemas of its own, so the tests run in parallel.

#[macro_use]
mod engine_suites;

/// The warehouse and the ledger both on the server.
mod ledger_on_server {
    engine_suite!(Engine::Postgres {
        ledger_on_server: true
    });
}

/// The warehouse on the server, the ledger in its file.
mod ledger_in_a_file {
    engine_suite!(Engine::Postgres {
        ledger_on_server: false
    });
}
