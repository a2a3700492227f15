/// Every state change of an enforcement case, as the case system exports
/// it: one CSV file a day into the landing folder. Events arrive late (up
/// to two days, in a later day's file) and are sometimes delivered twice.
source raw_case_events {
  files "landing/case_events/*.csv" as csv
  columns {
    event_id: string
    case_id: string
    unit_id: string
    kind: enum(opened, assigned, escalated, closed)
    /// When the case was opened; carried on every event of the case.
    opened_at: timestamp
    event_time: timestamp
    ingested_at: timestamp
    penalty_amount: decimal(18, 2)?
    /// When the file holding the event was first seen: filled by bplc.
    arrived_at: timestamp
  }
  key event_id
  clock event = event_time, ingestion = ingested_at, file_arrival = arrived_at
  // The input lock is the set of files a run read: no column needed.
  max lateness 2d
}

/// Who a case was assigned to, one row per `assigned` case event.
source raw_assignment_events {
  table "raw_assignment_events"
  columns {
    case_event_id: string
    assignee: string
    assigned_at: timestamp
    ingested_at: timestamp
  }
  key case_event_id
  clock event = assigned_at, ingestion = ingested_at
  snapshot by ingested_at
  max lateness 2d
}

/// Escalation details, one row per `escalated` case event. Exported by a
/// nightly job, so the lock is a composite cursor rather than a timestamp.
source raw_escalation_events {
  table "raw_escalation_events"
  columns {
    case_event_id: string
    level: int
    reason: string?
    escalated_at: timestamp
    exported_at: timestamp
  }
  key case_event_id
  clock event = escalated_at, file_arrival = exported_at
  cursor by (exported_at, case_event_id)
  max lateness 1d
}
