/// Quarterly FX rates to USD, published by treasury as numbered snapshots.
/// A snapshot never changes once published; a new quarter is a new version.
reference fx_rates {
  table "fx_rates"
  columns {
    currency: enum(USD, EUR, GBP, SGD, IDR)
    rate_to_usd: decimal(18, 8)
    rate_version: string
  }
  key currency
  versioned by rate_version
  versions "2026-Q2", "2026-Q3"
}

/// Each tenant's chart of accounts: which class and reporting line an
/// account rolls up to. Accountants reclassify accounts during the year, so
/// rows are effective-dated rather than overwritten.
reference chart_of_accounts {
  table "chart_of_accounts"
  columns {
    tenant_id: string
    account_id: string
    account_class: enum(asset, liability, equity, revenue, expense)
    reporting_line: string
    valid_from: timestamp
    valid_to: timestamp?
  }
  key tenant_id, account_id
  valid from valid_from to valid_to
}
