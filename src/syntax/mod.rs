//! Text to AST: spans, the tree, the parser behind `parse`, and the formatter.

pub mod ast;
pub mod fmt;
pub mod parser;
pub mod span;
pub mod visit;

pub use parser::parse;
