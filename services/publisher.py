"""The outbox relay: journal events to ``ledger.journal-entries``, at least once, in order.

Rows are read oldest first, sent keyed by org (``unlabeled`` without one) and marked sent
only after the broker acknowledged every one of them. A crash between sending and marking
sends them again with the same ``event_id``; consumers dedupe by it. Per-org order holds
because commands on one scope serialise, so their outbox ids follow commit order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from services.kafka_io import producer as make_producer

log = logging.getLogger("ledger.publisher")

_UNSENT = """
SELECT id, event_id, event_type, key, payload FROM outbox
WHERE sent_at IS NULL ORDER BY id LIMIT $1
"""

_MARK_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"


async def send_batch(
    producer: AIOKafkaProducer, topic: str, rows: list[asyncpg.Record]
) -> None:
    """Send in order and wait for every acknowledgement."""
    futures = []
    for row in rows:
        value = row["payload"].encode() if isinstance(row["payload"], str) else json.dumps(
            row["payload"]).encode()
        futures.append(await producer.send(topic, value, key=row["key"].encode(),
                                           headers=[("event_type", row["event_type"].encode())]))
    for future in futures:
        await future


async def relay_once(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str, batch: int = 1000
) -> int:
    """Send one batch of unsent outbox rows; return how many were sent."""
    rows = await pool.fetch(_UNSENT, batch)
    if not rows:
        return 0
    await send_batch(producer, topic, rows)
    await pool.execute(_MARK_SENT, [r["id"] for r in rows])
    return len(rows)


async def run_publisher(
    pool: asyncpg.Pool,
    bootstrap: str,
    topic: str,
    stop: asyncio.Event,
    *,
    idle_seconds: float = 0.2,
    stats: dict[str, Any] | None = None,
) -> None:
    """Relay until ``stop`` is set; between empty polls wait ``idle_seconds`` (or for stop)."""
    async with make_producer(bootstrap, linger_ms=1) as producer:
        while not stop.is_set():
            try:
                sent = await relay_once(pool, producer, topic)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("outbox relay failed (%s); retrying", error)
                sent = 0
            if stats is not None:
                stats["sent"] = stats.get("sent", 0) + sent
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
