"""The store-state gauges of ``/metrics``, refreshed on each scrape.

A scrape's cost is bounded by the partitions and the backlogs, never by the transactions
ever stored, so scraping stays cheap however long the ledger runs:

- one connection, two small statements: the stored offsets (a row per partition), the
  outbox backlog (the partial index on unsent rows) and the DLQ size (``rejected_messages``
  holds only unrepaired refusals: a DLQ replay that stores a message deletes its row);
- one ListOffsets request through the app's long-lived Kafka client (``EndOffsets``).

No count of pending transactions: that is a scan of every transaction stored; ``ledger
status`` still counts them, on demand.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services import metrics
from services.config import Settings
from services.end_offsets import EndOffsets
from services.ingest.writer import stored_offsets
from services.operations.status import backlogs, partition_lag

log = logging.getLogger("ledger.api")

#: A scrape waits at most this long for each source (the database, the broker).
REFRESH_TIMEOUT = 5.0


async def _store_state(settings: Settings, pool: asyncpg.Pool) -> tuple[dict[int, int], int, int]:
    async with pool.acquire() as conn:
        stored = await stored_offsets(conn, settings.consumer_group, settings.topic_billing)
        outbox_backlog, dlq_messages = await backlogs(conn)
    return stored, outbox_backlog, dlq_messages


def lag_by_partition(stored: dict[int, int], ends: dict[int, int]) -> dict[int, int]:
    """Never below zero, as ``ledger status`` computes it (Tansu under-reports end offsets
    after multi-record batches)."""
    return {p: partition_lag(stored.get(p), max(ends.get(p, 0), stored.get(p, 0)))
            for p in sorted(set(ends) | set(stored))}


async def refresh_store_gauges(
    settings: Settings, pool: asyncpg.Pool, end_offsets: EndOffsets
) -> None:
    """Set lag, outbox backlog and DLQ size. A source that fails or does not answer in time
    is logged and counted; the lag is then dropped (unknown, not stale)."""
    store, ends = await asyncio.gather(
        asyncio.wait_for(_store_state(settings, pool), REFRESH_TIMEOUT),
        asyncio.wait_for(end_offsets.read(settings.topic_billing), REFRESH_TIMEOUT),
        return_exceptions=True,
    )
    failures = [(source, error) for source, error in (("database", store), ("broker", ends))
                if isinstance(error, BaseException)]
    for source, error in failures:
        log.warning("metrics: %s state not refreshed (%s: %s)", source,
                    type(error).__name__, error)
    if failures:
        metrics.STORE_GAUGES_REFRESH_FAILURES.inc()
    if isinstance(store, BaseException):
        metrics.set_consumer_lag(settings.topic_billing, None)
        return
    stored, outbox_backlog, dlq_messages = store
    metrics.set_store_gauges(outbox_backlog, dlq_messages)
    metrics.set_consumer_lag(settings.topic_billing,
                             None if isinstance(ends, BaseException)
                             else lag_by_partition(stored, ends))
