//! `bplc status`: every partition's state, from the ledger, at `--as-of`.
//! Exit codes: 0 nothing needs attention, 1 something is failed, held,
//! late or stale past its `sla`, 2 usage or I/O error (no ledger: E0351; a
//! schedule that cannot be judged at `--as-of`: E0350).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::run::{open, runtime_error, Opened};
use super::run_args::refuse;
use super::{accept_format, usage_error, Cli, Format, Needs, EXIT_NOT_OK};
use crate::diagnostic::codes;
use crate::ops::status::{self, Inputs, PartitionStatus, Report, State};
use crate::runtime::manifest::Manifest;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Only these datasets (default: every dataset).
    pub datasets: Vec<String>,
    /// The time to judge at (`2026-07-05T03:00:00Z` or `2026-07-05`);
    /// default: now.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

pub fn run(cli: &Cli, args: &StatusArgs) -> u8 {
    if let Err(code) = accept_format(cli, "status") {
        return code;
    }
    let (report, _) = match judge(cli, &args.project, &args.datasets, args.as_of.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if cli.format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a status report serialises")
        );
    } else {
        out!("{}", text(&report));
    }
    if report.alerts > 0 {
        EXIT_NOT_OK
    } else {
        0
    }
}

/// `--as-of` as an instant: `now` when not given (E0350 for one that is
/// not a time).
pub(crate) fn as_of_instant(text: Option<&str>) -> Result<DateTime<Utc>, u8> {
    let Some(t) = text else {
        return Ok(Utc::now());
    };
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| {
            refuse(
                codes::E0350,
                format!("`--as-of {t}` is not a time, so no schedule can be judged at it"),
                "write an RFC 3339 time such as `2026-07-05T03:00:00Z`, or a date such as `2026-07-05` (midnight UTC)".into(),
            )
        })
}

/// The project, its runs and their status at `--as-of`: shared by
/// `status`, `run-due` and `metrics`. Refuses a missing ledger (E0351).
pub(crate) fn judge(
    cli: &Cli,
    project: &Path,
    datasets: &[String],
    as_of: Option<&str>,
) -> Result<(Report, (Opened, Vec<Manifest>)), u8> {
    let as_of = as_of_instant(as_of)?;
    let o = open(cli, project, "status is only judged", Needs::Graph)?;
    check_names(&o, datasets)?;
    let ledger = match o.stores().read_ledger() {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(refuse(
                codes::E0351,
                format!(
                    "there is no ledger at `{}`: nothing has run in this project",
                    o.ledger_location()
                ),
                "run something first (`bplc run DATASET --date ...` or `bplc run-due`), or point `ledger` in bpl.toml at the project's ledger".into(),
            ))
        }
        Err(e) => return Err(runtime_error(e)),
    };
    let runs = crate::ops::manifests(&ledger).map_err(runtime_error)?;
    let report = report_of(&o, &runs, datasets, as_of)?;
    Ok((report, (o, runs)))
}

pub(crate) fn report_of(
    o: &Opened,
    runs: &[Manifest],
    datasets: &[String],
    as_of: DateTime<Utc>,
) -> Result<Report, u8> {
    let inputs = Inputs {
        program: &o.program,
        runs,
        as_of,
        zone: o.time_zone.as_deref(),
        seeds: &crate::ingest::seed::versions_now(&o.root, &o.program),
    };
    status::status(&inputs, datasets).map_err(|e| {
        refuse(
            codes::E0350,
            format!(
                "the schedule of `{}` cannot be judged at {}: {}",
                e.dataset,
                as_of.format("%Y-%m-%dT%H:%M:%SZ"),
                e.detail
            ),
            "give an `--as-of` within the calendar (years 1 to 9999), or fix the schedule's time and zone".into(),
        )
    })
}

/// Every name is a dataset of the project.
pub(crate) fn check_names(o: &Opened, datasets: &[String]) -> Result<(), u8> {
    for name in datasets {
        if o.program.datasets().any(|d| d.name == *name) {
            continue;
        }
        let suggestion =
            crate::diagnostic::did_you_mean(name, o.program.datasets().map(|d| d.name.as_str()))
                .map_or(String::new(), |s| format!("; did you mean `{s}`?"));
        return Err(usage_error(format!(
            "no dataset is called `{name}`{suggestion}"
        )));
    }
    Ok(())
}

/// `3h ago`, `2d ago`.
fn age(seconds: i64) -> String {
    let s = seconds.max(0) as u64;
    let text = match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    };
    format!("{text} ago")
}

/// The report as a person reads it.
pub fn text(r: &Report) -> String {
    let mut s = format!("Status as of {}\n", r.as_of);
    for d in &r.datasets {
        s.push('\n');
        s.push_str(&d.dataset);
        match (&d.schedule, &d.scheduled_at) {
            (Some(sched), Some(at)) => {
                s.push_str(&format!("  (schedule {sched}; last fired {at}"));
                if let Some(date) = &d.run_date {
                    s.push_str(&format!(" for {date}"));
                }
                s.push_str(")\n");
            }
            _ => s.push_str("  (no schedule)\n"),
        }
        if d.partitions.is_empty() {
            s.push_str("  nothing computed yet\n");
        }
        let groups = groups(&d.partitions);
        let width = groups.iter().map(|g| g.label.len()).max().unwrap_or(0);
        for g in &groups {
            let p = g.first;
            let mut line = format!("  {:<width$}  {:<6}", g.label, p.state.name());
            match (&p.last_run, p.run_status) {
                (Some(run), Some(st)) => {
                    line.push_str(&format!("  {run} {}", st.name()));
                    if let Some(a) = p.age_seconds {
                        line.push_str(&format!(" {}", age(a)));
                    }
                }
                _ => line.push_str("  never run"),
            }
            if let Some(rows) = g.rows {
                line.push_str(&format!(", {rows} rows"));
            }
            if p.alert {
                line.push_str("  !");
            }
            s.push_str(line.trim_end());
            s.push('\n');
            let pad = " ".repeat(width + 4);
            if let Some(reason) = &p.reason {
                if p.state != State::Fresh {
                    s.push_str(&format!("{pad}{reason}\n"));
                }
            }
            for c in &p.stale_because {
                s.push_str(&format!("{pad}because {}\n", c.line()));
            }
        }
    }
    let counts: Vec<String> = State::ALL
        .iter()
        .filter_map(|st| {
            r.counts
                .get(st.name())
                .map(|n| format!("{n} {}", st.name()))
        })
        .collect();
    s.push_str(&format!(
        "\n{}; {} need{} attention\n",
        if counts.is_empty() {
            "no partitions".to_string()
        } else {
            counts.join(", ")
        },
        r.alerts,
        if r.alerts == 1 { "s" } else { "" }
    ));
    s
}

/// Consecutive partitions in one state, from one run, for one reason,
/// shown as one line.
struct Group<'a> {
    label: String,
    first: &'a PartitionStatus,
    rows: Option<i64>,
}

fn groups(partitions: &[PartitionStatus]) -> Vec<Group<'_>> {
    let mut out: Vec<(Group<'_>, &PartitionStatus, usize)> = Vec::new();
    for p in partitions {
        if let Some((g, last, n)) = out.last_mut() {
            let next = match (last.ordinal, p.ordinal) {
                (Some(a), Some(b)) => b == a || b == a + 1,
                (None, None) => true,
                _ => false,
            };
            let joins = next
                && g.first.state == p.state
                && g.first.last_run == p.last_run
                && g.first.reason == p.reason
                && g.first.alert == p.alert
                && g.first.stale_because == p.stale_because;
            if joins {
                g.rows = match (g.rows, p.rows) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                *last = p;
                *n += 1;
                continue;
            }
        }
        let group = Group {
            label: p.partition.clone(),
            first: p,
            rows: p.rows,
        };
        out.push((group, p, 1));
    }
    out.into_iter()
        .map(|(mut g, last, n)| {
            if n > 1 {
                g.label = format!("{}..{} ({n})", g.first.partition, last.partition);
            }
            g
        })
        .collect()
}
