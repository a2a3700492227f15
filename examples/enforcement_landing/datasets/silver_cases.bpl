/// Clean case events: one row per event, duplicates removed, assignment and
/// escalation details attached, resolution time computed for closed cases.
dataset silver_cases {
  version 2
  columns {
    event_id: string
    case_id: string
    unit_id: string
    kind: enum(opened, assigned, escalated, closed)
    business_date: date
    event_time: timestamp
    assignee: string?
    escalation_level: int?
    resolution_hours: float?
  }
  key event_id
  partition by business_date: date
  publish replace
  schedule daily at 01:00 "Asia/Jakarta" lookback 3d sla 2h

  input ev = raw_case_events by event clock where to_date(event_time, "Asia/Jakarta") == p
  input asg = raw_assignment_events by event clock where to_date(assigned_at, "Asia/Jakarta") == p
  input esc = raw_escalation_events by event clock where to_date(escalated_at, "Asia/Jakarta") == p

  compute {
    from ev
    dedupe by ev.event_id order by ev.ingested_at desc
    left join asg on asg.case_event_id == ev.event_id
    left join esc on esc.case_event_id == ev.event_id
    select
      event_id = ev.event_id,
      case_id = ev.case_id,
      unit_id = ev.unit_id,
      kind = ev.kind,
      business_date = p,
      event_time = ev.event_time,
      assignee = asg.assignee,
      escalation_level = esc.level,
      resolution_hours = if ev.kind == closed then hours_between(ev.opened_at, ev.event_time) else null
  }

  quality {
    require known_unit: ev.unit_id != "" else quarantine
    require opened_before_event: ev.opened_at <= ev.event_time else quarantine
    require penalty_not_negative: coalesce(ev.penalty_amount, 0) >= 0 else quarantine
    expect row_count() > 0 else fail partition
    expect null_rate(assignee) < 0.2 else warn
  }

  reconcile {
    input == accepted + quarantined + duplicates
  }

  corrections {
    within lookback => recompute
    unknown impact => plan first
  }
}
