//! One malformed input per construct of the grammar, each a single line:
//! `assert_parse_error! { name, "source" }` (braces, so rustfmt leaves the
//! line alone). The snapshot shows the source and
//! the rendered diagnostics together, so a reviewer reads the message the
//! user would read. Every message must be in the user's words: the macro
//! refuses pest rule names, and spans outside the input or off a character
//! boundary.
//!
//! Messages that are still not good enough live in `bad_error_messages.rs`.

mod common;

use common::assert_parse_error;

#[test]
fn the_rule_name_guard_knows_the_grammar() {
    let names = common::rule_names();
    for rule in ["kw_else", "clause_only", "bad_line", "quality_rule", "EOI"] {
        assert!(names.contains(&rule), "`{rule}` is not guarded against");
    }
}

// ---------------------------------------------------------------- declarations

assert_parse_error! { source_without_name, "source { table \"t\" }" }
assert_parse_error! { source_without_brace, "source s table \"t\" }" }
assert_parse_error! { reference_name_starts_with_digit, "reference 1org { key a }" }
assert_parse_error! { dataset_never_closed, "dataset d {\n  version 1\n  publish replace\n" }
assert_parse_error! { misspelt_declaration, "datset d {\n  version 1\n}" }
assert_parse_error! { unknown_top_level_word, "pipeline p {\n  version 1\n}" }
assert_parse_error! { clause_at_top_level, "source s {\n  table \"t\"\n}\nkey id" }
assert_parse_error! { stray_closing_brace, "source s {\n  table \"t\"\n}\n}" }
assert_parse_error! { stray_closing_brace_in_body, "source s {\n  table \"t\" }\n  key id\n}" }
assert_parse_error! { declaration_inside_declaration, "source s {\n  table \"t\"\ndataset d {\n  version 1\n}" }

// ---------------------------------------------------------------- table, columns, types

assert_parse_error! { table_name_unquoted, "source s {\n  table raw_events\n}" }
assert_parse_error! { table_string_unterminated, "source s {\n  table \"raw_events\n}" }
assert_parse_error! { column_unknown_type, "source s { columns { a: dat } }" }
assert_parse_error! { column_without_colon, "source s {\n  columns {\n    event_id string\n  }\n}" }
assert_parse_error! { column_without_type, "source s {\n  columns {\n    event_id:\n  }\n}" }
assert_parse_error! { decimal_without_scale, "source s {\n  columns { amount: decimal(18) }\n}" }
assert_parse_error! { decimal_scale_above_precision, "source s {\n  columns { amount: decimal(2, 5) }\n}" }
assert_parse_error! { enum_without_values, "source s {\n  columns { kind: enum() }\n}" }
assert_parse_error! { enum_with_quoted_values, "source s {\n  columns { kind: enum(\"open\", \"closed\") }\n}" }
assert_parse_error! { nullable_twice, "source s {\n  columns { a: string?? }\n}" }
assert_parse_error! { columns_never_closed, "source s {\n  columns {\n    a: string\n  key a\n}" }

// ---------------------------------------------------------------- key, clocks, locks

assert_parse_error! { key_without_columns, "source s {\n  key\n}" }
assert_parse_error! { key_list_unclosed, "source s {\n  key (case_id, event_id\n}" }
assert_parse_error! { clock_unknown_kind, "source s {\n  clock wall = event_time\n}" }
assert_parse_error! { clock_without_equals, "source s {\n  clock event event_time\n}" }
assert_parse_error! { snapshot_without_by, "source s {\n  snapshot ingested_at\n}" }
assert_parse_error! { cursor_without_columns, "source s {\n  cursor by\n}" }
assert_parse_error! { max_lateness_bad_unit, "source s {\n  max lateness 3x\n}" }
assert_parse_error! { max_without_lateness, "source s {\n  max late 2d\n}" }

// ---------------------------------------------------------------- references

assert_parse_error! { valid_from_without_to, "reference r {\n  valid from valid_from valid_to\n}" }
assert_parse_error! { versioned_without_by, "reference r {\n  versioned calendar_version\n}" }
assert_parse_error! { versions_unquoted, "reference r {\n  versions v1, v2\n}" }

// ---------------------------------------------------------------- version, partitions, publish

assert_parse_error! { version_quoted, "dataset d {\n  version \"3\"\n}" }
assert_parse_error! { version_fractional, "dataset d {\n  version 3.1\n}" }
assert_parse_error! { partition_without_by, "dataset d {\n  partition business_date: date\n}" }
assert_parse_error! { partition_month_misspelt, "dataset d {\n  partition by m: monthly\n}" }
assert_parse_error! { partition_static_dimension_without_type, "dataset d {\n  partition by tenant: string, business_date\n}" }
assert_parse_error! { partition_hash_without_buckets, "dataset d {\n  partition by bucket: hash(case_id)\n}" }
assert_parse_error! { partition_hash_buckets_not_a_number, "dataset d {\n  partition by bucket: hash(case_id, n)\n}" }
assert_parse_error! { partition_run_without_name, "dataset d {\n  partition by run\n}" }
assert_parse_error! { publish_unknown_mode, "dataset d {\n  publish overwrite\n}" }
assert_parse_error! { publish_without_mode, "dataset d {\n  publish\n}" }

// ---------------------------------------------------------------- schedule

assert_parse_error! { schedule_unknown_cadence, "dataset d {\n  schedule nightly at 01:00\n}" }
assert_parse_error! { schedule_on_day_out_of_range, "dataset d {\n  schedule monthly on day 32 at 01:00 \"UTC\"\n}" }
assert_parse_error! { schedule_on_day_without_number, "dataset d {\n  schedule monthly on day first\n}" }
assert_parse_error! { schedule_unknown_weekday, "dataset d {\n  schedule weekly on funday at 01:00\n}" }
assert_parse_error! { schedule_at_out_of_range, "dataset d {\n  schedule daily at 25:00 \"UTC\"\n}" }
assert_parse_error! { schedule_at_in_words, "dataset d {\n  schedule daily at 1am\n}" }
assert_parse_error! { schedule_time_zone_unquoted, "dataset d {\n  schedule daily at 01:00 Asia/Jakarta\n}" }
assert_parse_error! { schedule_lookback_in_words, "dataset d {\n  schedule daily at 01:00 \"UTC\" lookback three days\n}" }

// ---------------------------------------------------------------- input

assert_parse_error! { input_without_equals, "dataset d {\n  input ev silver_cases where business_date == p\n}" }
assert_parse_error! { input_by_clock_without_clock_word, "dataset d {\n  input ev = s by event where day == p\n}" }
assert_parse_error! { input_where_without_condition, "dataset d {\n  input ev = s where\n}" }
assert_parse_error! { input_all_time, "dataset d {\n  input ev = s all time\n}" }

// ---------------------------------------------------------------- bind

assert_parse_error! { bind_without_policy, "dataset d {\n  bind units = org_hierarchy\n}" }
assert_parse_error! { bind_as_of_without_expression, "dataset d {\n  bind units = org_hierarchy as of\n}" }
assert_parse_error! { bind_as_without_of, "dataset d {\n  bind units = org_hierarchy as processing time\n}" }
assert_parse_error! { bind_report_closed, "dataset d {\n  bind units = org_hierarchy as of report closed\n}" }
assert_parse_error! { bind_pinned_unquoted, "dataset d {\n  bind sla = sla_calendar pinned v3\n}" }
assert_parse_error! { bind_latest_because_without_reason, "dataset d {\n  bind sla = sla_calendar latest because\n}" }

// ---------------------------------------------------------------- compute steps

assert_parse_error! { from_without_name, "dataset d {\n  compute {\n    from\n  }\n}" }
assert_parse_error! { where_without_condition, "dataset d {\n  compute {\n    from ev\n    where\n  }\n}" }
assert_parse_error! { join_without_on, "dataset d {\n  compute {\n    join units ev.unit_id == units.unit_id\n  }\n}" }
assert_parse_error! { left_without_join, "dataset d {\n  compute {\n    left units on ev.a == units.a\n  }\n}" }
assert_parse_error! { derive_without_value, "dataset d {\n  compute {\n    derive rate\n  }\n}" }
assert_parse_error! { derive_with_double_equals, "dataset d {\n  compute {\n    derive rate == 1\n  }\n}" }
assert_parse_error! { group_by_without_block, "dataset d {\n  compute {\n    group by region\n  }\n}" }
assert_parse_error! { group_by_broken_aggregate, "dataset d {\n  compute {\n    group by region {\n      n = count(\n    }\n  }\n}" }
assert_parse_error! { aggregate_without_block, "dataset d {\n  compute {\n    aggregate n = row_count()\n  }\n}" }
assert_parse_error! { select_trailing_comma, "dataset d {\n  compute {\n    select a, b,\n  }\n}" }
assert_parse_error! { dedupe_without_by, "dataset d {\n  compute {\n    dedupe event_id\n  }\n}" }
assert_parse_error! { dedupe_order_without_by, "dataset d {\n  compute {\n    dedupe by event_id order ingested_at desc\n  }\n}" }
assert_parse_error! { unknown_step, "dataset d {\n  compute {\n    from ev\n    filter ev.amount > 0\n  }\n}" }
assert_parse_error! { sql_step, "dataset d {\n  compute {\n    SELECT * FROM ev\n  }\n}" }

// ---------------------------------------------------------------- expressions

assert_parse_error! { unclosed_paren, "dataset d {\n  compute {\n    where (a + b > 1\n  }\n}" }
assert_parse_error! { unclosed_bracket, "dataset d {\n  input ev = s where day in [p - 29d, p\n}" }
assert_parse_error! { unclosed_call, "dataset d {\n  compute {\n    derive x = coalesce(a, b\n  }\n}" }
assert_parse_error! { dangling_operator, "dataset d {\n  compute {\n    where a +\n  }\n}" }
assert_parse_error! { single_equals_in_condition, "dataset d {\n  compute {\n    where a = 1\n  }\n}" }
assert_parse_error! { date_that_does_not_exist, "dataset d {\n  compute {\n    where day >= @2026-02-30\n  }\n}" }
assert_parse_error! { month_that_does_not_exist, "dataset d {\n  compute {\n    where month == @2026-13\n  }\n}" }
assert_parse_error! { duration_unknown_unit, "dataset d {\n  input ev = s where day in [p - 3x, p]\n}" }
assert_parse_error! { if_without_else, "dataset d {\n  compute {\n    derive x = if a > 0 then 1\n  }\n}" }
assert_parse_error! { if_without_then, "dataset d {\n  compute {\n    derive x = if a > 0 1 else 0\n  }\n}" }
assert_parse_error! { unknown_string_escape, "dataset d {\n  compute {\n    where name == \"a\\qb\"\n  }\n}" }
assert_parse_error! { reserved_word_as_name, "dataset d {\n  compute {\n    derive in = 1\n  }\n}" }

// ---------------------------------------------------------------- quality

assert_parse_error! { quality_rule_without_else, "dataset d {\n  quality {\n    require a > 0\n  }\n}" }
assert_parse_error! { quality_unknown_severity, "dataset d {\n  quality {\n    require a > 0 else error\n  }\n}" }
assert_parse_error! { quality_fail_without_scope, "dataset d {\n  quality {\n    expect row_count() > 0 else fail\n  }\n}" }
assert_parse_error! { quality_manual_without_review, "dataset d {\n  quality {\n    expect row_count() > 0 else manual\n  }\n}" }
assert_parse_error! { quality_without_expression, "dataset d {\n  quality {\n    require else warn\n  }\n}" }
assert_parse_error! { quality_unknown_rule_word, "dataset d {\n  quality {\n    assert a > 0 else warn\n  }\n}" }

// ---------------------------------------------------------------- reconcile

assert_parse_error! { reconcile_within_without_tolerance, "dataset d {\n  reconcile {\n    input == accepted within\n  }\n}" }
assert_parse_error! { reconcile_missing_right_side, "dataset d {\n  reconcile {\n    input == within 1%\n  }\n}" }
assert_parse_error! { reconcile_unknown_severity, "dataset d {\n  reconcile {\n    input == accepted within 1% else oops\n  }\n}" }

// ---------------------------------------------------------------- corrections, closed, restate, allow

assert_parse_error! { correction_without_arrow, "dataset d {\n  corrections {\n    within lookback recompute\n  }\n}" }
assert_parse_error! { correction_unknown_class, "dataset d {\n  corrections {\n    late => recompute\n  }\n}" }
assert_parse_error! { correction_unknown_action, "dataset d {\n  corrections {\n    closed period => redo\n  }\n}" }
assert_parse_error! { closed_after_without_expression, "dataset d {\n  closed after\n}" }
assert_parse_error! { closed_without_after, "dataset d {\n  closed month_end(p) + 5d\n}" }
assert_parse_error! { restate_with_without_reason, "dataset d {\n  restate with\n}" }
assert_parse_error! { restate_without_policy, "dataset d {\n  restate\n}" }
assert_parse_error! { allow_without_because, "dataset d {\n  allow W0101\n}" }
assert_parse_error! { allow_malformed_code, "dataset d {\n  allow X12 because \"why\"\n}" }

// ---------------------------------------------------------------- functions and checks

assert_parse_error! { function_without_arrow, "function f(x: int) int" }
assert_parse_error! { function_param_without_type, "function f(x) -> int" }
assert_parse_error! { aggregate_function_without_name, "aggregate function (x: T) -> T" }
assert_parse_error! { window_without_function, "window rank() -> int" }
assert_parse_error! { check_without_equals, "check positive(x: int) x > 0" }
assert_parse_error! { check_without_body, "check positive(x: int) =" }

// ---------------------------------------------------------------- doc comments

assert_parse_error! { doc_comment_on_clause, "source s {\n  /// the table\n  table \"t\"\n}" }
assert_parse_error! { doc_comment_in_compute, "dataset d {\n  compute {\n    /// start here\n    from ev\n  }\n}" }
assert_parse_error! { doc_comment_at_end_of_file, "source s {\n  table \"t\"\n}\n/// dangling" }

// ---------------------------------------------------------------- recovery and limits

assert_parse_error! { several_errors_are_all_reported, count = 4, "source s {\n  table raw\n  key\n}\ndataset d {\n  publish overwrite\n  quality {\n    require a > 0\n  }\n}" }
assert_parse_error! { errors_in_every_block_kind, count = 6, "source s {\n  columns {\n    a: dat\n  }\n  snapshot a\n}\ndataset d {\n  compute {\n    filter a\n  }\n  quality {\n    require a else\n  }\n  reconcile {\n    a ==\n  }\n  corrections {\n    late => recompute\n  }\n}" }
// 300 `not`s nest 300 levels; the line is long, so it is drawn around the label.
assert_parse_error! { expression_too_deep, count = 1, format!("dataset d {{\n  compute {{\n    where {}a\n  }}\n}}", "not ".repeat(300)) }
assert_parse_error! { nesting_too_deep, format!("dataset d {{\n  compute {{\n    where {}a{}\n  }}\n}}", "(".repeat(250), ")".repeat(250)) }

// ---------------------------------------------------------------- habits from other languages

assert_parse_error! { sql_not_equal, "dataset d {\n  compute {\n    where a <> b\n  }\n}" }
assert_parse_error! { c_and, "dataset d {\n  compute {\n    where a && b\n  }\n}" }
assert_parse_error! { c_or, "dataset d {\n  compute {\n    where a || b\n  }\n}" }
assert_parse_error! { c_not, "dataset d {\n  compute {\n    where !closed\n  }\n}" }
assert_parse_error! { javascript_strict_not_equal, "dataset d {\n  compute {\n    where a !== b\n  }\n}" }
assert_parse_error! { single_quoted_string, "dataset d {\n  compute {\n    where kind == 'closed'\n  }\n}" }
assert_parse_error! { sql_tuple_instead_of_list, "dataset d {\n  compute {\n    where kind in (opened, closed)\n  }\n}" }
assert_parse_error! { scientific_number, "dataset d {\n  compute {\n    where amount > 1e30\n  }\n}" }
assert_parse_error! { misspelt_null, "dataset d {\n  compute {\n    where a is not nul\n  }\n}" }
assert_parse_error! { date_without_zero_padding, "dataset d {\n  compute {\n    where day >= @2026-6-1\n  }\n}" }
assert_parse_error! { timestamp_that_does_not_exist, "dataset d {\n  compute {\n    where t >= @2026-06-15T25:00:00Z\n  }\n}" }
assert_parse_error! { comma_between_clauses, "dataset d {\n  closed after month_end(p) + 5d, restate with reason\n}" }
assert_parse_error! { comma_after_quality_rule, "dataset d {\n  quality {\n    require a > 0 else warn,\n  }\n}" }
assert_parse_error! { trailing_comma_in_partition, "dataset d {\n  partition by day: date,\n}" }
assert_parse_error! { rule_name_without_colon, "dataset d {\n  quality {\n    require positive a > 0 else warn\n  }\n}" }
assert_parse_error! { misspelt_severity_scope, "dataset d {\n  quality {\n    require a > 0 else fail partitions\n  }\n}" }
assert_parse_error! { misspelt_sort_order, "dataset d {\n  compute {\n    dedupe by id order by t descending\n  }\n}" }
assert_parse_error! { misspelt_clause, "dataset d {\n  sedule daily at 01:00\n}" }
assert_parse_error! { misspelt_step, "dataset d {\n  compute {\n    grup by a { n = row_count() }\n  }\n}" }

// ---------------------------------------------------------------- more structure

assert_parse_error! { select_without_comma, "dataset d {\n  compute {\n    select a b\n  }\n}" }
assert_parse_error! { key_without_comma, "source s {\n  key a b\n}" }
assert_parse_error! { versions_without_comma, "reference r {\n  versions \"2026-01\" \"2026-07\"\n}" }
assert_parse_error! { window_bounds_without_comma, "dataset d {\n  input ev = s where day in [p - 29d p]\n}" }
assert_parse_error! { empty_column_between_commas, "source s {\n  columns { a: string,, b: int }\n}" }
assert_parse_error! { clause_inside_columns, "source s {\n  columns {\n    a: string\n    key a\n  }\n}" }
assert_parse_error! { rule_inside_compute, "dataset d {\n  compute {\n    from ev\n    require a > 0 else warn\n  }\n}" }
assert_parse_error! { step_inside_quality, "dataset d {\n  quality {\n    from ev\n  }\n}" }
assert_parse_error! { unmatched_paren, "dataset d {\n  compute {\n    where a > 1)\n  }\n}" }
assert_parse_error! { closing_brace_doubled_on_last_line, "dataset d {\n  version 1\n}}\n" }
assert_parse_error! { group_block_never_closed, "dataset d {\n  compute {\n    group by region {\n      n = row_count()\n  }\n}\n" }
assert_parse_error! { compute_block_never_closed, "dataset d {\n  compute {\n    from ev\n\n  quality {\n    require a > 0 else warn\n  }\n}\n" }
assert_parse_error! { declaration_never_closed_at_end_of_file, "source s {\n  table \"t\"\n}\n\nsource s2 {\n  table \"t2\"\n" }
assert_parse_error! { string_never_closed_at_top_level, "\"unterminated\nsource s {\n  table \"t\"\n}" }
assert_parse_error! { check_body_ends_with_operator, "check positive(x: int) = x > 0 and\n" }
assert_parse_error! { function_without_return_type, "function f(x: T) ->\n" }
assert_parse_error! { over_without_order_key, "dataset d {\n  compute {\n    derive r = row_number() over (order by)\n  }\n}" }
assert_parse_error! { window_order_without_by, "dataset d {\n  compute {\n    derive r = row_number() over (partition by a order b)\n  }\n}" }

// ---------------------------------------------------------------- newlines are only whitespace

assert_parse_error! { step_keyword_alone_takes_the_next_line, "dataset d {\n  compute {\n    from\n    group by day = p {\n      n = row_count()\n    }\n  }\n}" }
assert_parse_error! { clause_keyword_alone_takes_the_next_line, "source s {\n  key\n  clock event = event_time\n}" }
assert_parse_error! { operator_at_end_of_line_takes_the_next_line, "dataset d {\n  compute {\n    where a >\n    group by day = p {\n      n = row_count()\n    }\n  }\n}" }
