//! The language server (`bplc lsp`).
