"""The one way anything writes to the log: a unit of work.

``async with unit_of_work(pool) as uow:`` is one PostgreSQL transaction that

1. takes the locks, always in one order so that no two writers deadlock: the log writers'
   lock (shared: a rebuild, which takes it exclusively, waits for writers in flight and
   pauses new ones), then the operator commands' lock (``admin=True`` or ``lock_admin()``),
   then at most one journal scope (``lock_scope``: runs, cancels and transfers on a scope
   serialise, other scopes proceed in parallel);
2. appends events (``record``: built in Python; ``record_staged``: built in SQL), applies
   every projection to them, and fills the outbox with the outbound ones;
3. validates every outbox payload against its model (``events.journal``) before the
   commit: one that is misnamed, unbalanced or not written as its model writes it raises
   ``OutboundRefused`` and nothing of the unit is kept, so it can never be published;
4. commits when the block ends, or rolls back if it raises or asked for it
   (``roll_back()``: a dry run is a unit of work that keeps nothing).

Reads take no lock: they read committed rows. The rebuild's exclusive lock, the one thing
that pauses every writer, is taken here too (``pause_writers``), so every lock on the log is
in this module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager

import asyncpg
from pydantic import ValidationError

import projections
from events.catalogue import OUTBOUND_TYPES, data_model
from services.store import locks, log

__all__ = ["OutboundRefused", "UnitOfWork", "pause_writers", "unit_of_work"]

_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"
_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"
#: A 64-bit key per scope, so scopes do not block each other.
_SCOPE = "SELECT pg_advisory_xact_lock(hashtextextended('journal-scope:' || $1, 0))"

_OUTBOX = """
INSERT INTO outbox (event_id, event_type, key, payload, event_position)
SELECT event_id, event_type, coalesce(org, 'unlabeled'), payload - 'internal', position
FROM events WHERE position = ANY($1) AND event_type = ANY($2::text[])
ORDER BY position
RETURNING event_position, event_type, (payload -> 'data')::text AS data
"""

_OUTBOUND = frozenset(OUTBOUND_TYPES)


class OutboundRefused(Exception):
    """An outbound payload does not validate as its model: a bug in what wrote it."""


class _RolledBack(Exception):
    """Raised inside the transaction to end a unit of work that asked to keep nothing."""


class UnitOfWork:
    """A transaction holding the log writers' lock; see the module's docstring."""

    __slots__ = ("_admin", "_conn", "_roll_back", "_scope")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._admin = False
        self._scope: str | None = None
        self._roll_back = False

    @property
    def conn(self) -> asyncpg.Connection:
        """The transaction's connection, for reads (and a command's own SQL, such as a
        run's temp tables): its writes to the log go through ``record``."""
        return self._conn

    async def lock_admin(self) -> None:
        """Serialise with the other operator commands that validate and then append
        (settings, orgs, periods, API keys, initialising a new ledger)."""
        if self._admin:
            return
        if self._scope is not None:
            raise RuntimeError("the operator commands' lock is taken before a scope's")
        await self._conn.execute(_EXCLUSIVE, locks.ADMIN)
        self._admin = True

    async def lock_scope(self, scope: str) -> None:
        """Serialise with runs, cancels, transfers and reversals on ``scope`` (``""``:
        unlabeled). One scope per unit of work: two units locking two scopes in opposite
        orders would deadlock."""
        if self._scope == scope:
            return
        if self._scope is not None:
            raise RuntimeError(f"this unit of work holds scope {self._scope!r}, not {scope!r}")
        await self._conn.execute(_SCOPE, scope)
        self._scope = scope

    async def record(self, events: Sequence[log.NewEvent]) -> list[int]:
        """Append ``events`` in order, apply them to every projection and queue the
        outbound ones; return their positions, in order."""
        if not events:
            return []
        positions = sorted((await log.append(self._conn, events)).values())
        await self._fold(positions, {e.event_type for e in events})
        return positions

    async def record_staged(self, types: AbstractSet[str]) -> list[int]:
        """``record`` for the events a command built in SQL in ``staged_events`` (of
        ``types``): their payloads never travel through Python, except the outbound ones'
        ``data``, read back once to be validated."""
        positions = sorted((await log.append_staged(self._conn)).values())
        if positions:
            await self._fold(positions, types)
        return positions

    def roll_back(self) -> None:
        """Keep nothing: the transaction rolls back when the block ends."""
        self._roll_back = True

    async def _fold(self, positions: list[int], types: AbstractSet[str]) -> None:
        first, last = positions[0], positions[-1]
        # A contiguous run of positions holds no other writer's event: the range says it.
        contiguous = last - first + 1 == len(positions)
        await projections.apply_all(self._conn, first, last,
                                    None if contiguous else positions, types)
        if not _OUTBOUND.isdisjoint(types):
            for row in await self._conn.fetch(_OUTBOX, positions, list(OUTBOUND_TYPES)):
                check_outbound(row["event_type"], row["data"], row["event_position"])


def check_outbound(event_type: str, data: str, position: int) -> None:
    """Refuse an outbound ``data`` (JSON text) that does not validate as its model, or that
    the model would write differently (a field the SQL names or formats its own way)."""
    model = data_model(event_type)
    try:
        parsed = model.model_validate_json(data)
    except ValidationError as error:
        raise OutboundRefused(
            f"{event_type} at position {position} does not validate as "
            f"{model.__name__}: {error}") from None
    if parsed.model_dump(mode="json", by_alias=True) != json.loads(data):
        raise OutboundRefused(
            f"{event_type} at position {position} is not written as {model.__name__} "
            f"writes it: {data}")


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, *, admin: bool = False) -> AsyncIterator[UnitOfWork]:
    """One unit of work on a connection of ``pool``; ``admin`` takes the operator commands'
    lock too."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                await conn.execute(_SHARED, locks.LOG_WRITERS)
                uow = UnitOfWork(conn)
                if admin:
                    await uow.lock_admin()
                yield uow
                if uow._roll_back:
                    raise _RolledBack
        except _RolledBack:
            pass


async def pause_writers(conn: asyncpg.Connection) -> None:
    """Take the log writers' lock exclusively for the transaction under way (a rebuild):
    it waits for every unit of work in flight, and new ones wait until it commits."""
    await conn.execute(_EXCLUSIVE, locks.LOG_WRITERS)
