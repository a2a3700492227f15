//! `bplc graph`: the dependency graph of a project, every edge labelled with
//! the partition mapping it carries, as text, Graphviz, Mermaid or JSON.
//!
//! One [`View`] is built from the checked program and every format renders
//! it: nodes in topological levels (sources and references first), each
//! level ordered by kind then name, and each node's incoming edges in the
//! order its declaration states them (inputs, then bindings). The output is
//! therefore stable for a given project.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::{usage_error, Cli, Format, EXIT_NOT_OK};
use crate::graph::plan::{describe, policy_words, PlanError};
use crate::graph::{DepGraph, Edge};
use crate::semantic::hir::{Decl, DeclId, Grain, PartitionKind};
use crate::syntax::ast::{DeclKind, PublishMode};

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Show only this source, reference or dataset and everything upstream
    /// and downstream of it.
    #[arg(long, value_name = "NAME")]
    pub focus: Option<String>,
    /// The project directory.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// The graph as every format shows it; serialized as the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub nodes: Vec<Node>,
    pub edges: Vec<EdgeView>,
    /// The project's name (the Graphviz graph's name).
    #[serde(skip)]
    pub project: String,
    /// The `--focus` node, if any.
    #[serde(skip)]
    pub focus: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub kind: DeclKind,
    /// `day`, `month`, or `null` when the partition has no time key.
    pub grain: Option<Grain>,
    /// The partition keys as written: `business_date: date`,
    /// `bucket: hash(account_id, 16)`. Empty for sources, references and
    /// unpartitioned datasets.
    pub partition: Vec<String>,
    /// `replace` or `versioned` for a dataset, `null` otherwise.
    pub publish: Option<PublishMode>,
    /// Topological level: 0 for what reads nothing, else one more than the
    /// deepest thing it reads.
    #[serde(skip)]
    pub level: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EdgeView {
    /// What is read.
    pub from: String,
    /// What reads it.
    pub to: String,
    pub alias: String,
    pub kind: EdgeKind,
    /// An input's partition mapping (`[p - 29d, p]`, `days of month(p)`,
    /// `all history`) or a binding's policy (`as of event time`).
    pub mapping: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Input,
    Bind,
}

impl EdgeView {
    /// `ev: [p - 29d, p]`, `units: as of event time`.
    pub fn label(&self) -> String {
        format!("{}: {}", self.alias, self.mapping)
    }
}

pub fn run(cli: &Cli, args: &GraphArgs) -> u8 {
    if let Err(code) = super::accept_format(cli, "graph") {
        return code;
    }
    let (checked, program) = match super::clean_project(
        cli,
        &args.project,
        "the graph is only drawn",
        super::Needs::Graph,
    ) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let graph = DepGraph::build(&program);
    let view = match view(&graph, &checked.project.config.name, args.focus.as_deref()) {
        Ok(v) => v,
        Err(ViewError::UnknownFocus(e)) => return usage_error(e),
        Err(ViewError::Cycle) => {
            return super::fail(
                super::Failure {
                    code: Some(crate::diagnostic::codes::E0119.to_string()),
                    message: "the dependency graph has a cycle".into(),
                    help: Some("run `bplc check` to see it".into()),
                    ..Default::default()
                },
                EXIT_NOT_OK,
            );
        }
    };
    let shown = match cli.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&view).expect("graphs serialize")
        ),
        Format::Dot => dot(&view),
        Format::Mermaid => mermaid(&view),
        _ => text(&view),
    };
    let mut out = super::output::stdout();
    if let Err(e) = out.write_all(shown.as_bytes()).and_then(|_| out.flush()) {
        return usage_error(format!("cannot write output: {e}"));
    }
    0
}

#[derive(Debug)]
pub enum ViewError {
    /// An unknown `--focus` name, with a suggestion.
    UnknownFocus(PlanError),
    Cycle,
}

/// The graph of `graph.program`, or with `focus` only that node and its
/// transitive upstream and downstream.
pub fn view(graph: &DepGraph<'_>, project: &str, focus: Option<&str>) -> Result<View, ViewError> {
    let program = graph.program;
    let order = graph.topological().ok_or(ViewError::Cycle)?;
    let mut level = vec![0usize; program.decls.len()];
    for &id in &order {
        let l = graph
            .upstream(id)
            .map(|(up, _)| level[up.0 as usize] + 1)
            .max()
            .unwrap_or(0);
        level[id.0 as usize] = l;
    }
    let keep: Option<BTreeSet<DeclId>> = match focus {
        None => None,
        Some(name) => {
            let Some(d) = program.lookup(name) else {
                return Err(ViewError::UnknownFocus(PlanError::UnknownName {
                    name: name.to_string(),
                    suggestion: crate::diagnostic::did_you_mean(
                        name,
                        program.decls.iter().map(|d| d.name.as_str()),
                    )
                    .map(str::to_string),
                }));
            };
            Some(neighbourhood(graph, d.id))
        }
    };
    let kept = |id: DeclId| keep.as_ref().is_none_or(|k| k.contains(&id));
    let mut ids: Vec<DeclId> = order.iter().copied().filter(|&id| kept(id)).collect();
    ids.sort_by(|&a, &b| {
        let key = |id: DeclId| {
            let d = program.get(id);
            (level[id.0 as usize], kind_rank(d.kind), d.name.as_str())
        };
        key(a).cmp(&key(b))
    });
    let mut position = vec![usize::MAX; program.decls.len()];
    for (i, id) in ids.iter().enumerate() {
        position[id.0 as usize] = i;
    }
    let nodes = ids
        .iter()
        .map(|&id| node(program.get(id), level[id.0 as usize]))
        .collect();
    let mut edges: Vec<_> = graph
        .graph
        .edge_references()
        .filter(|e| kept(graph.decl(e.source())) && kept(graph.decl(e.target())))
        .collect();
    edges.sort_by_key(|e| (position[graph.decl(e.target()).0 as usize], e.id()));
    let edges = edges
        .into_iter()
        .map(|e| {
            let from = program.get(graph.decl(e.source()));
            let to = program.get(graph.decl(e.target()));
            let (alias, kind, mapping) = match e.weight() {
                Edge::Input { alias, mapping } => (
                    alias,
                    EdgeKind::Input,
                    describe(mapping, change_grain(from), to.grain()),
                ),
                Edge::Bind { alias } => {
                    let policy = to
                        .binds
                        .iter()
                        .find(|b| &b.alias == alias)
                        .map(|b| policy_words(&b.policy))
                        .unwrap_or_default();
                    (alias, EdgeKind::Bind, policy)
                }
            };
            EdgeView {
                from: from.name.clone(),
                to: to.name.clone(),
                alias: alias.clone(),
                kind,
                mapping,
            }
        })
        .collect();
    Ok(View {
        nodes,
        edges,
        project: project.to_string(),
        focus: focus.map(str::to_string),
    })
}

/// `id`, everything it reads (transitively) and everything that reads it.
fn neighbourhood(graph: &DepGraph<'_>, id: DeclId) -> BTreeSet<DeclId> {
    let mut keep = BTreeSet::from([id]);
    for upstream in [true, false] {
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            let next: Vec<DeclId> = if upstream {
                graph.upstream(n).map(|(d, _)| d).collect()
            } else {
                graph.downstream(n).map(|(d, _)| d).collect()
            };
            for d in next {
                if keep.insert(d) {
                    stack.push(d);
                }
            }
        }
    }
    keep
}

/// The grain an input is read at: a source's rows are placed by their
/// clock's date (as the planner reads them).
fn change_grain(d: &Decl) -> Option<Grain> {
    match d.kind {
        DeclKind::Source => Some(Grain::Day),
        _ => d.grain(),
    }
}

fn kind_rank(k: DeclKind) -> u8 {
    match k {
        DeclKind::Source => 0,
        DeclKind::Reference => 1,
        DeclKind::Dataset => 2,
    }
}

fn node(d: &Decl, level: usize) -> Node {
    let partition = d
        .partition
        .iter()
        .map(|k| {
            let ty = match &k.kind {
                PartitionKind::Time(Grain::Day) => "date".to_string(),
                PartitionKind::Time(Grain::Week) => "week".to_string(),
                PartitionKind::Time(Grain::Month) => "month".to_string(),
                PartitionKind::Time(Grain::Quarter) => "quarter".to_string(),
                PartitionKind::Time(Grain::Year) => "year".to_string(),
                PartitionKind::Dimension => d
                    .columns
                    .iter()
                    .find(|c| c.name == k.name)
                    .map_or_else(|| "dimension".to_string(), |c| c.ty.to_string()),
                PartitionKind::Hash { column, buckets } => format!("hash({column}, {buckets})"),
                PartitionKind::Run => "run".to_string(),
            };
            format!("{}: {ty}", k.name)
        })
        .collect();
    Node {
        name: d.name.clone(),
        kind: d.kind,
        grain: d.grain(),
        partition,
        publish: d.publish,
        level,
    }
}

/// The lines a node shows under its name: its kind, partition and publish
/// mode.
fn details(n: &Node) -> Vec<String> {
    let mut lines = vec![n.kind.keyword().to_string()];
    if n.kind == DeclKind::Dataset {
        if n.partition.is_empty() {
            lines.push("unpartitioned".into());
        } else {
            lines.push(format!("partition by {}", n.partition.join(", ")));
        }
    }
    if let Some(p) = n.publish {
        lines.push(format!("publish {}", publish_word(p)));
    }
    lines
}

fn publish_word(p: PublishMode) -> &'static str {
    match p {
        PublishMode::Replace => "replace",
        PublishMode::Versioned => "versioned",
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Levels, then each node with what it reads:
///
/// ```text
/// level 1
///   dataset    silver_cases  partition by business_date: date, publish replace
///                input ev = raw_case_events over p
/// ```
pub fn text(v: &View) -> String {
    let count = |k: DeclKind| v.nodes.iter().filter(|n| n.kind == k).count();
    let mut s = format!(
        "{}: {}, {}, {}, {}\n",
        v.project,
        plural(count(DeclKind::Source), "source"),
        plural(count(DeclKind::Reference), "reference"),
        plural(count(DeclKind::Dataset), "dataset"),
        plural(v.edges.len(), "edge"),
    );
    if let Some(f) = &v.focus {
        s.push_str(&format!(
            "focus: {f} and everything upstream and downstream of it\n"
        ));
    }
    let width = v.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    let mut current = usize::MAX;
    for n in &v.nodes {
        if n.level != current {
            current = n.level;
            s.push_str(&format!("\nlevel {current}\n"));
        }
        let mut about = Vec::new();
        if n.kind == DeclKind::Dataset {
            about.push(if n.partition.is_empty() {
                "unpartitioned".to_string()
            } else {
                format!("partition by {}", n.partition.join(", "))
            });
        }
        if let Some(p) = n.publish {
            about.push(format!("publish {}", publish_word(p)));
        }
        let focus = if v.focus.as_deref() == Some(n.name.as_str()) {
            "  (focus)"
        } else {
            ""
        };
        let line = format!(
            "  {:<9}  {:<width$}  {}{focus}",
            n.kind.keyword(),
            n.name,
            about.join(", ")
        );
        s.push_str(line.trim_end());
        s.push('\n');
        for e in v.edges.iter().filter(|e| e.to == n.name) {
            let (word, join) = match e.kind {
                EdgeKind::Input => ("input", " over"),
                EdgeKind::Bind => ("bind", ""),
            };
            s.push_str(&format!(
                "  {:<9}    {word} {} = {}{join} {}\n",
                "", e.alias, e.from, e.mapping
            ));
        }
    }
    if v.nodes.is_empty() {
        s.push_str("\nno sources, references or datasets\n");
    }
    s
}

/// A Graphviz `digraph`: sources are cylinders, references notes, datasets
/// boxes; bindings are dashed. Every id and label is quoted.
pub fn dot(v: &View) -> String {
    let q = |t: &str| format!("\"{}\"", dot_escape(t));
    let mut s = format!("digraph {} {{\n", q(&v.project));
    s.push_str("  rankdir=LR;\n");
    s.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
    s.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
    if !v.nodes.is_empty() {
        s.push('\n');
    }
    for n in &v.nodes {
        let shape = match n.kind {
            DeclKind::Source => "cylinder",
            DeclKind::Reference => "note",
            DeclKind::Dataset => "box",
        };
        let label = std::iter::once(n.name.as_str())
            .chain(details(n).iter().map(String::as_str))
            .map(dot_escape)
            .collect::<Vec<_>>()
            .join("\\n");
        let focus = if v.focus.as_deref() == Some(n.name.as_str()) {
            ", style=bold, penwidth=2"
        } else {
            ""
        };
        s.push_str(&format!(
            "  {} [shape={shape}, label=\"{label}\"{focus}];\n",
            q(&n.name)
        ));
    }
    if !v.edges.is_empty() {
        s.push('\n');
    }
    for e in &v.edges {
        let style = match e.kind {
            EdgeKind::Input => "",
            EdgeKind::Bind => ", style=dashed",
        };
        s.push_str(&format!(
            "  {} -> {} [label={}{style}];\n",
            q(&e.from),
            q(&e.to),
            q(&e.label())
        ));
    }
    s.push_str("}\n");
    s
}

fn dot_escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid `flowchart LR`. Node ids carry their kind (`src_`, `ref_`,
/// `ds_`) so no name can collide with a Mermaid keyword such as `end`;
/// sources are cylinders, references subroutines, datasets rectangles;
/// bindings are dotted. Labels are quoted, with Mermaid's entity codes for
/// the characters it would otherwise read.
pub fn mermaid(v: &View) -> String {
    let id = |name: &str| {
        let kind = v
            .nodes
            .iter()
            .find(|n| n.name == name)
            .map_or(DeclKind::Dataset, |n| n.kind);
        let prefix = match kind {
            DeclKind::Source => "src",
            DeclKind::Reference => "ref",
            DeclKind::Dataset => "ds",
        };
        format!("{prefix}_{name}")
    };
    let mut s = String::from("flowchart LR\n");
    for n in &v.nodes {
        let label = std::iter::once(n.name.as_str())
            .chain(details(n).iter().map(String::as_str))
            .map(mermaid_escape)
            .collect::<Vec<_>>()
            .join("<br/>");
        let (open, close) = match n.kind {
            DeclKind::Source => ("[(", ")]"),
            DeclKind::Reference => ("[[", "]]"),
            DeclKind::Dataset => ("[", "]"),
        };
        s.push_str(&format!("  {}{open}\"{label}\"{close}\n", id(&n.name)));
    }
    for e in &v.edges {
        let arrow = match e.kind {
            EdgeKind::Input => "-->",
            EdgeKind::Bind => "-.->",
        };
        s.push_str(&format!(
            "  {} {arrow}|\"{}\"| {}\n",
            id(&e.from),
            mermaid_escape(&e.label()),
            id(&e.to)
        ));
    }
    if let Some(f) = &v.focus {
        s.push_str(&format!("  style {} stroke-width:3px\n", id(f)));
    }
    s
}

/// Mermaid reads `"`, `#`, `<`, `>`, `|` and `&` inside labels; write them
/// as its entity codes.
fn mermaid_escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '&' => out.push_str("#amp;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}
