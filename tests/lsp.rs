//! End-to-end sessions with the language server, in process over
//! lsp-server's in-memory connection: exactly the messages an editor sends,
//! and exactly the server `bplc lsp` runs.
//!
//! * a file opened with an error gets the diagnostic `bplc check` reports
//!   (same code, message and place); a syntax error typed into it replaces
//!   it; editing the error away gets an empty list;
//! * an edit in one file updates the diagnostics of another; a file created
//!   on disk joins the project; a file outside any project is checked alone;
//! * on `examples/enforcement_sla`: hover, definition, references,
//!   completion, document symbols and formatting, pinned as snapshots;
//! * malformed and unexpected messages get error answers, never a crash;
//!   the `bplc lsp` binary skips a garbage frame on stdin and goes on.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use bplc::lsp::text::LineIndex;
use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(120);

struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<bool, String>>>,
    next_id: i32,
    /// Notifications received while waiting for something else.
    notifications: Vec<Notification>,
}

impl Client {
    fn start() -> Client {
        Client::start_with(json!({
            "capabilities": {
                "textDocument": { "completion": { "completionItem": { "snippetSupport": true } } }
            }
        }))
    }

    fn start_with(init: Value) -> Client {
        let (server, conn) = Connection::memory();
        let handle = std::thread::spawn(move || bplc::lsp::serve(server));
        let mut client = Client {
            conn,
            server: Some(handle),
            next_id: 0,
            notifications: Vec::new(),
        };
        let result = client.raw_request(req::Initialize::METHOD, init);
        let caps = result.result.expect("initialize succeeds");
        assert_eq!(caps["serverInfo"]["name"], "bplc");
        client.notify(notif::Initialized::METHOD, json!({}));
        client
    }

    fn notify(&self, method: &str, params: impl serde::Serialize) {
        let n = Notification::new(method.to_string(), params);
        self.conn
            .sender
            .send(n.into())
            .expect("the server is running");
    }

    fn raw_request(&mut self, method: &str, params: impl serde::Serialize) -> Response {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let r = Request::new(id.clone(), method.to_string(), params);
        self.conn
            .sender
            .send(r.into())
            .expect("the server is running");
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(TIMEOUT)
                .expect("an answer in time")
            {
                Message::Response(r) if r.id == id => return r,
                Message::Response(r) => panic!("an answer to another request: {r:?}"),
                Message::Notification(n) => self.notifications.push(n),
                Message::Request(r) => panic!("the server asked something: {r:?}"),
            }
        }
    }

    fn request<R: req::Request>(&mut self, params: R::Params) -> R::Result {
        let r = self.raw_request(R::METHOD, params);
        if let Some(e) = r.error {
            panic!("{} failed: {e:?}", R::METHOD);
        }
        serde_json::from_value(r.result.unwrap_or(Value::Null)).expect("a well-formed result")
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &Uri) -> PublishDiagnosticsParams {
        let wanted = |n: &Notification| {
            n.method == notif::PublishDiagnostics::METHOD && n.params["uri"] == uri.as_str()
        };
        if let Some(i) = self.notifications.iter().position(wanted) {
            let n = self.notifications.remove(i);
            return serde_json::from_value(n.params).expect("diagnostics");
        }
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(TIMEOUT)
                .expect("diagnostics in time")
            {
                Message::Notification(n) if wanted(&n) => {
                    return serde_json::from_value(n.params).expect("diagnostics")
                }
                Message::Notification(n) => self.notifications.push(n),
                other => panic!("unexpected: {other:?}"),
            }
        }
    }

    fn open(&mut self, uri: &Uri, text: &str) {
        self.notify(
            notif::DidOpenTextDocument::METHOD,
            DidOpenTextDocumentParams {
                text_document: TextDocumentItem::new(uri.clone(), "bpl".into(), 1, text.into()),
            },
        );
    }

    fn change(&mut self, uri: &Uri, version: i32, range: Option<Range>, text: &str) {
        self.notify(
            notif::DidChangeTextDocument::METHOD,
            DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri.clone(), version),
                content_changes: vec![TextDocumentContentChangeEvent {
                    range,
                    range_length: None,
                    text: text.into(),
                }],
            },
        );
    }

    /// Shuts the server down properly: it must end with `Ok(true)`.
    fn shutdown(mut self) {
        let r = self.raw_request(req::Shutdown::METHOD, ());
        assert!(r.error.is_none());
        self.notify(notif::Exit::METHOD, ());
        let outcome = self
            .server
            .take()
            .expect("running")
            .join()
            .expect("no panic");
        assert_eq!(outcome, Ok(true));
    }
}

fn uri(path: &Path) -> Uri {
    bplc::lsp::uri::from_path(path).expect("an absolute UTF-8 path")
}

/// The position of the `nth` occurrence of `needle` in `text`, `delta`
/// bytes into it.
fn position(text: &str, needle: &str, nth: usize, delta: usize) -> Position {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} is not in the text"))
        .0;
    LineIndex::new(text).position(text, at + delta)
}

fn at(uri: &Uri, pos: Position) -> TextDocumentPositionParams {
    TextDocumentPositionParams::new(TextDocumentIdentifier::new(uri.clone()), pos)
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/enforcement_sla")
}

/// `datasets/x.bpl:12:5` for a location inside the example (one-based, as
/// editors show positions).
fn shown(location: &Location) -> String {
    let path = bplc::lsp::uri::to_path(&location.uri).expect("a file");
    let rel = path
        .strip_prefix(example())
        .unwrap_or(&path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(&path).expect("readable");
    let index = LineIndex::new(&text);
    let start = index.offset(&text, location.range.start);
    let end = index.offset(&text, location.range.end);
    format!(
        "{rel}:{}:{} `{}`",
        location.range.start.line + 1,
        location.range.start.character + 1,
        &text[start..end]
    )
}

const SOURCE: &str = "source raw_orders {
  table \"raw_orders\"
  columns { order_id: string, amount: decimal(18, 2), placed_at: timestamp }
  key order_id
  clock event = placed_at
  snapshot by placed_at
}
";

const DATASET: &str = "dataset daily_totals {
  version 1
  partition by business_date: date
  publish replace
  schedule daily at 02:00 \"UTC\" lookback 1d
  input o = raw_orders by event clock where to_date(placed_at, \"UTC\") == p

  compute {
    from o
    group by business_date = p {
      total = sum(o.amonut)
    }
  }
}
";

#[test]
fn a_diagnostic_appears_as_bplc_check_reports_it_and_goes_away_when_fixed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), "name = \"shop\"\n").expect("written");
    std::fs::write(dir.path().join("sources.bpl"), SOURCE).expect("written");
    let file = dir.path().join("totals.bpl");
    std::fs::write(&file, DATASET).expect("written");
    let checked = bplc::driver::check(dir.path()).expect("the project loads");
    assert_eq!(checked.diagnostics.len(), 1, "{:?}", checked.diagnostics);
    let expected = &checked.diagnostics[0];

    let mut client = Client::start();
    let uri = uri(&file);
    client.open(&uri, DATASET);
    let published = client.diagnostics(&uri);
    assert_eq!(published.version, Some(1));
    assert_eq!(published.diagnostics.len(), 1);
    let d = &published.diagnostics[0];
    assert_eq!(
        d.code,
        Some(NumberOrString::String(expected.code.to_string()))
    );
    assert_eq!(d.severity, Some(DiagnosticSeverity::ERROR));
    assert_eq!(d.source.as_deref(), Some("bplc"));
    let first_line = d.message.lines().next().unwrap_or_default();
    assert_eq!(first_line, expected.message);
    if let Some(help) = &expected.help {
        assert!(
            d.message.ends_with(&format!("\nhelp: {help}")),
            "{}",
            d.message
        );
    }
    let span = expected.primary_span().expect("a span");
    let index = LineIndex::new(DATASET);
    assert_eq!(
        d.range,
        index.range(DATASET, span.start as usize, span.end as usize)
    );
    assert_eq!(d.range.start, position(DATASET, "amonut", 0, 0));
    insta::assert_snapshot!(
        "unknown_column",
        format!("{} {}\n{}", expected.code, first_line, d.message)
    );

    // A syntax error typed in replaces it.
    let brace = position(DATASET, "{\n      total", 0, 0);
    client.change(
        &uri,
        2,
        Some(Range::new(
            brace,
            Position::new(brace.line, brace.character + 1),
        )),
        "",
    );
    let published = client.diagnostics(&uri);
    assert_eq!(published.version, Some(2));
    let codes: Vec<_> = published
        .diagnostics
        .iter()
        .map(|d| d.code.clone())
        .collect();
    assert!(!codes.is_empty());
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, Some(NumberOrString::String(s)) if s.starts_with("E000"))),
        "{codes:?}"
    );

    // Put the brace back and fix the name: no problems left.
    client.change(&uri, 3, Some(Range::new(brace, brace)), "{");
    let fix = position(DATASET, "amonut", 0, 0);
    client.change(
        &uri,
        4,
        Some(Range::new(fix, Position::new(fix.line, fix.character + 6))),
        "amount",
    );
    // The two edits may be checked together or one by one: the last word
    // is the one for version 4.
    let mut published = client.diagnostics(&uri);
    while published.version != Some(4) {
        published = client.diagnostics(&uri);
    }
    assert_eq!(published.diagnostics, Vec::new());

    // Closing the file reads the disk again, where the typo still is.
    client.notify(
        notif::DidCloseTextDocument::METHOD,
        DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier::new(uri.clone()),
        },
    );
    let published = client.diagnostics(&uri);
    assert_eq!(published.diagnostics.len(), 1);
    client.shutdown();
}

#[test]
fn an_edit_in_one_file_updates_the_diagnostics_of_another() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), "name = \"shop\"\n").expect("written");
    let sources = dir.path().join("sources.bpl");
    std::fs::write(&sources, SOURCE).expect("written");
    let totals = dir.path().join("totals.bpl");
    let fixed = DATASET.replace("amonut", "amount");
    std::fs::write(&totals, &fixed).expect("written");

    let mut client = Client::start();
    let (sources_uri, totals_uri) = (uri(&sources), uri(&totals));
    client.open(&sources_uri, SOURCE);
    assert_eq!(client.diagnostics(&sources_uri).diagnostics, Vec::new());
    // Renaming the column in the source breaks the dataset in the other
    // file, which is not even open.
    let at = position(SOURCE, "amount", 0, 0);
    let end = Position::new(at.line, at.character + "amount".len() as u32);
    client.change(&sources_uri, 2, Some(Range::new(at, end)), "amt");
    let broken = client.diagnostics(&totals_uri);
    assert_eq!(broken.diagnostics.len(), 1);
    assert_eq!(
        broken.diagnostics[0].code,
        Some(NumberOrString::String("E0124".into()))
    );
    assert_eq!(broken.version, None);
    // And renaming it back mends it.
    let end = Position::new(at.line, at.character + 3);
    client.change(&sources_uri, 3, Some(Range::new(at, end)), "amount");
    assert_eq!(client.diagnostics(&totals_uri).diagnostics, Vec::new());
    client.shutdown();
}

#[test]
fn a_file_created_on_disk_joins_the_project() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), "name = \"shop\"\n").expect("written");
    let totals = dir.path().join("totals.bpl");
    let fixed = DATASET.replace("amonut", "amount");
    std::fs::write(&totals, &fixed).expect("written");
    let mut client = Client::start();
    let totals_uri = uri(&totals);
    client.open(&totals_uri, &fixed);
    let missing = client.diagnostics(&totals_uri);
    assert!(
        missing
            .diagnostics
            .iter()
            .any(|d| d.code == Some(NumberOrString::String("E0102".into()))),
        "{:?}",
        missing.diagnostics
    );
    let sources = dir.path().join("sources.bpl");
    std::fs::write(&sources, SOURCE).expect("written");
    client.notify(
        notif::DidChangeWatchedFiles::METHOD,
        DidChangeWatchedFilesParams {
            changes: vec![FileEvent::new(uri(&sources), FileChangeType::CREATED)],
        },
    );
    assert_eq!(client.diagnostics(&totals_uri).diagnostics, Vec::new());
    client.shutdown();
}

#[test]
fn a_file_outside_any_project_is_checked_alone() {
    let mut client = Client::start();
    let uri: Uri = "untitled:Untitled-1".parse().expect("a URI");
    client.open(&uri, "dataset d {\n  version 1\n}\n");
    let published = client.diagnostics(&uri);
    let codes: Vec<String> = published
        .diagnostics
        .iter()
        .map(|d| format!("{:?}", d.code))
        .collect();
    assert!(!codes.is_empty());
    client.notify(
        notif::DidCloseTextDocument::METHOD,
        DidCloseTextDocumentParams {
            text_document: TextDocumentIdentifier::new(uri.clone()),
        },
    );
    assert_eq!(client.diagnostics(&uri).diagnostics, Vec::new());
    client.shutdown();
}

/// Opens `datasets/case_sla_daily_metrics.bpl` of the example.
fn open_example(client: &mut Client) -> (Uri, String) {
    let path = example().join("datasets/case_sla_daily_metrics.bpl");
    let text = std::fs::read_to_string(&path).expect("the example");
    let uri = uri(&path);
    client.open(&uri, &text);
    let published = client.diagnostics(&uri);
    assert_eq!(
        published.diagnostics,
        Vec::new(),
        "the example checks clean"
    );
    (uri, text)
}

fn hover_text(client: &mut Client, uri: &Uri, pos: Position) -> String {
    let hover = client
        .request::<req::HoverRequest>(HoverParams {
            text_document_position_params: at(uri, pos),
            work_done_progress_params: Default::default(),
        })
        .unwrap_or_else(|| panic!("a hover at {pos:?}"));
    match hover.contents {
        HoverContents::Markup(m) => m.value,
        other => panic!("markdown expected: {other:?}"),
    }
}

#[test]
fn hover_shows_types_and_the_contract() {
    let mut client = Client::start();
    let (uri, text) = open_example(&mut client);
    let cases: &[(&str, &str, usize, usize)] = &[
        ("dataset_name", "case_sla_daily_metrics", 0, 3),
        ("input_target", "silver_cases", 1, 2),
        ("input_alias", "ev.kind", 0, 0),
        ("column_of_input", "ev.kind", 0, 4),
        ("column_of_reference", "units.owning_unit", 0, 8),
        ("boundary_column", "business_date in", 0, 2),
        ("computed_column", "null_rate(region)", 0, 11),
        ("derived_column", "max(breach_rate)", 0, 5),
        ("partition", "[p - 29d", 0, 1),
        ("function", "count_distinct", 0, 2),
        ("binding", "bind sla", 0, 6),
    ];
    let mut all = String::new();
    for (name, needle, nth, delta) in cases {
        let text = hover_text(&mut client, &uri, position(&text, needle, *nth, *delta));
        all.push_str(&format!("==== {name}: `{needle}`\n{text}\n"));
    }
    // A file of the project that is not open: a source's contract.
    let silver = example().join("datasets/silver_cases.bpl");
    let silver_text = std::fs::read_to_string(&silver).expect("the example");
    let text_of_source = hover_text(
        &mut client,
        &crate::uri(&silver),
        position(&silver_text, "raw_case_events", 0, 3),
    );
    all.push_str(&format!(
        "==== source (in a file not open): `raw_case_events`\n{text_of_source}\n"
    ));
    insta::assert_snapshot!("hover", all);
    // Nothing to say about a keyword or a blank.
    let none = client.request::<req::HoverRequest>(HoverParams {
        text_document_position_params: at(&uri, position(&text, "publish", 0, 1)),
        work_done_progress_params: Default::default(),
    });
    assert!(none.is_none());
    client.shutdown();
}

#[test]
fn definition_and_references_cross_files() {
    let mut client = Client::start();
    let (uri, text) = open_example(&mut client);
    let cases: &[(&str, &str, usize, usize)] = &[
        ("input target", "silver_cases", 1, 2),
        ("binding target", "org_hierarchy", 0, 2),
        ("alias", "ev.unit_id", 0, 0),
        ("column of an input", "ev.unit_id", 0, 4),
        ("column of a reference", "sla.sla_hours", 0, 5),
        ("computed column", "max(breach_rate)", 0, 5),
        ("group key in a rule", "null_rate(region)", 0, 11),
        ("partition", "[p - 29d", 0, 1),
    ];
    let mut all = String::new();
    for (name, needle, nth, delta) in cases {
        let found = client.request::<req::GotoDefinition>(GotoDefinitionParams {
            text_document_position_params: at(&uri, position(&text, needle, *nth, *delta)),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        });
        let shown = match found {
            Some(GotoDefinitionResponse::Scalar(l)) => shown(&l),
            other => format!("{other:?}"),
        };
        all.push_str(&format!("{name} `{needle}` -> {shown}\n"));
    }
    let refs = |client: &mut Client, needle: &str, delta: usize, with_declaration: bool| {
        let found = client
            .request::<req::References>(ReferenceParams {
                text_document_position: at(&uri, position(&text, needle, 0, delta)),
                context: ReferenceContext {
                    include_declaration: with_declaration,
                },
                work_done_progress_params: Default::default(),
                partial_result_params: Default::default(),
            })
            .unwrap_or_default();
        let mut lines: Vec<String> = found.iter().map(shown).collect();
        lines.sort();
        lines
    };
    all.push_str("\nreferences of `silver_cases`, with its declaration:\n");
    for l in refs(&mut client, "= silver_cases", 3, true) {
        all.push_str(&format!("  {l}\n"));
    }
    all.push_str("\nreferences of column `region` of `org_hierarchy`:\n");
    for l in refs(&mut client, "units.region", 7, false) {
        all.push_str(&format!("  {l}\n"));
    }
    insta::assert_snapshot!("definition", all);
    client.shutdown();
}

fn labels(client: &mut Client, uri: &Uri, pos: Position) -> Vec<String> {
    let found = client.request::<req::Completion>(CompletionParams {
        text_document_position: at(uri, pos),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    });
    let items = match found {
        Some(CompletionResponse::Array(items)) => items,
        Some(CompletionResponse::List(l)) => l.items,
        None => Vec::new(),
    };
    let mut items: Vec<CompletionItem> = items;
    items.sort_by(|a, b| a.sort_text.cmp(&b.sort_text));
    items
        .iter()
        .map(|i| match &i.detail {
            Some(d) => format!("{} — {d}", i.label),
            None => i.label.clone(),
        })
        .collect()
}

#[test]
fn completion_offers_what_fits_where_the_cursor_is() {
    let mut client = Client::start();
    let (uri, mut text) = open_example(&mut client);
    let mut all = String::new();
    let mut version = 1;
    // Each case types text at the end of a line, asks, and takes it back.
    let cases: &[(&str, &str, &str)] = &[
        (
            "columns of an input after `ev.`",
            "where ev.kind == closed",
            "\n    where ev.",
        ),
        (
            "partition keys after `p.`",
            "where ev.kind == closed",
            "\n    where p.",
        ),
        (
            "inputs after `from`",
            "join sla on units.region == sla.region",
            "\n    join ",
        ),
        (
            "datasets and sources after `input x =`",
            "bind sla = sla_calendar pinned \"2026-07\"",
            "\n  input x = ",
        ),
        (
            "references after `bind x =`",
            "bind sla = sla_calendar pinned \"2026-07\"",
            "\n  bind y = ",
        ),
        ("clauses of a dataset", "publish replace", "\n  "),
        ("steps of a pipeline", "where ev.kind == closed", "\n    "),
        (
            "severities after `else`",
            "else warn",
            "\n    expect row_count() > 1 else ",
        ),
        ("an expression in a rule", "else warn", "\n    expect "),
    ];
    for (name, line_end, typed) in cases {
        let at_end = text.find(line_end).expect(line_end) + line_end.len();
        let start = LineIndex::new(&text).position(&text, at_end);
        version += 1;
        client.change(&uri, version, Some(Range::new(start, start)), typed);
        let mut typed_text = text.clone();
        typed_text.insert_str(at_end, typed);
        let end = LineIndex::new(&typed_text).position(&typed_text, at_end + typed.len());
        let got = labels(&mut client, &uri, end);
        all.push_str(&format!("==== {name}\n"));
        for l in &got {
            all.push_str(&format!("  {l}\n"));
        }
        version += 1;
        client.change(&uri, version, Some(Range::new(start, end)), "");
        text = std::fs::read_to_string(example().join("datasets/case_sla_daily_metrics.bpl"))
            .expect("example");
    }
    insta::assert_snapshot!("completion", all);
    // The text is back as it was: no problems.
    let mut published = client.diagnostics(&uri);
    while published.version != Some(version) {
        published = client.diagnostics(&uri);
    }
    assert_eq!(published.diagnostics, Vec::new());
    client.shutdown();
}

#[test]
fn document_symbols_and_formatting() {
    let mut client = Client::start();
    let (uri, _) = open_example(&mut client);
    let symbols = client
        .request::<req::DocumentSymbolRequest>(DocumentSymbolParams {
            text_document: TextDocumentIdentifier::new(uri.clone()),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        })
        .expect("symbols");
    let DocumentSymbolResponse::Nested(symbols) = symbols else {
        panic!("nested symbols expected");
    };
    fn outline(out: &mut String, symbols: &[DocumentSymbol], depth: usize) {
        for s in symbols {
            out.push_str(&format!(
                "{}{:?} {} {}\n",
                "  ".repeat(depth),
                s.kind,
                s.name,
                s.detail.as_deref().unwrap_or("")
            ));
            outline(out, s.children.as_deref().unwrap_or(&[]), depth + 1);
        }
    }
    let mut shown = String::new();
    outline(&mut shown, &symbols, 0);
    insta::assert_snapshot!("symbols", shown);

    // The example is formatted already: no edits.
    let format = |client: &mut Client, uri: &Uri| {
        client.request::<req::Formatting>(DocumentFormattingParams {
            text_document: TextDocumentIdentifier::new(uri.clone()),
            options: FormattingOptions {
                tab_size: 2,
                insert_spaces: true,
                ..Default::default()
            },
            work_done_progress_params: Default::default(),
        })
    };
    assert_eq!(format(&mut client, &uri), Some(Vec::new()));

    // A messy file gets one edit: the text of `bplc fmt`.
    let messy_uri: Uri = "untitled:messy".parse().expect("a URI");
    let messy = "source   s {columns {a: int}\n\n\n   key a}\n";
    client.open(&messy_uri, messy);
    client.diagnostics(&messy_uri);
    let edits = format(&mut client, &messy_uri).expect("edits");
    assert_eq!(edits.len(), 1);
    let expected =
        bplc::syntax::fmt::format(bplc::syntax::span::FileId(0), messy).expect("formats");
    assert_eq!(edits[0].new_text, expected);
    assert_eq!(edits[0].range.start, Position::new(0, 0));
    assert_eq!(edits[0].range.end, Position::new(4, 0));
    client.shutdown();
}

#[test]
fn bad_messages_get_errors_and_the_server_goes_on() {
    let mut client = Client::start_with(json!({ "capabilities": 42, "rootUri": [] }));
    let (uri, text) = open_example(&mut client);
    // An unknown method.
    let r = client.raw_request("textDocument/unknownThing", json!({}));
    assert_eq!(
        r.error.map(|e| e.code),
        Some(lsp_server::ErrorCode::MethodNotFound as i32)
    );
    // Parameters of the wrong shape.
    let r = client.raw_request(req::HoverRequest::METHOD, json!({ "textDocument": 3 }));
    assert_eq!(
        r.error.map(|e| e.code),
        Some(lsp_server::ErrorCode::InvalidParams as i32)
    );
    // A file nobody opened, a position far outside the file.
    let nowhere: Uri = "file:///nowhere/x.bpl".parse().expect("a URI");
    let params = |uri: &Uri, line, character| HoverParams {
        text_document_position_params: at(uri, Position::new(line, character)),
        work_done_progress_params: Default::default(),
    };
    assert!(client
        .request::<req::HoverRequest>(params(&nowhere, 0, 0))
        .is_none());
    assert!(client
        .request::<req::HoverRequest>(params(&uri, 9999, 9999))
        .is_none());
    assert!(client
        .request::<req::HoverRequest>(params(&uri, 0, 9999))
        .is_none());
    // Notifications with bad parameters, edits out of range, edits to a
    // file that is not open: ignored or clamped.
    client.notify(
        notif::DidChangeTextDocument::METHOD,
        json!({ "textDocument": {} }),
    );
    client.notify(notif::DidOpenTextDocument::METHOD, json!(null));
    client.change(&nowhere, 5, None, "dataset x {}");
    client.change(
        &uri,
        7,
        Some(Range::new(Position::new(5000, 3), Position::new(2, 99999))),
        "",
    );
    let published = client.diagnostics(&uri);
    assert_eq!(published.version, Some(7));
    // Put the text back: clean again.
    client.change(&uri, 8, None, &text);
    assert_eq!(client.diagnostics(&uri).diagnostics, Vec::new());
    // After shutdown, requests are refused; exit ends the server.
    let r = client.raw_request(req::Shutdown::METHOD, ());
    assert!(r.error.is_none());
    let r = client.raw_request(req::HoverRequest::METHOD, params(&uri, 0, 0));
    assert_eq!(
        r.error.map(|e| e.code),
        Some(lsp_server::ErrorCode::InvalidRequest as i32)
    );
    client.notify(notif::Exit::METHOD, ());
    let outcome = client
        .server
        .take()
        .expect("running")
        .join()
        .expect("no panic");
    assert_eq!(outcome, Ok(true));
}

#[test]
fn requests_before_initialize_are_refused_and_exit_without_shutdown_is_not_clean() {
    let (server, conn) = Connection::memory();
    let handle = std::thread::spawn(move || bplc::lsp::serve(server));
    let r = Request::new(
        RequestId::from(1),
        req::HoverRequest::METHOD.to_string(),
        json!({}),
    );
    conn.sender.send(r.into()).expect("running");
    match conn.receiver.recv_timeout(TIMEOUT).expect("an answer") {
        Message::Response(r) => assert_eq!(
            r.error.map(|e| e.code),
            Some(lsp_server::ErrorCode::ServerNotInitialized as i32)
        ),
        other => panic!("{other:?}"),
    }
    let init = Request::new(
        RequestId::from(2),
        req::Initialize::METHOD.to_string(),
        json!({}),
    );
    conn.sender.send(init.into()).expect("running");
    assert!(matches!(
        conn.receiver.recv_timeout(TIMEOUT),
        Ok(Message::Response(_))
    ));
    conn.sender
        .send(Notification::new(notif::Exit::METHOD.to_string(), ()).into())
        .expect("running");
    assert_eq!(handle.join().expect("no panic"), Ok(false));
}

/// `bplc lsp` itself, over real stdin and stdout: a garbage frame is
/// skipped, the session goes on, and a proper shutdown exits with 0.
#[test]
fn the_binary_serves_over_stdio_and_skips_garbage() {
    use std::io::{Read, Write};
    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }
    let messages = [
        "Content-Length: 8\r\n\r\nnot json".to_string(),
        frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#),
        frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#),
        frame(
            &json!({
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": { "textDocument": {
                    "uri": "untitled:x", "languageId": "bpl", "version": 1,
                    "text": "dataset d {\n  version 1\n  bogus\n}\n"
                } }
            })
            .to_string(),
        ),
        frame(r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#),
        frame(r#"{"jsonrpc":"2.0","method":"exit"}"#),
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bplc"))
        .args(["lsp", "--stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bplc starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for m in &messages {
        stdin.write_all(m.as_bytes()).expect("written");
    }
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let status = child.wait().expect("bplc ends");
    assert!(status.success(), "exit status {status}; output:\n{out}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(stderr.contains("ignoring a bad message"), "{stderr}");
    let mut bodies = Vec::new();
    let mut rest = out.as_str();
    while let Some(at) = rest.find("\r\n\r\n") {
        let header = &rest[..at];
        let length: usize = header
            .trim()
            .strip_prefix("Content-Length: ")
            .and_then(|n| n.parse().ok())
            .expect("a Content-Length header");
        let body = &rest[at + 4..at + 4 + length];
        bodies.push(serde_json::from_str::<Value>(body).expect("JSON"));
        rest = &rest[at + 4 + length..];
    }
    assert_eq!(bodies[0]["id"], 1);
    assert_eq!(bodies[0]["result"]["serverInfo"]["name"], "bplc");
    let published = bodies
        .iter()
        .find(|b| b["method"] == "textDocument/publishDiagnostics")
        .expect("diagnostics");
    assert_eq!(published["params"]["uri"], "untitled:x");
    assert!(!published["params"]["diagnostics"]
        .as_array()
        .expect("a list")
        .is_empty());
    assert!(bodies.iter().any(|b| b["id"] == 2 && b["result"].is_null()));
}
