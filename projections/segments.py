"""Apply command events in log order, a run of same-type events at a time.

Billing events commute (one row per transaction line), but command events do not: an entry
cancelled and a later run that takes its released transactions must apply in that order.
Consecutive events of one type do commute, so each such run is one set-based statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import asyncpg

Handler = Callable[[asyncpg.Connection, list[int]], Awaitable[None]]
#: A projection's ``apply(conn, first, last, positions=None, types=None)``.
Apply = Callable[
    [asyncpg.Connection, int, int, Sequence[int] | None, AbstractSet[str] | None],
    Awaitable[None],
]

_SELECT = """
SELECT position, event_type FROM events
WHERE position BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR position = ANY($3))
  AND event_type = ANY($4::text[])
ORDER BY position
"""


def statement(sql: str) -> Handler:
    """A handler that runs one SQL statement over the segment's positions (``$1``)."""

    async def run(conn: asyncpg.Connection, positions: list[int]) -> None:
        await conn.execute(sql, positions)

    return run


def carries(types: AbstractSet[str] | None, *wanted: str) -> bool:
    """Whether a range whose event ``types`` are known (None: not known) may hold ``wanted``.

    The ingest knows the types of the batch it just appended: a projection statement for
    types it does not carry is skipped instead of costing a round trip that finds nothing.
    """
    return types is None or not types.isdisjoint(wanted)


async def apply_in_order(
    conn: asyncpg.Connection,
    first: int,
    last: int,
    positions: Sequence[int] | None,
    handlers: Mapping[str, Handler],
    types: AbstractSet[str] | None = None,
) -> None:
    if not carries(types, *handlers):
        return
    rows = await conn.fetch(
        _SELECT, first, last, list(positions) if positions is not None else None, list(handlers)
    )
    segment: list[int] = []
    current: str | None = None
    for row in rows:
        if row["event_type"] != current and segment:
            assert current is not None
            await handlers[current](conn, segment)
            segment = []
        current = row["event_type"]
        segment.append(row["position"])
    if segment:
        assert current is not None
        await handlers[current](conn, segment)


def applying(
    handlers: Mapping[str, Handler],
    ranged: Sequence[tuple[AbstractSet[str], str]] = (),
) -> Apply:
    """A projection's ``apply``: first each ``ranged`` statement whose event types the range
    may carry (one statement over the whole range, ``$1`` first, ``$2`` last, ``$3`` the
    positions or NULL: events that commute, such as billing events), then the command
    events' ``handlers`` in log order. Both are keyed by the names of ``events.names``."""

    async def apply(
        conn: asyncpg.Connection,
        first: int,
        last: int,
        positions: Sequence[int] | None = None,
        types: AbstractSet[str] | None = None,
    ) -> None:
        if ranged:
            args = (first, last, list(positions) if positions is not None else None)
            for carried, sql in ranged:
                if carries(types, *carried):
                    await conn.execute(sql, *args)
        await apply_in_order(conn, first, last, positions, handlers, types)

    return apply
