//! A run manifest as text: what `bplc run` and `bplc show` print.

use std::fmt::Write;

use crate::runtime::manifest::Manifest;

pub fn manifest_text(m: &Manifest) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} (version {}) {} — {}",
        m.run_id,
        m.dataset,
        m.job_version,
        if m.parameters.dates.is_empty() {
            ""
        } else {
            &m.parameters.dates
        },
        m.status.name()
    );
    if let Some(e) = &m.error {
        let _ = writeln!(s, "  {e}");
    }
    if let Some(r) = &m.review {
        let _ = writeln!(s, "  {}", r.line());
    }
    if let Some(r) = &m.recovery {
        let _ = writeln!(s, "  recovery: {r}");
    }
    let _ = writeln!(
        s,
        "  as of {} (attempt {}, {})",
        m.parameters.as_of, m.attempt, m.mode
    );
    for l in &m.input_lock {
        match &l.high_water_mark {
            Some(h) => {
                let _ = writeln!(
                    s,
                    "  input {} = {}: locked at {}",
                    l.alias,
                    l.input,
                    h.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  input {} = {}: {} published partition(s) locked",
                    l.alias,
                    l.input,
                    l.versions.len()
                );
            }
        }
    }
    for b in &m.bindings {
        let _ = writeln!(
            s,
            "  bind {} = {} {}: {} ({} rows, checksum {})",
            b.alias, b.reference, b.policy, b.version, b.rows, b.checksum
        );
    }
    for o in &m.outputs {
        let c = &o.counters;
        let _ =
            writeln!(
            s,
            "  {} v{}: {} rows{} — in {}, duplicates {}, quarantined {}, accepted {}; checksum {}",
            o.partition,
            o.version,
            o.rows,
            if o.published && o.initial_load {
                ", published (initial load of a closed period)"
            } else if o.published {
                ", published"
            } else {
                match o.decision {
                    crate::runtime::manifest::Decision::HoldPartition => {
                        ", not published (a `fail partition` gate failed)"
                    }
                    _ => "",
                }
            },
            c.input,
            c.duplicates,
            c.quarantined,
            c.accepted,
            if o.checksum.is_empty() { "-" } else { &o.checksum }
        );
        for q in o.quality.iter().chain(&o.reconciliation) {
            if !q.passed || q.failing_rows.is_some_and(|n| n > 0) {
                let _ = writeln!(
                    s,
                    "    {} {}: {}{}{}",
                    match (q.passed, q.severity.as_str()) {
                        (true, _) => "routed",
                        (false, "info") => "info",
                        (false, "warn") => "warning",
                        (false, _) => "FAILED",
                    },
                    q.severity,
                    q.text,
                    q.failing_rows
                        .map(|n| format!(" ({n} rows)"))
                        .unwrap_or_default(),
                    q.detail
                        .as_ref()
                        .map(|d| format!(" [{d}]"))
                        .unwrap_or_default()
                );
            }
        }
    }
    s
}
