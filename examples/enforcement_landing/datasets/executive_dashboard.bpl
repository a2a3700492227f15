/// The monthly figure the executives see. A month closes five days after it
/// ends; after that it is never silently replaced, only restated with a reason.
dataset executive_dashboard {
  version 2
  partition by report_month: month
  publish versioned
  schedule monthly on day 1 at 06:00 "Asia/Jakarta" lookback 1mo

  // Counted from the cases of the month themselves. The daily SLA metric is
  // a 30-day rolling figure: summing a month of it would count a case once
  // for every day its window covers (E0141).
  input cases = silver_cases where business_date in month(p)
  bind units = org_hierarchy as of cases.event_time
  bind sla = sla_calendar pinned "2026-07"

  compute {
    from cases
    where cases.kind == closed
    join units on cases.unit_id == units.unit_id
    join sla on units.region == sla.region
    group by report_month = p, region = units.region {
      closed_cases = count_distinct(cases.case_id)
      breaches = count(cases.resolution_hours > sla.sla_hours)
    }
    derive breach_rate = if closed_cases > 0 then breaches / closed_cases else 0.0
  }

  quality {
    expect row_count() > 0 else fail partition
    expect sum(breaches) <= sum(closed_cases) else manual review
  }

  reconcile {
    complete: partition_count(cases) == days_in_month(p) else fail partition
  }

  closed after month_end(p) + 5d
  restate with reason
  corrections {
    within lookback => recompute
    closed period => restate
    unknown impact => plan first
  }
}
