/// Per account, how large and how frequent its movements have been over its
/// whole life, and the risk band that follows. Hash-partitioned by account:
/// sixteen independent buckets that recompute, replace and backfill one at a
/// time, without a time key.
dataset account_risk_buckets {
  version 1
  columns {
    tenant_id: string
    account_id: string
    holder_type: enum(retail, business, internal)
    active_days: int
    lifetime_net_usd: decimal(18, 2)
    largest_day_usd: decimal(18, 2)
    last_active: date
    risk_band: string
  }
  key tenant_id, account_id
  partition by bucket: hash(account_id, 16)
  publish replace
  schedule daily at 04:00 "UTC"

  // A risk profile is about the account's whole history, so every bucket
  // reads every day; the bucket, not the date, bounds the work of a run.
  input balances = tenant_daily_balances all history
  input accounts = account_master all history

  compute {
    from balances
    join accounts on accounts.tenant_id == balances.tenant_id and accounts.account_id == balances.account_id
    group by
      tenant_id = balances.tenant_id,
      account_id = balances.account_id,
      holder_type = accounts.holder_type
    {
      active_days = count_distinct(balances.entry_date)
      lifetime_net_usd = sum(balances.net_amount_usd)
      largest_day_usd = max(abs(balances.net_amount_usd))
      last_active = max(balances.entry_date)
    }
    derive {
      risk_band = if largest_day_usd >= 1000000 then "high" else if largest_day_usd >= 10000 then "medium" else "low"
    }
  }

  quality {
    require known_holder: accounts.holder_type is not null else quarantine
    expect row_count() > 0 else warn
    expect bands_known: count(risk_band == "") == 0 else fail run
  }

  reconcile {
    every_account_once: count_distinct(account_id) == row_count()
  }
}
