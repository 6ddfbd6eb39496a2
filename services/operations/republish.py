"""``ledger republish``: send journal events again, with their original ``event_id``s.

For a consumer that lost data or a new GL integration catching up. The events come from the
log (not the outbox), so anything ever published can be sent again; consumers dedupe by
``event_id`` as the contract says.

The log is read a page at a time (keyset on position, never OFFSET) up to the head it had
when the command started, and sent with a bounded number of records in flight: memory
stays flat however many events there are. Anything appended meanwhile goes out through the
outbox as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from events.catalogue import OUTBOUND_TYPES
from events.names import JOURNAL_ENTRY_REVERSED
from services.config import Settings
from services.errors import NotFound, RejectedInput
from services.kafka_io import SendWindow, producer

#: Events read from the log per page.
REPUBLISH_PAGE = 1000


def _next_positions(types: tuple[str, ...], run_filter: str) -> str:
    """The next ``$3`` outbound positions after ``$1`` up to ``$2``: one ordered range of the
    (event_type, position) index per type, merged. The types are written out, not passed
    as a parameter, so the planner can tell that the partial index covers them."""
    ranges = "\n    UNION ALL\n".join(
        f"    (SELECT position FROM events WHERE event_type = '{t}' "
        f"AND position > $1 AND position <= $2{run_filter} ORDER BY position LIMIT $3)"
        for t in types)
    return f"""
SELECT e.position, e.event_type, coalesce(e.org, 'unlabeled') AS key,
       e.payload - 'internal' AS payload
FROM (SELECT position FROM (
{ranges}
    ) AS candidates ORDER BY position LIMIT $3) AS page
JOIN events e USING (position)
ORDER BY e.position
"""


#: A run's events: the run's, those naming it as their journal run, and the reversals of its
#: entries (their data names the entry, not the run), so that a consumer catching up gets
#: each reversal's ``journal_entry.reversed`` with its ``journal_entry.created``.
_RUN_FILTER = (" AND (payload -> 'data' ->> 'number' = $4 "
               "OR payload -> 'data' ->> 'journal_run' = $4 "
               f"OR (event_type = '{JOURNAL_ENTRY_REVERSED}' AND payload -> 'data' ->> 'number' "
               "IN (SELECT number FROM journal_entries WHERE journal_run = $4)))")
_FROM_POSITION = _next_positions(OUTBOUND_TYPES, "")
_BY_RUN = _next_positions(OUTBOUND_TYPES, _RUN_FILTER)
_HEAD = "SELECT coalesce(max(position), 0) FROM events"
_COUNT = " UNION ALL ".join(
    f"SELECT count(*) FROM events WHERE event_type = '{t}' AND position >= $1 AND position <= $2"
    for t in OUTBOUND_TYPES)
_COUNT_ALL = f"SELECT sum(n)::bigint FROM ({_COUNT}) AS per_type(n)"


async def count_outbound(pool: asyncpg.Pool, from_position: int, through: int) -> int:
    """Outbound events from ``from_position`` up to ``through`` (for a progress bar)."""
    return int(await pool.fetchval(_COUNT_ALL, from_position, through) or 0)


async def republish(
    pool: asyncpg.Pool,
    settings: Settings,
    topic: str,
    *,
    run: str | None = None,
    from_position: int | None = None,
    on_sent: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    page: int = REPUBLISH_PAGE,
) -> dict[str, int]:
    """Send the events of ``run``, or every outbound event from ``from_position``, in log
    order. ``on_total`` is told how many there are to send when that is cheap to know
    (``--from-position``); ``on_sent`` how many were acknowledged, as they are."""
    if (run is None) == (from_position is None):
        raise RejectedInput("republish_target_required", "give exactly one of --run or "
                                                          "--from-position")
    through = int(await pool.fetchval(_HEAD))
    if from_position is not None and on_total is not None:
        on_total(await count_outbound(pool, from_position, through))

    async def page_after(position: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await (
            pool.fetch(_BY_RUN, position, through, page, run) if run is not None
            else pool.fetch(_FROM_POSITION, position, through, page))
        return rows

    rows = await page_after(from_position - 1 if from_position is not None else 0)
    if run is not None and not rows:
        raise NotFound("journal_run_not_found", f"no journal events for run {run}")
    first = rows[0]["position"] if rows else 0
    last = 0
    window = SendWindow(on_sent)
    async with producer(settings) as p:
        while rows:
            for row in rows:
                value = row["payload"].encode()
                await window.add(await p.send(
                    topic, value, key=row["key"].encode(),
                    headers=[("event_type", row["event_type"].encode())],
                ), len(value))
            last = rows[-1]["position"]
            rows = await page_after(last)
        await window.drain()
    return {"republished": window.acknowledged, "first_position": first,
            "last_position": last}
