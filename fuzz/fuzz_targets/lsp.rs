//! A language server session driven by the input: lines that start with
//! `{` are sent as they are (any JSON-RPC message, well-formed or not); the
//! other lines are a document that is opened, edited and asked about
//! (hover, definition, references, completion, symbols, formatting) at
//! places the input chooses. The server must answer and shut down cleanly.

#![no_main]

use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use libfuzzer_sys::fuzz_target;
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (messages, document): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.trim_start().starts_with('{'));
    session(&document.join("\n"), &messages);
});

const URI: &str = "untitled:fuzz.bpl";

fn session(document: &str, messages: &[&str]) {
    let (server, client) = Connection::memory();
    std::thread::scope(|scope| {
        let serving = bplc::syntax::spawn_scoped(scope, move || bplc::lsp::serve(server));
        let mut next = 0;
        let mut request = |method: &str, params: Value| {
            next += 1;
            let r = Request::new(RequestId::from(next), method.to_string(), params);
            // A message the input sent may have ended the server.
            let _ = client.sender.send(r.into());
        };
        let notify = |method: &str, params: Value| {
            let n = Notification::new(method.to_string(), params);
            let _ = client.sender.send(n.into());
        };
        request("initialize", json!({ "capabilities": {} }));
        notify("initialized", json!({}));
        notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": URI, "languageId": "bpl", "version": 1, "text": document } }),
        );
        for m in messages {
            if let Ok(message) = serde_json::from_str::<Message>(m) {
                let exits = matches!(&message, Message::Notification(n) if n.method == "exit");
                if !exits {
                    let _ = client.sender.send(message);
                }
            }
        }
        // A place in the document the input chooses: a line, and a column
        // that may lie past its end.
        let lines: Vec<&str> = document.lines().collect();
        let line = document.len() % lines.len().max(1);
        let character = lines
            .get(line)
            .map_or(0, |l| l.len() / 2 + document.len() % 3);
        let at = json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": character } });
        for method in [
            "textDocument/hover",
            "textDocument/definition",
            "textDocument/completion",
            "textDocument/documentSymbol",
        ] {
            request(method, at.clone());
        }
        let mut references = at.clone();
        references["context"] = json!({ "includeDeclaration": true });
        request("textDocument/references", references);
        request(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }),
        );
        // An edit: the chosen place to the end of its line is removed.
        notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": URI, "version": 2 },
                "contentChanges": [{
                    "range": { "start": { "line": line, "character": character }, "end": { "line": line + 1, "character": 0 } },
                    "text": ""
                }]
            }),
        );
        request("textDocument/hover", at);
        request("shutdown", Value::Null);
        let shutdown = RequestId::from(next);
        // Every answer comes, the shutdown's last (or the server ended,
        // told to by the input).
        loop {
            match client.receiver.recv_timeout(Duration::from_secs(20)) {
                Ok(Message::Response(r)) if r.id == shutdown => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("the server stopped answering"),
            }
        }
        notify("exit", Value::Null);
        drop(client);
        // An error ending (a protocol violation the input made) is an
        // answer; a panic is not.
        let _ = serving.join().expect("the server does not panic");
    });
}
