"""Projections of journal runs: ``journal_runs``, ``journal_entries``, ``journal_entry_lines``.

- ``journal_run.completed`` adds the run (executed when that event was recorded), with who
  created it and when;
- ``journal_entry.created`` adds the entry and its lines (its transactions are marked by
  the pending projection); a reversal names the entry it ``reverses``;
- ``journal_entry.cancelled`` sets the entry cancelled, with when and by whom (its
  transactions are released by the pending projection);
- ``journal_entry.reversed`` sets the entry reversed, names its reversal, records when and
  by whom, and adds the reversal to its run's entries (its transactions are released by the
  pending projection);
- ``journal_run.cancelled`` records when and by whom, and sets the run cancelled unless it
  kept entries;
- ``journal_entry.transfer_status_changed`` sets the entry's transfer status and, while it
  is yes, when and by whom it was set so.

Who and when come from the event's data (``created_at``/``created_by``, ``at``/``by``); an
event recorded before the data carried them gives its recorded_at and its metadata's actor.
"""

from __future__ import annotations

import asyncpg

from events import names
from projections.projection import Projection
from projections.segments import statement

_RUN = """
INSERT INTO journal_runs (number, scope, target_period, start_date, end_date,
                          journal_entry_date, transaction_types, status, transaction_count,
                          entry_numbers, event_position, executed_at, created_at, created_by)
SELECT d ->> 'number', coalesce(d ->> 'org', ''), d -> 'target' ->> 'period',
       (d -> 'target' ->> 'start_date')::date, (d -> 'target' ->> 'end_date')::date,
       (d ->> 'journal_entry_date')::date,
       ARRAY(SELECT jsonb_array_elements_text(d -> 'transaction_types')),
       d ->> 'status', (d ->> 'transaction_count')::bigint,
       ARRAY(SELECT jsonb_array_elements_text(d -> 'journal_entry_numbers')), e.position,
       e.recorded_at, coalesce((d ->> 'created_at')::timestamptz, e.recorded_at),
       coalesce(d ->> 'created_by', e.metadata ->> 'actor')
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1)
"""

_ENTRY = """
INSERT INTO journal_entries (number, journal_run, scope, accounting_period,
                             journal_entry_date, transaction_type, currency, debit_account,
                             segments, total_debit, total_credit, transaction_count, status,
                             transfer_status, event_position, reverses)
SELECT d ->> 'number', d ->> 'journal_run', coalesce(d ->> 'org', ''),
       d ->> 'accounting_period', (d ->> 'journal_entry_date')::date,
       d ->> 'transaction_type', d ->> 'currency', e.payload -> 'internal' ->> 'debit_account',
       d -> 'segments', (d ->> 'total_debit')::numeric, (d ->> 'total_credit')::numeric,
       (d ->> 'transaction_count')::bigint, d ->> 'status', d ->> 'transfer_status',
       e.position, d ->> 'reverses'
FROM events e, LATERAL (SELECT e.payload -> 'data') AS x(d)
WHERE e.position = ANY($1)
"""

_LINES = """
INSERT INTO journal_entry_lines (journal_entry, account, side, amount)
SELECT e.payload -> 'data' ->> 'number', l.account, l.side, l.amount
FROM events e
CROSS JOIN LATERAL jsonb_to_recordset(e.payload -> 'data' -> 'lines')
    AS l(account text, side text, amount numeric)
WHERE e.position = ANY($1)
"""

#: Who and when of a command event, from its data or else from the event itself.
_AT = "coalesce((e.payload -> 'data' ->> 'at')::timestamptz, e.recorded_at)"
_BY = "coalesce(e.payload -> 'data' ->> 'by', e.metadata ->> 'actor')"

_ENTRY_CANCELLED = f"""
UPDATE journal_entries j SET status = 'cancelled', cancelled_at = {_AT}, cancelled_by = {_BY}
FROM events e WHERE e.position = ANY($1) AND j.number = e.payload -> 'data' ->> 'number'
"""

#: The reversal joins its run's entries, after those the run made (in number order when one
#: segment holds several reversals of a run).
_ENTRY_REVERSED = f"""
WITH reversed AS (
    UPDATE journal_entries j
    SET status = 'reversed', reversal_entry = e.payload -> 'data' ->> 'reversed_by',
        reversed_at = {_AT}, reversed_by = {_BY}
    FROM events e WHERE e.position = ANY($1) AND j.number = e.payload -> 'data' ->> 'number'
    RETURNING j.journal_run, j.reversal_entry
)
UPDATE journal_runs r SET entry_numbers = r.entry_numbers || added.numbers
FROM (SELECT journal_run, array_agg(reversal_entry ORDER BY reversal_entry) AS numbers
      FROM reversed GROUP BY journal_run) AS added
WHERE r.number = added.journal_run
"""

#: A run whose cancel kept entries stays as it was; the latest cancel says when and by whom.
_RUN_CANCELLED = f"""
UPDATE journal_runs r
SET status = CASE WHEN latest.kept = 0 THEN 'cancelled' ELSE r.status END,
    cancelled_at = latest.at, cancelled_by = latest.actor
FROM (
    SELECT DISTINCT ON (e.payload -> 'data' ->> 'number')
           e.payload -> 'data' ->> 'number' AS number,
           jsonb_array_length(e.payload -> 'data' -> 'kept_entries') AS kept,
           {_AT} AS at, {_BY} AS actor
    FROM events e WHERE e.position = ANY($1)
    ORDER BY e.payload -> 'data' ->> 'number', e.position DESC
) AS latest
WHERE r.number = latest.number
"""

_TRANSFER = f"""
UPDATE journal_entries j
SET transfer_status = latest.status,
    transferred_at = CASE WHEN latest.status = 'yes' THEN latest.at END,
    transferred_by = CASE WHEN latest.status = 'yes' THEN latest.actor END
FROM (
    SELECT DISTINCT ON (e.payload -> 'data' ->> 'number')
           e.payload -> 'data' ->> 'number' AS number, e.payload -> 'data' ->> 'to' AS status,
           {_AT} AS at, {_BY} AS actor
    FROM events e WHERE e.position = ANY($1)
    ORDER BY e.payload -> 'data' ->> 'number', e.position DESC
) AS latest
WHERE j.number = latest.number
"""


async def _entries(conn: asyncpg.Connection, positions: list[int]) -> None:
    await conn.execute(_ENTRY, positions)
    await conn.execute(_LINES, positions)


HANDLERS = {
    names.JOURNAL_RUN_COMPLETED: statement(_RUN),
    names.JOURNAL_ENTRY_CREATED: _entries,
    names.JOURNAL_ENTRY_CANCELLED: statement(_ENTRY_CANCELLED),
    names.JOURNAL_ENTRY_REVERSED: statement(_ENTRY_REVERSED),
    names.JOURNAL_RUN_CANCELLED: statement(_RUN_CANCELLED),
    names.JOURNAL_ENTRY_TRANSFER_STATUS_CHANGED: statement(_TRANSFER),
}

#: DELETE, not TRUNCATE: pending_transactions refers to entries (deferred foreign key).
_RESET = """
DELETE FROM journal_entry_lines;
DELETE FROM journal_entries;
DELETE FROM journal_runs
"""

PROJECTION = Projection(
    name="journal",
    tables=("journal_runs", "journal_entries", "journal_entry_lines"),
    reset_sql=_RESET,
    handlers=HANDLERS,
)
