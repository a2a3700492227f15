/// Every posting to the general ledger, for every tenant, as the core
/// banking system exports it. Double entry: the legs of one transaction sum
/// to zero in each currency. Amounts are signed (debit positive, credit
/// negative) and exact.
source ledger_entries {
  table "ledger_entries"
  columns {
    tenant_id: string
    entry_id: string
    account_id: string
    /// Signed amount in `currency`: debit positive, credit negative.
    amount: decimal(18, 2)
    currency: enum(USD, EUR, GBP, SGD, IDR)
    /// The day the entry takes effect for balances. Spot FX and card
    /// settlements are value-dated up to two days after booking (T+2).
    value_date: date
    booked_at: timestamp
    /// Set again whenever the core system corrects the entry.
    updated_at: timestamp
  }
  key tenant_id, entry_id
  clock event = booked_at, source_commit = updated_at
  // The export is incremental and several entries share one updated_at, so
  // the input lock is a composite cursor: a timestamp alone would skip or
  // repeat the entries committed in the same millisecond.
  cursor by (updated_at, entry_id)
  max lateness 2d
  // An entry whose amount, currency or dates cannot be read is not set
  // aside: a day's balances without it would be wrong to the cent, and the
  // other legs of its transaction would no longer sum to zero. The day
  // fails instead, and waits for the export to be fixed.
  bad rows fail partition
}

/// The accounts each tenant holds with us, one row per account, kept up to
/// date by the onboarding system.
source account_master {
  table "account_master"
  columns {
    tenant_id: string
    account_id: string
    holder_type: enum(retail, business, internal)
    /// The overdraft or credit limit; absent for accounts without one.
    credit_limit: decimal(18, 2)?
    opened_at: timestamp
    updated_at: timestamp
  }
  key tenant_id, account_id
  clock source_commit = updated_at
  snapshot by updated_at
}
