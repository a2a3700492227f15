//! Tables of another schema of the same database as sources and
//! references (`table "raw.events"`): read where they are, never written.
//! Before a run reads one, its schema, the table and the role's right to
//! read them are checked, each with its own code, so a missing grant is
//! not mistaken for a missing table (the catalogue views hide what the
//! role may not read).

use postgres::Client;

use super::client::query_error;
use crate::diagnostic::codes;
use crate::runtime::RuntimeError;
use crate::sql::types::{ident, string};

fn flag(client: &mut Client, sql: &str) -> Result<bool, RuntimeError> {
    let row = client.query_one(sql, &[]).map_err(|e| query_error(&e))?;
    Ok(row.get::<_, Option<bool>>(0).unwrap_or(false))
}

/// Checks that the `kind` (`source`, `reference`) `decl` may read
/// `schema.table`.
pub fn check(
    client: &mut Client,
    kind: &str,
    decl: &str,
    schema: &str,
    table: &str,
) -> Result<(), RuntimeError> {
    let shown = format!("{schema}.{table}");
    let coded = |code, message: String, help: String| RuntimeError::Coded {
        code,
        message,
        help,
    };
    if !flag(
        client,
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {})",
            string(schema)
        ),
    )? {
        return Err(coded(
            codes::E0388,
            format!("the {kind} `{decl}` reads `{shown}`, but the database has no schema `{schema}`"),
            "create the schema and its table with the tools that load them, or fix the schema's name; bplc reads other schemas and never writes them".into(),
        ));
    }
    let role: String = client
        .query_one("SELECT CAST(current_user AS text)", &[])
        .map_err(|e| query_error(&e))?
        .get(0);
    let grant = format!(
        "GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON {s}.{t} TO {r}; (as the schema's owner)",
        s = ident(schema),
        t = ident(table),
        r = ident(&role)
    );
    if !flag(
        client,
        &format!("SELECT has_schema_privilege({}, 'USAGE')", string(schema)),
    )? {
        return Err(coded(
            codes::E0390,
            format!("the {kind} `{decl}` reads `{shown}`, but the role `{role}` may not use the schema `{schema}`"),
            grant,
        ));
    }
    let relation = format!(
        "(SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = {} AND c.relname = {} AND c.relkind IN ('r', 'v', 'm', 'p', 'f'))",
        string(schema),
        string(table)
    );
    if !flag(client, &format!("SELECT EXISTS {relation}"))? {
        let rows = client
            .query(
                &format!(
                    "SELECT CAST(c.relname AS text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = {} AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1 LIMIT 20",
                    string(schema)
                ),
                &[],
            )
            .map_err(|e| query_error(&e))?;
        let names: Vec<String> = rows
            .iter()
            .map(|r| format!("`{}`", r.get::<_, String>(0)))
            .collect();
        let holds = if names.is_empty() {
            "it holds no table".to_string()
        } else {
            format!("it has {}", names.join(", "))
        };
        return Err(coded(
            codes::E0389,
            format!("the {kind} `{decl}` reads `{shown}`, but the schema `{schema}` has no table `{table}`; {holds}"),
            format!("fix the table's name, or load the table into `{schema}` first; bplc reads other schemas and never writes them"),
        ));
    }
    if !flag(
        client,
        &format!("SELECT has_table_privilege({relation}, 'SELECT')"),
    )? {
        return Err(coded(
            codes::E0390,
            format!("the {kind} `{decl}` reads `{shown}`, but the role `{role}` may not read it"),
            grant,
        ));
    }
    Ok(())
}
