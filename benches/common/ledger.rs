//! The ledger's run times, as `bplc runs --format json` reports them: where
//! a `bplc` command's time went, run by run (`backfill`, `pipeline`).
//! Included with `#[path]`, like `common`.

use std::time::SystemTime;

use serde_json::Value as Json;

pub struct Run {
    pub dataset: String,
    pub planned: SystemTime,
    pub finished: SystemTime,
}

fn time(t: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(SystemTime::from)
        .unwrap_or_else(|e| panic!("`{t}` is not a ledger time: {e}"))
}

/// The runs of `bplc runs --format json`'s output.
pub fn runs(report: &Json) -> Vec<Run> {
    report
        .as_array()
        .expect("a list of runs")
        .iter()
        .map(|r| Run {
            dataset: r["dataset"].as_str().expect("a dataset").to_string(),
            planned: time(r["planned_at"].as_str().expect("planned_at")),
            finished: time(r["finished_at"].as_str().expect("finished_at")),
        })
        .collect()
}
