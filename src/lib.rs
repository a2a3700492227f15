//! bplc: compiler and runtime for `.bpl` batch pipeline specifications.
//!
//! Data flows one way: `syntax` (text to AST) -> `semantic` -> `graph` ->
//! `plan` -> `sql` -> `runtime` -> `demo`; `cli` drives them through
//! `driver`. A module never reaches back up that chain. [`diagnostic`] is
//! shared by all of them.

pub mod cli;
pub mod demo;
pub mod diagnostic;
pub mod driver;
pub mod graph;
pub mod ingest;
pub mod lsp;
pub mod ops;
pub mod plan;
pub mod project;
pub mod runtime;
pub mod semantic;
pub mod sql;
pub mod syntax;
