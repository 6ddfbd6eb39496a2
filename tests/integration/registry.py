"""Check a log against the event registry: every type registered, every payload its model's."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from pydantic import ValidationError

from events.catalogue import EVENT_TYPES

_LOG = "SELECT position, event_type, payload -> 'data' AS data FROM events ORDER BY position"


async def off_the_registry(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """What of the log the registry does not describe: a type it does not hold, a ``data``
    that does not validate as its model, or (for the events the ledger writes itself) one
    its model would write differently. Empty when the whole log is the registry's."""
    found: list[str] = []
    for row in await conn.fetch(_LOG):
        kind = EVENT_TYPES.get(row["event_type"])
        where = f"{row['event_type']} at {row['position']}"
        if kind is None:
            found.append(f"{where}: not registered")
            continue
        data: Any = json.loads(row["data"])
        try:
            model = kind.data.model_validate(data)
        except ValidationError as error:
            found.append(f"{where}: {error}")
            continue
        if kind.origin != "inbound" and model.model_dump(mode="json", by_alias=True) != data:
            found.append(f"{where}: not written as {kind.data.__name__} writes it")
    return found


async def types_in(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    return {r["event_type"] for r in await conn.fetch("SELECT DISTINCT event_type FROM events")}
