"""Drop projections and fold the whole log into them again, in set-based pages.

The pages go through exactly the ``apply`` each projection uses inline, so a rebuilt table
can only differ from the live one if the log does. Indexes a projection names in
``rebuild_without`` are dropped for the fold and built again from the finished table (a
unique one re-checks its rule over every row then).

Safety: the rebuild runs in one transaction holding the log writers' lock exclusively
(``services.store.unit_of_work.pause_writers``). The ingest and every command keep running
but *pause* at the start of their next unit of work until the rebuild commits (nothing is
refused, nothing skipped). Readers of the rebuilt tables wait for the
commit too (they are truncated, which locks them); everything else reads on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

import projections
from projections import Projection
from services.store.unit_of_work import pause_writers

#: Events per page: each projection statement covers a page, and one page is one step of
#: the progress shown. Large, because a page is one scan of the log and one hash join of the
#: status changes with the table built so far.
PAGE = 1_000_000

#: Memory for re-creating the dropped indexes (each is one sort of the whole table), and no
#: JIT: its compile time buys nothing on statements that run once per page.
TUNE = ["SET LOCAL maintenance_work_mem = '256MB'", "SET LOCAL jit = off"]

_INDEX = """
SELECT n.nspname AS schema, x.relname AS index, t.relname AS table,
       c.conname AS constraint_name, pg_get_constraintdef(c.oid) AS constraint_def,
       pg_get_indexdef(x.oid) AS index_def
FROM pg_class x
JOIN pg_index i ON i.indexrelid = x.oid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_constraint c ON c.conindid = x.oid AND c.conrelid = t.oid
WHERE x.oid = to_regclass($1)
"""


def select(names: Sequence[str] | None) -> list[Projection]:
    chosen = [p for p in projections.ALL if not names or p.name in names]
    unknown = set(names or ()) - {p.name for p in projections.ALL}
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    return chosen


async def drop_indexes(conn: asyncpg.Connection, names: Sequence[str]) -> list[str]:
    """Drop the named indexes (or the constraints they back); return the DDL that restores them.

    A name may be schema-qualified (``pg_temp.x``: ``ledger verify``'s shadow tables); what is
    dropped is qualified with the schema it was found in.
    """
    restore = []
    for name in names:
        row = await conn.fetchrow(_INDEX, name)
        if row is None:
            continue
        table = f'"{row["schema"]}"."{row["table"]}"'
        if row["constraint_name"]:
            await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{row["constraint_name"]}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT '
                           f'"{row["constraint_name"]}" {row["constraint_def"]}')
        else:
            await conn.execute(f'DROP INDEX "{row["schema"]}"."{row["index"]}"')
            restore.append(row["index_def"])
    return restore


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
        await pause_writers(conn)
        for setting in TUNE:
            await conn.execute(setting)
        head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        restore: list[str] = []
        for projection in chosen:
            await projection.reset(conn)
            restore += await drop_indexes(conn, projection.rebuild_without)
        await fold_log(conn, chosen, head, page=page, on_progress=on_progress)
        for ddl in restore:
            await conn.execute(ddl)
    return head


async def fold_log(
    conn: asyncpg.Connection,
    chosen: Sequence[Projection],
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
