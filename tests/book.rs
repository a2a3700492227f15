//! The book is tested like code: every ```bpl block in `book/src` is run
//! through the compiler, and the error index cannot drift from the code
//! registry.
//!
//! # Fence conventions
//!
//! The info string of a fence is the language followed by words separated
//! by commas, as rustdoc and mdBook read it (`bpl,fail`), or by spaces
//! (`bpl fail`):
//!
//! | fence | what the test requires |
//! | --- | --- |
//! | ```` ```bpl ```` | parses with no diagnostic at all |
//! | plain ```` ```bpl ```` on a semantic error page (E01xx, W01xx) | the right example: passes a full `bplc check` with no diagnostic |
//! | ```` ```bpl,fail ```` | `bplc check` reports at least one error; on an error page (`errors/E0003.md`) every diagnostic has that page's code |
//! | ```` ```bpl,fail=E0121 ```` | the same, and every diagnostic is E0121, on any page |
//! | ```` ```bpl,fail,check=NAME ```` | `fail` (or `warn`), checked with the declarations of the context `NAME` (without adding to it) |
//! | ```` ```bpl,warn ```` | `bplc check` reports warnings and no error; on a warning page (`errors/W0101.md`) every diagnostic has that page's code, and `fail` means the same there |
//! | ```` ```bpl,check ```` | passes `bplc check` with no diagnostic, together with the earlier `check` blocks of the same page |
//! | ```` ```bpl,check=NAME ```` | the same, but the blocks of every page marked `check=NAME` build one project, in the order of `SUMMARY.md` (the tutorial) |
//! | ```` ```bpl,fragment=KIND ```` | a piece of a declaration, wrapped before it is parsed: `source`, `reference` and `dataset` wrap clauses in `KIND _ { ... }`; `compute`, `quality`, `reconcile`, `corrections` and `columns` wrap the block's contents in `dataset _ { KIND { ... } }`; `expr` wraps one expression in `check _() = ...` |
//! | ```` ```toml,check ```` | a whole `bpl.toml` that loads with no diagnostic |
//! | ```` ```toml,fail ```` | a `bpl.toml` that is refused with E0009 |
//!
//! `check` blocks are checked in a project whose `bpl.toml` sets only
//! `name`, so schedules name their time zone. `fail` and `warn` blocks are
//! checked together with the declarations of the page's last `check`
//! context (the page's own, or `NAME`; a declaration the block redefines
//! replaces theirs), or with those of `check=NAME` when the fence says so,
//! so a wrong example can lean on a source declared earlier. A `fragment` is
//! only parsed, never checked, and may be combined with `fail`. Other
//! ```` ```toml ```` blocks and ```` ```text ```` blocks are not run. An unknown
//! word after `bpl` is an error, so a typo never turns a test off.
//!
//! A failure names the Markdown file and the line of the fence (and of the
//! diagnostic, where there is one).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bplc::diagnostic::{codes, Diagnostic, Level};
use bplc::project::{self, Config};
use bplc::syntax::span::{FileId, SourceMap};

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src")
}

/// `book/src/errors/E0001.md` as the failure messages show it.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every Markdown file of the book: those `SUMMARY.md` links first, in its
/// order (named check contexts build up in reading order), then the rest.
fn pages() -> Vec<PathBuf> {
    let src = book_src();
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(&src)
        .into_iter()
        .map(|e| e.expect("readable book directory").into_path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "md"))
        .collect();
    all.sort();
    let mut ordered: Vec<PathBuf> = summary_links()
        .into_iter()
        .map(|l| src.join(l))
        .filter(|p| p.is_file())
        .collect();
    let mut seen: BTreeSet<PathBuf> = ordered.iter().cloned().collect();
    for p in all {
        if seen.insert(p.clone()) {
            ordered.push(p);
        }
    }
    ordered
}

/// The page targets `SUMMARY.md` links, in order.
fn summary_links() -> Vec<String> {
    let text = std::fs::read_to_string(book_src().join("SUMMARY.md")).expect("book/src/SUMMARY.md");
    links(&text).into_iter().filter(|l| !l.is_empty()).collect()
}

/// The targets of `[text](target)` links in Markdown, anchors removed.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            let target = &rest[..end];
            out.push(target.split('#').next().unwrap_or("").to_string());
            rest = &rest[end..];
        }
    }
    out
}

/// One fenced code block.
struct Block {
    /// The language: `bpl`, `toml`, `text`.
    lang: String,
    /// The words after the language.
    attrs: Vec<String>,
    /// One-based line of the opening fence in the Markdown file.
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if !trimmed.starts_with("```") {
            continue;
        }
        let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
        let fence = &trimmed[..ticks];
        let mut words = trimmed[ticks..]
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_string);
        let lang = words.next().unwrap_or_default();
        let attrs = words.collect();
        let mut text = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim_start().starts_with(fence) && l.trim().trim_start_matches('`').is_empty() {
                break;
            }
            // Blocks indented in a list item lose that indentation.
            let cut = l.len() - l.trim_start().len();
            text.push_str(&l[cut.min(indent)..]);
            text.push('\n');
        }
        out.push(Block {
            lang,
            attrs,
            line: i + 1,
            text,
        });
    }
    out
}

/// What a block's words ask for.
#[derive(Default)]
struct Mode {
    fail: bool,
    warn: bool,
    /// The code a `fail=CODE` or `warn=CODE` block must report.
    code: Option<&'static codes::CodeInfo>,
    /// `check` (the page's context) or `check=NAME`.
    check: Option<String>,
    fragment: Option<String>,
}

fn mode(block: &Block) -> Result<Mode, String> {
    let mut m = Mode::default();
    for a in &block.attrs {
        match a.split_once('=') {
            None if a == "fail" => m.fail = true,
            None if a == "warn" => m.warn = true,
            Some((word @ ("fail" | "warn"), code)) => {
                m.fail |= word == "fail";
                m.warn |= word == "warn";
                m.code = Some(
                    codes::Code::lookup(code)
                        .ok_or_else(|| format!("`{code}` is not a diagnostic code"))?,
                );
            }
            None if a == "check" => m.check = Some(String::new()),
            Some(("check", name)) if !name.is_empty() => m.check = Some(name.to_string()),
            Some(("fragment", kind)) => m.fragment = Some(kind.to_string()),
            _ => {
                return Err(format!(
                    "unknown fence word `{a}`; see tests/book.rs for the conventions"
                ))
            }
        }
    }
    if m.fail && m.warn {
        return Err("`fail` and `warn` exclude each other".into());
    }
    if m.fragment.is_some() && (m.warn || m.check.is_some()) {
        return Err("a fragment is only parsed: it cannot be `check` or `warn`".into());
    }
    Ok(m)
}

/// The text a fragment is wrapped in, before and after it.
fn wrapper(kind: &str) -> Result<(String, String), String> {
    Ok(match kind {
        "source" | "reference" | "dataset" => (format!("{kind} _ {{\n"), "}\n".into()),
        "compute" | "quality" | "reconcile" | "corrections" | "columns" => {
            (format!("dataset _ {{\n{kind} {{\n"), "}\n}\n".into())
        }
        "expr" => ("check _() =\n".into(), String::new()),
        other => return Err(format!("unknown fragment kind `{other}`")),
    })
}

/// The code of an error page (`errors/E0003.md`), if the page is one.
fn page_code(path: &Path) -> Option<&'static codes::CodeInfo> {
    let stem = path.file_stem()?.to_str()?;
    if path.parent()?.file_name()? != "errors" {
        return None;
    }
    codes::Code::lookup(stem)
}

/// One diagnostic, as a failure message shows it: code, Markdown line, text.
fn describe(d: &Diagnostic, sources: &SourceMap, file_lines: &HashMap<FileId, isize>) -> String {
    let at = d.primary_span().map(|s| {
        let (line, _) = sources.get(s.file).line_col(s.start);
        match file_lines.get(&s.file) {
            Some(offset) => format!("line {}", line as isize + offset),
            None => format!("{} line {line}", sources.get(s.file).name),
        }
    });
    let level = match d.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    format!(
        "{level} {} at {}: {}",
        d.code,
        at.unwrap_or_else(|| "no location".into()),
        d.message
    )
}

/// The declarations of a block that parses: `(name, text)` each.
fn declarations(text: &str) -> Vec<(String, String)> {
    let (module, _) = bplc::syntax::parse(FileId(0), text);
    module
        .items
        .iter()
        .map(|item| {
            let s = item.span();
            (
                item.name().name.clone(),
                text[s.start as usize..s.end as usize].to_string(),
            )
        })
        .collect()
}

fn config() -> Config {
    Config {
        name: "book".into(),
        ..Config::default()
    }
}

/// Checks `block` in a project made of the context's declarations (minus
/// those it redefines) and the block itself. Returns the diagnostics, the
/// sources, and the Markdown line offset of the block's file.
fn check_in_context(
    context: &[(String, String)],
    block: &Block,
) -> (Vec<Diagnostic>, SourceMap, HashMap<FileId, isize>) {
    let own: BTreeSet<String> = declarations(&block.text)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut files: Vec<(String, String)> = context
        .iter()
        .filter(|(n, _)| !own.contains(n))
        .map(|(n, t)| (format!("<earlier block>/{n}.bpl"), t.clone()))
        .collect();
    files.push(("example.bpl".into(), block.text.clone()));
    let project = project::from_sources(
        config(),
        files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
    );
    let example = project
        .sources
        .files()
        .find(|(_, f)| f.name == "example.bpl")
        .map(|(id, _)| id)
        .expect("the block was added");
    let checked = bplc::driver::check_project(project);
    let mut offsets = HashMap::new();
    offsets.insert(example, block.line as isize);
    (checked.diagnostics, checked.project.sources, offsets)
}

#[test]
fn every_bpl_block_of_the_book_does_what_its_fence_says() {
    let mut failures: Vec<String> = Vec::new();
    let mut named: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut counted = 0;
    for path in pages() {
        let markdown = std::fs::read_to_string(&path).expect("readable page");
        let page = page_code(&path);
        let mut local: Vec<(String, String)> = Vec::new();
        // The context the page's last `check` block built: `""` for the
        // page's own, else a name.
        let mut current = String::new();
        for block in blocks(&markdown) {
            let at = format!("{}:{}", shown(&path), block.line);
            let mut fail = |msg: String| failures.push(format!("{at}: {msg}"));
            if block.lang == "toml" {
                if let Some(msg) = toml_block(&block, page) {
                    fail(msg);
                }
                continue;
            }
            if block.lang != "bpl" {
                continue;
            }
            counted += 1;
            let mut m = match mode(&block) {
                Ok(m) => m,
                Err(e) => {
                    fail(e);
                    continue;
                }
            };
            // A semantic error page's right example is a whole project: it
            // must pass the full check, not only parse. (Syntax pages, E00xx,
            // show fragments of projects.)
            let semantic_page = page.is_some_and(|p| !p.code.as_str().starts_with("E00"));
            if semantic_page && !m.fail && !m.warn && m.fragment.is_none() && m.check.is_none() {
                m.check = Some(String::new());
            }

            // Parse, whatever the block is: the text must at least be what
            // the grammar says, and a fragment is only parsed.
            let (prefix, suffix) = match m.fragment.as_deref().map(wrapper).transpose() {
                Ok(w) => w.unwrap_or_default(),
                Err(e) => {
                    fail(e);
                    continue;
                }
            };
            let text = format!("{prefix}{}{suffix}", block.text);
            let mut sources = SourceMap::default();
            let file = sources.add("example.bpl", text.as_str());
            let (_, parsed) = bplc::syntax::parse(file, &text);
            let mut offsets = HashMap::new();
            offsets.insert(file, block.line as isize - prefix.lines().count() as isize);
            let list =
                |ds: &[Diagnostic], sources: &SourceMap, offsets: &HashMap<FileId, isize>| {
                    ds.iter()
                        .map(|d| format!("\n    {}", describe(d, sources, offsets)))
                        .collect::<String>()
                };

            if !m.fail && !m.warn {
                if !parsed.is_empty() {
                    fail(format!(
                        "this ```bpl block should parse cleanly, but:{}",
                        list(&parsed, &sources, &offsets)
                    ));
                    continue;
                }
                if let Some(name) = &m.check {
                    current = name.clone();
                    let context = if name.is_empty() {
                        &mut local
                    } else {
                        named.entry(name.clone()).or_default()
                    };
                    let (diags, sources, offsets) = check_in_context(context, &block);
                    if !diags.is_empty() {
                        fail(format!(
                            "this ```bpl,check block should pass `bplc check`, but:{}",
                            list(&diags, &sources, &offsets)
                        ));
                    }
                    for (n, t) in declarations(&block.text) {
                        context.retain(|(x, _)| *x != n);
                        context.push((n, t));
                    }
                }
                continue;
            }

            // `fail` or `warn`: a fragment is judged by the parse alone, a
            // whole declaration by the whole check.
            let (diags, sources, offsets) = if m.fragment.is_some() {
                (parsed, sources, offsets)
            } else {
                match m.check.as_deref().unwrap_or(&current) {
                    "" => check_in_context(&local, &block),
                    name => {
                        check_in_context(named.get(name).map_or(&[][..], Vec::as_slice), &block)
                    }
                }
            };
            let shown_diags = list(&diags, &sources, &offsets);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            // The code to expect: the fence's, else the error page's. When it
            // is a warning, the wrong example is the one that warns.
            let expected = m.code.or(page);
            let warning = expected.is_some_and(|c| c.code.default_level() == Level::Warning);
            let (fails, warns) = (m.fail && !warning, m.warn || (m.fail && warning));
            if fails && errors == 0 {
                fail(format!(
                    "this ```bpl,fail block should be refused, but `bplc check` finds no error{shown_diags}"
                ));
                continue;
            }
            if warns && (errors > 0 || diags.is_empty()) {
                fail(format!(
                    "this ```bpl,warn block should give warnings and no error, but:{}",
                    if diags.is_empty() {
                        " nothing".to_string()
                    } else {
                        shown_diags
                    }
                ));
                continue;
            }
            if let Some(info) = expected {
                if diags.iter().any(|d| d.code != info.code) {
                    fail(format!(
                        "this example should report only {} ({}), but:{shown_diags}",
                        info.code, info.title
                    ));
                }
            }
        }
    }
    assert!(counted > 0, "no ```bpl block found under book/src");
    assert!(
        failures.is_empty(),
        "{} book example(s) do not do what their fence says:\n\n{}\n",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A ```toml block: `check` must load clean, `fail` must be refused with
/// E0009 (only E0009 on the E0009 page); unmarked blocks are not run.
fn toml_block(block: &Block, page: Option<&'static codes::CodeInfo>) -> Option<String> {
    let (fail, check) = match block.attrs.as_slice() {
        [] => return None,
        [a] if a == "fail" => (true, false),
        [a] if a == "check" => (false, true),
        _ => return Some("a ```toml block takes one word: `check` or `fail`".into()),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("bpl.toml"), &block.text).expect("writable temporary directory");
    let checked = match bplc::driver::check(dir.path()) {
        Ok(c) => c,
        Err(e) => return Some(format!("the project does not load: {e}")),
    };
    let diags: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| {
            let line = d
                .primary_span()
                .map(|s| checked.project.sources.get(s.file).line_col(s.start).0 + block.line)
                .unwrap_or(block.line);
            format!("\n    {} at line {line}: {}", d.code, d.message)
        })
        .collect();
    if check && !diags.is_empty() {
        return Some(format!(
            "this ```toml,check block should load cleanly, but:{}",
            diags.concat()
        ));
    }
    if fail {
        let e0009 = checked
            .diagnostics
            .iter()
            .filter(|d| d.code == codes::E0009)
            .count();
        let only = page.is_none_or(|p| checked.diagnostics.iter().all(|d| d.code == p.code));
        if e0009 == 0 || !only {
            return Some(format!(
                "this ```toml,fail block should be refused with E0009{}, but:{}",
                if page.is_some() { " only" } else { "" },
                if diags.is_empty() {
                    " nothing".to_string()
                } else {
                    diags.concat()
                }
            ));
        }
    }
    None
}

/// `E0001` from a name such as `E0001.md`.
fn code_of_file(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".md")?;
    let ok = stem.len() == 5
        && (stem.starts_with('E') || stem.starts_with('W'))
        && stem[1..].bytes().all(|b| b.is_ascii_digit());
    ok.then(|| stem.to_string())
}

#[test]
fn codes_pages_index_and_summary_agree() {
    let errors = book_src().join("errors");
    let registry: BTreeMap<String, &str> = codes::ALL
        .iter()
        .map(|i| (i.code.to_string(), i.title))
        .collect();
    let mut problems: Vec<String> = Vec::new();

    // One page per code, and no page without a code.
    let pages: BTreeSet<String> = std::fs::read_dir(&errors)
        .expect("book/src/errors")
        .filter_map(|e| code_of_file(&e.ok()?.file_name().to_string_lossy()))
        .collect();
    let codes: BTreeSet<String> = registry.keys().cloned().collect();
    for c in codes.difference(&pages) {
        problems.push(format!(
            "{c} is in src/diagnostic/codes.rs but book/src/errors/{c}.md does not exist"
        ));
    }
    for c in pages.difference(&codes) {
        problems.push(format!(
            "book/src/errors/{c}.md exists but {c} is not in src/diagnostic/codes.rs"
        ));
    }

    // Each page starts with `# CODE: title`, the registry's title; a page
    // not written yet is the one line `# CODE`.
    for (code, title) in &registry {
        let path = errors.join(format!("{code}.md"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let first = text.lines().next().unwrap_or("");
        let stub = text.trim() == format!("# {code}");
        if !stub && first != format!("# {code}: {title}") {
            problems.push(format!(
                "{}:1: the heading should be `# {code}: {title}` (the title in src/diagnostic/codes.rs), found `{first}`",
                shown(&path)
            ));
        }
    }

    // The index lists every code once, with its title, linking its page.
    let index_path = errors.join("index.md");
    let index = std::fs::read_to_string(&index_path).expect("book/src/errors/index.md");
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in index.lines().enumerate() {
        for target in links(line) {
            let Some(code) = code_of_file(&target) else {
                continue;
            };
            *listed.entry(code.clone()).or_default() += 1;
            if let Some(title) = registry.get(&code) {
                if !line.contains(title) {
                    problems.push(format!(
                        "{}:{}: the row of {code} should give its title \"{title}\"",
                        shown(&index_path),
                        i + 1
                    ));
                }
            }
        }
    }
    for c in &codes {
        match listed.get(c) {
            None => problems.push(format!("{} does not list {c}", shown(&index_path))),
            Some(n) if *n > 1 => {
                problems.push(format!("{} lists {c} {n} times", shown(&index_path)))
            }
            _ => {}
        }
    }
    for c in listed.keys().filter(|c| !codes.contains(*c)) {
        problems.push(format!(
            "{} lists {c}, which is not a code",
            shown(&index_path)
        ));
    }

    // SUMMARY.md links every page of the book, and only pages that exist.
    let src = book_src();
    let linked: BTreeSet<PathBuf> = summary_links().iter().map(|l| src.join(l)).collect();
    for l in &linked {
        if !l.is_file() {
            problems.push(format!(
                "SUMMARY.md links {}, which does not exist",
                shown(l)
            ));
        }
    }
    for p in walkdir::WalkDir::new(&src)
        .into_iter()
        .filter_map(Result::ok)
    {
        let p = p.into_path();
        if p.extension().is_some_and(|x| x == "md")
            && p.file_name() != Some("SUMMARY.md".as_ref())
            && !linked.contains(&p)
        {
            problems.push(format!("book/src/SUMMARY.md does not link {}", shown(&p)));
        }
    }

    assert!(
        problems.is_empty(),
        "the book and the code registry disagree:\n  {}\n",
        problems.join("\n  ")
    );
}

#[test]
fn relative_links_between_pages_resolve() {
    let mut broken = Vec::new();
    for path in pages() {
        let text = std::fs::read_to_string(&path).expect("readable page");
        let mut in_code = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if in_code {
                continue;
            }
            for (target, anchor) in links_with_anchors(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let resolved = if target.is_empty() {
                    path.clone()
                } else {
                    path.parent().unwrap().join(&target)
                };
                if !resolved.is_file() {
                    broken.push(format!(
                        "{}:{}: `{target}` does not exist",
                        shown(&path),
                        i + 1
                    ));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                let page = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !heading_ids(&page).contains(&anchor) {
                    broken.push(format!(
                        "{}:{}: `{target}#{anchor}`: no heading has that id",
                        shown(&path),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links in the book:\n  {}\n",
        broken.join("\n  ")
    );
}

/// The `[text](target#anchor)` links of one line: target and anchor.
fn links_with_anchors(line: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let link = &rest[..end];
        out.push(match link.split_once('#') {
            Some((t, a)) => (t.to_string(), Some(a.to_string())),
            None => (link.to_string(), None),
        });
        rest = &rest[end..];
    }
    out
}

/// The ids mdBook gives a page's headings: lower case, spaces to `-`,
/// only letters, digits, `-` and `_` kept; a repeated id gets `-1`, `-2`.
fn heading_ids(page: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut in_code = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim();
        let id: String = text
            .chars()
            .filter_map(|c| match c {
                c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
                c if c.is_whitespace() => Some('-'),
                _ => None,
            })
            .collect();
        let mut unique = id.clone();
        let mut n = 0;
        while ids.contains(&unique) {
            n += 1;
            unique = format!("{id}-{n}");
        }
        ids.insert(unique);
    }
    ids
}

#[test]
fn the_prelude_chapter_lists_every_function_and_check() {
    let chapter_path = book_src().join("reference/prelude.md");
    let chapter = std::fs::read_to_string(&chapter_path).expect("book/src/reference/prelude.md");
    let stdlib = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
    let mut missing = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&stdlib)
        .expect("stdlib/")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bpl"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable prelude file");
        let (module, _) = bplc::syntax::parse(FileId(0), &text);
        for item in &module.items {
            let name = &item.name().name;
            if !chapter.contains(&format!("`{name}(")) {
                missing.push(format!(
                    "{name} (stdlib/{})",
                    file.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} does not document these prelude items (as `name(...)`):\n  {}\n",
        shown(&chapter_path),
        missing.join("\n  ")
    );
}

/// `fmt` is idempotent on every example of the book that parses, and keeps
/// its meaning: formatting twice gives what formatting once gave, and the
/// formatted text parses to the same tree.
#[test]
fn fmt_is_idempotent_on_every_bpl_block_of_the_book() {
    let mut failures = Vec::new();
    let mut formatted = 0;
    for path in pages() {
        let markdown = std::fs::read_to_string(&path).expect("readable page");
        for block in blocks(&markdown).into_iter().filter(|b| b.lang == "bpl") {
            let Ok(m) = mode(&block) else { continue };
            if m.fragment.is_some() {
                continue;
            }
            let file = FileId(0);
            let Ok(once) = bplc::syntax::fmt::format(file, &block.text) else {
                continue; // a block that does not parse (a `fail` example)
            };
            formatted += 1;
            let at = format!("{}:{}", shown(&path), block.line);
            match bplc::syntax::fmt::format(file, &once) {
                Ok(twice) if twice == once => {}
                Ok(twice) => failures.push(format!(
                    "{at}: formatting twice changed the text:\n{once}\n---\n{twice}"
                )),
                Err(_) => {
                    failures.push(format!("{at}: the formatted text does not parse:\n{once}"))
                }
            }
            let (a, _) = bplc::syntax::parse(file, &block.text);
            let (b, _) = bplc::syntax::parse(file, &once);
            if !bplc::syntax::fmt::same_ast(&a, &b) {
                failures.push(format!("{at}: formatting changed the meaning"));
            }
        }
    }
    assert!(formatted > 50, "only {formatted} blocks were formatted");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
