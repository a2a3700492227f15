//! The language server (`bplc lsp`): the diagnostics of `bplc check` while
//! the user types, hover, go to definition, find references, completion,
//! document symbols and formatting, over stdio.
//!
//! It is a front end like the CLI: it calls the same driver
//! (`driver::check_project`), the same formatter and the same parser, and
//! renders the one `Diagnostic` type for the editor instead of the terminal.
//! Nothing the compiler knows is computed a second way here; what is here
//! is what only an editor needs: positions in UTF-16, open documents that
//! differ from the disk, and finding the name under the cursor.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`server`] | the handshake and the message loop; batching of edits; no panic escapes |
//! | [`transport`] | LSP frames on stdin and stdout, skipping bad ones |
//! | [`workspace`] | projects, open documents, re-parsing only the edited file before a check |
//! | [`reparse`] | re-parsing only the edited declaration of that file, when it can |
//! | [`diagnostics`] | `Diagnostic` to the protocol's, published per file when they change |
//! | [`index`] | every name in a file and what it stands for |
//! | [`resolve`] | what a name means across the project: columns, types, definitions |
//! | [`hover`], [`navigation`], [`completion`], [`symbols`], [`formatting`] | one request each |
//! | [`text`], [`uri`] | positions and edits; `file:` URIs and paths |

pub mod completion;
pub mod diagnostics;
pub mod formatting;
pub mod hover;
pub mod index;
pub mod navigation;
pub mod reparse;
pub mod resolve;
pub mod server;
pub mod symbols;
pub mod text;
pub mod transport;
pub mod uri;
pub mod workspace;

pub use server::{capabilities, serve};

/// Serves the client on stdin and stdout until it exits. `Ok(true)` if it
/// shut the server down properly first.
pub fn run_stdio() -> Result<bool, String> {
    let (connection, writer) =
        transport::stdio().map_err(|e| format!("cannot start the stdio threads: {e}"))?;
    let outcome = serve(connection);
    // `serve` has dropped its end: the writer drains what is left and stops.
    let _ = writer.join();
    outcome
}
