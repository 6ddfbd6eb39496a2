-- Who and when, and reversals (docs/domain.md §3).
--
-- Runs record when and by whom they were created, cancellations when and by whom they were
-- made; an entry may be reversed (a transferred entry offset by a new entry of the same run,
-- whose transactions go back to pending). Every value comes from the events: their data
-- (``created_at``/``created_by``, ``at``/``by``), or, for events recorded before the data
-- carried them, the event's recorded_at and metadata ->> 'actor'. The projections derive
-- them the same way, so the rows filled here equal a fresh fold of the log.

ALTER TABLE journal_runs
    ADD COLUMN created_at   timestamptz,
    ADD COLUMN created_by   text,
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN cancelled_by text;

UPDATE journal_runs r
SET created_at = coalesce((e.payload -> 'data' ->> 'created_at')::timestamptz, e.recorded_at),
    created_by = coalesce(e.payload -> 'data' ->> 'created_by', e.metadata ->> 'actor')
FROM events e
WHERE e.event_type = 'journal_run.completed' AND e.payload -> 'data' ->> 'number' = r.number;

UPDATE journal_runs r
SET cancelled_at = latest.at, cancelled_by = latest.actor
FROM (SELECT DISTINCT ON (e.payload -> 'data' ->> 'number')
             e.payload -> 'data' ->> 'number' AS number,
             coalesce((e.payload -> 'data' ->> 'at')::timestamptz, e.recorded_at) AS at,
             coalesce(e.payload -> 'data' ->> 'by', e.metadata ->> 'actor') AS actor
      FROM events e WHERE e.event_type = 'journal_run.cancelled'
      ORDER BY e.payload -> 'data' ->> 'number', e.position DESC) AS latest
WHERE r.number = latest.number;

-- An entry is created, cancelled or reversed. A reversal names the entry it reverses; a
-- reversed entry names its reversal, and when and by whom it was reversed.
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_status_check;
ALTER TABLE journal_entries
    ADD CONSTRAINT journal_entries_status_check
        CHECK (status IN ('created', 'cancelled', 'reversed')),
    ADD COLUMN reverses       text,
    ADD COLUMN reversal_entry text,
    ADD COLUMN reversed_at    timestamptz,
    ADD COLUMN reversed_by    text,
    ADD COLUMN cancelled_at   timestamptz,
    ADD COLUMN cancelled_by   text;

CREATE UNIQUE INDEX journal_entries_one_reversal ON journal_entries (reverses)
    WHERE reverses IS NOT NULL;

UPDATE journal_entries j
SET cancelled_at = coalesce((e.payload -> 'data' ->> 'at')::timestamptz, e.recorded_at),
    cancelled_by = coalesce(e.payload -> 'data' ->> 'by', e.metadata ->> 'actor')
FROM events e
WHERE e.event_type = 'journal_entry.cancelled' AND e.payload -> 'data' ->> 'number' = j.number;
