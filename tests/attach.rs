//! Sources in other SQLite databases: `[attach]` in bpl.toml, read-only.
//! A run reads them and never writes to them; a missing alias or file is
//! E0314 before anything is locked.

mod runtime_support;

use runtime_support::{readings_source, Project};

const AS_OF: &str = "2026-07-05T00:00:00Z";

const DAILY: &str = r#"dataset daily {
  version 1
  partition by day: date
  publish replace

  input r = readings where day == p

  compute {
    from r
    group by day = p {
      total = sum(r.v)
    }
  }
}
"#;

fn project(attach: &str) -> Project {
    let spec = format!("{}\n{DAILY}", readings_source("raw.readings"));
    let p = Project::new(&[("specs.bpl", &spec)]);
    std::fs::write(
        p.path().join("bpl.toml"),
        format!("name = \"test\"\ntime_zone = \"UTC\"\n{attach}"),
    )
    .unwrap();
    let _ = p.warehouse();
    std::fs::create_dir_all(p.path().join("landing")).unwrap();
    let raw = rusqlite::Connection::open(p.path().join("landing/raw.sqlite")).unwrap();
    raw.execute_batch(
        "CREATE TABLE readings(id TEXT, v INTEGER, day TEXT, at TEXT);
         INSERT INTO readings VALUES ('a', 5, '2026-07-01', '2026-07-01 10:00:00'),
                                     ('b', 7, '2026-07-01', '2026-07-01 11:00:00');",
    )
    .unwrap();
    p
}

const RUN: &[&str] = &["run", "daily", "--date", "2026-07-01", "--as-of", AS_OF];

#[test]
fn a_source_reads_an_attached_database_and_never_writes_it() {
    let p = project("[attach]\nraw = \"landing/raw.sqlite\"\n");
    let raw = p.path().join("landing/raw.sqlite");
    let before = std::fs::read(&raw).unwrap();
    let (code, out) = p.json(RUN);
    assert_eq!(code, 0, "{out}");
    assert_eq!(p.count("SELECT total FROM daily"), 12);
    // Not a byte changed, and no journal next to it.
    assert_eq!(std::fs::read(&raw).unwrap(), before);
    assert!(!p.path().join("landing/raw.sqlite-wal").exists());
    // The warehouse holds no copy of the source.
    assert_eq!(
        p.count("SELECT count(*) FROM sqlite_master WHERE name = 'readings'"),
        0
    );
}

#[test]
fn an_undeclared_alias_or_a_missing_file_is_e0314() {
    let p = project("");
    let (code, _, err) = p.text(RUN);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("E0314") && err.contains("attaches no database `raw`"),
        "{err}"
    );

    let p = project("[attach]\nraw = \"landing/nowhere.sqlite\"\n");
    let (_, _, err) = p.text(RUN);
    assert!(
        err.contains("E0314") && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        !p.path().join("landing/nowhere.sqlite").exists(),
        "not created"
    );
}

#[test]
fn an_alias_must_be_a_word_and_not_main() {
    let p = project("[attach]\nmain = \"landing/raw.sqlite\"\n");
    let out = p.bplc().arg("check").arg(p.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("E0009") && err.contains("`main` cannot name an attached database"),
        "{err}"
    );
}
