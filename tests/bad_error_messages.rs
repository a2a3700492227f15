//! Parse errors whose message is still not good, kept honest: each is
//! snapshotted as it reads today, with a comment saying what would be better.
//! When one is fixed, move it to `parse_errors.rs`.

mod common;

use common::assert_parse_error;

// `within` is not reserved, so it is read as the right side of `==` and the
// error lands on `1%`, listing `else` and `within` as if the rule were whole.
// Better: "the comparison has no right side", pointing after `==`, noting
// that `within` was read as a column.
assert_parse_error! { reconcile_missing_right_side, "dataset d {\n  reconcile {\n    input == within 1%\n  }\n}" }

// A block keyword without its `{` produces three errors: the missing `{`, each
// rule of the block as an unknown clause (whose help at least names the block
// it belongs in), and the block's `}` as unmatched.
// Better: one error, "`quality` opens a block: write `quality {`", and the
// lines below read as the block they were meant to be.
assert_parse_error! { block_without_opening_brace, count = 3, "dataset d {\n  quality\n    require a > 0 else warn\n  }\n}" }

// The clock of an input comes before its boundary. The error says only that
// the line should have ended at `by`. Better: "`by event clock` goes before
// `where`", with the reordered clause as the help.
assert_parse_error! { input_clock_after_boundary, "dataset d {\n  input ev = s where day == p by event clock\n}" }

// `join left` instead of `left join`: `left` is read as the alias, so the
// error asks for `on` at `units`. Better: "write `left join`", pointing at
// both words.
assert_parse_error! { join_left_instead_of_left_join, "dataset d {\n  compute {\n    join left units on ev.a == units.a\n  }\n}" }

// The broken assignment ends at the block's `}`, but the message says "found
// the end of the line": a broken line is diagnosed without the text after
// it. Better: "found `}`".
assert_parse_error! { assignment_cut_off_by_closing_brace, "dataset d {\n  compute {\n    derive { a = 1, b = }\n  }\n}" }

// A file cut off in the middle of a block reports only the unclosed `{`; the
// dangling `>` on the last line is swallowed with the rest of the
// declaration. Better: both, the `>` first.
assert_parse_error! { file_cut_off_after_an_operator, count = 1, "dataset d {\n  compute {\n    from ev\n    where a >\n" }

// A zero-width label at the very end of a file is not drawn, so when the file
// does not end with a newline the "expected `}` before here" label of an
// unclosed block disappears (compare `compute_block_never_closed` in
// `parse_errors.rs`, whose input ends with a newline). Better: anchor the
// label on the last character when the file has no final newline.
assert_parse_error! { unclosed_block_without_final_newline, "source s {\n  columns {\n    a: string\n  key a\n}" }
