//! `textDocument/completion`: what may come next where the cursor is.
//!
//! Completion runs while the user is in the middle of a line, so the text
//! rarely parses there. The context is therefore read from the text itself:
//! the blocks the cursor is inside (the first word of each line that opened
//! a `{` still open: `dataset`, `compute`, `quality`, …) and the words just
//! before the cursor. What the names mean comes from the project: the
//! declaration's inputs and bindings from its AST, or, while it does not
//! parse, from the last checked program, so `ev.` still offers the columns
//! of `ev` while the line is half written.
//!
//! | where | offered |
//! | --- | --- |
//! | top level | `source`, `reference`, `dataset`, `function`, `check` |
//! | at the start of a line in a declaration | the clauses that kind of declaration takes |
//! | at the start of a line in `compute`, `quality`, `corrections` | the steps, `require` / `expect`, correction classes |
//! | after `input x =` / `bind x =` | datasets and sources / references |
//! | after `from`, `join` | the inputs and bindings |
//! | after `alias.` | the columns of that input, with their types |
//! | after `p.` | the partition keys |
//! | after `else` in `quality` or `reconcile` | the severities |
//! | after `name:` in `columns` or `partition by` | the types |
//! | in an expression | inputs and bindings, their columns, computed columns, `p`, the prelude's functions and checks, expression keywords |
//!
//! Every keyword offered is a keyword of `grammar/bpl.pest` (a test checks).

use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, InsertTextFormat, MarkupContent, MarkupKind,
};

use super::hover::signature;
use super::index;
use super::resolve::{declared_columns, steps};
use super::workspace::ProjectState;
use crate::syntax::ast::{ClauseKind, DeclKind, Item, PartitionType, StepKind, TYPE_NAMES};
use crate::syntax::fmt::expr::type_expr;
use crate::syntax::span::FileId;

/// The clauses each kind of declaration takes, in the order they are
/// usually written.
const SOURCE_CLAUSES: &[&str] = &[
    "table",
    "files",
    "changed files",
    "columns",
    "key",
    "clock",
    "snapshot by",
    "cursor by",
    "max lateness",
    "bad rows",
    "partition by",
    "allow",
];
const REFERENCE_CLAUSES: &[&str] = &[
    "table",
    "seed",
    "columns",
    "key",
    "valid from",
    "versioned by",
    "versions",
    "allow",
];
const DATASET_CLAUSES: &[&str] = &[
    "version",
    "table",
    "columns",
    "key",
    "partition by",
    "publish",
    "schedule",
    "input",
    "bind",
    "compute",
    "quality",
    "reconcile",
    "corrections",
    "closed after",
    "restate",
    "allow",
];
const TOP_LEVEL: &[&str] = &[
    "source",
    "reference",
    "dataset",
    "function",
    "aggregate function",
    "window function",
    "check",
];
const STEPS: &[&str] = &[
    "from",
    "where",
    "join",
    "left join",
    "derive",
    "group by",
    "aggregate",
    "select",
    "dedupe by",
];
const RULES: &[&str] = &["require", "expect"];
const SEVERITIES: &[&str] = &[
    "info",
    "warn",
    "quarantine",
    "fail partition",
    "fail run",
    "manual review",
];
const CORRECTION_CLASSES: &[&str] = &["within lookback", "closed period", "unknown impact"];
const CORRECTION_ACTIONS: &[&str] = &[
    "recompute",
    "restate",
    "plan first",
    "ignore",
    "manual review",
];
const EXPRESSION_WORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "else", "over",
];
/// Run counters a `reconcile` rule compares.
const COUNTERS: &[&str] = &["input", "accepted", "quarantined", "duplicates", "output"];

/// Every word completion may offer as a keyword, for the test that keeps
/// them true to the grammar.
pub fn all_keywords() -> impl Iterator<Item = &'static str> {
    [
        SOURCE_CLAUSES,
        REFERENCE_CLAUSES,
        DATASET_CLAUSES,
        TOP_LEVEL,
        STEPS,
        RULES,
        SEVERITIES,
        CORRECTION_CLASSES,
        CORRECTION_ACTIONS,
        EXPRESSION_WORDS,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// One `{` still open at the cursor: the first two words of its line.
#[derive(Debug, Clone, Default)]
struct Frame {
    keyword: String,
    name: String,
}

/// The blocks open at `offset`, outermost first. Strings and comments are
/// skipped.
fn open_blocks(text: &str, offset: usize) -> Vec<Frame> {
    let mut stack = Vec::new();
    let bytes = text.as_bytes();
    let end = offset.min(bytes.len());
    let mut line_start = 0;
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'\n' => line_start = i + 1,
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                let line = text.get(line_start..i).unwrap_or("");
                let mut words = line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty());
                stack.push(Frame {
                    keyword: words.next().unwrap_or_default().to_string(),
                    name: words.next().unwrap_or_default().to_string(),
                });
            }
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// What the cursor's declaration has in scope.
#[derive(Default)]
struct Scope {
    kind: Option<DeclKind>,
    /// `(alias, target)` of its inputs and bindings.
    aliases: Vec<(String, String)>,
    /// Partition keys and their types.
    partition: Vec<(String, String)>,
    /// Columns its pipeline computes.
    computed: Vec<String>,
}

fn scope(p: &ProjectState, decl: &str) -> Scope {
    if let Some(d) = p.decl(decl) {
        let mut s = Scope {
            kind: Some(d.kind),
            aliases: index::aliases(d)
                .map(|(a, t)| (a.name.clone(), t.name.clone()))
                .collect(),
            ..Scope::default()
        };
        for c in &d.clauses {
            if let ClauseKind::Partition(keys) = &c.kind {
                for k in keys {
                    let ty = match &k.kind {
                        PartitionType::Column(t) => type_expr(t),
                        PartitionType::Hash { .. } => "hash".to_string(),
                        PartitionType::Run(_) => "run".to_string(),
                    };
                    s.partition.push((k.name.name.clone(), ty));
                }
            }
        }
        for step in steps(d) {
            match &step.kind {
                StepKind::Derive { assignments } | StepKind::Aggregate(assignments) => s
                    .computed
                    .extend(assignments.iter().map(|a| a.name.name.clone())),
                StepKind::Group { keys, aggregates } => {
                    s.computed.extend(
                        keys.iter()
                            .filter_map(|k| Some(k.name.as_ref()?.name.clone())),
                    );
                    s.computed
                        .extend(aggregates.iter().map(|a| a.name.name.clone()));
                }
                StepKind::Select(items) => s.computed.extend(
                    items
                        .iter()
                        .filter_map(|k| Some(k.name.as_ref()?.name.clone())),
                ),
                _ => {}
            }
        }
        if let Some(cols) = declared_columns(d) {
            s.computed.extend(cols.iter().map(|c| c.name.name.clone()));
        }
        return s;
    }
    // Not parsed at the moment: what the last check knew.
    let Some(program) = p.program.as_ref() else {
        return Scope::default();
    };
    let Some(d) = program.lookup(decl) else {
        return Scope::default();
    };
    let target = |id| program.get(id).name.clone();
    let column_type = |name: &str| {
        d.columns
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.ty.to_string())
            .unwrap_or_default()
    };
    Scope {
        kind: Some(d.kind),
        aliases: d
            .inputs
            .iter()
            .map(|i| (i.alias.clone(), target(i.target)))
            .chain(d.binds.iter().map(|b| (b.alias.clone(), target(b.target))))
            .collect(),
        partition: d
            .partition
            .iter()
            .map(|k| (k.name.clone(), column_type(&k.name)))
            .collect(),
        computed: d.columns.iter().map(|c| c.name.clone()).collect(),
    }
}

/// Options the client asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The client expands `$0` snippets (function calls get their
    /// parentheses, the cursor between them).
    pub snippets: bool,
}

pub fn completion(
    p: &ProjectState,
    file: FileId,
    offset: usize,
    options: Options,
) -> Vec<CompletionItem> {
    if p.module(file).is_none() {
        return Vec::new();
    }
    let text = p.text(file);
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let word_len = before
        .chars()
        .rev()
        .take_while(|&c| is_ident(c))
        .map(char::len_utf8)
        .sum::<usize>();
    let head = &before[..before.len() - word_len];
    let blocks = open_blocks(text, offset);
    let mut out = Items::new(options);

    // `alias.` and `p.`
    if let Some(owner) = head.strip_suffix('.') {
        let owner_len = owner
            .chars()
            .rev()
            .take_while(|&c| is_ident(c))
            .map(char::len_utf8)
            .sum::<usize>();
        let owner = &owner[owner.len() - owner_len..];
        if let Some(decl) = blocks.first().filter(|f| is_decl(&f.keyword)) {
            let scope = scope(p, &decl.name);
            if let Some((_, target)) = scope.aliases.iter().find(|(a, _)| a == owner) {
                for c in p.columns(target) {
                    out.push(
                        &c.name,
                        CompletionItemKind::FIELD,
                        Some(format!("{owner}.{}: {}", c.name, c.ty)),
                        "0",
                    );
                }
            } else if owner == "p" {
                for (k, ty) in &scope.partition {
                    out.push(
                        k,
                        CompletionItemKind::FIELD,
                        Some(format!("p.{k}: {ty}")),
                        "0",
                    );
                }
            }
        }
        return out.items;
    }

    let Some(decl) = blocks.first() else {
        out.keywords(TOP_LEVEL);
        return out.items;
    };
    if !is_decl(&decl.keyword) {
        // In a function or check body: functions only.
        out.functions(p);
        return out.items;
    }
    let scope = scope(p, &decl.name);
    let words: Vec<&str> = head
        .split(|c: char| !is_ident(c) && c != '=')
        .filter(|w| !w.is_empty())
        .collect();
    let trimmed = head.trim_end();
    let at_line_start = head.trim().is_empty();
    let block = blocks.get(1).map(|f| f.keyword.as_str());

    // `input x = ` and `bind x = `
    if blocks.len() == 1 && trimmed.ends_with('=') {
        let clause = head.split_whitespace().next().unwrap_or("");
        let wanted: &[DeclKind] = match clause {
            "input" => &[DeclKind::Dataset, DeclKind::Source],
            "bind" => &[DeclKind::Reference],
            _ => &[],
        };
        if !wanted.is_empty() {
            let mut decls: Vec<_> = p
                .decls()
                .filter(|d| wanted.contains(&d.kind) && d.name.name != decl.name)
                .collect();
            decls.sort_by(|a, b| a.name.name.cmp(&b.name.name));
            decls.dedup_by(|a, b| a.name.name == b.name.name);
            for d in decls {
                let kind = match d.kind {
                    DeclKind::Source => CompletionItemKind::INTERFACE,
                    DeclKind::Reference => CompletionItemKind::STRUCT,
                    DeclKind::Dataset => CompletionItemKind::CLASS,
                };
                out.push(&d.name.name, kind, Some(d.kind.keyword().to_string()), "0");
                if let Some(item) = out.items.last_mut() {
                    item.documentation = markdown(&d.docs);
                }
            }
            return out.items;
        }
    }

    match (blocks.len(), block) {
        (1, _) if at_line_start => {
            let clauses = match scope.kind {
                Some(DeclKind::Source) => SOURCE_CLAUSES,
                Some(DeclKind::Reference) => REFERENCE_CLAUSES,
                _ if decl.keyword == "source" => SOURCE_CLAUSES,
                _ if decl.keyword == "reference" => REFERENCE_CLAUSES,
                _ => DATASET_CLAUSES,
            };
            out.keywords(clauses);
            return out.items;
        }
        (2, Some("columns")) if trimmed.ends_with(':') => {
            out.keywords(TYPE_NAMES);
            return out.items;
        }
        (1, _) if trimmed.ends_with(':') && head.trim_start().starts_with("partition") => {
            out.keywords(TYPE_NAMES);
            return out.items;
        }
        (2, Some("compute")) if at_line_start => {
            out.keywords(STEPS);
            return out.items;
        }
        (2, Some("quality")) if at_line_start => {
            out.keywords(RULES);
            return out.items;
        }
        (2, Some("corrections")) => {
            out.keywords(if trimmed.ends_with("=>") {
                CORRECTION_ACTIONS
            } else {
                CORRECTION_CLASSES
            });
            return out.items;
        }
        (2, Some("quality" | "reconcile")) if words.last() == Some(&"else") => {
            out.keywords(SEVERITIES);
            return out.items;
        }
        _ => {}
    }
    if matches!(words.last(), Some(&("from" | "join"))) {
        for (alias, target) in &scope.aliases {
            out.push(
                alias,
                CompletionItemKind::VARIABLE,
                Some(format!("{alias} = {target}")),
                "0",
            );
        }
        return out.items;
    }

    // An expression.
    for (alias, target) in &scope.aliases {
        out.push(
            alias,
            CompletionItemKind::VARIABLE,
            Some(format!("{alias} = {target}")),
            "0",
        );
    }
    let mut seen: Vec<String> = Vec::new();
    for name in &scope.computed {
        if !seen.contains(name) {
            out.push(
                name,
                CompletionItemKind::FIELD,
                Some(format!("{name}: computed by {}", decl.name)),
                "0",
            );
            seen.push(name.clone());
        }
    }
    let columns: Vec<(String, String, String)> = scope
        .aliases
        .iter()
        .flat_map(|(alias, target)| {
            p.columns(target)
                .into_iter()
                .map(move |c| (alias.clone(), c.name, c.ty))
        })
        .collect();
    for (alias, name, ty) in &columns {
        let unique = columns.iter().filter(|(_, n, _)| n == name).count() == 1;
        let label = if unique && !seen.contains(name) {
            name.clone()
        } else {
            format!("{alias}.{name}")
        };
        if !seen.contains(&label) {
            out.push(
                &label,
                CompletionItemKind::FIELD,
                Some(format!("{alias}.{name}: {ty}")),
                "1",
            );
            seen.push(label);
        }
    }
    if !scope.partition.is_empty() {
        let keys: Vec<String> = scope
            .partition
            .iter()
            .map(|(k, t)| format!("{k}: {t}"))
            .collect();
        out.push(
            "p",
            CompletionItemKind::VARIABLE,
            Some(format!("the output partition ({})", keys.join(", "))),
            "1",
        );
    }
    if block == Some("reconcile") {
        for c in COUNTERS {
            out.push(
                c,
                CompletionItemKind::CONSTANT,
                Some("run counter".to_string()),
                "1",
            );
        }
    }
    out.functions(p);
    out.keywords(EXPRESSION_WORDS);
    out.items
}

fn markdown(docs: &[String]) -> Option<Documentation> {
    (!docs.is_empty()).then(|| {
        Documentation::MarkupContent(MarkupContent {
            kind: MarkupKind::Markdown,
            value: docs.join("\n"),
        })
    })
}

fn is_decl(keyword: &str) -> bool {
    matches!(keyword, "source" | "reference" | "dataset")
}

struct Items {
    items: Vec<CompletionItem>,
    options: Options,
}

impl Items {
    fn new(options: Options) -> Items {
        Items {
            items: Vec::new(),
            options,
        }
    }

    fn push(&mut self, label: &str, kind: CompletionItemKind, detail: Option<String>, rank: &str) {
        self.items.push(CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail,
            sort_text: Some(format!("{rank}{label}")),
            ..CompletionItem::default()
        });
    }

    /// Keywords, in the order given (the order they are written in).
    fn keywords(&mut self, words: &[&str]) {
        for (i, w) in words.iter().enumerate() {
            self.push(w, CompletionItemKind::KEYWORD, None, &format!("3{i:03}"));
        }
    }

    fn functions(&mut self, p: &ProjectState) {
        let mut seen: Vec<&str> = Vec::new();
        for item in p.all_callables() {
            let name = item.name().name.as_str();
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let docs = match item {
                Item::Function(f) => &f.docs,
                Item::Check(c) => &c.docs,
                Item::Decl(_) => continue,
            };
            let takes_arguments = match item {
                Item::Function(f) => !f.params.is_empty(),
                Item::Check(c) => !c.params.is_empty(),
                Item::Decl(_) => false,
            };
            let mut completion = CompletionItem {
                label: name.to_string(),
                kind: Some(CompletionItemKind::FUNCTION),
                detail: signature(item),
                documentation: markdown(docs),
                sort_text: Some(format!("2{name}")),
                ..CompletionItem::default()
            };
            if self.options.snippets {
                completion.insert_text = Some(if takes_arguments {
                    format!("{name}($0)")
                } else {
                    format!("{name}()")
                });
                completion.insert_text_format = Some(InsertTextFormat::SNIPPET);
            }
            self.items.push(completion);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_blocks_skip_strings_and_comments() {
        let text = "dataset d {\n  table \"{\"\n  // {\n  quality {\n    expect x";
        let blocks = open_blocks(text, text.len());
        let words: Vec<(&str, &str)> = blocks
            .iter()
            .map(|f| (f.keyword.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(words, [("dataset", "d"), ("quality", "")]);
        assert!(open_blocks("dataset d {\n}\n", 14).is_empty());
    }

    #[test]
    fn every_keyword_offered_is_a_keyword_of_the_grammar() {
        let pest = include_str!("../../grammar/bpl.pest");
        let quoted: std::collections::BTreeSet<&str> = pest
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.split('"').skip(1).step_by(2))
            .collect();
        for phrase in all_keywords() {
            for word in phrase.split(' ') {
                assert!(
                    quoted.contains(word),
                    "`{word}` is not a word of grammar/bpl.pest"
                );
            }
        }
    }
}
