"""Read models derived only from stored events; each has one apply path, inline and rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import asyncpg

from projections import api_keys, journal, ledger, pending, rejected
from projections.projection import Projection, RangeStatement

__all__ = ["ALL", "Projection", "RangeStatement", "apply_all"]

#: Every projection, in the order they are applied (and reset by a rebuild).
ALL: tuple[Projection, ...] = (ledger.PROJECTION, journal.PROJECTION, pending.PROJECTION,
                               rejected.PROJECTION, api_keys.PROJECTION)


async def apply_all(
    conn: asyncpg.Connection,
    first: int,
    last: int,
    positions: Sequence[int] | None = None,
    types: AbstractSet[str] | None = None,
) -> None:
    """Fold a range of the log into every projection, in order (``Projection.apply``)."""
    for projection in ALL:
        await projection.apply(conn, first, last, positions, types)
