-- What the Zuora-shaped HTTP API shows (docs/contract.md §4) and the projections did not keep:
-- a period's stable id, notes and who/when of its events; when a run was executed; who moved
-- an entry's transfer status to yes, and when. All of it is derived from the events (their
-- data, recorded_at and metadata ->> 'actor'), so a rebuild gives the same values; the rows
-- already projected are filled here from the same events.

-- A period's id is recorded in its period.created event. Events recorded before ids existed
-- get a deterministic one (the projection derives it the same way), so ids never change.
ALTER TABLE accounting_periods
    ADD COLUMN id         text,
    ADD COLUMN notes      text,
    ADD COLUMN created_at timestamptz,
    ADD COLUMN created_by text,
    ADD COLUMN updated_at timestamptz,
    ADD COLUMN updated_by text;

UPDATE accounting_periods p
SET id = coalesce(c.d ->> 'id', md5('accounting-period:' || p.scope || ':' || p.name)),
    notes = c.d ->> 'notes', created_at = c.recorded_at, created_by = c.actor,
    updated_at = c.recorded_at, updated_by = c.actor
FROM (SELECT e.payload -> 'data' AS d, e.recorded_at, e.metadata ->> 'actor' AS actor
      FROM events e WHERE e.event_type = 'period.created') AS c
WHERE p.scope = c.d ->> 'scope' AND p.name = c.d ->> 'name';

UPDATE accounting_periods p
SET updated_at = latest.recorded_at, updated_by = latest.actor
FROM (SELECT DISTINCT ON (d ->> 'scope', d ->> 'name')
             d ->> 'scope' AS scope, d ->> 'name' AS name, e.recorded_at,
             e.metadata ->> 'actor' AS actor
      FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
      WHERE e.event_type = 'period.status_changed'
      ORDER BY d ->> 'scope', d ->> 'name', e.position DESC) AS latest
WHERE p.scope = latest.scope AND p.name = latest.name;

ALTER TABLE accounting_periods
    ALTER COLUMN id SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET NOT NULL;
CREATE UNIQUE INDEX accounting_periods_id_key ON accounting_periods (id);

-- Zuora's executedOn: when the run's journal_run.completed event was recorded.
ALTER TABLE journal_runs ADD COLUMN executed_at timestamptz;
UPDATE journal_runs r SET executed_at = e.recorded_at
FROM events e
WHERE e.event_type = 'journal_run.completed' AND e.payload -> 'data' ->> 'number' = r.number;
ALTER TABLE journal_runs ALTER COLUMN executed_at SET NOT NULL;

-- Zuora's transferDateTime and transferredBy: set while the transfer status is yes.
ALTER TABLE journal_entries
    ADD COLUMN transferred_at timestamptz,
    ADD COLUMN transferred_by text;
UPDATE journal_entries j
SET transferred_at = latest.recorded_at, transferred_by = latest.actor
FROM (SELECT DISTINCT ON (e.payload -> 'data' ->> 'number')
             e.payload -> 'data' ->> 'number' AS number, e.payload -> 'data' ->> 'to' AS status,
             e.recorded_at, e.metadata ->> 'actor' AS actor
      FROM events e WHERE e.event_type = 'journal_entry.transfer_status_changed'
      ORDER BY e.payload -> 'data' ->> 'number', e.position DESC) AS latest
WHERE j.number = latest.number AND latest.status = 'yes';

-- Idempotency-Key of POST /v1/journal-runs. Command-side state, like the counters, not a
-- projection: it says which request made a run, which no event needs to carry, and it is
-- forgotten after 24 hours. A run's transaction inserts its key first, so a concurrent
-- request with the same key waits on this primary key until the first commits (then it
-- answers with that run) or rolls back (then it runs itself): never two runs for one key.
CREATE TABLE journal_run_idempotency_keys (
    key         text        PRIMARY KEY,
    body_hash   bytea       NOT NULL,
    journal_run text,       -- set before the claiming transaction commits
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_run_idempotency_keys_created_idx
    ON journal_run_idempotency_keys (created_at);
