"""Projection ``rejected_messages``: the inbound messages the ingest refused, and why.

A refusal is itself an event (``message.rejected``) so the DLQ listing survives a rebuild.
The raw key and value travel base64-encoded in the payload and come back as bytes here.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

NAME = "rejected_messages"
TABLES = ("rejected_messages",)
MESSAGE_REJECTED = "message.rejected"

INSERT_REJECTED = f"""
INSERT INTO rejected_messages (
    event_id, topic, partition, "offset", key, value, headers, error_code, error_detail,
    error_field, rejected_at, event_position)
SELECT e.event_id, p ->> 'topic', (p ->> 'partition')::int, (p ->> 'offset')::bigint,
       decode(p ->> 'key', 'base64'), decode(p ->> 'value', 'base64'),
       coalesce(p -> 'headers', '[]'::jsonb), p ->> 'error_code', p ->> 'error_detail',
       p ->> 'error_field', (p ->> 'rejected_at')::timestamptz, e.position
FROM events e
CROSS JOIN LATERAL (SELECT e.payload -> 'data') AS d(p)
WHERE e.position BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR e.position = ANY($3))
  AND e.event_type = '{MESSAGE_REJECTED}'
ON CONFLICT (event_id) DO NOTHING
"""


async def apply(
    conn: asyncpg.Connection,
    first: int,
    last: int,
    positions: Sequence[int] | None = None,
) -> None:
    """Fold the events in ``first..last`` (only ``positions`` if given) into the table."""
    await conn.execute(
        INSERT_REJECTED, first, last, list(positions) if positions is not None else None
    )


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute("TRUNCATE rejected_messages")
