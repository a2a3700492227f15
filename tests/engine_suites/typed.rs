//! Typed outputs and `stable_id` on every engine: ids over every kind of
//! argument (a list among them) are the one definition's
//! (`bplc::sql::checksum::stable_id`), and on PostgreSQL dates and
//! timestamps are stored as `date` and `timestamptz`, a table an earlier
//! bplc kept as text being converted in place.

use bplc::sql::checksum::{stable_id, Canonical};
use serde_json::Value;

use super::{runtime_support, Engine, Project};

const AS_OF: &str = "2026-07-05T00:00:00Z";

/// Rows with ids over a list, an integer, a timestamp, a boolean, a null,
/// a decimal literal, a date, a duration and a month; and a roll-up of them reading the
/// published rows back (their dates and timestamps), with an id over a
/// `sum` of integers.
fn ids_project(engine: Engine) -> Project {
    let spec = format!(
        r#"{source}
dataset row_ids {{
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p

  compute {{
    from r
    select
      id = r.id,
      day = p,
      at = r.at,
      v = r.v,
      list_id = stable_id([r.day, p], r.v),
      mixed_id = stable_id(r.id, r.v, r.at, r.v > 5, null, 1.5, r.day, 1d, month(p))
  }}
}}

dataset day_ids {{
  version 1
  partition by day: date
  publish replace

  input rows = row_ids where day == p

  compute {{
    from rows
    group by day = p {{
      total = sum(rows.v)
      n = row_count()
      first_at = min(rows.at)
    }}
    derive day_id = stable_id(day, total, n, first_at)
  }}
}}
"#,
        source = runtime_support::readings_source("readings")
    );
    let p = Project::new(engine, &[("specs.bpl", &spec)]);
    p.exec("CREATE TABLE readings(id TEXT, v BIGINT, day TEXT, at TEXT)");
    p.exec(
        "INSERT INTO readings VALUES ('a', 5, '2026-07-01', '2026-07-01 08:30:00'), \
         ('b', 7, '2026-07-01', '2026-07-01 12:00:05')",
    );
    p
}

fn run(p: &Project, dataset: &str) -> Value {
    let (code, v) = p.json(&["run", dataset, "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{v}");
    v
}

fn checksum(run: &Value) -> String {
    run["outputs"][0]["checksum"].as_str().unwrap().to_string()
}

/// `id|list_id|mixed_id` of each row, as the one definition computes them.
fn expected_row_ids() -> Vec<String> {
    let day = b"2026-07-01";
    let mut rows: Vec<String> = [
        ("a", 5, "2026-07-01 08:30:00"),
        ("b", 7, "2026-07-01 12:00:05"),
    ]
    .iter()
    .map(|(id, v, at)| {
        let list = stable_id([
            Canonical::Text(day),
            Canonical::Text(day),
            Canonical::Integer(*v),
        ]);
        let mixed = stable_id([
            Canonical::Text(id.as_bytes()),
            Canonical::Integer(*v),
            Canonical::Text(at.as_bytes()),
            Canonical::Integer(i64::from(*v > 5)),
            Canonical::Null,
            // A decimal is its integer scaled by 10^scale.
            Canonical::Integer(15),
            Canonical::Text(day),
            // A duration literal is its seconds; a month its text.
            Canonical::Integer(86_400),
            Canonical::Text(b"2026-07"),
        ]);
        format!("{id}|{list}|{mixed}")
    })
    .collect();
    rows.sort();
    rows
}

/// Ids over every kind of argument are the same on every engine: each
/// equals the Rust definition's. A list argument counts as its items.
pub fn stable_ids_are_the_same_for_every_argument_type(engine: Engine) {
    let p = ids_project(engine);
    run(&p, "row_ids");
    run(&p, "day_ids");
    assert_eq!(
        p.rows("SELECT id, list_id, mixed_id FROM row_ids"),
        expected_row_ids()
    );
    let day_id = stable_id([
        Canonical::Text(b"2026-07-01"),
        Canonical::Integer(12),
        Canonical::Integer(2),
        Canonical::Text(b"2026-07-01 08:30:00"),
    ]);
    assert_eq!(p.rows("SELECT day_id FROM day_ids"), vec![day_id]);
    // A list is its items: the same id as the items written out.
    assert_eq!(
        p.rows("SELECT count(*) FROM row_ids WHERE list_id = mixed_id"),
        vec!["0"]
    );
}

/// The declared type of each column of a PostgreSQL table or view.
fn pg_types(p: &Project, table: &str) -> Vec<String> {
    p.rows(&format!(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = '{table}' \
         AND column_name IN ('day', 'at', 'first_at', 'v', 'total')"
    ))
}

/// Takes a data table back to the layout earlier bplc versions wrote: its
/// dates and timestamps as text, the consumer view over it.
fn to_text_layout(p: &Project, table: &str, timestamps: &[&str]) {
    let view = p.rows(&format!("SELECT pg_get_viewdef('{table}')"));
    let mut alter = vec!["ALTER COLUMN day TYPE text USING CAST(day AS text)".to_string()];
    alter.extend(timestamps.iter().map(|c| {
        format!(
            "ALTER COLUMN {c} TYPE text USING to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
        )
    }));
    p.exec(&format!(
        "DROP VIEW {table}; ALTER TABLE {table}__data {}; CREATE VIEW {table} AS {}",
        alter.join(", "),
        view[0]
    ));
}

/// On PostgreSQL a dataset's dates are `date` and its timestamps
/// `timestamptz`, in the data table and the view; the published rows read
/// back as the same values (the roll-up's checksum equals SQLite's, see
/// the cross-engine tests). A table kept as text by an earlier bplc is
/// converted in place by the next run, its published versions with it,
/// their checksums unchanged; one holding a value that is not a canonical
/// timestamp is refused with E0319, nothing changed.
pub fn dates_and_timestamps_are_stored_natively(engine: Engine) {
    let p = ids_project(engine);
    let first = checksum(&run(&p, "row_ids"));
    let rollup = checksum(&run(&p, "day_ids"));
    if engine == Engine::Sqlite {
        // SQLite has no date type: they stay canonical text.
        assert_eq!(
            p.rows("SELECT typeof(day), typeof(at) FROM row_ids__data LIMIT 1"),
            vec!["text|text"]
        );
        return;
    }
    for table in ["row_ids", "row_ids__data"] {
        assert_eq!(
            pg_types(&p, table),
            vec!["at|timestamp with time zone", "day|date", "v|bigint"],
            "{table}"
        );
    }
    assert_eq!(
        pg_types(&p, "day_ids__data"),
        vec![
            "day|date",
            "first_at|timestamp with time zone",
            "total|bigint"
        ]
    );
    assert_eq!(
        p.rows("SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM row_ids"),
        vec!["a|2026-07-01 08:30:00", "b|2026-07-01 12:00:05"]
    );

    // The layout of an earlier bplc: converted by the next run, the
    // published version too, with the same content.
    to_text_layout(&p, "row_ids", &["at"]);
    assert_eq!(pg_types(&p, "row_ids__data")[1], "day|text");
    let (code, v) = p.json(&["run", "row_ids", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(checksum(&v), first);
    assert_eq!(
        pg_types(&p, "row_ids__data"),
        vec!["at|timestamp with time zone", "day|date", "v|bigint"]
    );
    assert_eq!(checksum(&run(&p, "day_ids")), rollup);

    // A value no bplc wrote: refused, the table left as it was.
    to_text_layout(&p, "row_ids", &["at"]);
    p.exec("UPDATE row_ids__data SET at = 'about noon' WHERE id = 'a'");
    let (code, v) = p.json(&["run", "row_ids", "--date", "2026-07-01", "--as-of", AS_OF]);
    assert_ne!(code, 0, "{v}");
    assert_eq!(v["error"]["code"], "E0319", "{v}");
    assert!(
        v["error"]["help"]
            .as_str()
            .unwrap()
            .contains("row_ids__data"),
        "{v}"
    );
    assert_eq!(pg_types(&p, "row_ids__data")[1], "day|text");
}
