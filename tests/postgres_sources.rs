//! Sources on the PostgreSQL engine (feature `postgres`): landing files
//! and seeds ingested into the project's schema, and tables of another
//! schema read without ever being written. Run under
//! `scripts/with-postgres`, which exports `BPLC_POSTGRES_URL`; without it
//! every test here fails, saying so.

mod runtime_support;

use runtime_support::Project;
use serde_json::Value;

fn server_url() -> String {
    std::env::var("BPLC_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "BPLC_POSTGRES_URL is not set: run the PostgreSQL tests under a server, \
             `scripts/with-postgres cargo test --all-features`"
        )
    })
}

fn client() -> postgres::Client {
    postgres::Client::connect(&server_url(), postgres::NoTls).unwrap()
}

/// `bpl.toml` of a project pointed at an engine: PostgreSQL in `schema`
/// (created afresh), or SQLite.
fn on_engine(p: &Project, engine: &str, schema: &str) {
    let toml = p.path().join("bpl.toml");
    let text: String = std::fs::read_to_string(&toml)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("engine"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut text = text.replacen('\n', &format!("\nengine = \"{engine}\"\n"), 1);
    if engine == "postgres" {
        client()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        text.push_str(&format!("\n[postgres]\nschema = \"{schema}\"\n"));
    }
    std::fs::write(&toml, text).unwrap();
}

fn ok(p: &Project, args: &[&str]) -> Value {
    let (code, v) = p.json(args);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {v}");
    v
}

/// Per run: the dataset, each partition's counters, checksum and
/// decision, and each binding's version and checksum.
fn results(p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for run in ok(p, &["runs"]).as_array().unwrap() {
        let show = ok(p, &["show", run["run_id"].as_str().unwrap()]);
        for o in show["outputs"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} {} counters={} checksum={} decision={}",
                show["dataset"], o["partition"], o["counters"], o["checksum"], o["decision"]
            ));
        }
        for b in show["bindings"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} binding {} {} rows={} checksum={}",
                show["dataset"], b["alias"], b["version"], b["rows"], b["checksum"]
            ));
        }
    }
    out.sort();
    out
}

/// The landing-folder example end to end — demo data, the files ingested,
/// a backfill over the fortnight — gives the same files, rows and
/// malformed lines, and the same counters, checksums, decisions and seed
/// versions for every partition, on both engines.
#[test]
fn the_landing_example_gives_the_same_results_on_both_engines() {
    server_url();
    let mut seen = Vec::new();
    for engine in ["sqlite", "postgres"] {
        let p = Project::example("enforcement_landing");
        on_engine(&p, engine, "t_src_landing");
        ok(&p, &["demo-data", "--rows", "400", "--days", "14"]);
        let ingested = ok(&p, &["ingest", "--as-of", "2026-06-15T02:00:00Z"]);
        let files = &ingested["sources"][0]["files"];
        assert_eq!(files.as_array().map(Vec::len), Some(15), "{ingested}");
        let seeded = ok(&p, &["seed"]);
        assert_eq!(seeded["seeds"][0]["outcome"], "loaded", "{seeded}");
        let (code, backfill) = p.json(&[
            "backfill",
            "--from",
            "raw_case_events",
            "--range",
            "2026-06-01..2026-06-14",
            "--mode",
            "replace",
            "--as-of",
            "2026-06-15T02:00:00Z",
        ]);
        let mut result = results(&p);
        assert!(result.len() > 20, "{engine}: {backfill}\n{result:#?}");
        result.push(format!("backfill exit {code}"));
        result.push(format!("ingested {files}"));
        seen.push(result);
    }
    let (lite, pg) = (&seen[0], &seen[1]);
    for (a, b) in lite.iter().zip(pg) {
        assert_eq!(a, b, "SQLite (left) and PostgreSQL (right) differ");
    }
    assert_eq!(lite.len(), pg.len());
}
