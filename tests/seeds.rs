//! Seeds: references kept in the project as CSV files, loaded by `bplc
//! seed` or by a run that binds them, versioned by their content hash —
//! recorded in each run's bindings, checked for `pinned` bindings, and a
//! changed seed reported with the datasets that bind it.

mod runtime_support;

use runtime_support::*;
use serde_json::Value;

fn spec(policy: &str) -> String {
    format!(
        r#"source events {{
  files "landing/*.csv" as csv
  columns {{
    event_id: string
    amount: int
    event_time: timestamp
    region: string
  }}
  key event_id
  clock event = event_time
}}

reference targets {{
  seed "seeds/targets.csv"
  columns {{
    region: string
    target: int
  }}
  key region
}}

dataset above_target {{
  version 1
  partition by day: date
  publish replace
  input ev = events where to_date(event_time, "UTC") == p
  bind t = targets {policy}
  compute {{
    from ev
    join t on t.region == ev.region
    group by day = p {{
      above = count(ev.amount > t.target)
    }}
  }}
}}

/// Downstream of the seed, through `above_target`.
dataset above_total {{
  version 1
  partition by day: date
  publish replace
  input a = above_target where day == p
  compute {{
    from a
    group by day = p {{
      n = sum(a.above)
    }}
  }}
}}
"#
    )
}

const TARGETS: &str = "region,target\nnorth,5\nsouth,30\n";

fn project(policy: &str) -> Project {
    let p = Project::new(&[("specs.bpl", &spec(policy))]);
    for dir in ["landing", "seeds"] {
        std::fs::create_dir_all(p.path().join(dir)).unwrap();
    }
    std::fs::write(
        p.path().join("landing/a.csv"),
        "event_id,amount,event_time,region\ne1,10,2026-06-01 10:00:00,north\ne2,20,2026-06-01 11:00:00,south\n",
    )
    .unwrap();
    std::fs::write(p.path().join("seeds/targets.csv"), TARGETS).unwrap();
    p
}

fn run(p: &Project) -> (i32, Value) {
    p.json(&[
        "run",
        "above_target",
        "--date",
        "2026-06-01",
        "--as-of",
        "2026-06-02T00:00:00Z",
    ])
}

fn seed(p: &Project) -> Value {
    let (c, v) = p.json(&["seed"]);
    assert_eq!(c, 0, "{v}");
    v["seeds"][0].clone()
}

#[test]
fn a_seed_is_loaded_versioned_by_its_hash_and_a_change_names_who_binds_it() {
    let p = project(r#"latest because "reviewed in the repository""#);
    let first = seed(&p);
    assert_eq!(first["outcome"], "loaded");
    assert_eq!(first["rows"], 2);
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    assert_eq!(seed(&p)["outcome"], "unchanged");

    let (c, v) = run(&p);
    assert_eq!(c, 0, "{v}");
    let hash = first["hash"].as_str().unwrap();
    assert_eq!(
        v["bindings"][0]["version"],
        format!("sha256:{}", &hash[..12]),
        "{v}"
    );
    assert_eq!(p.rows("SELECT above FROM above_target"), vec!["Integer(1)"]);

    std::fs::write(
        p.path().join("seeds/targets.csv"),
        "region,target\nnorth,5\nsouth,10\n",
    )
    .unwrap();
    let changed = seed(&p);
    assert_eq!(changed["outcome"], "changed");
    assert_eq!(changed["previous"], first["hash"]);
    assert_eq!(changed["bound_by"], serde_json::json!(["above_target"]));
    let (c, v) = run(&p);
    assert_eq!(c, 0, "{v}");
    assert_ne!(
        v["bindings"][0]["version"],
        format!("sha256:{}", &hash[..12])
    );
    assert_eq!(p.rows("SELECT above FROM above_target"), vec!["Integer(2)"]);
}

#[test]
fn a_run_loads_the_seeds_it_binds_and_a_pin_refuses_other_content() {
    let hash = {
        let p = project(r#"latest because "to learn the hash""#);
        seed(&p)["hash"].as_str().unwrap()[..10].to_string()
    };
    let p = project(&format!("pinned \"{hash}\""));
    let (c, v) = run(&p);
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["bindings"][0]["policy"], "pinned");

    std::fs::write(
        p.path().join("seeds/targets.csv"),
        "region,target\nnorth,5\nsouth,10\n",
    )
    .unwrap();
    let (c, v) = run(&p);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["error"]["code"], "E0318", "{v}");
}

#[test]
fn a_seed_value_not_of_its_type_is_an_error_and_nothing_is_loaded() {
    let p = project(r#"latest because "reviewed in the repository""#);
    assert_eq!(seed(&p)["rows"], 2);
    std::fs::write(
        p.path().join("seeds/targets.csv"),
        "region,target\nnorth,five\n",
    )
    .unwrap();
    let (c, v) = p.json(&["seed"]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["error"]["code"], "E0317");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(
            "line 2 of the seed `seeds/targets.csv`: target: \"five\" is not a valid int"
        ),
        "{v}"
    );
    assert_eq!(p.count("SELECT count(*) FROM targets"), 2);
    std::fs::write(p.path().join("seeds/targets.csv"), "region\nnorth\n").unwrap();
    let (c, v) = p.json(&["seed"]);
    assert_eq!(
        (c, v["error"]["code"].clone()),
        (1, Value::from("E0317")),
        "{v}"
    );
}

/// Each partition's state and its stale causes' `via`, by dataset.
fn states(p: &Project) -> Vec<String> {
    let (c, v) = p.json(&["status", "--as-of", "2026-06-02T00:30:00Z"]);
    assert!(c == 0 || c == 1, "{v}");
    let mut out = Vec::new();
    for d in v["datasets"].as_array().unwrap() {
        for part in d["partitions"].as_array().unwrap() {
            let via: Vec<String> = part["stale_because"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}:{}",
                        c["via"].as_str().unwrap(),
                        c["upstream"].as_str().unwrap()
                    )
                })
                .collect();
            out.push(format!(
                "{} {} {} {}",
                d["dataset"].as_str().unwrap(),
                part["partition"].as_str().unwrap(),
                part["state"].as_str().unwrap(),
                via.join(",")
            ));
        }
    }
    out
}

/// Editing a seed's file makes stale every partition that read the old
/// content, and those downstream of them, before any run reads it; the
/// plan from the seed reaches the same partitions; a run reading the new
/// content makes its partition fresh again.
#[test]
fn a_changed_seed_makes_what_read_it_stale_and_plans_its_recompute() {
    let p = project(r#"latest because "reviewed in the repository""#);
    let (c, v) = run(&p);
    assert_eq!(c, 0, "{v}");
    let (c, v) = p.json(&[
        "run",
        "above_total",
        "--date",
        "2026-06-01",
        "--as-of",
        "2026-06-02T00:00:00Z",
    ]);
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        states(&p),
        [
            "above_target 2026-06-01 fresh ",
            "above_total 2026-06-01 fresh "
        ]
    );

    std::fs::write(
        p.path().join("seeds/targets.csv"),
        "region,target\nnorth,5\nsouth,10\n",
    )
    .unwrap();
    assert_eq!(
        states(&p),
        [
            "above_target 2026-06-01 stale seed:targets",
            "above_total 2026-06-01 stale seed:targets"
        ]
    );
    let (c, out, _) = p.text(&["status", "--as-of", "2026-06-02T00:30:00Z"]);
    assert!(c == 0 || c == 1, "{out}");
    assert!(out.contains("seed targets changed: sha256:"), "{out}");

    let (c, v) = p.json(&["plan-backfill", "--from", "targets"]);
    assert_eq!(c, 0, "{v}");
    let planned: Vec<&str> = v["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dataset"].as_str().unwrap())
        .collect();
    assert!(
        planned.contains(&"above_target") && planned.contains(&"above_total"),
        "{v}"
    );

    // A run reads (and loads) the new content: its partition is fresh;
    // the one downstream is still stale, by the seed and by its input
    // published again.
    let (c, v) = run(&p);
    assert_eq!(c, 0, "{v}");
    assert_eq!(
        states(&p),
        [
            "above_target 2026-06-01 fresh ",
            "above_total 2026-06-01 stale input:above_target,seed:targets"
        ]
    );
}

/// Rewrites the project's specs, each `(from, to)` in turn.
fn respec(p: &Project, edits: &[(&str, &str)]) {
    let path = p.path().join("specs.bpl");
    let mut spec = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(spec.contains(from), "{from}");
        spec = spec.replace(from, to);
    }
    std::fs::write(path, spec).unwrap();
}

/// A seed is read with the CSV options of a landing folder: delimiter,
/// quote, null marker, encoding and `no header`; a bad option is E0315
/// from `bplc check`, and a malformed line of a seed is E0317.
#[test]
fn a_seed_is_read_with_the_csv_options_it_states() {
    let p = project(r#"latest because "reviewed in the repository""#);
    respec(
        &p,
        &[
            (
                r#"seed "seeds/targets.csv""#,
                r#"seed "seeds/targets.txt" delimiter ";" null "NA" encoding "latin1" no header"#,
            ),
            ("target: int", "target: int?\n    name: string"),
        ],
    );
    // Latin-1 bytes (Malm\xf6), `;` between fields, `NA` for a null, no header.
    std::fs::write(
        p.path().join("seeds/targets.txt"),
        b"north;5;Malm\xf6\nsouth;NA;Sundsvall\n",
    )
    .unwrap();
    let loaded = seed(&p);
    assert_eq!(loaded["outcome"], "loaded", "{loaded}");
    assert_eq!(loaded["rows"], 2);
    assert_eq!(
        p.rows("SELECT region || '/' || coalesce(target, 'null') || '/' || name FROM targets"),
        ["Text(\"north/5/Malmö\")", "Text(\"south/null/Sundsvall\")"]
    );

    // A line of the wrong width is an error to fix, naming the line.
    std::fs::write(p.path().join("seeds/targets.txt"), b"north;5\n").unwrap();
    let (c, v) = p.json(&["seed"]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["error"]["code"], "E0317", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(
            "line 1 of the seed `seeds/targets.txt`: 2 field(s), but the source declares 3"
        ),
        "{v}"
    );

    respec(&p, &[(r#"delimiter ";""#, r#"delimiter ";;""#)]);
    let out = p
        .bplc()
        .args(["--format", "json", "check"])
        .arg(p.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("E0315"), "{text}");
}

/// A seed's table is one of the warehouse: one naming another database's
/// table is refused, and that table is never written.
#[test]
fn a_seed_naming_another_databases_table_is_refused() {
    let p = project(r#"latest because "reviewed in the repository""#);
    respec(
        &p,
        &[(
            r#"seed "seeds/targets.csv""#,
            "seed \"seeds/targets.csv\"\n  table \"raw.targets\"",
        )],
    );
    let (c, v) = p.json(&["seed"]);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["error"]["code"], "E0317", "{v}");
    assert!(v.to_string().contains("reads and never writes"), "{v}");
}
