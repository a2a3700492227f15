//! The only door to pest: [`parse`] turns one file's text into a [`Module`] and
//! the diagnostics found on the way. Nothing outside this module sees pest.

mod errors;
mod expr;
mod tree;

use pest::Parser;
use pest_derive::Parser;

use super::ast::Module;
use super::span::{FileId, Span};
use crate::diagnostic::{codes, Diagnostic};

#[derive(Parser)]
#[grammar = "grammar/bpl.pest"]
pub(crate) struct BplParser;

/// Brackets nested deeper than this are refused before pest sees them, so no
/// input can exhaust the stack of the parser or of the tree builder.
pub const MAX_NESTING: usize = 200;

/// No expression tree is deeper than this: a long chain of operators
/// (`1 + 1 + ...`, `- - - x`, `a.b.b...`) nests one level per operator, and
/// every pass after the parser (checker, lowering, formatter, language
/// server) walks trees by recursion. Brackets count too: each is a level.
pub const MAX_EXPR_DEPTH: usize = 256;

/// `if` expressions nest without brackets (`else if ...`), so they are
/// bounded per declaration too.
pub const MAX_IFS: usize = 500;

/// Parses one file. Never panics; a file with errors still yields every
/// declaration that parsed, and one diagnostic per broken region.
pub fn parse(file: FileId, src: &str) -> (Module, Vec<Diagnostic>) {
    let empty = Module {
        file,
        items: Vec::new(),
    };
    if let Some(limit) = too_deep(src) {
        let d = match limit {
            Limit::Brackets(at) => Diagnostic::new(
                codes::E0008,
                format!("brackets are nested more than {MAX_NESTING} deep"),
            )
            .primary(Span::new(file, at, at + 1), "this bracket is too deep")
            .help("split the expression with `derive` steps; no real pipeline needs this much nesting"),
            Limit::Ifs(at) => Diagnostic::new(
                codes::E0008,
                format!("more than {MAX_IFS} `if` expressions in one declaration"),
            )
            .primary(Span::new(file, at, at + 2), "one `if` too many")
            .help("map many values with a `reference` table and a `join` instead of a chain of `if`s"),
        };
        return (empty, vec![d]);
    }
    match BplParser::parse(Rule::file, src) {
        Ok(mut pairs) => {
            let root = pairs.next().expect("the file rule yields one pair");
            let builder = tree::Builder::new(file, src);
            let module = builder.module(root);
            let diags = builder.finish();
            (module, diags)
        }
        // `file` has catch-alls at every level, so this is rare: a limit hit.
        Err(e) => (
            empty,
            vec![errors::from_pest(
                file,
                0,
                src,
                &e,
                errors::Context::TopLevel,
            )],
        ),
    }
}

enum Limit {
    Brackets(usize),
    Ifs(usize),
}

/// The first offset where bracket nesting exceeds [`MAX_NESTING`], or where
/// a declaration's `if` count exceeds [`MAX_IFS`], ignoring strings and
/// comments. These bound the recursion of the parser and the tree builder.
fn too_deep(src: &str) -> Option<Limit> {
    let bytes = src.as_bytes();
    let (mut depth, mut ifs, mut i) = (0usize, 0usize, 0usize);
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Limit::Brackets(i));
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    ifs = 0;
                }
            }
            b'i' if bytes.get(i + 1) == Some(&b'f')
                && (i == 0 || !word(bytes[i - 1]))
                && !bytes.get(i + 2).is_some_and(|&c| word(c)) =>
            {
                ifs += 1;
                if ifs > MAX_IFS {
                    return Some(Limit::Ifs(i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
