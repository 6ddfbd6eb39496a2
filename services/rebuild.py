"""Drop projections and fold the whole log into them again, in set-based pages.

The pages go through exactly the ``apply`` each projection uses inline, so a rebuilt table
can only differ from the live one if the log does.

Safety: the rebuild runs in one transaction holding the log writers' lock exclusively. The
ingest and every command keep running but *pause* at their next append until the rebuild
commits (nothing is refused, nothing skipped); readers see the old tables until then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

import asyncpg

import projections
from services.store.log import LOG_WRITERS_LOCK

PAGE = 50_000


def select(names: Sequence[str] | None) -> list[ModuleType]:
    chosen = [p for p in projections.ALL if not names or p.NAME in names]
    unknown = set(names or ()) - {p.NAME for p in projections.ALL}
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    return chosen


async def rebuild(
    conn: asyncpg.Connection,
    names: Sequence[str] | None = None,
    *,
    page: int = PAGE,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild the named projections (all when None) in one transaction; return the head."""
    chosen = select(names)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOG_WRITERS_LOCK)
        head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        for projection in chosen:
            await projection.reset(conn)
        await fold_log(conn, chosen, head, page=page, on_progress=on_progress)
    return head


async def fold_log(
    conn: asyncpg.Connection,
    chosen: Sequence[ModuleType],
    head: int,
    *,
    page: int = PAGE,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Apply positions 1..head to the chosen projections, a page at a time."""
    first = 1
    while first <= head:
        last = min(first + page - 1, head)
        for projection in chosen:
            await projection.apply(conn, first, last, None)
        if on_progress:
            on_progress(last, head)
        first = last + 1
