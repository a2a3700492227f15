//! `bplc docs`: a static site of the project — the lineage graph with each
//! declaration's contract, columns, quality rules, latest runs, quality
//! trend and status — that opens from disk. The data is one JavaScript
//! file (`data.js`, a `file://` page cannot fetch JSON); the page, its
//! script and its styles are embedded in the binary, and the graph is laid
//! out by the page itself in layers, so nothing is loaded from elsewhere.

use serde::Serialize;

use super::status::Report;
use crate::graph::plan::{describe, policy_words};
use crate::runtime::manifest::{Manifest, Status};
use crate::semantic::hir::{Decl, Program};
use crate::syntax::ast::DeclKind;
use crate::syntax::span::SourceMap;

/// The page, its script and its styles, written beside `data.js`.
pub const ASSETS: &[(&str, &str)] = &[
    ("index.html", include_str!("site/index.html")),
    ("site.js", include_str!("site/site.js")),
    ("site.css", include_str!("site/site.css")),
];

/// How many runs of a declaration the site lists.
const LATEST_RUNS: usize = 10;

#[derive(Debug, Serialize)]
pub struct Site {
    pub project: String,
    /// When the status was judged, or `null` without a ledger.
    pub as_of: Option<String>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Link>,
}

#[derive(Debug, Serialize)]
pub struct Node {
    pub name: String,
    /// `source`, `reference` or `dataset`.
    pub kind: &'static str,
    /// Layer in the drawing: the longest path from a node without inputs.
    pub layer: usize,
    /// The declaration as written.
    pub contract: String,
    pub columns: Vec<(String, String)>,
    /// `(name, severity, text)` of every quality rule.
    pub quality: Vec<(String, String, String)>,
    pub runs: Vec<RunLine>,
    /// Oldest first: `(run, checks passed, checks failed)` per finished run.
    pub trend: Vec<(String, usize, usize)>,
    /// Partitions in each state, from `bplc status`.
    pub status: Vec<(String, usize)>,
    /// Partitions that need attention.
    pub alerts: usize,
}

#[derive(Debug, Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub status: Status,
    pub partitions: String,
    pub finished: Option<String>,
    pub rows: i64,
}

#[derive(Debug, Serialize)]
pub struct Link {
    pub from: String,
    pub to: String,
    /// `input ev: [p - 29d, p]`, `bind units: as of event time`.
    pub label: String,
}

/// The site's data for a checked program, its sources, its runs and their
/// status (when there is a ledger).
pub fn site(
    project: &str,
    program: &Program,
    sources: &SourceMap,
    runs: &[Manifest],
    status: Option<&Report>,
) -> Site {
    let graph = crate::graph::DepGraph::build(program);
    let order = graph
        .topological()
        .unwrap_or_else(|| program.decls.iter().map(|d| d.id).collect());
    let mut layer = vec![0usize; program.decls.len()];
    for id in &order {
        let here = layer[id.0 as usize];
        for (down, _) in graph.downstream(*id) {
            let l = &mut layer[down.0 as usize];
            *l = (*l).max(here + 1);
        }
    }
    let mut edges = Vec::new();
    for d in &program.decls {
        for i in &d.inputs {
            let from = program.get(i.target);
            let window = describe(
                &i.mapping,
                match from.kind {
                    DeclKind::Source => Some(crate::semantic::hir::Grain::Day),
                    _ => from.grain(),
                },
                d.grain(),
            );
            edges.push(Link {
                from: from.name.clone(),
                to: d.name.clone(),
                label: format!("input {}: {window}", i.alias),
            });
        }
        for b in &d.binds {
            edges.push(Link {
                from: program.get(b.target).name.clone(),
                to: d.name.clone(),
                label: format!("bind {}: {}", b.alias, policy_words(&b.policy)),
            });
        }
    }
    let nodes = order
        .iter()
        .map(|id| {
            let d = program.get(*id);
            node(d, layer[id.0 as usize], sources, runs, status)
        })
        .collect();
    Site {
        project: project.to_string(),
        as_of: status.map(|s| s.as_of.clone()),
        nodes,
        edges,
    }
}

fn node(
    d: &Decl,
    layer: usize,
    sources: &SourceMap,
    runs: &[Manifest],
    status: Option<&Report>,
) -> Node {
    let mine: Vec<&Manifest> = runs.iter().filter(|m| m.dataset == d.name).collect();
    let latest = mine
        .iter()
        .rev()
        .take(LATEST_RUNS)
        .map(|m| RunLine {
            run_id: m.run_id.clone(),
            status: m.status,
            partitions: match m.partitions.as_slice() {
                [] => String::new(),
                [one] => one.clone(),
                [first, .., last] => format!("{first}..{last} ({})", m.partitions.len()),
            },
            finished: m.times.finished.clone(),
            rows: m.outputs.iter().map(|o| o.rows).sum(),
        })
        .collect();
    let trend = mine
        .iter()
        .filter(|m| !m.outputs.is_empty())
        .map(|m| {
            let checks = m
                .outputs
                .iter()
                .flat_map(|o| o.quality.iter().chain(&o.reconciliation));
            let (passed, failed) = checks.fold((0, 0), |(p, f), c| match c.passed {
                true => (p + 1, f),
                false => (p, f + 1),
            });
            (m.run_id.clone(), passed, failed)
        })
        .collect();
    let own = status.and_then(|r| r.datasets.iter().find(|x| x.dataset == d.name));
    Node {
        name: d.name.clone(),
        kind: match d.kind {
            DeclKind::Source => "source",
            DeclKind::Reference => "reference",
            DeclKind::Dataset => "dataset",
        },
        layer,
        contract: declaration_text(sources, d),
        columns: d
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.ty.to_string()))
            .collect(),
        quality: d
            .job
            .iter()
            .flat_map(|j| &j.rules)
            .map(|r| {
                (
                    r.name.clone(),
                    r.severity.words().to_string(),
                    r.text.clone(),
                )
            })
            .collect(),
        runs: latest,
        trend,
        status: own.map_or(Vec::new(), |s| {
            s.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        }),
        alerts: own.map_or(0, |s| s.partitions.iter().filter(|p| p.alert).count()),
    }
}

/// The declaration as written: from the start of the line of its name to
/// the brace that closes its body (braces in strings and comments skipped).
fn declaration_text(sources: &SourceMap, d: &Decl) -> String {
    let text = &sources.get(d.span.file).text;
    let at = (d.span.start as usize).min(text.len());
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (mut depth, mut in_string, mut in_comment, mut prev) = (0usize, false, false, ' ');
    for (i, c) in text[start..].char_indices() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '"' if prev != '\\' => in_string = !in_string,
            '/' if !in_string && prev == '/' => in_comment = true,
            '{' if !in_string => depth += 1,
            '}' if !in_string && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return text[start..start + i + 1].to_string();
                }
            }
            _ => {}
        }
        prev = c;
    }
    text[start..].to_string()
}
