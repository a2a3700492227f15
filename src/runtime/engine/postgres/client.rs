//! The PostgreSQL connection: opening it from the URL in the environment
//! variable bpl.toml names, each failure as a coded error naming the
//! setting to fix, the shared statements' `:name` parameters written in as
//! literals, and any result column read as a [`Value`].
//!
//! Parameters are written into the statement as SQL literals (quoted, so
//! no value is ever read as SQL) rather than bound: the shared statements
//! were written for a dialect whose parameters take any type, and an
//! untyped PostgreSQL literal, like SQLite's parameter, takes the type its
//! context asks for (`date_col = '2026-06-15'`, `n > 5`).

use postgres::types::{FromSql, Type};
use postgres::{Client, NoTls};

use crate::diagnostic::codes;
use crate::runtime::engine::Value;
use crate::runtime::RuntimeError;
use crate::sql::types::{ident, string};

/// Connects to the server the variable `url_env` points at, and makes
/// `schema` the one every unqualified name is looked up in (a source's
/// table, the system tables, the data tables).
pub fn connect(url_env: &str, schema: &str) -> Result<Client, RuntimeError> {
    let url = match std::env::var(url_env) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            return Err(RuntimeError::Server {
                code: codes::E0360,
                message: format!(
                    "bpl.toml chooses the PostgreSQL engine, whose connection URL is read from the environment variable `{url_env}`, which is not set"
                ),
                help: format!(
                    "export {url_env}=postgresql://USER@HOST/DATABASE (a password goes in ~/.pgpass or PGPASSWORD, never in bpl.toml); `url_env` under `[postgres]` in bpl.toml names another variable"
                ),
            })
        }
    };
    let config: postgres::Config = url.parse().map_err(|e| RuntimeError::Server {
        code: codes::E0360,
        message: format!("`{url_env}` is not a PostgreSQL connection URL: {e}"),
        help: format!(
            "set {url_env} to a URL like postgresql://USER@HOST:5432/DATABASE or key=value settings (host=... dbname=...)"
        ),
    })?;
    let mut client = config
        .connect(NoTls)
        .map_err(|e| connect_error(&e, url_env))?;
    use_schema(&mut client, schema)?;
    Ok(client)
}

/// Makes `schema` the connection's: it must exist and the role must be
/// able to create tables in it.
fn use_schema(client: &mut Client, schema: &str) -> Result<(), RuntimeError> {
    let found = client
        .query_opt(
            "SELECT has_schema_privilege(current_user, oid, 'USAGE'),
                    has_schema_privilege(current_user, oid, 'CREATE')
             FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .map_err(|e| query_error(&e))?;
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .map_err(|e| query_error(&e))?
        .get(0);
    let refuse = |what: String| {
        RuntimeError::Server {
        code: codes::E0363,
        message: what,
        help: format!(
            "create it as its owner: `CREATE SCHEMA {s} AUTHORIZATION {u};`, or grant it: `GRANT USAGE, CREATE ON SCHEMA {s} TO {u};`; or name another one with `schema` under `[postgres]` in bpl.toml",
            s = ident(schema),
            u = ident(&user)
        ),
    }
    };
    match found {
        None => {
            // A role that may create schemas gets its project's at once.
            if let Err(e) = client.batch_execute(&format!("CREATE SCHEMA {}", ident(schema))) {
                let why = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                return Err(refuse(format!(
                    "the schema `{schema}` does not exist in the database, and the role `{user}` cannot create it: {why}"
                )));
            }
        }
        Some(row) => {
            let (usage, create): (bool, bool) = (row.get(0), row.get(1));
            if !usage || !create {
                return Err(refuse(format!(
                    "the role `{user}` may not {} the schema `{schema}`",
                    if usage { "create tables in" } else { "use" }
                )));
            }
        }
    }
    client
        .batch_execute(&format!("SET search_path TO {}", ident(schema)))
        .map_err(|e| query_error(&e))
}

/// Why a connection could not be opened.
fn connect_error(e: &postgres::Error, url_env: &str) -> RuntimeError {
    use postgres::error::SqlState;
    let detail = e.as_db_error().map_or_else(
        || {
            std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string())
        },
        |d| d.message().to_string(),
    );
    match e.code() {
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => RuntimeError::Server {
            code: codes::E0362,
            message: format!("the database in `{url_env}` does not exist: {detail}"),
            help: format!("create it (`createdb NAME`), or point {url_env} at an existing database"),
        },
        Some(_) => RuntimeError::Server {
            code: codes::E0362,
            message: format!("the PostgreSQL server refused the login of `{url_env}`: {detail}"),
            help: format!(
                "check the user in {url_env} and its password (in ~/.pgpass or PGPASSWORD), and that pg_hba.conf lets it connect to the database"
            ),
        },
        None if e.to_string().contains("password") => RuntimeError::Server {
            code: codes::E0362,
            message: format!("the PostgreSQL server asks for a password that `{url_env}` does not give: {detail}"),
            help: "put the password in ~/.pgpass or PGPASSWORD (never in bpl.toml)".into(),
        },
        None => RuntimeError::Server {
            code: codes::E0361,
            message: format!("cannot reach the PostgreSQL server of `{url_env}`: {detail}"),
            help: format!(
                "start the server, or fix the host and port in {url_env} (for a throw-away server: `scripts/with-postgres COMMAND`)"
            ),
        },
    }
}

/// An error of a statement: a lost connection and a missing privilege are
/// coded; anything else is the engine's message.
pub fn query_error(e: &postgres::Error) -> RuntimeError {
    use postgres::error::SqlState;
    // A statement's own errors come from the server; one that does not is
    // the connection's (closed, reset, a read or write that failed).
    let io = e.as_db_error().is_none()
        && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let lost = e.is_closed()
        || io
        || e.to_string().contains("communicating with the server")
        || e.code().is_some_and(|c| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CONNECTION_FAILURE,
                SqlState::CONNECTION_EXCEPTION,
            ]
            .contains(c)
        });
    let detail = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string());
    if lost {
        return RuntimeError::Server {
            code: codes::E0364,
            message: format!("the connection to the PostgreSQL server was lost: {detail}"),
            help: "nothing of an unfinished transaction is kept; once the server is back, `bplc recover RUN` settles the run from what was committed".into(),
        };
    }
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return RuntimeError::Server {
            code: codes::E0363,
            message: format!("the PostgreSQL role lacks a privilege: {detail}"),
            help: "grant the role USAGE and CREATE on the project's schema and SELECT on the source tables (see the book's Engines page)".into(),
        };
    }
    RuntimeError::Engine(format!("PostgreSQL: {detail}"))
}

/// A value written into a statement as a literal.
pub fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) if f.is_finite() => format!("CAST({f:?} AS double precision)"),
        Value::Real(f) => format!("CAST('{f}' AS double precision)"),
        Value::Text(t) => string(t),
        Value::Blob(b) => format!(
            "'\\x{}'::bytea",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// `sql` with each `:name` parameter written in as its value's literal;
/// one the values do not name is NULL, as an unbound parameter is.
/// String literals, quoted identifiers and `::` casts are left alone.
pub fn inline(sql: &str, values: &[(String, Value)]) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
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

/// Any column, read as the runtime's value: booleans as 0 and 1 (as
/// SQLite gives them), `numeric` as an integer when it is whole.
pub struct Cell(pub Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let v = match *ty {
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)? as i64),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)? as i64),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)? as i64),
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::OID => Value::Integer(u32::from_sql(ty, raw)? as i64),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)? as f64),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::JSONB => {
                Value::Text(String::from_utf8_lossy(raw.get(1..).unwrap_or_default()).into_owned())
            }
            Type::BYTEA => Value::Blob(raw.to_vec()),
            // A date or timestamp (a source's in the server's own types, a
            // data table's or a consumer view's) reads as the canonical
            // text the runtime computes on, as SQLite's do.
            Type::DATE => Value::Text(date(i32::from_sql(&Type::INT4, raw)?)),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                Value::Text(timestamp(i64::from_sql(&Type::INT8, raw)?))
            }
            // text, varchar, name, json, unknown: UTF-8 in the binary format.
            _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// PostgreSQL's epoch for dates and timestamps in the binary format.
fn epoch() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

/// A `date` (days since 2000-01-01) as `YYYY-MM-DD`; the infinities as
/// PostgreSQL writes them.
fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => (epoch() + chrono::Duration::days(d as i64))
            .format("%Y-%m-%d")
            .to_string(),
    }
}

/// A `timestamp` or `timestamptz` (microseconds since 2000-01-01 UTC) as
/// the canonical `YYYY-MM-DD HH:MM:SS`, with a fraction only if it has one
/// (which the typed boundary then refuses, as on SQLite).
fn timestamp(micros: i64) -> String {
    match micros {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        m => {
            let t = epoch() + chrono::Duration::microseconds(m);
            if m.rem_euclid(1_000_000) == 0 {
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            } else {
                t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            }
        }
    }
}

/// A `numeric` in PostgreSQL's binary format: digit count, weight, sign,
/// display scale, then base-10000 digits.
fn numeric(raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let word = |k: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
        raw.get(2 * k..2 * k + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a short numeric".into())
    };
    let (ndigits, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut whole: Option<i128> = Some(0);
    let mut fraction = 0.0f64;
    for k in 0..ndigits as i32 {
        let digit = word(4 + k as usize)? as i128;
        let power = weight as i32 - k;
        if power >= 0 {
            whole = whole.and_then(|w| {
                10_000i128
                    .checked_pow(power as u32)?
                    .checked_mul(digit)?
                    .checked_add(w)
            });
        } else {
            fraction += digit as f64 * 10_000f64.powi(power);
        }
    }
    let Some(whole) = whole else {
        // Too large for an integer: read its text as a float.
        let text = numeric_text(raw)?;
        return Ok(Value::Real(text.parse::<f64>().unwrap_or(f64::NAN)));
    };
    let whole = if negative { -whole } else { whole };
    if dscale == 0 && fraction == 0.0 {
        if let Ok(i) = i64::try_from(whole) {
            return Ok(Value::Integer(i));
        }
    }
    let f = whole as f64 + if negative { -fraction } else { fraction };
    Ok(Value::Real(f))
}

/// The decimal text of a binary `numeric`, for values past an integer.
fn numeric_text(raw: &[u8]) -> Result<String, Box<dyn std::error::Error + Sync + Send>> {
    let word = |k: usize| -> i16 {
        raw.get(2 * k..2 * k + 2)
            .map_or(0, |b| i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign) = (word(0), word(1), word(2) as u16);
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    for k in 0..ndigits {
        s.push_str(&format!("{:04}", word(4 + k as usize)));
    }
    let exponent = 4 * (weight as i32 + 1 - ndigits as i32);
    Ok(format!("{s}e{exponent}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_written_in_outside_quotes_and_casts() {
        let v = vec![
            (":p".to_string(), Value::Text("2026-06-15".into())),
            (":n".to_string(), Value::Integer(3)),
            (":o".to_string(), Value::Text("it's".into())),
        ];
        assert_eq!(
            inline("SELECT :p, ':p', \":p\", x::text, :n + 1, :o, :missing", &v),
            "SELECT '2026-06-15', ':p', \":p\", x::text, 3 + 1, 'it''s', NULL"
        );
        // A longer name is not its prefix.
        assert_eq!(inline(":p_region = :p", &v), "NULL = '2026-06-15'");
    }

    #[test]
    fn dates_and_timestamps_read_as_the_runtime_keeps_them() {
        assert_eq!(super::date(0), "2000-01-01");
        assert_eq!(super::date(9_678), "2026-07-01");
        assert_eq!(super::date(-1), "1999-12-31");
        assert_eq!(super::timestamp(0), "2000-01-01 00:00:00");
        assert_eq!(super::timestamp(836_183_045_000_000), "2026-07-01 01:04:05");
        assert_eq!(super::timestamp(1_500_000), "2000-01-01 00:00:01.500000");
        assert_eq!(super::timestamp(-1_000_000), "1999-12-31 23:59:59");
    }

    #[test]
    fn numerics_read_as_integers_when_whole() {
        // 12345 (digits 1, 2345; weight 1), scale 0.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0, 1, 0x09, 0x29];
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(12345));
        // -1.5: digits 1, 5000; weight 0; scale 1.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw).unwrap(), Value::Real(-1.5));
    }
}
