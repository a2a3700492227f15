//! The enforcement example's monthly figures are right on its demo data:
//! the README's main job, run through the command line as a user runs it,
//! then the published dashboard checked against the cases themselves, read
//! from the warehouse. The dashboard once summed a 30-day rolling count over
//! the days of the month and reported 17,098 cases closed in June, when
//! 1,203 were (E0141 now refuses that).

mod runtime_support;

use runtime_support::Project;

/// The closed cases of June per region, as the dashboard defines them: the
/// region is the unit's when the case closed, and the SLA is the pinned
/// calendar's.
const JUNE_BY_REGION: &str = "
    SELECT u.region, count(DISTINCT s.case_id),
           count(CASE WHEN s.resolution_hours > c.sla_hours THEN 1 END)
    FROM silver_cases AS s
    JOIN org_units AS u ON u.unit_id = s.unit_id
         AND u.valid_from <= s.event_time AND (u.valid_to IS NULL OR s.event_time < u.valid_to)
    JOIN sla_calendar AS c ON c.region = u.region AND c.calendar_version = '2026-07'
    WHERE s.kind = 'closed' AND s.business_date BETWEEN '2026-06-01' AND '2026-06-30'
    GROUP BY u.region";

#[test]
fn junes_closed_cases_are_the_distinct_cases_closed_in_june() {
    let p = Project::example("enforcement_sla");
    let (code, out, err) = p.text(&["demo-data"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, report) = p.json(&[
        "backfill",
        "--from",
        "raw_case_events",
        "--range",
        "2026-06-01..2026-07-30",
        "--mode",
        "replace",
        "--as-of",
        "2026-07-01",
    ]);
    assert_eq!(code, 0, "{report}");

    let dashboard =
        p.count("SELECT sum(closed_cases) FROM executive_dashboard WHERE report_month = '2026-06'");
    let closed = p.count(
        "SELECT count(DISTINCT case_id) FROM silver_cases
         WHERE kind = 'closed' AND business_date BETWEEN '2026-06-01' AND '2026-06-30'",
    );
    assert!(
        closed > 1000,
        "the demo data closes cases in June: {closed}"
    );
    assert_eq!(dashboard, closed, "June's closed cases on the dashboard");

    // Region by region, breaches included.
    assert_eq!(
        p.rows(
            "SELECT region, closed_cases, breaches FROM executive_dashboard
             WHERE report_month = '2026-06'"
        ),
        p.rows(JUNE_BY_REGION)
    );
}
