//! `bplc lsp`: the language server, on stdin and stdout (see `crate::lsp`).
//! Editors start it; a person has no reason to.
//!
//! Exit codes: 0 after the client's `shutdown` and `exit`, 1 if the client
//! left without `shutdown` (as the protocol asks), 2 for a usage error.

use super::{Cli, EXIT_NOT_OK};

#[derive(clap::Args, Debug)]
pub struct LspArgs {
    /// Talk over stdin and stdout (the only transport, and the default;
    /// accepted because language clients pass it).
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(cli: &Cli, _args: &LspArgs) -> u8 {
    if let Err(code) = super::accept_format(cli, "lsp") {
        return code;
    }
    match crate::lsp::run_stdio() {
        Ok(true) => 0,
        Ok(false) => EXIT_NOT_OK,
        Err(e) => {
            errln!("error: {e}");
            EXIT_NOT_OK
        }
    }
}
