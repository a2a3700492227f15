//! Text to AST: spans, the tree, the parser behind `parse`, and the formatter.

pub mod ast;
pub mod parser;
pub mod span;

pub use parser::parse;
