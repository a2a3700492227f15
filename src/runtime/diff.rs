//! What changed between two versions of a partition: for `compare-only`
//! backfills, for the summary a restatement records, and for `bplc diff`.

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub dataset: String,
    pub partition: String,
    /// The version compared from; none when the partition was never published.
    pub from_version: Option<i64>,
    pub to_version: i64,
    pub added: i64,
    pub removed: i64,
    pub changed: i64,
    pub unchanged: i64,
    /// Totals of each numeric column before and after.
    pub metrics: Vec<MetricDelta>,
    /// Up to 20 differing rows.
    pub rows: Vec<RowChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricDelta {
    pub column: String,
    pub from: f64,
    pub to: f64,
    pub delta: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowChange {
    /// `added`, `removed` or `changed`.
    pub change: String,
    pub key: serde_json::Value,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Diff {
    /// The short form a restatement records with its version.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "prior_version": self.from_version,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "metrics": self.metrics.iter().filter(|m| m.delta != 0.0).map(|m| {
                serde_json::json!({"column": m.column, "from": m.from, "to": m.to, "delta": m.delta})
            }).collect::<Vec<_>>(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0 && self.changed == 0
    }
}

/// A number as a person reads it: no float noise past ten digits.
fn num(x: f64) -> String {
    let s = format!("{:.10}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// The columns whose values differ between two JSON rows.
fn changes(before: &serde_json::Value, after: &serde_json::Value) -> String {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return String::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k} {} -> {v}",
                b.get(k).unwrap_or(&serde_json::Value::Null)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} {}: v{} -> v{}: {} added, {} removed, {} changed, {} unchanged",
            self.dataset,
            self.partition,
            self.from_version.map_or("-".into(), |v| v.to_string()),
            self.to_version,
            self.added,
            self.removed,
            self.changed,
            self.unchanged
        )?;
        for m in self.metrics.iter().filter(|m| m.delta != 0.0) {
            let sign = if m.delta > 0.0 { "+" } else { "" };
            writeln!(
                f,
                "  total {}: {} -> {} ({sign}{})",
                m.column,
                num(m.from),
                num(m.to),
                num(m.delta)
            )?;
        }
        for r in &self.rows {
            let detail = match (&r.before, &r.after) {
                (Some(b), Some(a)) => format!(": {}", changes(b, a)),
                _ => String::new(),
            };
            writeln!(f, "  {:<8} {}{detail}", r.change, r.key)?;
        }
        Ok(())
    }
}
