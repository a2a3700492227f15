//! Positions as the protocol counts them. The compiler's spans are byte
//! offsets; LSP positions are a line and a column in UTF-16 code units (the
//! one encoding every client supports). `SourceFile::line_col` counts
//! characters for people reading a terminal, which is not what an editor
//! means, so the conversion lives here, with edits applied to a document.
//!
//! Nothing here trusts the client: a line past the end, a column past the end
//! of its line, a column in the middle of a surrogate pair or a range whose
//! end comes before its start is clamped to the nearest real position.

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};

/// Where each line of a text starts.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// The protocol position of a byte offset (clamped to the text, and back
    /// to the start of a character it falls inside).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).map_or(0, |&s| s.min(offset));
        let column: usize = text
            .get(start..offset)
            .map_or(0, |s| s.chars().map(char::len_utf16).sum());
        Position::new(line as u32, column as u32)
    }

    /// The byte offset of a protocol position, clamped: a line past the end
    /// is the end of the text, a column past the end of its line is the end
    /// of the line (before its line break).
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let end = self.starts.get(line + 1).map_or(text.len(), |&next| next);
        let line_text = text.get(start..end).unwrap_or("");
        let line_text = line_text.strip_suffix('\n').unwrap_or(line_text);
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let want = position.character as usize;
        let mut units = 0;
        for (i, c) in line_text.char_indices() {
            if units >= want {
                return start + i;
            }
            units += c.len_utf16();
            // A column inside a surrogate pair: the character it splits.
            if units > want {
                return start + i;
            }
        }
        start + line_text.len()
    }

    pub fn range(&self, text: &str, start: usize, end: usize) -> Range {
        Range::new(self.position(text, start), self.position(text, end))
    }

    /// The byte range of a protocol range, ordered.
    pub fn offsets(&self, text: &str, range: Range) -> std::ops::Range<usize> {
        let a = self.offset(text, range.start);
        let b = self.offset(text, range.end);
        a.min(b)..a.max(b)
    }
}

/// Applies the client's edits in order; an edit without a range replaces
/// the whole text.
pub fn apply_changes(text: &mut String, changes: Vec<TextDocumentContentChangeEvent>) {
    for change in changes {
        match change.range {
            None => *text = change.text,
            Some(range) => {
                let index = LineIndex::new(text);
                let at = index.offsets(text, range);
                text.replace_range(at, &change.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, character: u32) -> Position {
        Position::new(line, character)
    }

    #[test]
    fn positions_count_utf16_units() {
        // 'é' is 2 bytes and 1 unit; '😀' is 4 bytes and 2 units.
        let text = "ab\ncé😀d\r\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), pos(0, 0));
        assert_eq!(index.position(text, 3), pos(1, 0));
        assert_eq!(index.position(text, 6), pos(1, 2));
        assert_eq!(index.position(text, 10), pos(1, 4));
        // Inside '😀': back to its start.
        assert_eq!(index.position(text, 8), pos(1, 2));
        assert_eq!(index.offset(text, pos(1, 4)), 10);
        assert_eq!(index.offset(text, pos(1, 3)), 6);
        assert_eq!(index.offset(text, pos(1, 99)), 11);
        assert_eq!(index.offset(text, pos(2, 0)), 13);
        assert_eq!(index.offset(text, pos(9, 9)), text.len());
        assert_eq!(index.position(text, 999), pos(2, 1));
    }

    #[test]
    fn edits_apply_in_order_and_out_of_range_edits_clamp() {
        let mut text = "dataset a {\n}\n".to_string();
        apply_changes(
            &mut text,
            vec![
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(pos(0, 8), pos(0, 9))),
                    range_length: None,
                    text: "bc".into(),
                },
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(pos(40, 2), pos(7, 0))),
                    range_length: None,
                    text: "// end\n".into(),
                },
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(pos(0, 99), pos(0, 3))),
                    range_length: None,
                    text: "".into(),
                },
            ],
        );
        assert_eq!(text, "dat\n}\n// end\n");
    }
}
