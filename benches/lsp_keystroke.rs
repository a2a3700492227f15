//! How long the editor waits for diagnostics after a keystroke, in a
//! generated project of 1,000 datasets (`benches/generator`), through the
//! real server (`bplc::lsp::serve`) over lsp-server's in-memory connection.
//!
//! `cargo bench --bench lsp_keystroke`. Environment: `LSP_BENCH_DATASETS`
//! (default 1000), `LSP_BENCH_FILES` (dataset files; default one per hundred
//! datasets, as the generator lays them out), `LSP_BENCH_KEYS` (keystrokes
//! timed in each series, default 60), `LSP_BENCH_PAUSE_MS` (the pause before
//! each keystroke of the first series, default 200).
//!
//! One file of the project is opened; then each keystroke is a
//! `textDocument/didChange` that types one character into a column name in
//! a `group by` (`sum(u0.events)` becomes `sum(u0.eventsx)`, an unknown
//! column, E0124) or deletes it again (the project is clean again). Both
//! kinds leave the file parseable, so every keystroke costs a parse of the
//! edited declaration (`lsp::reparse`) and the semantic passes over the
//! whole project: the slow case. (A keystroke that leaves a syntax error is cheaper: the semantic
//! passes do not run on a project that does not parse.) What is timed is
//! from sending the change to receiving `textDocument/publishDiagnostics`
//! for its version: JSON in, parse, check, conversion, JSON out.
//!
//! Two series: a key every `LSP_BENCH_PAUSE_MS` (a brisk typist: the server
//! is idle when a key arrives, as in an editor; the target is about this
//! one), and keys back to back (each sent the moment the previous
//! diagnostics arrive, while the server still frees the previous check's
//! program on its other core).
//!
//! For comparison, in the same process and on the same project: parsing
//! the whole edited file (what a server re-parsing per file would pay), `driver::check_project` on a project already
//! parsed (the semantic passes), and `driver::check` (load, parse and check
//! everything: what a server without per-file reuse would do).
//!
//! Target: diagnostics after a keystroke under 50 ms.

#[path = "generator/mod.rs"]
mod generator;

// The allocator of the `bplc` binary (src/main.rs), so the in-process rows
// measure what the binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    DidChangeTextDocumentParams, DidOpenTextDocumentParams, Position, PublishDiagnosticsParams,
    Range, TextDocumentContentChangeEvent, TextDocumentItem, Uri, VersionedTextDocumentIdentifier,
};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Stats {
    best: Duration,
    median: Duration,
    p90: Duration,
    worst: Duration,
}

fn stats(mut all: Vec<Duration>) -> Stats {
    all.sort();
    Stats {
        best: all[0],
        median: all[all.len() / 2],
        p90: all[(all.len() * 9 / 10).min(all.len() - 1)],
        worst: all[all.len() - 1],
    }
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Stats {
    drop(f());
    stats(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let out = std::hint::black_box(f());
                let elapsed = t.elapsed();
                drop(out);
                elapsed
            })
            .collect(),
    )
}

/// Waits for the diagnostics of `uri` at `version`.
fn diagnostics(conn: &Connection, uri: &Uri, version: Option<i32>) -> PublishDiagnosticsParams {
    loop {
        let m = conn
            .receiver
            .recv_timeout(Duration::from_secs(600))
            .expect("the server answers");
        if let Message::Notification(n) = m {
            if n.method == notif::PublishDiagnostics::METHOD && n.params["uri"] == uri.as_str() {
                let p: PublishDiagnosticsParams =
                    serde_json::from_value(n.params).expect("diagnostics");
                if version.is_none() || p.version == version {
                    return p;
                }
            }
        }
    }
}

fn main() {
    let datasets = env("LSP_BENCH_DATASETS", 1000);
    let keys = env("LSP_BENCH_KEYS", 60).max(2);
    let spec = generator::Spec {
        files: env("LSP_BENCH_FILES", datasets.div_ceil(100).max(1)),
        ..generator::Spec::new(datasets)
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let summary = generator::write(dir.path(), spec).expect("the project is written");
    let root = dir.path().canonicalize().expect("a real path");
    let checked = bplc::driver::check(&root).expect("the project loads");
    assert!(
        checked.diagnostics.is_empty(),
        "the generated project has diagnostics"
    );
    drop(checked);

    // The dataset file in the middle of the graph.
    let mut files: Vec<_> = bplc::project::bpl_files(&root)
        .expect("files")
        .into_iter()
        .filter(|p| p.starts_with(root.join("datasets")))
        .collect();
    files.sort();
    let path = files[files.len() / 2].clone();
    let text = std::fs::read_to_string(&path).expect("readable");
    println!(
        "project: {} datasets in {} .bpl files, {} lines, {:.2} MB; the edited file: {} ({:.0} KB, {} lines)",
        summary.datasets,
        summary.files,
        summary.lines,
        summary.bytes as f64 / 1e6,
        path.strip_prefix(&root).unwrap_or(&path).display(),
        text.len() as f64 / 1e3,
        text.lines().count()
    );
    println!(
        "machine: {} threads available to the process",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let (server, conn) = Connection::memory();
    let handle = std::thread::spawn(move || bplc::lsp::serve(server));
    let init = Request::new(
        RequestId::from(1),
        req::Initialize::METHOD.to_string(),
        serde_json::json!({ "capabilities": {} }),
    );
    conn.sender.send(init.into()).expect("running");
    loop {
        if let Message::Response(_) = conn.receiver.recv().expect("initialize answered") {
            break;
        }
    }
    let send = |method: &str, params: serde_json::Value| {
        let n = Notification::new(method.to_string(), params);
        conn.sender.send(n.into()).expect("running");
    };
    send(notif::Initialized::METHOD, serde_json::json!({}));

    let uri = bplc::lsp::uri::from_path(&path).expect("a file URI");
    let t = Instant::now();
    send(
        notif::DidOpenTextDocument::METHOD,
        serde_json::to_value(DidOpenTextDocumentParams {
            text_document: TextDocumentItem::new(uri.clone(), "bpl".into(), 0, text.clone()),
        })
        .expect("json"),
    );
    let opened = diagnostics(&conn, &uri, Some(0));
    let open_time = t.elapsed();
    assert!(opened.diagnostics.is_empty());

    // Where the keystrokes go: just after `u0.events` in the file's first
    // `sum(u0.events)`.
    let needle = "sum(u0.events";
    let at = text.find(needle).expect("a group by in the file") + needle.len();
    let index = bplc::lsp::text::LineIndex::new(&text);
    let pos: Position = index.position(&text, at);
    let after = Position::new(pos.line, pos.character + 1);

    let pause = Duration::from_millis(env("LSP_BENCH_PAUSE_MS", 200) as u64);
    let mut version = 0;
    let mut series = |pause: Duration| {
        let mut latencies = Vec::new();
        for k in 0..keys + 2 {
            version += 1;
            let typing = version % 2 == 1;
            let change = if typing {
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(pos, pos)),
                    range_length: None,
                    text: "x".into(),
                }
            } else {
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(pos, after)),
                    range_length: None,
                    text: String::new(),
                }
            };
            let params = DidChangeTextDocumentParams {
                text_document: VersionedTextDocumentIdentifier::new(uri.clone(), version),
                content_changes: vec![change],
            };
            std::thread::sleep(pause);
            let t = Instant::now();
            send(
                notif::DidChangeTextDocument::METHOD,
                serde_json::to_value(params).expect("json"),
            );
            let published = diagnostics(&conn, &uri, Some(version));
            let elapsed = t.elapsed();
            if typing {
                assert_eq!(published.diagnostics.len(), 1, "the typo is reported");
            } else {
                assert!(published.diagnostics.is_empty(), "and cleared");
            }
            // The first two warm up.
            if k >= 2 {
                latencies.push(elapsed);
            }
        }
        stats(latencies)
    };
    let paced = series(pause);
    let back_to_back = series(Duration::ZERO);

    // Requests on the same project: the first one also builds the name
    // index of every file, which waits for the first request after a load.
    let column = index.position(&text, at - 2);
    let mut next_id = 10;
    let mut request = |method: &str, params: serde_json::Value| {
        next_id += 1;
        let id = RequestId::from(next_id);
        let t = Instant::now();
        conn.sender
            .send(Request::new(id.clone(), method.to_string(), params).into())
            .expect("running");
        loop {
            let m = conn
                .receiver
                .recv_timeout(Duration::from_secs(600))
                .expect("an answer");
            if let Message::Response(r) = m {
                if r.id == id {
                    assert!(r.error.is_none(), "{method}: {:?}", r.error);
                    return t.elapsed();
                }
            }
        }
    };
    let at_column = serde_json::json!({
        "textDocument": { "uri": uri.as_str() },
        "position": column,
    });
    let mut references = at_column.clone();
    references["context"] = serde_json::json!({ "includeDeclaration": true });
    let requests = [
        (
            "first hover (builds the name index)",
            req::HoverRequest::METHOD,
            at_column.clone(),
        ),
        (
            "hover on a column",
            req::HoverRequest::METHOD,
            at_column.clone(),
        ),
        (
            "go to definition",
            req::GotoDefinition::METHOD,
            at_column.clone(),
        ),
        (
            "find references (whole project)",
            req::References::METHOD,
            references,
        ),
        (
            "completion in an expression",
            req::Completion::METHOD,
            at_column.clone(),
        ),
    ];
    let answered: Vec<(&str, Duration)> = requests
        .into_iter()
        .map(|(name, method, params)| (name, request(method, params)))
        .collect();
    conn.sender
        .send(Request::new(RequestId::from(2), req::Shutdown::METHOD.to_string(), ()).into())
        .expect("running");
    send(notif::Exit::METHOD, serde_json::Value::Null);
    let _ = handle.join();

    // The parts, and the alternative, in the same process.
    let runs = 11;
    let parse_one = time(runs, || {
        bplc::syntax::parse(bplc::syntax::span::FileId(0), &text)
    });
    let semantic = {
        let mut all = Vec::new();
        for _ in 0..=runs {
            let project = bplc::project::load(&root).expect("loads");
            let t = Instant::now();
            let checked = bplc::driver::check_project(project);
            all.push(t.elapsed());
            drop(checked);
        }
        all.remove(0);
        stats(all)
    };
    let full = time(runs, || {
        bplc::driver::check(Path::new(&root)).expect("loads")
    });

    println!(
        "\nopening the file (load, parse and check the project, publish): {:.0} ms",
        ms(open_time)
    );
    println!(
        "\n{keys} keystrokes in each series, alternately typing an unknown column (E0124) and deleting it:"
    );
    let row = |name: &str, s: &Stats| {
        println!(
            "  {name:<52} best {:>7.1} ms  median {:>7.1} ms  p90 {:>7.1} ms  worst {:>7.1} ms",
            ms(s.best),
            ms(s.median),
            ms(s.p90),
            ms(s.worst)
        )
    };
    row(
        &format!(
            "keystroke -> diagnostics, a key every {} ms",
            pause.as_millis()
        ),
        &paced,
    );
    row("keystroke -> diagnostics, keys back to back", &back_to_back);
    println!("\nrequests (one each):");
    for (name, took) in &answered {
        println!("  {name:<52} {:>7.1} ms", ms(*took));
    }
    println!("\nits parts, and what a server without reuse would do ({runs} runs each):");
    row("parse the edited file (syntax::parse)", &parse_one);
    row("semantic passes (driver::check_project)", &semantic);
    row("load + parse + check everything (driver::check)", &full);
    let target = Duration::from_millis(50);
    println!(
        "\ntarget: diagnostics after a keystroke in a {}-dataset project under {:.0} ms: median {:.1} ms, p90 {:.1} ms: {}",
        summary.datasets,
        ms(target),
        ms(paced.median),
        ms(paced.p90),
        if paced.median < target { "met" } else { "NOT met" }
    );
}
