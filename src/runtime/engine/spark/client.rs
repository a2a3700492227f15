//! The Spark Connect session: opened from the URL in the environment
//! variable bpl.toml names, each failure a coded error naming what to fix;
//! statements written in standard SQL (as every dialect's shared code
//! writes them) brought to Spark's lexical form with their `:name`
//! parameters written in as literals; result rows read as [`Value`]s.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use spark_connect::row::{Row, Value as SparkValue};
use spark_connect::SparkSession;

use crate::diagnostic::codes;
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;

/// The session settings every statement relies on: no dependence on the
/// server's time zone; SQLite's arithmetic (a failed conversion or a
/// division by zero is no value, not an error); a write replaces only the
/// partitions it writes; a metastore that cannot filter partitions by a
/// condition (Derby, a local server's) lists them all instead of failing.
const SESSION: [&str; 4] = [
    "SET spark.sql.session.timeZone = UTC",
    "SET spark.sql.ansi.enabled = false",
    "SET spark.sql.sources.partitionOverwriteMode = dynamic",
    "SET spark.sql.hive.metastorePartitionPruningFallbackOnException = true",
];

/// The environment variable bounding how long a statement waits for a
/// server that stopped answering (seconds), over `retry_seconds` under
/// `[spark]` in bpl.toml; and the default of both: about what the Spark
/// Connect client's own retries take.
pub const RETRY_ENV: &str = "BPLC_SPARK_RETRY_SECONDS";
const RETRY_DEFAULT: u64 = 600;

/// How long a statement waits for a server that does not answer, and
/// which setting said so (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RetryBudget {
    wait: Duration,
    set_by: &'static str,
}

/// An open session with the project's database in use.
pub struct Session {
    pub(crate) spark: SparkSession,
    /// The variable the URL came from, for messages.
    url_env: String,
    /// The URL, to ask whether anything still listens there.
    url: String,
    /// How long a statement waits for a server that does not answer.
    retry: RetryBudget,
    /// Set once the retry budget ran out: the session is gone, and every
    /// later statement fails at once instead of waiting again.
    lost: Option<String>,
}

/// The retry budget: [`RETRY_ENV`]'s value (`env`) when set, which
/// overrides `retry_seconds` in bpl.toml (`configured`) for one
/// deployment, else bpl.toml's, else the default. An environment value
/// that is not a whole number of seconds is a coded error naming it (a
/// bad value in bpl.toml stops the project loading, E0009).
fn retry_budget(env: Option<String>, configured: Option<u64>) -> Result<RetryBudget, RuntimeError> {
    let budget = |s: u64, set_by| RetryBudget {
        wait: Duration::from_secs(s),
        set_by,
    };
    match (env, configured) {
        (Some(v), _) => match v.trim().parse::<u64>() {
            Ok(s) => Ok(budget(s, RETRY_ENV)),
            Err(_) => Err(RuntimeError::Server {
                code: codes::E0336,
                message: format!("`{RETRY_ENV}` is `{v}`, not a whole number of seconds"),
                help: format!("set {RETRY_ENV} to the seconds a statement may wait for a Spark Connect server that stopped answering, or unset it to use `retry_seconds` under `[spark]` in bpl.toml (default {RETRY_DEFAULT}); the variable overrides bpl.toml for one deployment"),
            }),
        },
        (None, Some(s)) => Ok(budget(s, "`retry_seconds` in bpl.toml")),
        (None, None) => Ok(budget(RETRY_DEFAULT, "the default")),
    }
}

/// The URL in `url_env`, or the coded error saying how to set it.
fn url(url_env: &str) -> Result<String, RuntimeError> {
    let unset = || {
        RuntimeError::Server {
        code: codes::E0370,
        message: format!(
            "bpl.toml chooses the Spark engine, whose Spark Connect URL is read from the environment variable `{url_env}`, which is not set"
        ),
        help: format!(
            "export {url_env}=sc://HOST:15002 (a token goes in the URL's `;token=...` from the environment, never in bpl.toml); `url_env` under `[spark]` in bpl.toml names another variable"
        ),
    }
    };
    let url = std::env::var(url_env).map_err(|_| unset())?;
    let url = url.trim().to_string();
    if url.is_empty() {
        return Err(unset());
    }
    if !url.starts_with("sc://") {
        return Err(RuntimeError::Server {
            code: codes::E0370,
            message: format!("`{url_env}` is not a Spark Connect URL: it must start with `sc://`"),
            help: format!("set {url_env} to a URL like sc://HOST:15002 (options after `/;`, e.g. sc://HOST:443/;use_ssl=true)"),
        });
    }
    Ok(url)
}

/// Opens a session on the server `url_env` points at and makes `database`
/// the one every unqualified name is looked up in, creating it if it is
/// not there. `retry_seconds` is bpl.toml's retry budget, if it sets one.
pub fn connect(
    url_env: &str,
    database: &str,
    retry_seconds: Option<u64>,
) -> Result<Session, RuntimeError> {
    let url = url(url_env)?;
    let retry = retry_budget(std::env::var(RETRY_ENV).ok(), retry_seconds)?;
    let unreachable = |detail: String| {
        RuntimeError::Server {
        code: codes::E0371,
        message: format!(
            "cannot reach the Spark Connect server of `{url_env}` ({url}): {detail}"
        ),
        help: format!(
            "start the Spark Connect server (`start-connect-server.sh` on the cluster), or fix the host and port in {url_env} (for a throw-away local server: `scripts/with-spark COMMAND`)"
        ),
    }
    };
    // The client retries an unreachable server for minutes; a plain
    // connection says at once whether anything listens there.
    if let Err(e) = probe(&url) {
        return Err(unreachable(e.to_string()));
    }
    let spark = SparkSession::builder()
        .remote(&url)
        .get_or_create()
        .map_err(|e| match e.grpc_code {
            None if e.error_class.contains("URL") => RuntimeError::Server {
                code: codes::E0370,
                message: format!("`{url_env}` is not a Spark Connect URL: {}", e.message()),
                help: format!("set {url_env} to a URL like sc://HOST:15002"),
            },
            _ => unreachable(first_line(&e.message())),
        })?;
    // BPLC_SPARK_TRACE: the session's id, which the server's log names
    // every operation of it by.
    if std::env::var_os("BPLC_SPARK_TRACE").is_some() {
        eprintln!("spark session {} on {url_env}", spark.session_id());
    }
    let mut session = Session {
        spark,
        url_env: url_env.to_string(),
        url: url.clone(),
        retry,
        lost: None,
    };
    // The first statement is the first call that reaches the server.
    for set in SESSION {
        session.run(set).map_err(|e| match e {
            RuntimeError::Server { code, message, .. } if code == codes::E0373 => {
                unreachable(message)
            }
            other => other,
        })?;
    }
    session.use_database(database)?;
    Ok(session)
}

/// Opens (and closes) a TCP connection to the URL's host and port
/// (15002 unless the URL says otherwise).
fn probe(url: &str) -> std::io::Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let rest = url.trim_start_matches("sc://");
    let authority = rest.split(['/', ';']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:15002")
    };
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no address for `{address}`"),
    );
    for a in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, std::time::Duration::from_secs(10)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Session {
    /// Makes `database` the session's, creating it when it is missing.
    fn use_database(&mut self, database: &str) -> Result<(), RuntimeError> {
        let db = backtick(database);
        if self.run(&format!("USE {db}")).is_ok() {
            return Ok(());
        }
        let refuse = |why: String| {
            RuntimeError::Server {
            code: codes::E0372,
            message: format!(
                "the Spark database `{database}` does not exist, and the session cannot create it: {why}"
            ),
            help: format!(
                "create it in the catalog (`CREATE DATABASE {db} LOCATION '...'`) or let bplc's user create databases; or name another one with `database` under `[spark]` in bpl.toml"
            ),
        }
        };
        match self.run(&format!("CREATE DATABASE IF NOT EXISTS {db}")) {
            Ok(()) => self.run(&format!("USE {db}")),
            Err(RuntimeError::Server { code, message, .. }) if code == codes::E0374 => {
                Err(refuse(message))
            }
            Err(RuntimeError::Engine(m)) => Err(refuse(m)),
            Err(other) => Err(other),
        }
    }

    /// Runs one statement, discarding any rows.
    pub fn run(&mut self, sql: &str) -> Result<(), RuntimeError> {
        self.query(sql).map(drop)
    }

    /// Runs one statement (Spark SQL as is) and reads its rows.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, RuntimeError> {
        tracing::debug!(sql, "spark");
        if let Some(detail) = &self.lost {
            return Err(self.lost_error(detail));
        }
        let started = Instant::now();
        let result = match self.collect(sql) {
            Some(result) => result,
            None => {
                let detail = format!(
                    "the server has not answered for {} s (the retry budget, from {})",
                    self.retry.wait.as_secs(),
                    self.retry.set_by
                );
                let error = self.lost_error(&detail);
                self.lost = Some(detail);
                return Err(error);
            }
        };
        // BPLC_SPARK_TRACE=1: each statement with its time, and why one
        // failed (the coded error shows only the message's first line).
        if std::env::var_os("BPLC_SPARK_TRACE").is_some() {
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(_) => eprintln!("spark {ms:>6} ms {sql}"),
                Err(e) => eprintln!("spark {ms:>6} ms FAILED {sql}\n{}", e.message()),
            }
        }
        let rows = match result {
            Err(e) if creates_if_missing(sql) && already_exists(&e.message()) => Vec::new(),
            other => other.map_err(|e| self.error(&e))?,
        };
        Ok(rows
            .into_iter()
            .map(|r| r.into_values().into_iter().map(value).collect())
            .collect())
    }

    /// The statement's rows, run on a thread of its own while this one
    /// watches the server: the client retries a server that stopped
    /// answering for about ten minutes, and cannot be told otherwise, so a
    /// statement whose server has refused connections for the whole retry
    /// budget is given up (`None`; its thread is left to the client's
    /// retries, and the process ends with the run).
    fn collect(&self, sql: &str) -> Option<Result<Vec<Row>, Box<spark_connect::SparkError>>> {
        let (spark, statement) = (self.spark.clone(), sql.to_string());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rows = match spark.sql(&statement) {
                Ok(df) => df.collect().map_err(Box::new),
                Err(e) => Err(Box::new(e)),
            };
            let _ = tx.send(rows);
        });
        let mut silent_since: Option<Instant> = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(2)) {
                Ok(result) => return Some(result),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    if probe(&self.url).is_ok() {
                        silent_since = None;
                    } else if silent_since.get_or_insert_with(Instant::now).elapsed()
                        >= self.retry.wait
                    {
                        return None;
                    }
                }
            }
        }
    }

    /// E0373: the session is gone, with why.
    fn lost_error(&self, detail: &str) -> RuntimeError {
        RuntimeError::Server {
            code: codes::E0373,
            message: format!("the Spark Connect session was lost: {detail}"),
            help: format!(
                "nothing is published until the publish log gains the run's entry, which is one catalog operation; once the server of `{}` is back, `bplc recover RUN` settles the run from the ledger and the publish log (`retry_seconds` under `[spark]` in bpl.toml bounds the wait for a server that stopped answering; {RETRY_ENV} overrides it for one deployment)",
                self.url_env
            ),
        }
    }

    /// A statement's error: a lost session and a refused permission are
    /// coded; anything else is the engine's message.
    pub fn error(&self, e: &spark_connect::SparkError) -> RuntimeError {
        let message = e.message();
        let detail = first_line(&message);
        // 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 1 CANCELLED: the transport;
        // INVALID_HANDLE: the server no longer knows the session.
        let lost = matches!(e.grpc_code, Some(14 | 4 | 1))
            || e.error_class.starts_with("INVALID_HANDLE")
            || message.contains("SESSION_CLOSED")
            || message.contains("SESSION_NOT_FOUND");
        if lost {
            return self.lost_error(&detail);
        }
        let denied = e.grpc_code == Some(7)
            || e.error_class.contains("PERMISSION")
            || e.error_class.contains("INSUFFICIENT_PERMISSIONS")
            || message.contains("Permission denied")
            || message.contains("AccessDenied")
            || message.contains("AccessControlException")
            || message.contains("Operation not permitted")
            // The warehouse path cannot be made: not a directory, read-only.
            || message.contains("Mkdirs failed")
            || message.contains("ParentNotDirectory")
            || message.contains("Not a directory");
        if denied {
            return RuntimeError::Server {
                code: codes::E0374,
                message: format!("Spark refused access: {detail}"),
                help: "let the Spark user write the database's location (file-system permissions, the bucket's policy) and create tables in the database; or name another database with `database` under `[spark]` in bpl.toml".into(),
            };
        }
        RuntimeError::Engine(format!("Spark: {detail}"))
    }
}

/// Whether a statement is a `CREATE ... IF NOT EXISTS`.
fn creates_if_missing(sql: &str) -> bool {
    let head: String = sql
        .chars()
        .take(80)
        .collect::<String>()
        .to_ascii_uppercase();
    head.trim_start().starts_with("CREATE ") && head.contains(" IF NOT EXISTS ")
}

/// Whether a server message says the object a statement creates is there.
/// Spark's `IF NOT EXISTS` looks in the catalog, then creates: another
/// session creating the same table between the two (several first runs
/// of a project at once) makes the statement fail, though what it asked
/// for, that the object exist, now holds. So for such a statement this
/// error is its success.
fn already_exists(message: &str) -> bool {
    ["TABLE_OR_VIEW_ALREADY_EXISTS", "SCHEMA_ALREADY_EXISTS"]
        .iter()
        .any(|class| message.contains(class))
}

/// Whether an error says a table or view is not there.
pub fn not_found(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::Engine(m) if m.contains("TABLE_OR_VIEW_NOT_FOUND")
        || m.contains("SCHEMA_NOT_FOUND") || m.contains("NoSuchTable") || m.contains("cannot be found"))
}

/// The first line of a server message, without the JVM's stack, and
/// without the statement it may repeat at length.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(400) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_string(),
    }
}

/// A Spark identifier: backquoted.
pub fn backtick(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A Spark string literal, its quotes and backslashes escaped.
pub fn spark_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A value written into a statement as a Spark literal.
pub fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => format!("{i}L"),
        Value::Real(f) if f.is_finite() => format!("CAST('{f:?}' AS DOUBLE)"),
        Value::Real(f) => format!("CAST('{f}' AS DOUBLE)"),
        Value::Text(t) => spark_string(t),
        Value::Blob(b) => format!(
            "X'{}'",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// `sql`, written in standard SQL, in Spark's lexical form: a `'...'`
/// string (`''` a quote) written with Spark's escapes, a `"..."`
/// identifier backquoted, and each `:name` parameter written in as its
/// value's literal (one the values do not name is NULL, as an unbound
/// parameter is).
pub fn inline(sql: &str, values: &[(String, Value)]) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut start = 0;
    // The body of a quoted token from `i` (at its opening quote), its
    // doubled quotes undone; and the index after its closing quote.
    let quoted = |i: usize, q: u8| -> (String, usize) {
        let mut body = Vec::new();
        let mut j = i + 1;
        while j < b.len() {
            if b[j] == q {
                if b.get(j + 1) == Some(&q) {
                    body.push(q);
                    j += 2;
                    continue;
                }
                break;
            }
            body.push(b[j]);
            j += 1;
        }
        (
            String::from_utf8_lossy(&body).into_owned(),
            (j + 1).min(b.len()),
        )
    };
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                out.push_str(&sql[start..i]);
                let (body, end) = quoted(i, q);
                out.push_str(&if q == b'\'' {
                    spark_string(&body)
                } else {
                    backtick(&body)
                });
                i = end;
                start = end;
            }
            b':' => {
                i = crate::runtime::engine::value::parameter_at(
                    sql, i, &mut out, &mut start, values, literal,
                )
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[start.min(sql.len())..]);
    out
}

/// A result value as the runtime's: booleans as 0 and 1 (as SQLite gives
/// them), a whole decimal as an integer, dates and timestamps as the text
/// the runtime keeps them in.
fn value(v: SparkValue) -> Value {
    match v {
        SparkValue::Null => Value::Null,
        SparkValue::Bool(b) => Value::Integer(b as i64),
        SparkValue::Byte(x) => Value::Integer(x.into()),
        SparkValue::Short(x) => Value::Integer(x.into()),
        SparkValue::Integer(x) => Value::Integer(x.into()),
        SparkValue::Long(x) => Value::Integer(x),
        SparkValue::Float(x) => Value::Real(x.into()),
        SparkValue::Double(x) => Value::Real(x),
        SparkValue::String(s) => Value::Text(s),
        SparkValue::Binary(b) => Value::Blob(b),
        SparkValue::Date(days) => Value::Text(date(days)),
        SparkValue::Timestamp(micros) => Value::Text(timestamp(micros)),
        SparkValue::Decimal { value, .. } => match value.parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Real(value.parse::<f64>().unwrap_or(f64::NAN)),
        },
        other => Value::Text(format!("{other:?}")),
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
fn date(days: i32) -> String {
    (chrono::NaiveDate::default() + chrono::Duration::days(days.into()))
        .format(crate::sql::types::DATE_FORMAT)
        .to_string()
}

/// Microseconds since 1970-01-01 UTC as `YYYY-MM-DD HH:MM:SS`, with a
/// fraction only if it has one (which the typed boundary then refuses).
fn timestamp(micros: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    if micros.rem_euclid(1_000_000) == 0 {
        t.format(crate::sql::types::TIMESTAMP_FORMAT).to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_sql_is_written_in_spark_form() {
        let v = vec![
            (":p".to_string(), Value::Text("2026-06-15".into())),
            (":n".to_string(), Value::Integer(3)),
            (":o".to_string(), Value::Text("it's a \\".into())),
        ];
        assert_eq!(
            inline(
                "SELECT :p, ':p', \"a\"\"b\", 'x''y', :n + 1, :o, :missing",
                &v
            ),
            "SELECT '2026-06-15', ':p', `a\"b`, 'x\\'y', 3L + 1, 'it\\'s a \\\\', NULL"
        );
        // A longer name is not its prefix.
        assert_eq!(inline(":p_region = :p", &v), "NULL = '2026-06-15'");
    }

    #[test]
    fn the_environment_overrides_the_retry_budget_of_bpl_toml() {
        let secs = |env: Option<&str>, configured| {
            retry_budget(env.map(str::to_string), configured).map(|b| (b.wait.as_secs(), b.set_by))
        };
        assert_eq!(secs(None, None).unwrap(), (600, "the default"));
        assert_eq!(
            secs(None, Some(30)).unwrap(),
            (30, "`retry_seconds` in bpl.toml")
        );
        assert_eq!(secs(Some(" 5 "), Some(30)).unwrap(), (5, RETRY_ENV));
        match secs(Some("1m"), Some(30)) {
            Err(RuntimeError::Server { code, message, .. }) => {
                assert_eq!(code, codes::E0336);
                assert!(message.contains("`1m`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dates_and_timestamps_read_as_the_runtime_keeps_them() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_635), "2026-07-01");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(timestamp(1_500_000), "1970-01-01 00:00:01.500000");
        assert_eq!(value(SparkValue::Bool(true)), Value::Integer(1));
    }

    #[test]
    fn a_create_if_missing_that_lost_a_race_is_done() {
        assert!(creates_if_missing(
            "CREATE TABLE IF NOT EXISTS _bpl_log (kind STRING) USING parquet"
        ));
        assert!(creates_if_missing(
            "  create view if not exists v AS SELECT 1"
        ));
        assert!(creates_if_missing("CREATE DATABASE IF NOT EXISTS `d`"));
        assert!(!creates_if_missing("CREATE TABLE t (x INT) USING parquet"));
        assert!(!creates_if_missing(
            "INSERT INTO t SELECT 'CREATE TABLE IF NOT EXISTS x'"
        ));
        let lost = "[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view `d`.`_bpl_log` because it already exists.";
        assert!(already_exists(lost));
        assert!(!already_exists(
            "[TABLE_OR_VIEW_NOT_FOUND] The table `t` cannot be found."
        ));
    }
}
