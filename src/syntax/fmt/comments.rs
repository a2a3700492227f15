//! The trivia the AST does not keep: `//` comments and blank lines. The
//! printer asks this module which comments come before a position, which one
//! trails the code on a line, and whether the user left a blank line.
//!
//! `///` doc comments are not trivia (they are in the tree) and are skipped,
//! as is everything inside a string literal. Comments never span lines, so
//! one forward scan finds them all.

/// One `//` comment of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the first `/`.
    pub offset: usize,
    /// Byte offset just past the comment's last non-blank character.
    pub end: usize,
    /// The comment as written, `//` included, trailing blanks removed.
    pub text: String,
    /// Alone on its line (only blanks before it), as opposed to trailing code.
    pub own_line: bool,
}

/// Every `//` comment of `src`, in order.
pub fn scan(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Whether anything but blanks precedes `i` on its line.
    let mut code_on_line = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                code_on_line = false;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'"' => {
                code_on_line = true;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                // The closing quote; an unclosed string ends at the line break.
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let line_end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                if !is_doc(&src[i..line_end]) {
                    let text = src[i..line_end].trim_end();
                    out.push(Comment {
                        offset: i,
                        end: i + text.len(),
                        text: text.to_string(),
                        own_line: !code_on_line,
                    });
                }
                code_on_line = true;
                i = line_end;
            }
            _ => {
                code_on_line = true;
                i += 1;
            }
        }
    }
    out
}

/// `///` not followed by a fourth `/` is a doc comment (the grammar's `doc_start`).
fn is_doc(line: &str) -> bool {
    line.starts_with("///") && !line.starts_with("////")
}

/// The comments of a file with a cursor: everything before the cursor has
/// been printed. Positions only move forward, so each comment is taken once.
#[derive(Debug)]
pub struct Comments {
    list: Vec<Comment>,
    next: usize,
}

impl Comments {
    pub fn new(src: &str) -> Comments {
        Comments {
            list: scan(src),
            next: 0,
        }
    }

    /// Takes the next comment if it starts before `pos`.
    pub fn take_before(&mut self, pos: usize) -> Option<Comment> {
        let c = self.list.get(self.next).filter(|c| c.offset < pos)?.clone();
        self.next += 1;
        Some(c)
    }

    /// Takes the next comment if it trails code ending at `end`: on the same
    /// line, with nothing but blanks and commas between.
    pub fn take_trailing(&mut self, src: &str, end: usize) -> Option<Comment> {
        let c = self.list.get(self.next)?;
        let between = src.get(end..c.offset)?;
        if c.own_line || !between.bytes().all(|b| matches!(b, b' ' | b'\t' | b',')) {
            return None;
        }
        self.next += 1;
        Some(c.clone())
    }

    /// Whether a comment not yet printed starts in `start..end`.
    pub fn any_in(&self, start: usize, end: usize) -> bool {
        self.list[self.next..]
            .iter()
            .any(|c| (start..end).contains(&c.offset))
    }

    /// The comments not printed yet.
    pub fn rest(&mut self) -> impl Iterator<Item = Comment> + '_ {
        let rest = self.list[self.next..].to_vec();
        self.next = self.list.len();
        rest.into_iter()
    }
}

/// Whether `src[from..to]` holds a blank line: two line breaks with nothing
/// but blanks between them. The region holds no comments (they are printed
/// before it is asked about), only code punctuation and whitespace.
pub fn blank_line_between(src: &str, from: usize, to: usize) -> bool {
    let Some(region) = src.get(from..to) else {
        return false;
    };
    let mut lines = region.split('\n');
    lines.next();
    let mut middle: Vec<&str> = lines.collect();
    middle.pop();
    middle.iter().any(|l| l.trim().is_empty())
}

/// The offset of the `{` that is the first code after `pos`, skipping blanks
/// and comments; `None` when something else comes first.
pub fn open_brace(src: &str, pos: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let mut i = pos;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = src[i..].find('\n').map_or(src.len(), |n| i + n);
            }
            b'{' => return Some(i),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_but_not_docs_or_strings() {
        let src = "// a\n/// doc // x\nkey k // b\ntable \"x // y\" //// c\n";
        let found: Vec<(String, bool)> = scan(src)
            .into_iter()
            .map(|c| (c.text, c.own_line))
            .collect();
        assert_eq!(
            found,
            vec![
                ("// a".to_string(), true),
                ("// b".to_string(), false),
                ("//// c".to_string(), false),
            ]
        );
    }

    #[test]
    fn escaped_quote_does_not_end_a_string() {
        let src = "table \"a \\\" // not\" // yes";
        let found: Vec<String> = scan(src).into_iter().map(|c| c.text).collect();
        assert_eq!(found, vec!["// yes".to_string()]);
    }

    #[test]
    fn blank_lines_are_two_breaks_with_blanks_between() {
        assert!(blank_line_between("a\n\nb", 1, 3));
        assert!(blank_line_between("a,\n  \t\n  b", 1, 9));
        assert!(!blank_line_between("a\n  b", 1, 4));
        assert!(!blank_line_between("a\n", 1, 2));
    }

    #[test]
    fn open_brace_skips_comments() {
        assert_eq!(open_brace("x // c\n {", 1), Some(8));
        assert_eq!(open_brace("x y {", 1), None);
    }
}
