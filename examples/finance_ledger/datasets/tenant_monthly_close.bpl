/// The month-end close per tenant: movements by account class and reporting
/// line, the figures the tenant's finance team signs off. Every close is
/// kept as a version; a closed month is only ever restated, with a reason.
dataset tenant_monthly_close {
  version 1
  columns {
    tenant_id: string
    close_month: month
    account_class: enum(asset, liability, equity, revenue, expense)
    reporting_line: string
    /// A stable id for the line, the same on every run and every restatement.
    line_id: string
    accounts: int
    net_amount_usd: decimal(18, 2)
  }
  key tenant_id, close_month, account_class, reporting_line
  partition by tenant_id: string, close_month: month
  publish versioned
  // The last value date of a month collects bookings up to two days late,
  // so the close runs on the 3rd and recomputes the month just ended.
  schedule monthly on day 3 at 06:00 "UTC" lookback 1mo

  input daily = tenant_daily_balances where tenant_id == p.tenant_id and entry_date in month(p.close_month)
  // The chart as it stood at the close, not as it stands when the job runs:
  // a reclassification in August must not move July's reported lines.
  bind coa = chart_of_accounts as of report close

  compute {
    from daily
    join coa on coa.tenant_id == daily.tenant_id and coa.account_id == daily.account_id
    group by
      tenant_id = p.tenant_id,
      close_month = p.close_month,
      account_class = coa.account_class,
      reporting_line = coa.reporting_line
    {
      accounts = count_distinct(daily.account_id)
      net_amount_usd = sum(daily.net_amount_usd)
    }
    derive line_id = stable_id(tenant_id, close_month, account_class, reporting_line)
  }

  quality {
    expect row_count() > 0 else fail partition
    // Double entry: a tenant's month nets to zero. If it does not, someone
    // must look before the figures reach the tenant: hold for approval.
    expect trial_balance: abs(sum(net_amount_usd)) <= 0.01 else manual review
  }

  reconcile {
    complete: partition_count(daily) == days_in_month(p.close_month)
    control_total: sum(net_amount_usd) == sum(daily.net_amount_usd) within 0.01
  }

  // Three days after month end: the T+2 value-dated entries and the two
  // days of lateness have landed, and the tenant's books are final.
  closed after month_end(p.close_month) + 3d
  restate with reason
  corrections {
    within lookback => recompute
    closed period => restate
    unknown impact => plan first
  }
}
