/// The organisation: which unit owns which, and in which region. Units move
/// between regions, so rows are effective-dated.
reference org_hierarchy {
  table "org_units"
  columns {
    unit_id: string
    owning_unit: string?
    region: string
    valid_from: timestamp
    valid_to: timestamp?
  }
  key unit_id
  valid from valid_from to valid_to
}

/// SLA targets per region, published as numbered snapshots by the policy
/// team and kept in the repository as a seed.
reference sla_calendar {
  seed "seeds/sla_calendar.csv"
  columns {
    region: string
    sla_hours: int
    calendar_version: string
  }
  key region
  versioned by calendar_version
  versions "2026-01", "2026-07"
}
