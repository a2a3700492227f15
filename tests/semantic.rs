//! One test per semantic check: a minimal spec that triggers it, with the
//! rendered diagnostic pinned as a snapshot (source and error together), and
//! a passing counterpart that differs only in the fix.

use bplc::cli::render;
use bplc::project::{self, Config, Lint};

/// Checks `src` as the only file of a project and renders what it reports.
fn check(src: &str) -> String {
    let config = Config {
        name: "test".into(),
        ..Config::default()
    };
    let checked = bplc::driver::check_project(project::from_sources(config, [("test.bpl", src)]));
    let mut out = String::new();
    for d in &checked.diagnostics {
        out.push_str(&render::text(&checked.project.sources, d, false));
    }
    out
}

macro_rules! assert_reports {
    ($code:literal, $src:expr) => {{
        let out = check($src);
        assert!(
            out.contains(concat!("[", $code, "]")) || out.contains($code),
            "expected {}:\n{out}",
            $code
        );
        insta::assert_snapshot!(format!("{}\n----\n{}", $src.trim(), out));
    }};
}

macro_rules! assert_clean {
    ($src:expr) => {{
        let out = check($src);
        assert!(out.is_empty(), "expected no diagnostics:\n{out}");
    }};
}

/// A source, a reference and a dataset that check clean; tests vary one part.
const SOURCE: &str = r#"
source events {
  columns {
    id: string
    day: date
    at: timestamp
  }
  key id
  max lateness 2d
}
"#;

fn with_source(dataset: &str) -> String {
    format!("{SOURCE}\n{dataset}")
}

const DATASET_OK: &str = r#"
dataset daily {
  version 1
  partition by day: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 3d
  input ev = events where day == p
  compute {
    from ev
    group by day = p {
      n = row_count()
    }
  }
}
"#;

#[test]
fn clean_counterpart_checks_clean() {
    assert_clean!(&with_source(DATASET_OK));
}

#[test]
fn e0101_duplicate_declaration() {
    assert_reports!(
        "E0101",
        &format!("{SOURCE}\nsource events {{\n  columns {{\n    id: string\n  }}\n}}")
    );
}

#[test]
fn e0102_unknown_input() {
    assert_reports!(
        "E0102",
        &with_source(&DATASET_OK.replace("= events where", "= evnets where"))
    );
}

#[test]
fn e0103_clause_in_wrong_declaration() {
    assert_reports!(
        "E0103",
        &SOURCE.replace("  key id\n", "  key id\n  publish replace\n")
    );
}

#[test]
fn e0104_clause_twice() {
    assert_reports!(
        "E0104",
        &with_source(&DATASET_OK.replace("  version 1\n", "  version 1\n  version 2\n"))
    );
}

#[test]
fn e0105_missing_publish() {
    assert_reports!(
        "E0105",
        &with_source(&DATASET_OK.replace("  publish replace\n", ""))
    );
}

#[test]
fn e0106_column_twice() {
    assert_reports!(
        "E0106",
        &SOURCE.replace("    day: date\n", "    day: date\n    day: string\n")
    );
}

#[test]
fn e0107_unknown_key_column() {
    assert_reports!("E0107", &SOURCE.replace("key id", "key ident"));
}

const REFERENCE: &str = r#"
reference units {
  columns {
    unit_id: string
    region: string
    valid_from: timestamp
    valid_to: timestamp?
  }
  key unit_id
  valid from valid_from to valid_to
}

reference targets {
  columns {
    region: string
    hours: int
    version: string
  }
  versioned by version
  versions "2026-01", "2026-07"
}
"#;

fn with_reference(dataset: &str) -> String {
    format!("{SOURCE}\n{REFERENCE}\n{dataset}")
}

#[test]
fn e0108_reference_read_as_input() {
    assert_reports!(
        "E0108",
        &with_reference(&DATASET_OK.replace(
            "  input ev = events where day == p\n",
            "  input ev = events where day == p\n  input u = units where day == p\n"
        ))
    );
}

#[test]
fn e0108_dataset_bound_as_reference() {
    assert_reports!(
        "E0108",
        &with_reference(&DATASET_OK.replace(
            "  compute",
            "  bind e = events as of processing time\n  compute"
        ))
    );
}

#[test]
fn e0109_alias_twice() {
    assert_reports!(
        "E0109",
        &with_reference(&DATASET_OK.replace(
            "  compute",
            "  bind ev = units as of processing time\n  compute"
        ))
    );
}

#[test]
fn e0110_unbounded_input() {
    assert_reports!(
        "E0110",
        &with_source(&DATASET_OK.replace("= events where day == p", "= events"))
    );
}

#[test]
fn e0110_boundary_without_p() {
    assert_reports!(
        "E0110",
        &with_source(&DATASET_OK.replace("where day == p", "where day == @2026-01-01"))
    );
}

#[test]
fn all_history_is_an_explicit_boundary() {
    assert_clean!(&with_source(
        &DATASET_OK.replace("where day == p", "all history")
    ));
}

#[test]
fn e0111_window_upside_down() {
    assert_reports!(
        "E0111",
        &with_source(&DATASET_OK.replace("where day == p", "where day in [p, p - 29d]"))
    );
}

#[test]
fn e0111_window_with_three_bounds() {
    assert_reports!(
        "E0111",
        &with_source(&DATASET_OK.replace("where day == p", "where day in [p - 2d, p - 1d, p]"))
    );
}

#[test]
fn window_well_formed_checks_clean() {
    assert_clean!(&with_source(
        &DATASET_OK.replace("where day == p", "where day in [p - 29d, p]")
    ));
}

fn with_bind(policy: &str) -> String {
    with_reference(&DATASET_OK.replace("  compute", &format!("  {policy}\n  compute")))
}

#[test]
fn e0112_pinned_unversioned_reference() {
    assert_reports!("E0112", &with_bind(r#"bind u = units pinned "2026-01""#));
}

#[test]
fn e0113_unknown_pinned_version() {
    assert_reports!("E0113", &with_bind(r#"bind t = targets pinned "2026-06""#));
}

#[test]
fn pinned_known_version_checks_clean() {
    assert_clean!(&with_bind(r#"bind t = targets pinned "2026-07""#));
}

#[test]
fn e0114_as_of_on_snapshot_reference() {
    assert_reports!("E0114", &with_bind("bind t = targets as of ev.at"));
}

#[test]
fn as_of_event_time_checks_clean() {
    assert_clean!(&with_bind("bind u = units as of ev.at"));
    assert_clean!(&with_bind("bind u = units as of report close"));
}

#[test]
fn e0115_latest_without_reason() {
    assert_reports!("E0115", &with_bind("bind u = units latest"));
}

#[test]
fn latest_with_reason_checks_clean() {
    assert_clean!(&with_bind(
        r#"bind u = units latest because "the dashboard shows today's org chart by design""#
    ));
}

#[test]
fn e0116_unknown_function() {
    assert_reports!(
        "E0116",
        &with_source(&DATASET_OK.replace("row_count()", "row_cuont()"))
    );
}

#[test]
fn e0117_wrong_argument_count() {
    assert_reports!(
        "E0117",
        &with_source(&DATASET_OK.replace("row_count()", "to_date(ev.at)"))
    );
}

#[test]
fn e0118_now_is_nondeterministic() {
    assert_reports!(
        "E0118",
        &with_source(&DATASET_OK.replace("row_count()", "now()"))
    );
}

#[test]
fn e0118_random_id_is_nondeterministic() {
    assert_reports!(
        "E0118",
        &with_source(&DATASET_OK.replace("n = row_count()", "id = uuid()"))
    );
}

#[test]
fn e0119_dependency_cycle() {
    let a = DATASET_OK
        .replace("dataset daily", "dataset a")
        .replace("= events where", "= c where");
    let b = DATASET_OK
        .replace("dataset daily", "dataset b")
        .replace("= events where", "= a where");
    let c = DATASET_OK
        .replace("dataset daily", "dataset c")
        .replace("= events where", "= b where");
    assert_reports!("E0119", &format!("{SOURCE}\n{a}\n{b}\n{c}"));
}

#[test]
fn e0120_two_owners_of_a_table() {
    let other = DATASET_OK
        .replace("dataset daily", "dataset daily_copy")
        .replace("  version 1\n", "  version 1\n  table \"daily\"\n");
    assert_reports!("E0120", &with_source(&format!("{DATASET_OK}\n{other}")));
}

#[test]
fn e0121_closed_without_restatement() {
    assert_reports!(
        "E0121",
        &with_source(
            &DATASET_OK.replace("  compute", "  closed after month_end(p) + 5d\n  compute")
        )
    );
}

#[test]
fn closed_with_restatement_checks_clean() {
    assert_clean!(&with_source(&DATASET_OK.replace(
        "  compute",
        "  closed after month_end(p) + 5d\n  restate with reason\n  compute"
    )));
}

#[test]
fn e0122_schedule_without_time_zone() {
    assert_reports!("E0122", &with_source(&DATASET_OK.replace(" \"UTC\"", "")));
}

#[test]
fn e0123_allowing_an_error() {
    assert_reports!(
        "E0123",
        &with_source(&DATASET_OK.replace(
            "  version 1\n",
            "  version 1\n  allow E0110 because \"trust me\"\n"
        ))
    );
}

#[test]
fn w0101_lookback_shorter_than_lateness() {
    assert_reports!(
        "W0101",
        &with_source(&DATASET_OK.replace("lookback 3d", "lookback 1d"))
    );
}

#[test]
fn w0101_can_be_allowed_with_a_reason() {
    assert_clean!(&with_source(&DATASET_OK.replace("lookback 3d", "lookback 1d").replace(
        "  version 1\n",
        "  version 1\n  allow W0101 because \"late rows are picked up by the weekly backfill\"\n"
    )));
}

#[test]
fn e0124_unknown_qualified_column() {
    assert_reports!(
        "E0124",
        &with_source(&DATASET_OK.replace(
            "group by day = p {",
            "where ev.idd != \"\"\n    group by day = p {"
        ))
    );
}

#[test]
fn e0124_unknown_bare_column() {
    assert_reports!(
        "E0124",
        &with_source(&DATASET_OK.replace(
            "group by day = p {",
            "where stauts != \"\"\n    group by day = p {"
        ))
    );
}

#[test]
fn e0124_unknown_alias_in_pipeline() {
    assert_reports!(
        "E0124",
        &with_source(&DATASET_OK.replace("from ev", "from events"))
    );
}

#[test]
fn e0125_ambiguous_column() {
    let two_inputs = DATASET_OK
        .replace(
            "  input ev = events where day == p\n",
            "  input ev = events where day == p\n  input old = events where day == p - 1d\n",
        )
        .replace(
            "    from ev\n",
            "    from ev\n    join old on ev.id == old.id\n    where at > @2026-01-01T00:00:00Z\n",
        );
    assert_reports!("E0125", &with_source(&two_inputs));
}

#[test]
fn qualified_column_resolves_the_ambiguity() {
    let two_inputs = DATASET_OK
        .replace("  input ev = events where day == p\n", "  input ev = events where day == p\n  input old = events where day == p - 1d\n")
        .replace("    from ev\n", "    from ev\n    join old on ev.id == old.id\n    where ev.at > @2026-01-01T00:00:00Z\n");
    assert_clean!(&with_source(&two_inputs));
}

#[test]
fn e0126_unnamed_output_expression() {
    let select = DATASET_OK.replace(
        "    group by day = p {\n      n = row_count()\n    }\n",
        "    select ev.id, to_date(ev.at, \"UTC\")\n",
    );
    assert_reports!("E0126", &with_source(&select));
}

#[test]
fn e0127_declared_column_not_computed() {
    let declared = DATASET_OK.replace(
        "  version 1\n",
        "  version 1\n  columns {\n    day: date\n    n: int\n    extra: string\n  }\n",
    );
    assert_reports!("E0127", &with_source(&declared));
}

#[test]
fn downstream_columns_resolve_against_the_computed_schema() {
    let downstream = r#"
dataset monthly {
  version 1
  partition by month: month
  publish versioned
  input d = daily where day in month(p)
  compute {
    from d
    group by month = p {
      total = sum(d.n)
    }
  }
}
"#;
    assert_clean!(&with_source(&format!("{DATASET_OK}\n{downstream}")));
    assert_reports!(
        "E0124",
        &with_source(&format!(
            "{DATASET_OK}\n{}",
            downstream.replace("sum(d.n)", "sum(d.count)")
        ))
    );
}

#[test]
fn e0128_comparing_a_date_with_a_timestamp() {
    assert_reports!(
        "E0128",
        &with_source(&DATASET_OK.replace("where day == p", "where at == p"))
    );
}

#[test]
fn e0128_where_is_not_a_condition() {
    assert_reports!(
        "E0128",
        &with_source(
            &DATASET_OK.replace("group by day = p {", "where ev.id\n    group by day = p {")
        )
    );
}

#[test]
fn e0128_enum_value_of_another_enum() {
    let src = SOURCE.replace(
        "    at: timestamp\n",
        "    at: timestamp\n    kind: enum(opened, closed)\n    channel: enum(web, phone)\n",
    );
    let ds = DATASET_OK.replace(
        "group by day = p {",
        "where ev.kind == web\n    group by day = p {",
    );
    assert_reports!("E0128", &format!("{src}\n{ds}"));
    assert_clean!(&format!("{src}\n{}", ds.replace("== web", "== closed")));
}

#[test]
fn e0129_aggregate_in_a_row_rule() {
    assert_reports!(
        "E0129",
        &with_source(&DATASET_OK.replace(
            "  compute",
            "  quality {\n    require row_count() > 0 else quarantine\n  }\n  compute"
        ))
    );
}

#[test]
fn e0129_aggregate_in_where() {
    assert_reports!(
        "E0129",
        &with_source(&DATASET_OK.replace(
            "group by day = p {",
            "where count_distinct(ev.id) > 1\n    group by day = p {"
        ))
    );
}

#[test]
fn e0130_ungrouped_column() {
    assert_reports!(
        "E0130",
        &with_source(&DATASET_OK.replace("n = row_count()", "n = row_count()\n      last = ev.at"))
    );
}

#[test]
fn e0130_grouping_key_may_be_used_directly() {
    assert_clean!(&with_source(
        &DATASET_OK
            .replace("group by day = p {", "group by day = p, ev.id {")
            .replace("n = row_count()", "n = row_count()\n      id_again = ev.id")
    ));
}

#[test]
fn e0131_nullable_argument() {
    let src = SOURCE.replace(
        "    at: timestamp\n",
        "    at: timestamp\n    closed_at: timestamp?\n",
    );
    let ds = DATASET_OK.replace(
        "group by day = p {",
        "derive h = hours_between(ev.at, ev.closed_at)\n    group by day = p {",
    );
    assert_reports!("E0131", &format!("{src}\n{ds}"));
    assert_clean!(&format!(
        "{src}\n{}",
        ds.replace("ev.closed_at)", "coalesce(ev.closed_at, ev.at))")
    ));
}

#[test]
fn e0131_declared_not_null_but_left_joined() {
    let src = format!("{SOURCE}\n{REFERENCE}");
    let ds = DATASET_OK
        .replace(
            "  version 1\n",
            "  version 1\n  columns {\n    id: string\n    region: string\n  }\n",
        )
        .replace("  compute", "  bind u = units as of ev.at\n  compute")
        .replace(
            "    group by day = p {\n      n = row_count()\n    }\n",
            "    left join u on u.unit_id == ev.id\n    select id = ev.id, region = u.region\n",
        );
    assert_reports!("E0131", &format!("{src}\n{ds}"));
    assert_clean!(&format!(
        "{src}\n{}",
        ds.replace("    region: string\n  }", "    region: string?\n  }")
    ));
}

#[test]
fn e0132_quarantine_on_a_partition_expectation() {
    assert_reports!(
        "E0132",
        &with_source(&DATASET_OK.replace(
            "  compute",
            "  quality {\n    expect row_count() > 0 else quarantine\n  }\n  compute"
        ))
    );
}

#[test]
fn e0132_fail_partition_on_a_row_rule() {
    assert_reports!(
        "E0132",
        &with_source(&DATASET_OK.replace(
            "  compute",
            "  quality {\n    require ev.id != \"\" else fail partition\n  }\n  compute"
        ))
    );
}

#[test]
fn every_severity_on_its_level_checks_clean() {
    let rules = "  quality {\n    require ev.id != \"\" else quarantine\n    require ev.id != \"x\" else warn\n    expect row_count() > 0 else fail partition\n    expect row_count() < 1000000 else manual review\n    expect row_count() > 1 else info\n    expect row_count() > 2 else fail run\n  }\n  compute";
    assert_clean!(&with_source(&DATASET_OK.replace("  compute", rules)));
}

#[test]
fn e0133_unknown_time_zone() {
    assert_reports!(
        "E0133",
        &with_source(&DATASET_OK.replace("\"UTC\"", "\"Asia/Jakart\""))
    );
}

#[test]
fn e0133_unknown_time_zone_in_a_function() {
    assert_reports!(
        "E0133",
        &with_source(&DATASET_OK.replace("where day == p", "where to_date(at, \"WIB\") == p"))
    );
}

#[test]
fn w0102_run_time_in_a_daylight_saving_gap() {
    assert_reports!(
        "W0102",
        &with_source(&DATASET_OK.replace("01:00 \"UTC\"", "02:30 \"America/New_York\""))
    );
}

#[test]
fn w0102_run_time_in_a_daylight_saving_overlap() {
    assert_reports!(
        "W0102",
        &with_source(&DATASET_OK.replace("01:00 \"UTC\"", "01:30 \"America/New_York\""))
    );
}

#[test]
fn run_time_outside_transitions_checks_clean() {
    assert_clean!(&with_source(
        &DATASET_OK.replace("01:00 \"UTC\"", "05:00 \"America/New_York\"")
    ));
}

/// `deny` in bpl.toml turns a warning into an error; an unknown code is a
/// configuration error.
#[test]
fn deny_turns_a_warning_into_an_error() {
    let src = with_source(&DATASET_OK.replace("lookback 3d", "lookback 1d"));
    let config = Config {
        name: "t".into(),
        lint: Lint {
            deny: vec!["W0101".into()],
        },
        ..Config::default()
    };
    let checked =
        bplc::driver::check_project(project::from_sources(config, [("test.bpl", src.as_str())]));
    assert!(checked
        .diagnostics
        .iter()
        .any(|d| d.code.as_str() == "W0101" && d.is_error()));
}

#[test]
fn e0128_decimal_and_float_do_not_mix() {
    let src = SOURCE.replace(
        "    at: timestamp\n",
        "    at: timestamp\n    amount: decimal(18, 2)\n    ratio: float\n",
    );
    let ds = DATASET_OK.replace("n = row_count()", "n = sum(ev.amount * ev.ratio)");
    assert_reports!("E0128", &format!("{src}\n{ds}"));
    assert_clean!(&format!(
        "{src}\n{}",
        ds.replace("ev.amount * ev.ratio", "to_float(ev.amount) * ev.ratio")
    ));
    assert_clean!(&format!(
        "{src}\n{}",
        ds.replace("ev.amount * ev.ratio", "ev.amount * 1.5")
    ));
}

/// The checked program's view of the enforcement example: every input
/// boundary as a partition mapping, and every close rule.
#[test]
fn enforcement_example_mappings() {
    let checked = bplc::driver::check(std::path::Path::new("examples/enforcement_sla")).unwrap();
    assert!(checked.diagnostics.is_empty());
    let program = checked.program.unwrap();
    let mut out = String::new();
    for d in program.datasets() {
        out.push_str(&format!(
            "{} (grain {:?}, v{})\n",
            d.name,
            d.grain(),
            d.version
        ));
        for i in &d.inputs {
            out.push_str(&format!(
                "  input {} = {}: {:?}\n",
                i.alias,
                program.get(i.target).name,
                i.mapping
            ));
        }
        for b in &d.binds {
            out.push_str(&format!(
                "  bind {} = {}: {:?}\n",
                b.alias,
                program.get(b.target).name,
                b.policy
            ));
        }
        if let Some(c) = d.closed_after {
            out.push_str(&format!("  closed: {c:?}, restate {:?}\n", d.restate));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn e0134_boundary_the_planner_cannot_read() {
    assert_reports!(
        "E0134",
        &with_source(&DATASET_OK.replace("where day == p", "where day == p * 2"))
    );
}

#[test]
fn e0134_months_on_a_daily_partition() {
    assert_reports!(
        "E0134",
        &with_source(&DATASET_OK.replace("where day == p", "where day in [p - 1mo, p]"))
    );
}

#[test]
fn e0135_close_rule_the_planner_cannot_read() {
    assert_reports!(
        "E0135",
        &with_source(&DATASET_OK.replace(
            "  compute",
            "  closed after month_start(month(p))\n  restate with reason\n  compute"
        ))
    );
}

#[test]
fn run_partitions_parse_with_trailing_whitespace_and_comments() {
    let ds = DATASET_OK
        .replace(
            "partition by day: date",
            "partition by run_id: run // one per run",
        )
        .replace("where day == p", "all history")
        .replace("group by day = p {", "group by day = ev.day {");
    assert_clean!(&with_source(&ds));
}

#[test]
fn where_is_not_null_narrows_a_nullable_column() {
    let src = SOURCE.replace(
        "    at: timestamp\n",
        "    at: timestamp\n    closed_at: timestamp?\n",
    );
    let ds = DATASET_OK.replace("group by day = p {", "where ev.closed_at is not null\n    derive h = hours_between(ev.at, ev.closed_at)\n    group by day = p {");
    assert_clean!(&format!("{src}\n{ds}"));
}

#[test]
fn an_aggregating_check_is_used_like_an_aggregate() {
    assert_clean!(&with_source(&DATASET_OK.replace(
        "  compute",
        "  quality {\n    expect unique(n) else fail partition\n  }\n  compute"
    )));
}

#[test]
fn e0004_prelude_only_type_in_a_column() {
    assert_reports!(
        "E0004",
        &SOURCE.replace("    day: date\n", "    day: date\n    amount: numeric\n")
    );
}

#[test]
fn e0132_quarantine_on_a_reconciliation() {
    assert_reports!("E0132", &with_source(&DATASET_OK.replace("  compute", "  reconcile {\n    input == accepted + quarantined + duplicates else quarantine\n  }\n  compute")));
}

/// Case events, a daily dataset over them, and a monthly roll-up of it:
/// `{daily}` is the daily pipeline's boundary and group block, `{monthly}`
/// the roll-up's group block.
fn rollup(boundary: &str, daily: &str, monthly: &str) -> String {
    format!(
        r#"
source case_events {{
  columns {{
    event_id: string
    case_id: string
    closed: bool
    day: date
  }}
  key event_id
}}

dataset daily {{
  version 1
  partition by day: date
  publish replace
  input ev = case_events where {boundary}
  compute {{
    from ev
    group by day = p {{
{daily}
    }}
  }}
}}

dataset monthly {{
  version 1
  partition by report_month: month
  publish replace
  input d = daily where day in month(p)
  compute {{
    from d
    group by report_month = p {{
{monthly}
    }}
  }}
}}
"#
    )
}

const ROLLING: &str = "day in [p - 29d, p]";
const OWN_DAY: &str = "day == p";

#[test]
fn e0141_summing_a_rolling_count_over_a_month() {
    assert_reports!(
        "E0141",
        &rollup(
            ROLLING,
            "      closed = count(ev.closed)",
            "      closed = sum(d.closed)"
        )
    );
}

#[test]
fn e0140_summing_a_distinct_count_over_a_month() {
    assert_reports!(
        "E0140",
        &rollup(
            OWN_DAY,
            "      cases = count_distinct(ev.case_id)",
            "      cases = sum(d.cases)"
        )
    );
}

#[test]
fn e0140_summing_a_ratio_of_daily_figures() {
    assert_reports!(
        "E0140",
        &rollup(
            OWN_DAY,
            "      closed = count(ev.closed)\n      events = row_count()",
            "      share = sum(d.closed / d.events)"
        )
    );
}

#[test]
fn e0141_a_rolling_figure_stays_overlapping_through_a_pass_through_dataset() {
    let src = rollup(ROLLING, "      closed = count(ev.closed)", "      closed = sum(d.closed)")
        .replace("input d = daily where", "input d = copy where")
        .replace(
            "dataset monthly {",
            "dataset copy {\n  version 1\n  partition by day: date\n  publish replace\n  input x = daily where day == p\n  compute {\n    from x\n    select day = p, closed = x.closed\n  }\n}\n\ndataset monthly {",
        );
    assert_reports!("E0141", &src);
}

#[test]
fn additive_daily_figures_sum_over_a_month() {
    assert_clean!(&rollup(
        OWN_DAY,
        "      closed = count(ev.closed)\n      events = row_count()",
        "      closed = sum(d.closed)\n      events = sum(d.events + d.closed)\n      share = sum(d.closed) / sum(d.events)"
    ));
}

#[test]
fn min_max_and_count_of_a_rolling_figure_are_not_refused() {
    assert_clean!(&rollup(
        ROLLING,
        "      cases = count_distinct(ev.case_id)",
        "      worst = max(d.cases)\n      best = min(d.cases)\n      days = count(d.cases > 0)"
    ));
}

#[test]
fn a_wide_boundary_narrowed_to_the_partition_by_where_stays_additive() {
    let src = rollup(
        ROLLING,
        "      closed = count(ev.closed)",
        "      closed = sum(d.closed)",
    )
    .replace("    from ev\n", "    from ev\n    where ev.day == p\n");
    assert_clean!(&src);
}

#[test]
fn a_wide_boundary_narrowed_by_an_unqualified_column_stays_additive() {
    let src = rollup(
        ROLLING,
        "      closed = count(ev.closed)",
        "      closed = sum(d.closed)",
    )
    .replace("    from ev\n", "    from ev\n    where day == p\n");
    assert_clean!(&src);
}

#[test]
fn a_rolling_sum_of_additive_figures_is_not_refused() {
    let src = rollup(
        OWN_DAY,
        "      closed = count(ev.closed)",
        "      closed = sum(d.closed)",
    )
    .replace("day in month(p)", "day in [p - 6d, p]")
    .replace("report_month: month", "report_month: date");
    assert_clean!(&src);
}

#[test]
fn a_sum_of_distinct_counts_can_be_allowed_with_a_reason() {
    let src = rollup(OWN_DAY, "      cases = count_distinct(ev.case_id)", "      case_days = sum(d.cases)")
        .replace(
            "  input d = daily",
            "  allow E0140 because \"case-days: a case open on 20 days counts 20 times\"\n  input d = daily",
        );
    assert_clean!(&src);
}

#[test]
fn e0123_allowing_e0140_needs_a_reason() {
    let src = rollup(
        OWN_DAY,
        "      cases = count_distinct(ev.case_id)",
        "      case_days = sum(d.cases)",
    )
    .replace(
        "  input d = daily",
        "  allow E0140 because \"\"\n  input d = daily",
    );
    assert_reports!("E0123", &src);
}

/// The checked program's additivity class of every column of the
/// enforcement example.
#[test]
fn enforcement_example_additivity() {
    let checked = bplc::driver::check(std::path::Path::new("examples/enforcement_sla")).unwrap();
    assert!(checked.diagnostics.is_empty());
    let program = checked.program.unwrap();
    let mut out = String::new();
    for d in program.datasets() {
        out.push_str(&format!("{}\n", d.name));
        for (column, class) in &d.additivity {
            out.push_str(&format!("  {column}: {}\n", class.name()));
        }
    }
    insta::assert_snapshot!(out);
}

/// A dataset that joins a reference, for the checks of counters.
fn joined(join: &str, check: &str) -> String {
    with_source(&format!(
        r#"
reference units {{
  columns {{
    id: string
    region: string
  }}
  key id
}}

dataset daily {{
  version 1
  partition by day: date
  publish replace
  input ev = events where day == p
  bind u = units latest because "a test"
  compute {{
    from ev
    {join} u on u.id == ev.id
    group by day = p {{
      n = row_count()
    }}
  }}
  reconcile {{
    {check}
  }}
}}
"#
    ))
}

#[test]
fn e0142_unmatched_after_an_inner_join() {
    assert_reports!("E0142", &joined("join", "unmatched(u) == 0"));
}

#[test]
fn e0142_unmatched_of_the_input_the_pipeline_starts_from() {
    assert_reports!("E0142", &joined("left join", "unmatched(ev) == 0"));
}

#[test]
fn unmatched_after_a_left_join_checks_clean() {
    assert_clean!(&joined("left join", "unmatched(u) == 0"));
}

#[test]
fn e0143_partition_count_of_a_source() {
    assert_reports!("E0143", &joined("left join", "partition_count(ev) == 1"));
}

#[test]
fn e0143_partition_count_of_a_binding() {
    assert_reports!("E0143", &joined("left join", "partition_count(u) == 1"));
}

#[test]
fn partition_count_of_a_windowed_dataset_checks_clean() {
    let src = rollup(
        OWN_DAY,
        "      n = row_count()",
        "      n = sum(d.n)",
    )
    .replace(
        "  input d = daily where day in month(p)\n",
        "  input d = daily where day in month(p)\n  reconcile {\n    partition_count(d) == days_in_month(p)\n  }\n",
    );
    assert!(src.contains("partition_count(d)"), "{src}");
    assert_clean!(&src);
}

#[test]
fn e0145_bad_rows_that_would_be_published() {
    assert_reports!(
        "E0145",
        &SOURCE.replace(
            "  max lateness 2d\n",
            "  max lateness 2d\n  bad rows warn\n"
        )
    );
}

#[test]
fn bad_rows_that_fail_the_partition_check_clean() {
    assert_clean!(&with_source(DATASET_OK).replace(
        "  max lateness 2d\n",
        "  max lateness 2d\n  bad rows fail partition\n"
    ));
}

#[test]
fn e0146_drift_of_an_input_column() {
    assert_reports!(
        "E0146",
        &joined("left join", "drift(days_between(ev.day, p)) <= 0.2")
    );
}

#[test]
fn e0146_drift_without_time_partitions() {
    assert_reports!(
        "E0146",
        &joined("left join", "drift(n) <= 0.2")
            .replace("partition by day: date", "partition by run_id: run")
    );
}

#[test]
fn drift_of_an_output_column_checks_clean() {
    assert_clean!(&joined("left join", "coalesce(drift(n), 0) <= 0.2"));
}

#[test]
fn e0144_a_counter_of_a_column() {
    assert_reports!("E0144", &joined("left join", "rows(ev.id) == 1"));
}

#[test]
fn e0144_a_counter_in_the_pipeline() {
    assert_reports!(
        "E0144",
        &with_source(&DATASET_OK.replace("n = row_count()", "n = rows(ev)"))
    );
}

/// A source with money: amounts at cents, rates at six digits.
fn with_money(dataset: &str) -> String {
    let src = SOURCE.replace(
        "    at: timestamp\n",
        "    at: timestamp\n    amount: decimal(18, 2)\n    rate: decimal(12, 6)\n",
    );
    format!("{src}\n{dataset}")
}

/// A dataset declaring `total: decimal(18, 2)` computed as `expr`.
fn money_total(expr: &str) -> String {
    DATASET_OK
        .replace(
            "  partition by",
            "  columns {\n    day: date\n    n: int\n    total: decimal(18, 2)\n  }\n  partition by",
        )
        .replace(
            "      n = row_count()",
            &format!("      n = row_count()\n      total = {expr}"),
        )
}

#[test]
fn e0342_decimal_that_cannot_be_stored_exactly() {
    assert_reports!(
        "E0342",
        &with_source(DATASET_OK).replace(
            "    at: timestamp\n",
            "    at: timestamp\n    fee: decimal(20, 2)\n"
        )
    );
    assert_clean!(&with_source(DATASET_OK).replace(
        "    at: timestamp\n",
        "    at: timestamp\n    fee: decimal(18, 18)\n"
    ));
}

#[test]
fn e0343_storing_more_digits_than_the_declared_scale() {
    // cents times a six-digit rate: eight digits after the point.
    assert_reports!(
        "E0343",
        &with_money(&money_total("sum(ev.amount * ev.rate)"))
    );
    assert_clean!(&with_money(&money_total(
        "round(sum(ev.amount * ev.rate), 2)"
    )));
    // an average is a quotient, computed with six digits
    assert_reports!("E0343", &with_money(&money_total("avg(ev.amount)")));
    // an int has no digits after the point: say the scale
    assert_reports!("E0343", &with_money(&money_total("count(ev.amount > 0)")));
    assert_clean!(&with_money(&money_total(
        "to_decimal(count(ev.amount > 0), 2)"
    )));
    // a literal with fewer digits is padded by writing them
    assert_clean!(&with_money(&money_total(
        "sum(if ev.amount > 0.5 then ev.amount else 0.00)"
    )));
}

#[test]
fn e0343_a_product_with_more_digits_than_a_decimal_holds() {
    let src = with_money(&money_total("sum(ev.amount)"))
        .replace("rate: decimal(12, 6)", "rate: decimal(18, 17)");
    assert_reports!(
        "E0343",
        &src.replace(
            "      total = sum(ev.amount)",
            "      total = sum(ev.amount)\n      product = sum(ev.amount * ev.rate)"
        )
        .replace(
            "    total: decimal(18, 2)\n",
            "    total: decimal(18, 2)\n    product: decimal(18, 18)\n"
        )
    );
}

#[test]
fn e0344_rounding_a_decimal_to_a_computed_scale() {
    assert_reports!(
        "E0344",
        &with_money(&money_total("round(sum(ev.amount), days_between(p, p))"))
    );
    assert_reports!(
        "E0344",
        &with_money(&money_total("to_decimal(sum(ev.amount), 40)"))
    );
}

#[test]
fn decimal_arithmetic_keeps_exact_types() {
    // Scales align in sums and comparisons; a decimal and an int mix.
    assert_clean!(&with_money(&money_total(
        "sum(ev.amount + 1) - sum(ev.amount * 2) + max(if ev.amount >= 10 then ev.amount else 0.25)"
    )));
    // A decimal and a float do not.
    assert_reports!("E0128", &with_money(&money_total("sum(ev.amount * 1.5%)")));
}
