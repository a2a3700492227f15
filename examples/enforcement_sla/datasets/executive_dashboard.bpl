/// The monthly figure the executives see. A month closes five days after it
/// ends; after that it is never silently replaced, only restated with a reason.
dataset executive_dashboard {
  version 1
  partition by report_month: month
  publish versioned
  schedule monthly on day 1 at 06:00 "Asia/Jakarta" lookback 1mo

  input daily = case_sla_daily_metrics where business_date in month(p)

  compute {
    from daily
    group by report_month = p, region = daily.region {
      closed_cases = sum(daily.closed_cases)
      breaches = sum(daily.breaches)
      worst_breach_rate = max(daily.breach_rate)
    }
  }

  quality {
    expect row_count() > 0 else fail partition
    expect sum(breaches) <= sum(closed_cases) else manual review
  }

  reconcile {
    complete: partition_count(daily) == days_in_month(p) else fail partition
  }

  closed after month_end(p) + 5d
  restate with reason
  corrections {
    within lookback => recompute
    closed period => restate
    unknown impact => plan first
  }
}
