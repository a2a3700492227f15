//! `bplc metrics`: the ledger and the status as Prometheus text exposition
//! (format 0.0.4), for the node exporter's textfile collector. Names are
//! `bplc_` plus snake case with the unit last; counters end in `_total`;
//! times are Unix seconds (`_timestamp_seconds`).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::status::{Report, State};
use crate::runtime::manifest::{Manifest, Status};

/// Below this, a partition is small: its overhead (a version, a pointer,
/// files on an object store) outweighs its data. The seed's small-files
/// problem; `bplc_partition_bytes` lets an alert pick its own threshold.
pub const SMALL_PARTITION_BYTES: i64 = 1 << 20;

/// One metric family: its samples as `(labels, value)`.
pub struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                let text: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", text.join(","));
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
}

/// A label value as the exposition format quotes it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A ledger time (`2026-07-05T03:30:00.123Z`) in Unix milliseconds.
fn unix_ms(t: Option<&str>) -> Option<i64> {
    Some(DateTime::parse_from_rfc3339(t?).ok()?.timestamp_millis())
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The families as text exposition.
pub fn exposition(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        f.write(&mut out);
    }
    out
}

/// The families as JSON, for `--format json`: `{"format": "bplc-metrics",
/// "version": 1, "metrics": [{"name", "type", "help", "samples": [{"labels",
/// "value"}]}]}`.
pub fn json(families: &[Family]) -> serde_json::Value {
    let metrics: Vec<serde_json::Value> = families
        .iter()
        .map(|f| {
            let samples: Vec<serde_json::Value> = f
                .samples
                .iter()
                .map(|(labels, value)| {
                    let labels: serde_json::Map<String, serde_json::Value> = labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), serde_json::Value::from(v.clone())))
                        .collect();
                    serde_json::json!({ "labels": labels, "value": value })
                })
                .collect();
            serde_json::json!({ "name": f.name, "type": f.kind, "help": f.help, "samples": samples })
        })
        .collect();
    serde_json::json!({ "format": "bplc-metrics", "version": 1, "metrics": metrics })
}

/// The metrics of `report` (the status at its `as_of`) and the runs it
/// was judged from.
pub fn families(report: &Report, runs: &[Manifest], generated: DateTime<Utc>) -> Vec<Family> {
    let mut success = Family::new(
        "bplc_dataset_last_success_timestamp_seconds",
        "gauge",
        "When the dataset's latest published run finished, in Unix seconds.",
    );
    let mut duration = Family::new(
        "bplc_dataset_last_run_duration_seconds",
        "gauge",
        "How long the dataset's latest finished run took, from planned to finished.",
    );
    let mut rows_in = Family::new(
        "bplc_dataset_last_run_input_rows",
        "gauge",
        "Rows the dataset's latest finished run read, over its partitions.",
    );
    let mut rows_out = Family::new(
        "bplc_dataset_last_run_output_rows",
        "gauge",
        "Rows the dataset's latest finished run wrote, over its partitions.",
    );
    let mut quarantined = Family::new(
        "bplc_dataset_last_run_quarantined_rows",
        "gauge",
        "Rows the dataset's latest finished run quarantined.",
    );
    let mut duplicates = Family::new(
        "bplc_dataset_last_run_duplicate_rows",
        "gauge",
        "Duplicate rows the dataset's latest finished run dropped.",
    );
    let mut gates = Family::new(
        "bplc_dataset_last_run_gate_failures",
        "gauge",
        "Quality rules and reconciliations that failed in the dataset's latest finished run.",
    );
    // A gauge, not a counter: a held run that is approved moves from one
    // status to another.
    let mut runs_total = Family::new(
        "bplc_runs",
        "gauge",
        "Runs in the ledger, by dataset and current status.",
    );
    let mut staleness = Family::new(
        "bplc_dataset_staleness_seconds",
        "gauge",
        "How long the oldest upstream change a partition of the dataset has not seen is waiting; 0 when nothing is stale.",
    );
    let mut states = Family::new(
        "bplc_dataset_partitions",
        "gauge",
        "Partitions of the dataset in each state (fresh, stale, due, late, running, held, failed, closed).",
    );
    let mut partition_rows = Family::new(
        "bplc_partition_rows",
        "gauge",
        "Rows in the version of a partition readers see.",
    );
    let mut partition_bytes = Family::new(
        "bplc_partition_bytes",
        "gauge",
        "Bytes of the values of the version readers see: text bytes, 8 per number.",
    );
    let mut small = Family::new(
        "bplc_dataset_small_partitions",
        "gauge",
        "Partitions of the dataset whose visible version holds less than 1 MiB: many of them cost more to plan, list and scan than their data (a coarser grain, or bucketing, may fit better).",
    );
    let mut alerts = Family::new(
        "bplc_status_alerts",
        "gauge",
        "Partitions that need attention: failed, held, late, or stale past the schedule's sla (what makes `bplc status` exit 1).",
    );
    let mut generated_at = Family::new(
        "bplc_metrics_generated_timestamp_seconds",
        "gauge",
        "When these metrics were written, in Unix seconds.",
    );
    let as_of = DateTime::parse_from_rfc3339(&report.as_of)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(generated);

    let mut by_status: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for m in runs {
        *by_status
            .entry((m.dataset.as_str(), m.status.name()))
            .or_default() += 1;
    }
    for ((dataset, status), n) in &by_status {
        runs_total.add(
            vec![
                ("dataset", dataset.to_string()),
                ("status", status.to_string()),
            ],
            *n as f64,
        );
    }
    for d in &report.datasets {
        let label = || vec![("dataset", d.dataset.clone())];
        let mut mine = runs.iter().filter(|m| m.dataset == d.dataset);
        let published = mine.clone().rfind(|m| m.status == Status::Published);
        if let Some(t) = published.and_then(|m| unix_ms(m.times.finished.as_deref())) {
            success.add(label(), seconds(t));
        }
        let finished = mine.rfind(|m| m.status.is_final() || m.status == Status::Held);
        if let Some(m) = finished {
            if let (Some(a), Some(b)) = (
                unix_ms(m.times.planned.as_deref()),
                unix_ms(m.times.finished.as_deref()),
            ) {
                duration.add(label(), seconds((b - a).max(0)));
            }
            let sum = |f: fn(&crate::runtime::manifest::Counters) -> i64| {
                m.outputs.iter().map(|o| f(&o.counters)).sum::<i64>() as f64
            };
            rows_in.add(label(), sum(|c| c.input));
            rows_out.add(label(), sum(|c| c.output));
            quarantined.add(label(), sum(|c| c.quarantined));
            duplicates.add(label(), sum(|c| c.duplicates));
            let failed = m
                .outputs
                .iter()
                .flat_map(|o| o.quality.iter().chain(&o.reconciliation))
                .filter(|c| !c.passed)
                .count();
            gates.add(label(), failed as f64);
        }
        let oldest = d
            .partitions
            .iter()
            .filter(|p| p.state == State::Stale)
            .flat_map(|p| &p.stale_because)
            .filter_map(|c| DateTime::parse_from_rfc3339(&c.since).ok())
            .map(|t| (as_of - t.with_timezone(&Utc)).num_seconds().max(0))
            .max()
            .unwrap_or(0);
        staleness.add(label(), oldest as f64);
        for st in State::ALL {
            let n = d.partitions.iter().filter(|p| p.state == st).count();
            states.add(
                vec![
                    ("dataset", d.dataset.clone()),
                    ("state", st.name().to_string()),
                ],
                n as f64,
            );
        }
        let tiny = d
            .partitions
            .iter()
            .filter(|p| p.bytes.is_some_and(|b| b < SMALL_PARTITION_BYTES))
            .count();
        small.add(label(), tiny as f64);
        for p in &d.partitions {
            if let Some(bytes) = p.bytes {
                partition_bytes.add(
                    vec![
                        ("dataset", d.dataset.clone()),
                        ("partition", p.partition.clone()),
                    ],
                    bytes as f64,
                );
            }
            if let Some(rows) = p.rows {
                partition_rows.add(
                    vec![
                        ("dataset", d.dataset.clone()),
                        ("partition", p.partition.clone()),
                    ],
                    rows as f64,
                );
            }
        }
    }
    alerts.add(Vec::new(), report.alerts as f64);
    generated_at.add(Vec::new(), seconds(generated.timestamp_millis()));
    vec![
        success,
        duration,
        rows_in,
        rows_out,
        quarantined,
        duplicates,
        gates,
        runs_total,
        staleness,
        states,
        partition_rows,
        partition_bytes,
        small,
        alerts,
        generated_at,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(1.5), "1.5");
    }
}
