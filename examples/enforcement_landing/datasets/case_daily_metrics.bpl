/// Daily case counts per unit, for the operations team's morning review.
dataset case_daily_metrics {
  version 1
  partition by business_date: date
  publish replace
  schedule daily at 02:00 "Asia/Jakarta" lookback 3d

  input cases = silver_cases where business_date == p

  compute {
    from cases
    group by business_date = p, unit_id = cases.unit_id {
      opened = count(cases.kind == opened)
      assigned = count(cases.kind == assigned)
      escalated = count(cases.kind == escalated)
      closed = count(cases.kind == closed)
    }
  }

  quality {
    expect row_count() > 0 else warn
  }

  reconcile {
    events: rows(cases) == sum(opened + assigned + escalated + closed)
  }
}
