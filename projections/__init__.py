"""Read models derived only from stored events; each has one apply path, inline and rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import asyncpg

from projections import api_keys, journal, ledger, pending, rejected

#: Every projection, in the order they are applied. Each module has NAME, TABLES,
#: ``apply(conn, first, last, positions=None)``, ``reset(conn)``, and names in
#: REBUILD_WITHOUT the indexes a full rebuild drops during the fold and re-creates after.
ALL = (ledger, journal, pending, rejected, api_keys)


async def apply_all(
    conn: asyncpg.Connection,
    first: int,
    last: int,
    positions: Sequence[int] | None = None,
    types: AbstractSet[str] | None = None,
) -> None:
    """Fold events ``first..last`` (only ``positions`` if given) into every projection.

    ``types``: the event types the range holds, when the caller knows them (an appender
    does); statements for other types are skipped. None: every statement runs.
    """
    for projection in ALL:
        await projection.apply(conn, first, last, positions, types)
