/// Audit: every tenant's open position per currency, valued at the latest
/// rates treasury has published. Each run is a snapshot of its own, kept for
/// the auditors; nothing downstream reads it.
dataset fx_exposure_snapshot {
  version 1
  columns {
    run_id: string
    tenant_id: string
    currency: enum(USD, EUR, GBP, SGD, IDR)
    open_position: decimal(18, 2)
    exposure_usd: decimal(18, 2)
  }
  key run_id, tenant_id, currency
  // One partition per run: a rerun never replaces an earlier snapshot.
  partition by run_id: run
  publish replace

  // An open position is the sum of every movement since inception.
  input balances = tenant_daily_balances all history
  bind fx = fx_rates latest because "exposure is valued at today's rates by definition; each run is an audit snapshot of its own and is never backfilled"

  compute {
    from balances
    join fx on balances.currency == fx.currency
    group by run_id = p, tenant_id = balances.tenant_id, currency = balances.currency {
      open_position = sum(balances.net_amount)
      exposure_usd = round(sum(balances.net_amount * fx.rate_to_usd), 2)
    }
  }

  quality {
    expect row_count() > 0 else fail run
    expect null_rate(exposure_usd) == 0 else warn
  }
}
