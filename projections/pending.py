"""Projection ``pending_transactions``: every transaction line the ledger has accepted,
and ``journaled_transactions``: which entry holds each journaled one.

How a stored event changes it:

- a billing document event (``invoice.posted``, ``payment.applied``, ...) inserts one row per
  transaction line, with the facts as sent (after inheritance from the document);
- ``transactions.status_changed`` sets the status of the rows it names; within one apply,
  the latest change of a transaction wins;
- ``journal_entry.created`` records the transactions it lists as journaled in that entry
  (table ``journaled_transactions``);
- ``journal_entry.cancelled`` and ``journal_entry.reversed`` delete those records,
  releasing the transactions for the next run (a reversal entry lists no transactions: it
  holds none).

The same two statements run inline (the positions just appended) and in a rebuild (a range
of positions), so the two paths cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from events import EVENT_LINE_TYPES
from events.billing import STATUS_CHANGED
from events.names import JOURNAL_ENTRY_CANCELLED, JOURNAL_ENTRY_CREATED, JOURNAL_ENTRY_REVERSED
from projections.projection import Projection, RangeStatement
from projections.segments import statement

#: The inbound event types that carry transaction lines (docs/contract.md §2).
BILLING_DOCUMENT_TYPES = frozenset(t for t, lines in EVENT_LINE_TYPES.items() if lines)

#: Indexes a full rebuild drops before folding the log and re-creates after it: sorting once
#: builds them several times faster than keeping them up to date row by row (2.9M random
#: text keys outgrow the buffer cache). The fold never needs them: a rebuild's pages are
#: large, so status changes meet their rows in one hash join per page, and releasing an
#: entry finds its rows by the entry index, which stays. The unique keys are re-checked
#: over every row when re-created.
_REBUILD_WITHOUT = ("pending_transactions_pkey", "journaled_transactions_pkey")

_EVENT_FILTER = "e.position BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR e.position = ANY($3))"

INSERT_LINES = f"""
INSERT INTO pending_transactions (
    type, id, subtype, org, date, status, amount, currency, debit_account, credit_account,
    segments, document_number, account_number, accounting_period, recognition_rule,
    event_position, exclusion_reason)
SELECT t.type, t.id, t.subtype, e.org, t.date, t.status, t.amount, t.currency,
       coalesce(t.debit_account, ''), coalesce(t.credit_account, ''),
       coalesce(t.segments, '{{}}'::jsonb), t.document_number, t.account_number,
       t.accounting_period, t.recognition_rule, e.position,
       transaction_exclusion_reason(t.type, t.subtype, coalesce(t.debit_account, ''),
                                    coalesce(t.credit_account, ''), t.recognition_rule,
                                    e.event_type)
FROM events e
CROSS JOIN LATERAL jsonb_to_recordset(e.payload #> '{{data,transactions}}') AS t(
    id text, type text, subtype text, date date, status text, amount numeric,
    currency text, debit_account text, credit_account text, segments jsonb,
    document_number text, account_number text, accounting_period text,
    recognition_rule text)
WHERE {_EVENT_FILTER}
  AND e.event_type = ANY('{{{",".join(sorted(BILLING_DOCUMENT_TYPES))}}}'::text[])
ORDER BY e.position
"""

APPLY_STATUS_CHANGES = f"""
UPDATE pending_transactions p
SET status = latest.status, status_position = latest.position
FROM (
    SELECT DISTINCT ON (c.type, c.id) c.type, c.id, c.status, e.position
    FROM events e
    CROSS JOIN LATERAL ROWS FROM (
        jsonb_to_recordset(e.payload #> '{{data,changes}}') AS (type text, id text, status text)
    ) WITH ORDINALITY AS c(type, id, status, n)
    WHERE {_EVENT_FILTER}
      AND e.event_type = '{STATUS_CHANGED}'
    ORDER BY c.type, c.id, e.position DESC, c.n DESC
) AS latest
WHERE p.type = latest.type AND p.id = latest.id
"""


def entry_members(where: str) -> str:
    """CTEs ``entries`` (number, members array) and ``members`` (number, type, id) of the
    ``journal_entry.created`` events matching ``where`` (over ``events e``).

    ``entries`` is materialised so each entry's payload is read (de-TOASTed) once, not once
    per member: an entry of a million transactions has a payload of tens of megabytes, and
    reading it per member took a verify of 400k events from 1 s to 76 s.
    """
    return f"""
WITH entries AS MATERIALIZED (
    SELECT e.payload -> 'data' ->> 'number' AS number, e.payload -> 'internal' -> 'members' AS m
    FROM events e WHERE {where}
),
members AS (
    SELECT entries.number, k ->> 0 AS type, k ->> 1 AS id
    FROM entries CROSS JOIN LATERAL jsonb_array_elements(entries.m) AS k
)
"""


#: The primary key of ``journaled_transactions`` refuses a transaction still held by
#: another entry.
MARK_JOURNALED = entry_members("e.position = ANY($1)") + """
INSERT INTO journaled_transactions (type, id, journal_entry)
SELECT type, id, number FROM members
"""

RELEASE = """
DELETE FROM journaled_transactions j
USING events e
WHERE e.position = ANY($1) AND j.journal_entry = e.payload -> 'data' ->> 'number'
"""


JOURNAL_HANDLERS = {
    JOURNAL_ENTRY_CREATED: statement(MARK_JOURNALED),
    JOURNAL_ENTRY_CANCELLED: statement(RELEASE),
    JOURNAL_ENTRY_REVERSED: statement(RELEASE),
}

_RESET = "TRUNCATE pending_transactions, journaled_transactions"

#: The lines first, then their status changes (a change may name a line of the same range),
#: then the journal events in log order.
PROJECTION = Projection(
    name="pending_transactions",
    tables=("pending_transactions", "journaled_transactions"),
    reset_sql=_RESET,
    handlers=JOURNAL_HANDLERS,
    range_statements=(RangeStatement(INSERT_LINES, BILLING_DOCUMENT_TYPES),
                      RangeStatement(APPLY_STATUS_CHANGES, frozenset({STATUS_CHANGED}))),
    rebuild_without=_REBUILD_WITHOUT,
)


_KNOWN_KEYS = """
SELECT p.type, p.id
FROM pending_transactions p
JOIN unnest($1::text[], $2::text[]) AS k(type, id) ON p.type = k.type AND p.id = k.id
"""


async def known_transactions(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (type, id) pairs are already in the projection (used to validate input)."""
    if not keys:
        return set()
    rows = await conn.fetch(_KNOWN_KEYS, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["type"], r["id"]) for r in rows}
