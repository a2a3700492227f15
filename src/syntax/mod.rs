//! Text to AST: spans, the tree, the parser behind `parse`, and the formatter.

pub mod ast;
pub mod fmt;
pub mod parser;
pub mod span;
pub mod visit;

pub use parser::parse;

/// The stack of every thread that parses, checks or formats (the CLI's own
/// and the checker's workers). Each pass recurses once per level of an
/// expression, and the parser bounds those at [`parser::MAX_EXPR_DEPTH`];
/// this leaves an unoptimised build more than ten times the room that
/// needs. Only the pages used are ever committed.
pub const STACK_SIZE: usize = 64 << 20;

/// Spawns a scoped thread with [`STACK_SIZE`] (a spawned thread otherwise
/// gets 2 MiB, less than the main thread's 8).
pub fn spawn_scoped<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn_scoped(scope, f)
        .expect("the system can start a thread")
}
