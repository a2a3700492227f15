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
    /// Other SQLite databases, attached read-only under these aliases:
    /// a source's `table "raw.events"` reads `events` of the one named `raw`.
    #[serde(default)]
    pub attach: std::collections::BTreeMap<String, String>,
    /// Where the PostgreSQL engine connects (`engine = "postgres"`).
    #[serde(default)]
    pub postgres: Postgres,
    /// Where the Spark engine connects (`engine = "spark"`).
    #[serde(default)]
    pub spark: Spark,
}

/// `[spark]` in bpl.toml. The Spark Connect URL (`sc://host:15002`, with
/// any token) is read from the environment variable `url_env` names, so a
/// credential stays out of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spark {
    /// The environment variable holding the Spark Connect URL.
    #[serde(default = "default_spark_url_env")]
    pub url_env: String,
    /// The catalog database holding the project's tables; by default the
    /// project's name as [`default_schema`] writes it.
    #[serde(default)]
    pub database: Option<String>,
    /// Seconds a statement waits for a Spark Connect server that stopped
    /// answering before the run fails (E0373); 600 when unset. The
    /// environment variable `BPLC_SPARK_RETRY_SECONDS` overrides it for
    /// one deployment.
    #[serde(default)]
    pub retry_seconds: Option<u64>,
    /// Where Spark keeps a batch's counting points (the rows reaching
    /// each, counted and then staged): Spark's storage level; on disk
    /// when unset.
    #[serde(default)]
    pub cache_storage_level: SparkCache,
}

impl Default for Spark {
    fn default() -> Spark {
        Spark {
            url_env: default_spark_url_env(),
            database: None,
            retry_seconds: None,
            cache_storage_level: SparkCache::default(),
        }
    }
}

/// `cache_storage_level` under `[spark]`: the storage levels a counting
/// point may be cached at, each keeping every row it computed once
/// (spilling what memory cannot hold rather than recomputing it, which
/// could count rows other than those staged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SparkCache {
    /// Straight to the local disks of whatever runs the tasks: the heap
    /// holds a task's batch of rows, whatever the point's size.
    #[default]
    #[serde(rename = "DISK_ONLY")]
    DiskOnly,
    /// In the executors' storage memory first, the rest spilled to disk:
    /// faster reads where executors have memory to spare.
    #[serde(rename = "MEMORY_AND_DISK")]
    MemoryAndDisk,
    /// As `MEMORY_AND_DISK`, kept serialized in memory.
    #[serde(rename = "MEMORY_AND_DISK_SER")]
    MemoryAndDiskSer,
}

impl SparkCache {
    /// The level as Spark's `CACHE TABLE ... OPTIONS ('storageLevel' ...)` names it.
    pub const fn storage_level(self) -> &'static str {
        match self {
            SparkCache::DiskOnly => "DISK_ONLY",
            SparkCache::MemoryAndDisk => "MEMORY_AND_DISK",
            SparkCache::MemoryAndDiskSer => "MEMORY_AND_DISK_SER",
        }
    }
}

/// What a deployment exports; `scripts/with-spark` exports the test
/// server's as `BPLC_TEST_SPARK_URL`.
fn default_spark_url_env() -> String {
    "BPLC_SPARK_URL".into()
}

/// `[postgres]` in bpl.toml. The connection URL is never written here: it
/// is read from the environment variable `url_env` names, so a password
/// stays out of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// The environment variable holding the connection URL.
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// The schema holding the project's tables; by default the project's
    /// name, lower-cased, other characters than letters and digits as `_`.
    #[serde(default)]
    pub schema: Option<String>,
    /// With `ledger = "postgres"`: the variable holding the ledger's
    /// server URL, when it is not the warehouse's (`url_env`).
    #[serde(default)]
    pub ledger_url_env: Option<String>,
    /// With `ledger = "postgres"`: the ledger's schema; by default the
    /// warehouse's schema with `_ledger` after it.
    #[serde(default)]
    pub ledger_schema: Option<String>,
}

impl Default for Postgres {
    fn default() -> Postgres {
        Postgres {
            url_env: default_url_env(),
            schema: None,
            ledger_url_env: None,
            ledger_schema: None,
        }
    }
}

/// What `scripts/with-postgres` exports: an example runs on PostgreSQL
/// with no `[postgres]` section at all.
fn default_url_env() -> String {
    "BPLC_POSTGRES_URL".into()
}

/// The engine `bpl.toml` chooses, with the settings it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineSettings {
    Sqlite,
    Postgres {
        /// The environment variable holding the connection URL.
        url_env: String,
        schema: String,
    },
    Spark {
        /// The environment variable holding the Spark Connect URL.
        url_env: String,
        database: String,
        /// `retry_seconds` under `[spark]`, if set.
        retry_seconds: Option<u64>,
        /// `cache_storage_level` under `[spark]`.
        cache: SparkCache,
    },
}

/// Where `bpl.toml` keeps the ledger: `ledger = "postgres"` puts it in a
/// schema of a PostgreSQL database; any other value is its SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerSettings {
    Sqlite,
    Postgres {
        /// The environment variable holding the connection URL.
        url_env: String,
        schema: String,
    },
}

fn default_lock_timeout() -> u64 {
    crate::runtime::DEFAULT_LOCK_TIMEOUT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
    Spark,
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
            attach: Default::default(),
            postgres: Postgres::default(),
            spark: Spark::default(),
        }
    }
}

/// A `${NAME}` in `bpl.toml` that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVariable {
    /// The key whose value names it (`warehouse`).
    pub key: &'static str,
    pub variable: String,
}

/// Expands each `${NAME}` in `value` from the environment: paths and URLs
/// in `bpl.toml` may name machine-specific places (a mounted volume, a
/// server) without the file changing between machines.
/// `${NAME:-fallback}` takes `fallback` when NAME is unset or empty; `$$`
/// is a `$`.
pub fn expand(
    key: &'static str,
    value: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, UnsetVariable> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(body) = rest.strip_prefix("${") else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(UnsetVariable {
                key,
                variable: body.to_string(),
            });
        };
        // `${NAME:-fallback}` takes the fallback when NAME is unset or empty.
        let (name, fallback) = match body[..end].split_once(":-") {
            Some((n, f)) => (n, Some(f)),
            None => (&body[..end], None),
        };
        let empty_with_fallback = |v: &String| v.is_empty() && fallback.is_some();
        let value = env(name).filter(|v| !name.is_empty() && !empty_with_fallback(v));
        match value.or(fallback.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(UnsetVariable {
                    key,
                    variable: name.to_string(),
                })
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Config {
    /// The engine and its settings.
    pub fn engine_settings(&self) -> EngineSettings {
        match self.engine {
            Engine::Sqlite => EngineSettings::Sqlite,
            Engine::Postgres => EngineSettings::Postgres {
                url_env: self.postgres.url_env.clone(),
                schema: self
                    .postgres
                    .schema
                    .clone()
                    .unwrap_or_else(|| default_schema(&self.name)),
            },
            Engine::Spark => EngineSettings::Spark {
                url_env: self.spark.url_env.clone(),
                database: self
                    .spark
                    .database
                    .clone()
                    .unwrap_or_else(|| default_schema(&self.name)),
                retry_seconds: self.spark.retry_seconds,
                cache: self.spark.cache_storage_level,
            },
        }
    }

    /// Where the ledger is kept, and the settings it needs.
    pub fn ledger_settings(&self) -> LedgerSettings {
        if self.ledger != std::path::Path::new("postgres") {
            return LedgerSettings::Sqlite;
        }
        let warehouse_schema = self
            .postgres
            .schema
            .clone()
            .unwrap_or_else(|| default_schema(&self.name));
        LedgerSettings::Postgres {
            url_env: self
                .postgres
                .ledger_url_env
                .clone()
                .unwrap_or_else(|| self.postgres.url_env.clone()),
            schema: self
                .postgres
                .ledger_schema
                .clone()
                .unwrap_or_else(|| format!("{warehouse_schema}_ledger")),
        }
    }

    /// The warehouse and the ledger paths, with `${NAME}`s expanded from
    /// the environment.
    pub fn store_paths(&self) -> Result<(PathBuf, PathBuf), UnsetVariable> {
        let env = |n: &str| std::env::var(n).ok();
        Ok((
            PathBuf::from(expand("warehouse", &self.warehouse.to_string_lossy(), env)?),
            PathBuf::from(expand("ledger", &self.ledger.to_string_lossy(), env)?),
        ))
    }

    /// The attached databases, `(alias, path)`, with `${NAME}`s expanded.
    pub fn attachments(&self) -> Result<Vec<(String, PathBuf)>, UnsetVariable> {
        let env = |n: &str| std::env::var(n).ok();
        self.attach
            .iter()
            .map(|(alias, path)| Ok((alias.clone(), PathBuf::from(expand("attach", path, env)?))))
            .collect()
    }

    /// Parses `bpl.toml`; an error carries the byte range it is about.
    pub fn parse(text: &str) -> Result<Config, (String, Option<Range<usize>>)> {
        toml::from_str(text).map_err(|e| (e.message().to_string(), e.span()))
    }
}

/// A project's schema when bpl.toml names none: its name as a plain
/// PostgreSQL identifier.
pub fn default_schema(project: &str) -> String {
    let s: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s
    } else {
        format!("p_{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_settings_default_to_the_project_schema() {
        let c = Config::parse("name = \"Finance-2\"\nengine = \"postgres\"").unwrap();
        assert_eq!(
            c.engine_settings(),
            EngineSettings::Postgres {
                url_env: "BPLC_POSTGRES_URL".into(),
                schema: "finance_2".into()
            }
        );
        let c = Config::parse(
            "name = \"x\"\nengine = \"postgres\"\n[postgres]\nurl_env = \"PG\"\nschema = \"s\"",
        )
        .unwrap();
        assert_eq!(
            c.engine_settings(),
            EngineSettings::Postgres {
                url_env: "PG".into(),
                schema: "s".into()
            }
        );
        assert_eq!(default_schema("9lives"), "p_9lives");
    }

    #[test]
    fn a_postgres_ledger_defaults_to_the_warehouse_server_and_its_own_schema() {
        let c = Config::parse("name = \"Fin\"\nledger = \"postgres\"").unwrap();
        assert_eq!(
            c.ledger_settings(),
            LedgerSettings::Postgres {
                url_env: "BPLC_POSTGRES_URL".into(),
                schema: "fin_ledger".into()
            }
        );
        let c = Config::parse(
            "name = \"x\"\nledger = \"postgres\"\n[postgres]\nurl_env = \"W\"\nledger_url_env = \"L\"\nledger_schema = \"runs\"",
        )
        .unwrap();
        assert_eq!(
            c.ledger_settings(),
            LedgerSettings::Postgres {
                url_env: "L".into(),
                schema: "runs".into()
            }
        );
        // A file path, even one in a folder called postgres, is a file.
        let c = Config::parse("name = \"x\"\nledger = \"postgres/ledger.sqlite\"").unwrap();
        assert_eq!(c.ledger_settings(), LedgerSettings::Sqlite);
    }

    #[test]
    fn spark_settings_default_to_the_project_database() {
        let c = Config::parse("name = \"Finance-2\"\nengine = \"spark\"").unwrap();
        assert_eq!(
            c.engine_settings(),
            EngineSettings::Spark {
                url_env: "BPLC_SPARK_URL".into(),
                database: "finance_2".into(),
                retry_seconds: None,
                cache: SparkCache::DiskOnly,
            }
        );
        let c = Config::parse(
            "name = \"x\"\nengine = \"spark\"\n[spark]\nurl_env = \"SC\"\ndatabase = \"lake\"\nretry_seconds = 60\ncache_storage_level = \"MEMORY_AND_DISK\"",
        )
        .unwrap();
        assert_eq!(
            c.engine_settings(),
            EngineSettings::Spark {
                url_env: "SC".into(),
                database: "lake".into(),
                retry_seconds: Some(60),
                cache: SparkCache::MemoryAndDisk,
            }
        );
    }

    #[test]
    fn a_spark_cache_storage_level_is_one_that_keeps_what_it_computed() {
        // Not a level that may drop rows to recompute them (MEMORY_ONLY),
        // none at all, nor a misspelt one.
        for bad in ["\"MEMORY_ONLY\"", "\"NONE\"", "\"disk_only\""] {
            let text =
                format!("name = \"x\"\nengine = \"spark\"\n[spark]\ncache_storage_level = {bad}");
            let (msg, span) = Config::parse(&text).unwrap_err();
            let span = span.expect("the value's place");
            assert_eq!(&text[span], bad, "{msg}");
            assert!(msg.contains("DISK_ONLY"), "{msg}");
        }
    }

    #[test]
    fn a_spark_retry_budget_is_a_whole_number_of_seconds() {
        for bad in ["\"1m\"", "-5", "1.5"] {
            let text = format!("name = \"x\"\nengine = \"spark\"\n[spark]\nretry_seconds = {bad}");
            let (msg, span) = Config::parse(&text).unwrap_err();
            let span = span.expect("the value's place");
            assert_eq!(&text[span], bad, "{msg}");
        }
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = Config::parse("name = \"x\"").unwrap();
        assert_eq!(c.engine, Engine::Sqlite);
        assert_eq!(c.warehouse, PathBuf::from("target/warehouse.sqlite"));
    }

    #[test]
    fn variables_expand_from_the_environment() {
        let env = |n: &str| (n == "DATA").then(|| "/mnt/data".to_string());
        assert_eq!(
            expand("warehouse", "${DATA}/w.sqlite", env).unwrap(),
            "/mnt/data/w.sqlite"
        );
        assert_eq!(expand("warehouse", "a$b$$c", env).unwrap(), "a$b$c");
        let unset = expand("ledger", "${NOPE}/l.sqlite", env).unwrap_err();
        assert_eq!((unset.key, unset.variable.as_str()), ("ledger", "NOPE"));
        assert!(
            expand("ledger", "${DATA", env).is_err(),
            "an unclosed `${{`"
        );
        assert_eq!(
            expand("ledger", "${NOPE:-target}/l", env).unwrap(),
            "target/l"
        );
        assert_eq!(
            expand("ledger", "${DATA:-target}/l", env).unwrap(),
            "/mnt/data/l"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_a_span() {
        let (msg, span) = Config::parse("name = \"x\"\nwarehous = \"w\"").unwrap_err();
        assert!(msg.contains("warehous"), "{msg}");
        assert!(span.is_some());
    }
}
