//! bplc: compiler and runtime for `.bpl` batch pipeline specifications.
//!
//! Data flows one way: `syntax` (text to AST) -> `semantic` -> `graph` ->
//! `plan` -> `sql` -> `runtime`; `cli` drives them. A module never reaches
//! back up that chain. [`diagnostic`] is shared by all of them.

pub mod diagnostic;
pub mod syntax;
