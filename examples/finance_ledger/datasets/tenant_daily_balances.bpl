/// Each tenant's movements per account and currency for one value date: the
/// building block of every balance, statement and close. One partition per
/// tenant and day, so a late entry for one tenant recomputes that tenant's
/// days only.
dataset tenant_daily_balances {
  version 1
  columns {
    tenant_id: string
    entry_date: date
    account_id: string
    currency: enum(USD, EUR, GBP, SGD, IDR)
    entry_count: int
    debit_total: decimal(18, 2)
    credit_total: decimal(18, 2)
    net_amount: decimal(18, 2)
    /// `net_amount` at the pinned quarterly rate.
    net_amount_usd: decimal(18, 2)
  }
  key tenant_id, entry_date, account_id, currency
  partition by tenant_id: string, entry_date: date
  publish replace
  schedule daily at 02:00 "UTC" lookback 3d

  // The partition is the value date, but entries are found by the day they
  // were booked: an entry takes effect up to two days after booking (T+2),
  // so value date p collects the bookings of [p - 2d, p]. A late entry
  // therefore touches the three value dates its booking day can feed.
  input ledger = ledger_entries by event clock where tenant_id == p.tenant_id and to_date(booked_at, "UTC") in [p.entry_date - 2d, p.entry_date]
  // Pinned, not latest: a backfill of June next year must convert with the
  // rates June was reported with.
  bind fx = fx_rates pinned "2026-Q3"

  compute {
    from ledger
    where ledger.value_date == p.entry_date
    // A corrected entry arrives again with a later updated_at: keep the
    // newest version of each entry, never both.
    dedupe by ledger.entry_id order by ledger.updated_at desc
    // A left join, so an entry in a currency the rate table does not price
    // reaches the quality rules (and quarantine) instead of vanishing.
    left join fx on ledger.currency == fx.currency
    derive amount_usd = ledger.amount * fx.rate_to_usd
    group by
      tenant_id = p.tenant_id,
      entry_date = p.entry_date,
      account_id = ledger.account_id,
      currency = ledger.currency
    {
      entry_count = row_count()
      debit_total = sum(if ledger.amount > 0 then ledger.amount else 0)
      credit_total = sum(if ledger.amount < 0 then -ledger.amount else 0)
      net_amount = sum(ledger.amount)
      // Round once, after summing: rounding each entry first would drift
      // from the control total by up to half a cent per entry.
      net_amount_usd = round(sum(amount_usd), 2)
    }
  }

  quality {
    require known_account: not_empty(ledger.account_id) else quarantine
    require priced: fx.rate_to_usd is not null else quarantine
    require non_zero: ledger.amount != 0 else quarantine
    // A tenant may have a quiet day: worth a look, not a failed partition.
    expect row_count() > 0 else warn
    expect credits_not_negative: row_count() == 0 or min(credit_total) >= 0 else fail partition
  }

  reconcile {
    input == accepted + quarantined + duplicates
    // Control totals: what was published adds up to what was accepted, to
    // the cent, in the entry currency and in both legs.
    control_total: sum(net_amount) == sum(ledger.amount) within 0.01
    legs: sum(debit_total) - sum(credit_total) == sum(net_amount) within 0.01
  }

  corrections {
    within lookback => recompute
    unknown impact => plan first
  }
}
