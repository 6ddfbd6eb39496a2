"""``ledger republish``: send journal events again, with their original ``event_id``s.

For a consumer that lost data or a new GL integration catching up. The events come from the
log (not the outbox), so anything ever published can be sent again; consumers dedupe by
``event_id`` as the contract says.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from services.commands.recording import OUTBOUND_TYPES
from services.config import Settings
from services.errors import NotFound, RejectedInput
from services.kafka_io import producer

#: A run's events: the run's, and those naming it as their journal run; and the reversals
#: of its entries (their data names the entry, not the run), so that a consumer catching up
#: gets each reversal's ``journal_entry.reversed`` with its ``journal_entry.created``.
_BY_RUN = """
SELECT position, event_type, coalesce(org, 'unlabeled') AS key, payload - 'internal' AS payload
FROM events
WHERE event_type = ANY($1::text[])
  AND (payload -> 'data' ->> 'number' = $2 OR payload -> 'data' ->> 'journal_run' = $2
       OR (event_type = 'journal_entry.reversed'
           AND payload -> 'data' ->> 'number' IN (
               SELECT number FROM journal_entries WHERE journal_run = $2)))
ORDER BY position
"""

_FROM_POSITION = """
SELECT position, event_type, coalesce(org, 'unlabeled') AS key, payload - 'internal' AS payload
FROM events
WHERE event_type = ANY($1::text[]) AND position >= $2
ORDER BY position
"""


async def republish(
    pool: asyncpg.Pool,
    settings: Settings,
    topic: str,
    *,
    run: str | None = None,
    from_position: int | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> dict[str, int]:
    if (run is None) == (from_position is None):
        raise RejectedInput("republish_target_required", "give exactly one of --run or "
                                                          "--from-position")
    if run is not None:
        rows = await pool.fetch(_BY_RUN, list(OUTBOUND_TYPES), run)
        if not rows:
            raise NotFound("journal_run_not_found", f"no journal events for run {run}")
    else:
        rows = await pool.fetch(_FROM_POSITION, list(OUTBOUND_TYPES), from_position)
    async with producer(settings) as p:
        futures = []
        for row in rows:
            futures.append(await p.send(
                topic, row["payload"].encode(), key=row["key"].encode(),
                headers=[("event_type", row["event_type"].encode())],
            ))
        for future in futures:
            await future
            if on_sent:
                on_sent(1)
    return {"republished": len(rows), "first_position": rows[0]["position"] if rows else 0,
            "last_position": rows[-1]["position"] if rows else 0}
