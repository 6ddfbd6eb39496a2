"""What a projection is: its tables, how each event type changes them, how it is emptied.

One generic ``apply`` folds a range of the log into any projection, inline (the positions
just appended) and in a rebuild or verify (pages of the whole log), so no projection has an
apply path of its own that could drift from the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import asyncpg

from projections.segments import Handler, apply_in_order, carries


@dataclass(frozen=True)
class RangeStatement:
    """One statement over a whole range of the log, for event types that commute with every
    other event (billing documents: one row per transaction line, whatever came before).

    Its parameters: ``$1`` the first position, ``$2`` the last, ``$3`` only these positions
    (null: every one in the range). It filters the event types itself; ``types`` says which
    it needs, so a range known not to carry them skips the statement.
    """

    sql: str
    types: frozenset[str]


@dataclass(frozen=True)
class Projection:
    """A read model folded from stored events.

    - ``name``: what ``ledger projections rebuild NAME`` calls it;
    - ``tables``: the tables it owns (a verify compares each with a fresh fold);
    - ``reset``: the SQL that empties them before a rebuild;
    - ``range_statements``: statements over a whole range, run first, in order;
    - ``handlers``: by event type, what the events that do not commute do, applied in log
      order a run of same-type events at a time (``projections.segments``);
    - ``rebuild_without``: indexes a full rebuild drops for the fold and re-creates after.
    """

    name: str
    tables: tuple[str, ...]
    reset_sql: str
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    range_statements: tuple[RangeStatement, ...] = ()
    rebuild_without: tuple[str, ...] = ()

    async def apply(
        self,
        conn: asyncpg.Connection,
        first: int,
        last: int,
        positions: Sequence[int] | None = None,
        types: AbstractSet[str] | None = None,
    ) -> None:
        """Fold the events ``first..last`` (only ``positions`` if given) into the tables.

        ``types``: the event types the range holds, when the caller knows them (an appender
        does); statements for other types are skipped. None: every statement runs.
        """
        only = list(positions) if positions is not None else None
        for statement in self.range_statements:
            if carries(types, *statement.types):
                await conn.execute(statement.sql, first, last, only)
        if self.handlers:
            await apply_in_order(conn, first, last, positions, self.handlers, types)

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Empty the tables (in the caller's transaction: a rebuild's)."""
        await conn.execute(self.reset_sql)
