"""The outbox relay: journal events to ``ledger.journal-entries``, at least once, in order.

Rows are read oldest first, sent keyed by org (``unlabeled`` without one) and marked sent
only after the broker acknowledged every one of them. A crash between sending and marking
sends them again with the same ``event_id``; consumers dedupe by it. Per-org order holds
because commands on one scope serialise, so their outbox ids follow commit order.

Only one relay sends at a time (a transaction-scoped advisory lock): several ``ledger
serve`` processes may run the publisher, and the others wait instead of sending every
batch twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services import metrics
from services.config import Settings
from services.kafka_io import producer as make_producer
from services.store import locks

log = logging.getLogger("ledger.publisher")

#: Held (transaction-scoped) by the one relay that is sending.
RELAY_LOCK = locks.OUTBOX_RELAY

_UNSENT = """
SELECT id, event_id, event_type, key, payload FROM outbox
WHERE sent_at IS NULL ORDER BY id LIMIT $1
"""

_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"

_EVENT_TYPES = "SELECT event_id::text AS id, event_type FROM outbox"
_UNSENT_COUNT = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"


async def fetch_unsent(
    conn: asyncpg.Connection | asyncpg.Pool, batch: int = 1000
) -> list[asyncpg.Record]:
    """The oldest unsent outbox rows, in outbox (= per-org commit) order."""
    rows: list[asyncpg.Record] = await conn.fetch(_UNSENT, batch)
    return rows


async def outbox_event_types(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, str]:
    """Every event the outbox holds, sent or not: its event id and type."""
    return {r["id"]: r["event_type"] for r in await conn.fetch(_EVENT_TYPES)}


async def count_unsent(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval(_UNSENT_COUNT))


async def send_batch(
    producer: AIOKafkaProducer, topic: str, rows: Sequence[asyncpg.Record]
) -> None:
    """Send in order and wait for every acknowledgement; the first failure is raised once
    every send has an outcome (none is left unretrieved)."""
    futures = []
    try:
        for row in rows:
            payload = row["payload"]
            value = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            futures.append(await producer.send(
                topic, value, key=row["key"].encode(),
                headers=[("event_type", row["event_type"].encode())]))
    finally:
        acknowledged = await asyncio.gather(*futures, return_exceptions=True)
    for outcome in acknowledged:
        if isinstance(outcome, BaseException):
            raise outcome


async def mark_sent(conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[int]) -> None:
    await conn.execute(_MARK_SENT, list(ids))


async def relay_once(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, batch: int = 1000
) -> int:
    """Send one batch of unsent outbox rows; return how many were sent (0 if another relay
    holds the lock)."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
            return 0
        rows = await fetch_unsent(conn, batch)
        if not rows:
            return 0
        try:
            await send_batch(producer, topic, rows)
        except (OSError, KafkaError):
            metrics.PUBLISHER_SEND_FAILURES.inc()
            raise
        await mark_sent(conn, [r["id"] for r in rows])
    metrics.OUTBOX_PUBLISHED.inc(len(rows))
    return len(rows)


async def run_publisher(
    pool: asyncpg.Pool,
    settings: Settings,
    topic: str,
    stop: asyncio.Event,
    *,
    idle_seconds: float = 0.2,
    stats: dict[str, Any] | None = None,
) -> None:
    """Relay until ``stop`` is set; between empty polls wait ``idle_seconds`` (or for stop)."""
    async with make_producer(settings, linger_ms=1) as producer:
        while not stop.is_set():
            try:
                sent = await relay_once(pool, producer, topic)
            except (OSError, KafkaError, asyncpg.PostgresError,
                    asyncpg.InterfaceError) as error:
                log.warning("outbox relay failed (%s); retrying", error)
                sent = 0
            if stats is not None:
                stats["sent"] = stats.get("sent", 0) + sent
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
