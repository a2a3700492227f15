//! The dependency graph of a checked program: one node per source,
//! reference and dataset, one edge per input or binding, labelled with the
//! partition mapping it carries. Impact analysis and backfill planning work
//! on this graph with interval sets (see [`plan`]), never by enumerating
//! partitions.

pub mod calendar;
pub mod closing;
pub mod interval;
pub mod plan;
pub mod report;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::semantic::hir::{DeclId, Mapping, Program};

/// What an edge means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    /// `input alias = upstream where ...`
    Input { alias: String, mapping: Mapping },
    /// `bind alias = reference <policy>`
    Bind { alias: String },
}

pub struct DepGraph<'p> {
    pub program: &'p Program,
    pub graph: DiGraph<DeclId, Edge>,
    nodes: Vec<NodeIndex>,
}

impl<'p> DepGraph<'p> {
    /// Edges point downstream: from what is read to what reads it.
    pub fn build(program: &'p Program) -> DepGraph<'p> {
        let mut graph = DiGraph::with_capacity(program.decls.len(), program.decls.len() * 2);
        let nodes: Vec<NodeIndex> = program.decls.iter().map(|d| graph.add_node(d.id)).collect();
        for d in &program.decls {
            let to = nodes[d.id.0 as usize];
            for i in &d.inputs {
                let edge = Edge::Input {
                    alias: i.alias.clone(),
                    mapping: i.mapping.clone(),
                };
                graph.add_edge(nodes[i.target.0 as usize], to, edge);
            }
            for b in &d.binds {
                graph.add_edge(
                    nodes[b.target.0 as usize],
                    to,
                    Edge::Bind {
                        alias: b.alias.clone(),
                    },
                );
            }
        }
        DepGraph {
            program,
            graph,
            nodes,
        }
    }

    pub fn node(&self, id: DeclId) -> NodeIndex {
        self.nodes[id.0 as usize]
    }

    pub fn decl(&self, n: NodeIndex) -> DeclId {
        self.graph[n]
    }

    /// Declarations in an order where every input comes before its readers.
    /// `None` if the graph has a cycle (which `check` reports).
    pub fn topological(&self) -> Option<Vec<DeclId>> {
        petgraph::algo::toposort(&self.graph, None)
            .ok()
            .map(|v| v.into_iter().map(|n| self.graph[n]).collect())
    }

    /// Direct downstream edges of a declaration.
    pub fn downstream(&self, id: DeclId) -> impl Iterator<Item = (DeclId, &Edge)> + '_ {
        self.graph
            .edges_directed(self.node(id), Direction::Outgoing)
            .map(|e| (self.graph[e.target()], e.weight()))
    }

    /// Direct upstream edges of a declaration.
    pub fn upstream(&self, id: DeclId) -> impl Iterator<Item = (DeclId, &Edge)> + '_ {
        self.graph
            .edges_directed(self.node(id), Direction::Incoming)
            .map(|e| (self.graph[e.source()], e.weight()))
    }
}
