"""Small query helpers for assertions."""

from __future__ import annotations

from typing import Any

import asyncpg

from events import INBOUND_EVENT_TYPES


async def scalar(pool: asyncpg.Pool, sql: str, *args: Any) -> Any:
    async with pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def rows(pool: asyncpg.Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def billing_event_count(pool: asyncpg.Pool) -> int:
    """Stored billing events (inbound), not rejections or operator commands."""
    sql = "SELECT count(*) FROM events WHERE event_type = ANY($1::text[])"
    return int(await scalar(pool, sql, sorted(INBOUND_EVENT_TYPES)))


async def stored_offsets(pool: asyncpg.Pool, group: str, topic: str) -> dict[int, int]:
    found = await rows(
        pool,
        "SELECT partition, next_offset FROM consumer_offsets WHERE group_id=$1 AND topic=$2",
        group,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in found}


def log_ends(records: list[Any]) -> dict[int, int]:
    """True end offset per partition, from the records themselves (Tansu's end_offsets lies)."""
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    return ends
