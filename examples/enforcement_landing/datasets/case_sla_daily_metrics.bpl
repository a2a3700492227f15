/// The SLA metric: over a rolling 30-day window ending on each business date,
/// how many cases closed in each region and how many breached the SLA.
dataset case_sla_daily_metrics {
  version 3
  partition by business_date: date
  publish replace
  schedule daily at 03:00 "Asia/Jakarta" lookback 3d sla 4h

  // 30-day rolling window: a change to one day of silver_cases touches the
  // thirty metric partitions whose window covers it.
  input ev = silver_cases where business_date in [p - 29d, p]
  bind units = org_hierarchy as of ev.event_time
  bind sla = sla_calendar pinned "2026-07"

  compute {
    from ev
    where ev.kind == closed
    join units on ev.unit_id == units.unit_id
    join sla on units.region == sla.region
    group by business_date = p, region = units.region {
      closed_cases = count_distinct(ev.case_id)
      breaches = count(ev.resolution_hours > sla.sla_hours)
      p95_resolution_hours = percentile(ev.resolution_hours, 0.95)
    }
    derive breach_rate = if closed_cases > 0 then breaches / closed_cases else 0.0
  }

  quality {
    require resolution_known: ev.resolution_hours is not null else quarantine
    require owner_known: units.owning_unit is not null else quarantine
    expect row_count() > 0 else fail partition
    expect null_rate(region) < 0.01 else warn
    expect row_count() == 0 or max(breach_rate) <= 1.0 else fail run
  }

  reconcile {
    input == accepted + quarantined + duplicates
    breaches_bounded: sum(breaches) <= sum(closed_cases)
  }

  corrections {
    within lookback => recompute
    unknown impact => plan first
  }
}
