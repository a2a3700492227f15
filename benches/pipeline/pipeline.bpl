/// Raw events as the collector delivers them: some twice (a redelivery,
/// ingested later, carries the corrected amount), some invalid, some late.
source raw_events {
  table "raw_events"
  columns {
    event_id: int
    unit_id: string?
    customer_id: int
    kind: enum(view, click, buy)
    amount: decimal(18, 2)
    event_time: timestamp
    event_date: date
    ingested_at: timestamp
  }
  key event_id
  clock event = event_time, ingestion = ingested_at
  snapshot by ingested_at
  max lateness 2d
}

/// Which region each unit belongs to; units move between regions.
reference unit_regions {
  table "unit_regions"
  columns {
    unit_id: string
    region: string
    valid_from: timestamp
    valid_to: timestamp?
  }
  key unit_id
  valid from valid_from to valid_to
}

/// Valid events, one row per event: the latest valid delivery.
dataset staged_events {
  version 1
  columns {
    event_id: int
    unit_id: string?
    customer_id: int
    kind: enum(view, click, buy)
    amount: decimal(18, 2)
    event_time: timestamp
    event_date: date
  }
  key event_id
  partition by event_date: date
  publish replace
  schedule daily at 01:00 "UTC" lookback 2d

  input ev = raw_events where event_date == p

  compute {
    from ev
    dedupe by ev.event_id order by ev.ingested_at desc
    select
      event_id = ev.event_id,
      unit_id = ev.unit_id,
      customer_id = ev.customer_id,
      kind = ev.kind,
      amount = ev.amount,
      event_time = ev.event_time,
      event_date = p
  }

  quality {
    require unit_known: ev.unit_id is not null else quarantine
    require amount_not_negative: ev.amount >= 0 else quarantine
    expect row_count() > 0 else fail partition
  }

  reconcile {
    input == accepted + quarantined + duplicates
  }
}

/// Daily metrics per region, each event in the region its unit belonged
/// to when the event happened.
dataset region_daily {
  version 1
  partition by event_date: date
  publish replace
  schedule daily at 02:00 "UTC" lookback 2d

  input ev = staged_events where event_date == p
  bind units = unit_regions as of ev.event_time

  compute {
    from ev
    join units on ev.unit_id == units.unit_id
    group by event_date = p, region = units.region {
      events = row_count()
      buys = count(ev.kind == buy)
      amount = sum(ev.amount)
      customers = count_distinct(ev.customer_id)
    }
  }

  quality {
    expect row_count() > 0 else fail partition
  }

  reconcile {
    input == accepted + quarantined + duplicates
  }
}

/// The last thirty days per region, ending on each day.
dataset region_rolling_30d {
  version 1
  partition by event_date: date
  publish replace
  schedule daily at 03:00 "UTC" lookback 2d

  input daily = region_daily where event_date in [p - 29d, p]

  compute {
    from daily
    group by event_date = p, region = daily.region {
      events = sum(daily.events)
      buys = sum(daily.buys)
      amount = sum(daily.amount)
      days = count_distinct(daily.event_date)
    }
  }

  quality {
    expect row_count() > 0 else fail partition
  }
}

/// Each month per region: the daily figures added up.
dataset region_monthly {
  version 1
  partition by event_month: month
  publish replace
  schedule monthly on day 1 at 06:00 "UTC" lookback 1mo

  input daily = region_daily where event_date in month(p)

  compute {
    from daily
    group by event_month = p, region = daily.region {
      events = sum(daily.events)
      buys = sum(daily.buys)
      amount = sum(daily.amount)
      days = count_distinct(daily.event_date)
    }
  }

  quality {
    expect row_count() > 0 else fail partition
  }

  reconcile {
    complete: partition_count(daily) == days_in_month(p) else fail partition
  }
}
