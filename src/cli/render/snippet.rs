//! The source miette draws a snippet from, cut down around the label on a
//! very long line. miette pads the underline of a label to the label's
//! column with a format width, and a width past 65,535 panics; a line that
//! long (generated or minified text) is unreadable in a terminal anyway. So
//! on a line longer than [`LONG_LINE`] bytes, a snippet shows only
//! [`MARGIN`] bytes either side of its label, and the header still gives the
//! true line and column.

use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Lines longer than this are shown in part.
pub const LONG_LINE: usize = 1000;
/// How much of a long line is shown either side of a label.
const MARGIN: usize = 60;
/// The longest label drawn on a long line.
const LONGEST_LABEL: usize = 80;

/// One file's text, for miette.
#[derive(Debug)]
pub struct Snippet {
    name: String,
    text: Arc<str>,
}

impl Snippet {
    pub fn new(name: &str, text: Arc<str>) -> Snippet {
        Snippet {
            name: name.to_string(),
            text,
        }
    }

    /// The byte range of the line around `offset`, without its line break.
    fn line_at(&self, offset: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        let offset = offset.min(bytes.len());
        let start = bytes[..offset]
            .iter()
            .rposition(|&b| b == b'\n' || b == b'\r')
            .map_or(0, |i| i + 1);
        let end = bytes[offset..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(bytes.len(), |i| offset + i);
        (start, end)
    }

    /// A label's range, shortened to [`LONGEST_LABEL`] when it starts on a
    /// long line (so its snippet stays short too).
    pub fn label_range(&self, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let (start, end) = self.line_at(range.start);
        if end - start <= LONG_LINE || range.len() <= LONGEST_LABEL {
            return range;
        }
        let cut = floor_boundary(&self.text, range.start + LONGEST_LABEL);
        range.start..cut.max(range.start)
    }
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (line_start, line_end) = self.line_at(span.offset());
        let full = self.text.as_bytes().read_span(span, before, after)?;
        let long = full
            .data()
            .split(|&b| b == b'\n')
            .any(|line| line.len() > LONG_LINE);
        if !long {
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                full.data(),
                *full.span(),
                full.line(),
                full.column(),
                full.line_count(),
            )));
        }
        // Two labels far apart on one long line are drawn as two snippets:
        // refusing the joined span is how miette is told not to join them.
        let span_end = span.offset() + span.len();
        if span_end > line_end || span.len() > LONGEST_LABEL {
            return Err(MietteError::OutOfBounds);
        }
        let from = ceil_boundary(
            &self.text,
            span.offset().saturating_sub(MARGIN).max(line_start),
        );
        let to = floor_boundary(&self.text, (span_end + MARGIN).min(line_end));
        let line = self.text[..line_start].matches('\n').count();
        // The header reads the column of a span read without context.
        let column_at = if before == 0 { span.offset() } else { from };
        let column = self.text[line_start..column_at].chars().count();
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[from..to],
            (from, to - from).into(),
            line,
            column,
            0,
        )))
    }
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}
