//! Schema changes: a declaration that adds, removes or retypes columns
//! after partitions were published. A run is refused with E0312 and the
//! command to run; `backfill --mode migration` rebuilds the storage and
//! publishes the partitions again, keeping every earlier version.

mod runtime_support;

use runtime_support::{reading, readings_source, Project};

const AS_OF: &str = "2026-06-10T00:00:00Z";

fn daily(version: u32, aggregates: &str) -> String {
    format!(
        r#"dataset daily {{
  version {version}
  partition by day: date
  publish versioned

  input r = readings where day == p

  compute {{
    from r
    group by day = p {{
{aggregates}
    }}
  }}
}}
"#
    )
}

fn project(spec: &str) -> Project {
    let source = readings_source("readings");
    let p = Project::new(&[("sources.bpl", &source), ("daily.bpl", spec)]);
    p.warehouse()
        .execute_batch("CREATE TABLE readings(id TEXT, v INTEGER, day TEXT, at TEXT);")
        .unwrap();
    p
}

fn rewrite(p: &Project, spec: &str) {
    std::fs::write(p.path().join("daily.bpl"), spec).unwrap();
}

fn names(p: &Project, table: &str) -> Vec<String> {
    let c = p.warehouse();
    let mut stmt = c.prepare(&format!("PRAGMA table_info({table})")).unwrap();
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    names
}

#[test]
fn a_changed_schema_is_refused_with_the_migration_command_then_migrated() {
    let p = project(&daily(1, "      total = sum(r.v)\n      n = row_count()"));
    for (id, v, day) in [
        ("a", 5, "2026-06-01"),
        ("b", 7, "2026-06-02"),
        ("c", 9, "2026-06-03"),
    ] {
        reading(&p, id, v, day);
    }
    let (code, out) = p.json(&[
        "run",
        "daily",
        "--range",
        "2026-06-01..2026-06-03",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{out}");

    // Version 2 adds `biggest`, removes `n` and makes `total` a string.
    rewrite(
        &p,
        &daily(2, "      total = max(r.id)\n      biggest = max(r.v)"),
    );
    let (code, _, err) = p.text(&["run", "daily", "--date", "2026-06-03", "--as-of", AS_OF]);
    assert_eq!(code, 1, "{err}");
    for said in [
        "E0312",
        "adds `biggest`",
        "removes `n`",
        "retypes `total` from INTEGER to TEXT",
        "bplc backfill --from daily --range 2026-06-01..2026-06-03 --mode migration",
    ] {
        assert!(err.contains(said), "{said} in: {err}");
    }
    // Refused before anything was staged: version 1 alone is stored.
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data WHERE _bpl_version <> 1"),
        0
    );

    let (code, report) = p.json(&[
        "backfill",
        "--from",
        "daily",
        "--range",
        "2026-06-01..2026-06-03",
        "--mode",
        "migration",
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(code, 0, "{report}");
    let migrated = report["steps"][0]["migrated"].as_str().unwrap_or_default();
    assert!(migrated.contains("adds `biggest`"), "{report}");
    assert_eq!(report["totals"]["published"], 3, "{report}");

    // The view shows exactly the new columns, in their new types.
    assert_eq!(
        names(&p, "daily"),
        [
            "day",
            "total",
            "biggest",
            "_bpl_run_id",
            "_bpl_as_of",
            "_bpl_row_id"
        ]
    );
    assert_eq!(
        p.count("SELECT count(*) FROM daily WHERE typeof(total) <> 'text'"),
        0
    );
    assert_eq!(
        p.count("SELECT count(*) FROM daily WHERE total = 'c' AND biggest = 9"),
        1
    );
    // Version 1 stays, with the removed column's values, for rollback.
    assert_eq!(
        p.count("SELECT count(*) FROM daily__data WHERE _bpl_version = 1 AND n = 1"),
        3
    );
    let (code, out) = p.json(&[
        "rollback",
        "daily",
        "--partition",
        "2026-06-01",
        "--to-version",
        "1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        p.count("SELECT count(*) FROM daily WHERE day = '2026-06-01' AND biggest IS NULL"),
        1
    );

    // The next run stages into the new schema.
    reading(&p, "d", 11, "2026-06-03");
    let (code, out) = p.json(&["run", "daily", "--date", "2026-06-03", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        p.count("SELECT count(*) FROM daily WHERE day = '2026-06-03' AND biggest = 11"),
        1
    );
}

#[test]
fn a_dataset_with_nothing_published_takes_its_new_schema_on_the_next_run() {
    let p = project(&daily(1, "      total = sum(r.v)"));
    // Storage from an earlier attempt that never published.
    p.warehouse()
        .execute_batch(
            "CREATE TABLE daily__data (day TEXT, total INTEGER, _bpl_partition TEXT NOT NULL,
               _bpl_version INTEGER NOT NULL, _bpl_run_id TEXT NOT NULL,
               _bpl_as_of TEXT NOT NULL, _bpl_row_id TEXT NOT NULL);",
        )
        .unwrap();
    rewrite(
        &p,
        &daily(1, "      total = sum(r.v)\n      n = row_count()"),
    );
    reading(&p, "a", 5, "2026-06-01");
    let (code, out) = p.json(&["run", "daily", "--date", "2026-06-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        p.count("SELECT count(*) FROM daily WHERE total = 5 AND n = 1"),
        1
    );
}

/// A warehouse written before the run id and processing time moved from
/// every row to `_bpl_staged` is brought to today's layout by the next
/// command that prepares the dataset, its history intact.
#[test]
fn a_warehouse_of_the_earlier_layout_is_upgraded_in_place() {
    let p = project(&daily(1, "      total = sum(r.v)"));
    reading(&p, "a", 5, "2026-06-01");
    let (code, out) = p.json(&["run", "daily", "--date", "2026-06-01", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{out}");
    let run = p.rows("SELECT _bpl_run_id FROM daily");
    // Rewrite the storage as the earlier layout kept it.
    p.warehouse()
        .execute_batch(
            "DROP VIEW daily;
             ALTER TABLE daily__data ADD COLUMN _bpl_run_id TEXT;
             ALTER TABLE daily__data ADD COLUMN _bpl_as_of TEXT;
             UPDATE daily__data SET (_bpl_run_id, _bpl_as_of) =
               (SELECT run_id, as_of FROM _bpl_staged s WHERE s.dataset = 'daily'
                  AND s.partition = _bpl_partition AND s.version = _bpl_version);
             DELETE FROM _bpl_staged;
             CREATE INDEX daily__data_run ON daily__data (_bpl_run_id);
             CREATE VIEW \"daily\" AS SELECT d.day, d.total, d._bpl_run_id, d._bpl_as_of, d._bpl_row_id
               FROM \"daily__data\" AS d JOIN _bpl_pointer AS p ON p.dataset = 'daily'
               AND p.partition = d._bpl_partition AND p.version = d._bpl_version;",
        )
        .unwrap();

    reading(&p, "b", 7, "2026-06-02");
    let (code, out) = p.json(&["run", "daily", "--date", "2026-06-02", "--as-of", AS_OF]);
    assert_eq!(code, 0, "{out}");
    assert!(!names(&p, "daily__data").iter().any(|n| n == "_bpl_run_id"));
    assert_eq!(
        p.count("SELECT count(*) FROM _bpl_staged WHERE dataset = 'daily'"),
        2
    );
    assert_eq!(
        p.rows("SELECT _bpl_run_id FROM daily WHERE day = '2026-06-01'"),
        run,
        "the first run's id survives the upgrade"
    );
    assert_eq!(p.count("SELECT count(*) FROM daily"), 2);
}
