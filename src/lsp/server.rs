//! The server loop: the initialize handshake, then one message at a time.
//!
//! Notifications change the workspace (open, edit, close, files changed on
//! disk); before anything is answered, every project with changes is
//! checked and its diagnostics published. Edits that are already queued
//! when one arrives are applied together and checked once, so a burst of
//! keystrokes costs one check, not one per key.
//!
//! No input ends the server but `exit` or the end of the input: a request
//! with parameters of the wrong shape gets an `InvalidParams` error, an
//! unknown method `MethodNotFound`, a position outside the file is clamped,
//! a file the server does not know gets an empty answer, and a panic in a
//! handler (a bug) is caught, reported to stderr and answered with
//! `InternalError`; a project whose check panicked is loaded again.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CompletionOptions, CompletionResponse, DocumentSymbolResponse, FileChangeType,
    GotoDefinitionResponse, HoverProviderCapability, InitializeParams, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, SaveOptions, ServerCapabilities, ServerInfo,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::workspace::{ProjectKey, ProjectState, Workspace};
use super::{completion, diagnostics, formatting, hover, navigation, symbols};
use crate::syntax::span::FileId;

/// What the server offers.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// Runs the server on a connection until `exit`, or until the client goes
/// away. `Ok(true)` if it was asked to shut down first (exit code 0, as the
/// protocol wants), `Ok(false)` if not.
pub fn serve(connection: Connection) -> Result<bool, String> {
    let Some((id, params)) = wait_for_initialize(&connection) else {
        return Ok(false);
    };
    // A client that sends odd parameters still gets a server.
    let init: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let result = lsp_types::InitializeResult {
        capabilities: capabilities(),
        server_info: Some(ServerInfo {
            name: "bplc".to_string(),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
    };
    let _ = connection.sender.send(Response::new_ok(id, result).into());
    let mut server = Server {
        connection,
        workspace: Workspace::default(),
        completion: completion::Options {
            snippets: snippet_support(&init),
        },
        watch: watch_support(&init),
        shut_down: false,
        backlog: VecDeque::new(),
        next_id: 0,
    };
    Ok(server.run())
}

/// The `initialize` request; anything asked before it is refused, as the
/// protocol says. `None` if the client leaves first.
fn wait_for_initialize(connection: &Connection) -> Option<(RequestId, Value)> {
    loop {
        match connection.receiver.recv().ok()? {
            Message::Request(r) if r.method == req::Initialize::METHOD => {
                return Some((r.id, r.params))
            }
            Message::Request(r) => {
                let refused = Response::new_err(
                    r.id,
                    ErrorCode::ServerNotInitialized as i32,
                    "the server is not initialized yet".to_string(),
                );
                let _ = connection.sender.send(refused.into());
            }
            Message::Notification(n) if n.method == notif::Exit::METHOD => return None,
            _ => {}
        }
    }
}

fn snippet_support(init: &InitializeParams) -> bool {
    init.capabilities
        .text_document
        .as_ref()
        .and_then(|t| t.completion.as_ref())
        .and_then(|c| c.completion_item.as_ref())
        .and_then(|i| i.snippet_support)
        .unwrap_or(false)
}

fn watch_support(init: &InitializeParams) -> bool {
    init.capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false)
}

struct Server {
    connection: Connection,
    workspace: Workspace,
    completion: completion::Options,
    /// The client can watch files for us.
    watch: bool,
    shut_down: bool,
    /// Messages taken off the connection while looking for more edits.
    backlog: VecDeque<Message>,
    next_id: i32,
}

impl Server {
    fn run(&mut self) -> bool {
        loop {
            let message = match self.backlog.pop_front() {
                Some(m) => m,
                None => match self.connection.receiver.recv() {
                    Ok(m) => m,
                    // The client went away without `exit`.
                    Err(_) => return false,
                },
            };
            match message {
                Message::Request(r) => {
                    self.flush();
                    self.request(r);
                }
                Message::Notification(n) if n.method == notif::Exit::METHOD => {
                    return self.shut_down
                }
                Message::Notification(n) => {
                    self.notification(n);
                    self.take_queued_edits();
                    self.flush();
                }
                // Answers to our own requests (registering file watchers).
                Message::Response(_) => {}
            }
        }
    }

    fn send(&self, message: impl Into<Message>) {
        // A closed channel means the client is gone; the loop notices.
        let _ = self.connection.sender.send(message.into());
    }

    fn log(&self, text: &str) {
        let params = lsp_types::LogMessageParams {
            typ: lsp_types::MessageType::WARNING,
            message: text.to_string(),
        };
        self.send(Notification::new(
            notif::LogMessage::METHOD.to_string(),
            params,
        ));
    }

    /// Applies the edits already waiting, so they are checked together.
    fn take_queued_edits(&mut self) {
        if !self.backlog.is_empty() {
            return;
        }
        while let Ok(m) = self.connection.receiver.try_recv() {
            match m {
                Message::Notification(n) if n.method == notif::DidChangeTextDocument::METHOD => {
                    self.notification(n)
                }
                other => {
                    self.backlog.push_back(other);
                    break;
                }
            }
        }
    }

    /// Checks every project with changes and publishes what changed.
    fn flush(&mut self) {
        let stale: Vec<ProjectKey> = self
            .workspace
            .projects
            .iter()
            .filter(|(_, p)| !p.is_fresh())
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            let checked = catch_unwind(AssertUnwindSafe(|| {
                let p = self.workspace.projects.get_mut(&key)?;
                Some(p.check())
            }));
            let checked = match checked {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(_) => {
                    self.log("bplc lsp: checking the project failed (a bug); it is loaded again");
                    self.workspace.recover(&key);
                    match self.workspace.projects.get_mut(&key) {
                        Some(p) => match catch_unwind(AssertUnwindSafe(|| p.check())) {
                            Ok(c) => c,
                            Err(_) => continue,
                        },
                        None => continue,
                    }
                }
            };
            let updates = catch_unwind(AssertUnwindSafe(|| {
                self.workspace
                    .projects
                    .get_mut(&key)
                    .map(diagnostics::updates)
                    .unwrap_or_default()
            }));
            match updates {
                Ok(updates) => updates.into_iter().for_each(|u| self.publish(u)),
                Err(_) => eprintln!("bplc lsp: publishing diagnostics failed (a bug)"),
            }
            if let Some(old) = checked.old_program {
                // Freed after publishing, and not on this thread: the next
                // keystroke need not wait for it.
                let freeing = std::thread::Builder::new().spawn(move || drop(old));
                if let Err(e) = freeing {
                    eprintln!("bplc lsp: no thread to free memory on: {e}");
                }
            }
        }
    }

    fn publish(&self, params: PublishDiagnosticsParams) {
        self.send(Notification::new(
            notif::PublishDiagnostics::METHOD.to_string(),
            params,
        ));
    }

    fn notification(&mut self, n: Notification) {
        let method = n.method.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.handle_notification(n)));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("bplc lsp: {method}: {e}"),
            Err(_) => eprintln!("bplc lsp: {method} failed (a bug)"),
        }
    }

    fn handle_notification(&mut self, n: Notification) -> Result<(), String> {
        match n.method.as_str() {
            notif::Initialized::METHOD if self.watch => self.register_watchers(),
            notif::DidOpenTextDocument::METHOD => {
                let p: lsp_types::DidOpenTextDocumentParams = params(n.params)?;
                let d = p.text_document;
                if let Some(note) = self.workspace.open(d.uri, d.version, d.text) {
                    self.log(&note);
                }
            }
            notif::DidChangeTextDocument::METHOD => {
                let p: lsp_types::DidChangeTextDocumentParams = params(n.params)?;
                let d = p.text_document;
                self.workspace.change(&d.uri, d.version, p.content_changes);
            }
            notif::DidCloseTextDocument::METHOD => {
                let p: lsp_types::DidCloseTextDocumentParams = params(n.params)?;
                if let Some(uri) = self.workspace.close(&p.text_document.uri) {
                    self.publish(PublishDiagnosticsParams {
                        uri,
                        diagnostics: Vec::new(),
                        version: None,
                    });
                }
            }
            notif::DidChangeWatchedFiles::METHOD => {
                let p: lsp_types::DidChangeWatchedFilesParams = params(n.params)?;
                for change in p.changes {
                    let Some(path) = super::uri::to_path(&change.uri) else {
                        continue;
                    };
                    let created_or_deleted = change.typ != FileChangeType::CHANGED;
                    for note in self.workspace.disk_changed(&path, created_or_deleted) {
                        self.log(&note);
                    }
                }
            }
            // Saving changes nothing the editor has not sent already;
            // cancellation and tracing have nothing to act on.
            _ => {}
        }
        Ok(())
    }

    fn register_watchers(&mut self) {
        let watchers = ["**/*.bpl", "**/bpl.toml"]
            .map(|glob| lsp_types::FileSystemWatcher {
                glob_pattern: lsp_types::GlobPattern::String(glob.to_string()),
                kind: None,
            })
            .to_vec();
        let registration = lsp_types::Registration {
            id: "bplc-watch".to_string(),
            method: notif::DidChangeWatchedFiles::METHOD.to_string(),
            register_options: serde_json::to_value(
                lsp_types::DidChangeWatchedFilesRegistrationOptions { watchers },
            )
            .ok(),
        };
        self.next_id += 1;
        self.send(Request::new(
            RequestId::from(format!("bplc-{}", self.next_id)),
            req::RegisterCapability::METHOD.to_string(),
            lsp_types::RegistrationParams {
                registrations: vec![registration],
            },
        ));
    }

    fn request(&mut self, r: Request) {
        let id = r.id.clone();
        if r.method == req::Shutdown::METHOD {
            self.shut_down = true;
            self.send(Response::new_ok(id, ()));
            return;
        }
        if self.shut_down {
            self.send(Response::new_err(
                id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".to_string(),
            ));
            return;
        }
        let method = r.method.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.answer(r)));
        let response = match outcome {
            Ok(Ok(value)) => Response {
                id,
                result: Some(value),
                error: None,
            },
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => {
                eprintln!("bplc lsp: {method} failed (a bug)");
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("{method} failed inside bplc"),
                )
            }
        };
        self.send(response);
    }

    /// The result of a request, or an error code and message.
    fn answer(&mut self, r: Request) -> Result<Value, (ErrorCode, String)> {
        // What names mean, for the files edited since the last request.
        for p in self.workspace.projects.values_mut() {
            p.reindex();
        }
        let bad = |e: String| (ErrorCode::InvalidParams, e);
        let json = |v: Result<Value, serde_json::Error>| {
            v.map_err(|e| (ErrorCode::InternalError, e.to_string()))
        };
        match r.method.as_str() {
            req::HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(r.params).map_err(bad)?;
                let hover = self.at(&p.text_document_position_params, hover::hover);
                json(serde_json::to_value(hover))
            }
            req::GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(r.params).map_err(bad)?;
                let location = self.at(&p.text_document_position_params, navigation::definition);
                json(serde_json::to_value(
                    location.map(GotoDefinitionResponse::Scalar),
                ))
            }
            req::References::METHOD => {
                let p: lsp_types::ReferenceParams = params(r.params).map_err(bad)?;
                let all = p.context.include_declaration;
                let found = self.at(&p.text_document_position, |p, f, o| {
                    Some(navigation::references(p, f, o, all))
                });
                json(serde_json::to_value(found))
            }
            req::Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(r.params).map_err(bad)?;
                let options = self.completion;
                let items = self
                    .at(&p.text_document_position, |p, f, o| {
                        Some(completion::completion(p, f, o, options))
                    })
                    .unwrap_or_default();
                json(serde_json::to_value(CompletionResponse::Array(items)))
            }
            req::DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(r.params).map_err(bad)?;
                let found = self
                    .workspace
                    .locate(&p.text_document.uri)
                    .map(|(p, f)| DocumentSymbolResponse::Nested(symbols::document_symbols(p, f)));
                json(serde_json::to_value(found))
            }
            req::Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(r.params).map_err(bad)?;
                let edits = self
                    .workspace
                    .locate(&p.text_document.uri)
                    .and_then(|(p, f)| formatting::format(p, f));
                json(serde_json::to_value(edits))
            }
            method => Err((
                ErrorCode::MethodNotFound,
                format!("bplc lsp does not handle `{method}`"),
            )),
        }
    }

    /// Runs `f` at a document position: the project, the file and the
    /// byte offset (clamped into the file).
    fn at<T>(
        &self,
        at: &TextDocumentPositionParams,
        f: impl FnOnce(&ProjectState, FileId, usize) -> Option<T>,
    ) -> Option<T> {
        let (p, file) = self.workspace.locate(&at.text_document.uri)?;
        let offset = p.file(file).lines.offset(p.text(file), at.position);
        f(p, file, offset)
    }
}

fn params<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| format!("invalid parameters: {e}"))
}
