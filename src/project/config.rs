//! `bpl.toml`: the project's name, default time zone, engine and where the
//! warehouse and the ledger live.

use std::ops::Range;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    /// The IANA time zone used where a spec does not name one.
    pub time_zone: Option<String>,
    #[serde(default = "default_engine")]
    pub engine: Engine,
    #[serde(default = "default_warehouse")]
    pub warehouse: PathBuf,
    #[serde(default = "default_ledger")]
    pub ledger: PathBuf,
    /// Seconds a run waits for another writer of the warehouse or the
    /// ledger to finish before it fails (readers never block a writer).
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: u64,
    /// A Prometheus textfile that the commands that run or decide runs
    /// (`run`, `run-due`, `backfill`, `approve`, `reject`, `recover`)
    /// rewrite when they end (`bplc metrics --out` writes it on demand).
    #[serde(default)]
    pub metrics: Option<PathBuf>,
    #[serde(default)]
    pub lint: Lint,
}

fn default_lock_timeout() -> u64 {
    crate::runtime::DEFAULT_LOCK_TIMEOUT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lint {
    /// Warning codes treated as errors, e.g. `["W0301"]`.
    #[serde(default)]
    pub deny: Vec<String>,
}

fn default_engine() -> Engine {
    Engine::Sqlite
}

fn default_warehouse() -> PathBuf {
    PathBuf::from("target/warehouse.sqlite")
}

fn default_ledger() -> PathBuf {
    PathBuf::from("target/ledger.sqlite")
}

impl Default for Config {
    fn default() -> Config {
        Config {
            name: "unnamed".into(),
            time_zone: None,
            engine: default_engine(),
            warehouse: default_warehouse(),
            ledger: default_ledger(),
            lock_timeout: default_lock_timeout(),
            metrics: None,
            lint: Lint::default(),
        }
    }
}

impl Config {
    /// Parses `bpl.toml`; an error carries the byte range it is about.
    pub fn parse(text: &str) -> Result<Config, (String, Option<Range<usize>>)> {
        toml::from_str(text).map_err(|e| (e.message().to_string(), e.span()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse("name = \"x\"").unwrap();
        assert_eq!(c.engine, Engine::Sqlite);
        assert_eq!(c.warehouse, PathBuf::from("target/warehouse.sqlite"));
    }

    #[test]
    fn unknown_key_is_an_error_with_a_span() {
        let (msg, span) = Config::parse("name = \"x\"\nwarehous = \"w\"").unwrap_err();
        assert!(msg.contains("warehous"), "{msg}");
        assert!(span.is_some());
    }
}
