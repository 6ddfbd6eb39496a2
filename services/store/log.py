"""Append to and read from the event log.

Appends are batched: the rows are COPYed into a per-connection temp table and moved into
``events`` with one INSERT ... SELECT, so a batch of thousands of events costs three round
trips, not thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.store import locks


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended; payload and metadata are JSON text."""

    stream: str
    event_id: UUID
    event_type: str
    org: str | None
    payload: str
    body_hash: bytes
    metadata: str = "{}"


STAGED_COLUMNS = (
    "ord", "stream", "event_id", "event_type", "org", "payload", "body_hash", "metadata",
)

_INSERT_STAGED = """
INSERT INTO events (stream, version, event_id, event_type, org, payload, body_hash, metadata)
SELECT s.stream,
       coalesce((SELECT max(e.version) FROM events e WHERE e.stream = s.stream), 0)
           + row_number() OVER (PARTITION BY s.stream ORDER BY s.ord),
       s.event_id, s.event_type, s.org, s.payload, s.body_hash, s.metadata
FROM staged_events s
ORDER BY s.ord
ON CONFLICT (event_id) DO NOTHING
RETURNING position, event_id
"""

#: Every writer of the log holds this lock shared for its transaction; a rebuild takes it
#: exclusively, which waits for writers in flight and pauses new ones until it commits.
LOG_WRITERS_LOCK = locks.LOG_WRITERS

_SELECT_HASHES = "SELECT event_id, body_hash FROM events WHERE event_id = ANY($1::uuid[])"


async def append(conn: asyncpg.Connection, events: Sequence[NewEvent]) -> dict[UUID, int]:
    """Append events in order; return the position of each one stored.

    An event whose id is already stored is skipped (idempotency); callers that must tell a
    duplicate from a conflict look the ids up first with :func:`stored_hashes`. Must run
    inside a transaction: the staging table empties on commit.
    """
    if not events:
        return {}
    await conn.copy_records_to_table(
        "staged_events",
        records=[
            (i, e.stream, e.event_id, e.event_type, e.org, e.payload, e.body_hash, e.metadata)
            for i, e in enumerate(events)
        ],
        columns=STAGED_COLUMNS,
    )
    return await append_staged(conn)


async def append_staged(conn: asyncpg.Connection) -> dict[UUID, int]:
    """Move whatever is in ``staged_events`` into the log, in ``ord`` order.

    Commands that build large events in SQL (a journal run's entries) INSERT into the
    staging table themselves and call this, so their payloads never travel through Python.
    """
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_WRITERS_LOCK)
    rows = await conn.fetch(_INSERT_STAGED)
    await conn.execute("TRUNCATE staged_events")
    return {r["event_id"]: r["position"] for r in rows}


async def hold_writers_lock(conn: asyncpg.Connection) -> None:
    """Call first in any transaction that will append: a rebuild then waits for it, and it
    waits for a rebuild, without either holding table locks the other needs (no deadlock).
    """
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_WRITERS_LOCK)


async def stored_hashes(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> dict[UUID, bytes]:
    """Body hashes of the given event ids that are already in the log."""
    if not event_ids:
        return {}
    rows = await conn.fetch(_SELECT_HASHES, list(event_ids))
    return {r["event_id"]: bytes(r["body_hash"]) for r in rows}


async def head_position(conn: asyncpg.Connection) -> int:
    """The highest position in the log (0 when empty)."""
    value = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    return int(value)
