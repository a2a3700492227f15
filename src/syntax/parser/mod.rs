//! The only door to pest: [`parse`] turns one file's text into a [`Module`] and
//! the diagnostics found on the way. Nothing outside this module sees pest.

mod errors;
mod expr;
mod tree;

use pest::Parser;
use pest_derive::Parser;

use super::ast::Module;
use super::span::{FileId, Span};
use crate::diagnostic::{codes, Diagnostic};

#[derive(Parser)]
#[grammar = "grammar/bpl.pest"]
pub(crate) struct BplParser;

/// Brackets nested deeper than this are refused before pest sees them, so no
/// input can exhaust the stack of the parser or of the tree builder.
pub const MAX_NESTING: usize = 200;

/// No expression tree is deeper than this: a long chain of operators
/// (`1 + 1 + ...`, `- - - x`, `a.b.b...`) nests one level per operator, and
/// every pass after the parser (checker, lowering, formatter, language
/// server) walks trees by recursion. Brackets count too: each is a level.
pub const MAX_EXPR_DEPTH: usize = 256;

/// `if` expressions nest without brackets (`else if ...`), so they are
/// bounded per declaration too.
pub const MAX_IFS: usize = 500;

/// Parses one file. Never panics; a file with errors still yields every
/// declaration that parsed, and one diagnostic per broken region.
pub fn parse(file: FileId, src: &str) -> (Module, Vec<Diagnostic>) {
    if let Some(limit) = too_deep(src) {
        let d = match limit {
            Limit::Brackets(at) => Diagnostic::new(
                codes::E0008,
                format!("brackets are nested more than {MAX_NESTING} deep"),
            )
            .primary(Span::new(file, at, at + 1), "this bracket is too deep")
            .help("split the expression with `derive` steps; no real pipeline needs this much nesting"),
            Limit::Ifs(at) => Diagnostic::new(
                codes::E0008,
                format!("more than {MAX_IFS} `if` expressions in one declaration"),
            )
            .primary(Span::new(file, at, at + 2), "one `if` too many")
            .help("map many values with a `reference` table and a `join` instead of a chain of `if`s"),
        };
        let empty = Module {
            file,
            items: Vec::new(),
        };
        return (empty, vec![d]);
    }
    parse_pieces(file, src, PIECE_BYTES).unwrap_or_else(|| parse_whole(file, src))
}

/// How much text one call to pest parses at least, when the file allows:
/// see [`parse_pieces`].
const PIECE_BYTES: usize = 8 * 1024;

/// The whole file in one call to pest.
fn parse_whole(file: FileId, src: &str) -> (Module, Vec<Diagnostic>) {
    match BplParser::parse(Rule::file, src) {
        Ok(pairs) => build(file, src, 0, pairs),
        // `file` has catch-alls at every level, so this is rare: a limit hit.
        Err(e) => (
            Module {
                file,
                items: Vec::new(),
            },
            vec![errors::from_pest(
                file,
                0,
                src,
                &e,
                errors::Context::TopLevel,
            )],
        ),
    }
}

/// The file parsed in pieces of at least `piece_bytes`, each cut where a
/// declaration starts a line right after a line that is only `}`. Pieces
/// are kept while each parses with no diagnostic at all; from the first
/// that has one, the rest of the file is parsed in one go, as the whole
/// file would be from there. `None` when there is nothing to cut, or when
/// pest gives up on the rest: the file is then parsed whole.
///
/// Why: pest keeps every token of a parse in one vector, which for a
/// 150 kB file grows to megabytes by doubling, each time copied and its
/// fresh pages faulted in; and the tree builder then walks it far out of
/// the cache. That was a sixth of a parse. A piece's tokens stay small and
/// their memory is reused by the next piece.
///
/// The same tree and diagnostics: a piece that parses cleanly ends in
/// whole declarations, and no attempt inside a clean declaration looks past
/// its closing brace (strings and comments end at the line, a body at its
/// `}`), so the file parsed whole splits into the same declarations at the
/// same places, and goes on from the next piece's start as a parse of the
/// rest does. The cut is at the start of a line after a `}` line, so no
/// comment or blank run straddles it and nothing after it runs on from
/// the item before. `tests` below compare both ways on every example and
/// on edited copies.
fn parse_pieces(file: FileId, src: &str, piece_bytes: usize) -> Option<(Module, Vec<Diagnostic>)> {
    let starts = piece_starts(src, piece_bytes);
    if starts.len() < 2 {
        return None;
    }
    let mut items = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(src.len());
        match parse_text(file, &src[start..end], start)? {
            (module, diags) if diags.is_empty() => items.extend(module.items),
            _ => {
                let (rest, diags) = parse_text(file, &src[start..], start)?;
                items.extend(rest.items);
                return Some((Module { file, items }, diags));
            }
        }
    }
    Some((Module { file, items }, Vec::new()))
}

/// `text`, which starts at offset `base` of the file, parsed as a file;
/// `None` if pest gives up.
fn parse_text(file: FileId, text: &str, base: usize) -> Option<(Module, Vec<Diagnostic>)> {
    let pairs = BplParser::parse(Rule::file, text).ok()?;
    Some(build(file, text, base, pairs))
}

/// The module and diagnostics of a parse of `text` (at `base` in the file).
fn build(
    file: FileId,
    text: &str,
    base: usize,
    mut pairs: pest::iterators::Pairs<'_, Rule>,
) -> (Module, Vec<Diagnostic>) {
    let root = pairs.next().expect("the file rule yields one pair");
    let builder = tree::Builder::new(file, text, base);
    let module = builder.module(root);
    (module, builder.finish())
}

/// Where the pieces of [`parse_pieces`] start: offset 0, then the start of
/// each line that begins a declaration (`///` or a declaration's word in
/// column 0) after a line that is only `}`, once the piece before it holds
/// `piece_bytes`. Only a guess at where declarations end: a wrong one makes
/// a piece fail, and the file is parsed whole.
fn piece_starts(src: &str, piece_bytes: usize) -> Vec<usize> {
    let mut starts = vec![0];
    let mut after_closing_brace = false;
    let mut at = 0;
    for line in src.split_inclusive('\n') {
        let line_start = at;
        at += line.len();
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let piece_len = line_start - starts[starts.len() - 1];
        if after_closing_brace && piece_len >= piece_bytes && starts_declaration(line) {
            starts.push(line_start);
        }
        after_closing_brace = text == "}";
    }
    starts
}

/// Whether a line starts as `item_start` in the grammar does: a doc
/// comment (`///`, not `////`) or a declaration's word.
fn starts_declaration(line: &str) -> bool {
    if let Some(rest) = line.strip_prefix("///") {
        return !rest.starts_with('/');
    }
    errors::DECLARATIONS.iter().any(|w| {
        line.strip_prefix(w)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
    })
}

enum Limit {
    Brackets(usize),
    Ifs(usize),
}

/// The first offset where bracket nesting exceeds [`MAX_NESTING`], or where
/// a declaration's `if` count exceeds [`MAX_IFS`], ignoring strings and
/// comments. These bound the recursion of the parser and the tree builder.
fn too_deep(src: &str) -> Option<Limit> {
    let bytes = src.as_bytes();
    let (mut depth, mut ifs, mut i) = (0usize, 0usize, 0usize);
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Limit::Brackets(i));
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    ifs = 0;
                }
            }
            b'i' if bytes.get(i + 1) == Some(&b'f')
                && (i == 0 || !word(bytes[i - 1]))
                && !bytes.get(i + 2).is_some_and(|&c| word(c)) =>
            {
                ifs += 1;
                if ifs > MAX_IFS {
                    return Some(Limit::Ifs(i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every example project's files and the prelude, one after another.
    fn corpus() -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = walkdir::WalkDir::new(root.join("examples"))
            .sort_by_file_name()
            .into_iter()
            .chain(walkdir::WalkDir::new(root.join("stdlib")).sort_by_file_name())
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "bpl"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert!(files.len() > 10, "the examples are where they were");
        files.iter_mut().for_each(|f| f.push('\n'));
        files.concat()
    }

    fn whole(src: &str) -> String {
        format!("{:?}", parse_whole(FileId(1), src))
    }

    /// What [`parse_pieces`] gives, if it cuts the file.
    fn in_pieces(src: &str, piece_bytes: usize) -> Option<String> {
        parse_pieces(FileId(1), src, piece_bytes).map(|p| format!("{p:?}"))
    }

    #[test]
    fn clean_files_parse_in_pieces_to_the_same_tree() {
        let src = corpus();
        for piece_bytes in [1, 200, 4096, PIECE_BYTES] {
            let pieces = in_pieces(&src, piece_bytes).expect("the examples have many declarations");
            assert_eq!(pieces, whole(&src), "pieces of {piece_bytes} bytes");
        }
        assert!(piece_starts(&src, 1).len() > 10, "cut after every dataset");
    }

    #[test]
    fn a_broken_piece_and_what_follows_are_parsed_as_the_whole_file_would() {
        // `}` ends the columns block in column 0, and a doc comment starts
        // the next line: a guess at a cut that is wrong.
        let src = "dataset a {\ncolumns {\nx: int\n}\n/// not an item\nkey x\n}\ndataset b {\n  key y\n}\n";
        assert!(piece_starts(src, 1).len() > 2);
        assert_eq!(in_pieces(src, 1), Some(whole(src)));
        // Broken text after a clean piece: the same diagnostics, in the
        // same places, as the whole file gives.
        let broken = "dataset a {\n  key x\n}\ndataset b {\n  key (y\n}\ndataset c {\n  key z\n}\n";
        let (module, diags) = parse_pieces(FileId(1), broken, 1).unwrap();
        assert_eq!(module.items.len(), 3);
        assert!(!diags.is_empty());
        assert_eq!(in_pieces(broken, 1), Some(whole(broken)));
    }

    /// After an operand the grammar tries the words `or`, `and` and `in`
    /// only where the next character is `a`, `i` or `o`; a misspelt word
    /// that starts otherwise is still offered the word it resembles, as
    /// when every word was tried there (`errors::put_back_words`).
    #[test]
    fn word_operators_not_tried_are_still_offered() {
        for (text, word) in [("3and", "and"), ("1orr", "or"), ("9inn", "in")] {
            let src = format!("check c(a: int) = a {text} a\n");
            let (_, diags) = parse(FileId(1), &src);
            let [d] = &diags[..] else {
                panic!("{text}: {diags:?}")
            };
            assert_eq!(
                d.message,
                format!("expected the end of the declaration, found `{text}`")
            );
            assert_eq!(
                d.help.as_deref(),
                Some(format!("did you mean `{word}`?").as_str()),
                "{text}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Edits of the examples (characters deleted, or text from the
        /// grammar's alphabet inserted): cut in every place it can be, the
        /// file gives the whole file's tree and diagnostics.
        #[test]
        fn edited_files_in_pieces_are_the_whole_files_tree(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, prop::sample::select(vec![
                // Mostly blanks and comments, which leave a file clean, so
                // many cases get to compare; the rest break it somewhere.
                "", " ", "\n", "\n\n", "// c\n", "\n// }\n", "\n//\n",
                "}", "\n}\n", "{", "\"", "///", "\ndataset x {\n", "source", "(", "@", "in",
            ])), 1..4)
        ) {
            static CORPUS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let mut src = CORPUS.get_or_init(corpus).clone();
            for (at, delete, insert) in edits {
                let mut i = at.index(src.len());
                while !src.is_char_boundary(i) {
                    i -= 1;
                }
                let mut j = (i + delete).min(src.len());
                while !src.is_char_boundary(j) {
                    j += 1;
                }
                src.replace_range(i..j, insert);
            }
            let pieces = in_pieces(&src, 1);
            prop_assert!(pieces.is_some(), "the edited examples still have many declarations");
            prop_assert_eq!(pieces.unwrap(), whole(&src));
        }
    }
}
