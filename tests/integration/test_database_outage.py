"""A database outage is not a bad message: the ingest backs off, retries, and skips nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.config import Settings
from services.samples import invoices, to_lines
from services.store.pool import create_pool
from tests.helpers import consume_all, produce, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, log_ends, scalar, stored_offsets
from tests.tcp_proxy import TcpProxy, through


def retries_counted() -> float:
    """``ledger_ingest_retries_total``, all reasons."""
    return sum(sample.value for metric in REGISTRY.collect()
               if metric.name == "ledger_ingest_retries"
               for sample in metric.samples if sample.name.endswith("_total"))


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test's PostgreSQL, over TCP or its Unix socket (embedded
    PostgreSQL has no TCP port): the outage is made on every path."""
    proxy = TcpProxy.to_postgres(settings.database_dsn())
    await proxy.start()
    yield proxy
    await proxy.cut()


async def test_ingest_retries_through_a_database_outage_without_skipping(
    settings: Settings, pool: asyncpg.Pool, proxy: TcpProxy
) -> None:
    assert settings.kafka_bootstrap
    proxied = through(settings.database_dsn(), proxy.port)
    ingest_pool = await create_pool(proxied, max_size=2)
    runner = IngestRunner(settings.model_copy(update={"db_retry_max_seconds": 0.5}), ingest_pool)
    retries_before = retries_counted()
    try:
        async with ingest_pool.acquire() as conn:  # through the proxy, in the test's schema
            assert await conn.fetchval("SELECT current_schema()") == await scalar(
                pool, "SELECT current_schema()")
        before = to_lines(invoices(200, org="US", seed=41))
        during = to_lines(invoices(300, org="EU", seed=42))
        await produce(settings.kafka_bootstrap, settings.topic_billing, before,
                      keys=[b"US"] * len(before))
        runner.start()

        async def stored(n: int) -> bool:
            return await billing_event_count(pool) == n

        await wait_until(lambda: stored(200), message="events before the outage")
        await proxy.cut()
        await produce(settings.kafka_bootstrap, settings.topic_billing, during,
                      keys=[b"EU"] * len(during))

        async def retrying() -> bool:
            return runner.stats.retries >= 3

        await wait_until(retrying, message="the ingest retries while the database is away")
        assert await billing_event_count(pool) == 200
        await proxy.restore()
        await wait_until(lambda: stored(500), timeout=60, message="everything after the outage")
        ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 500))

        async def caught_up() -> bool:
            got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
            return got == ends

        await wait_until(caught_up, message="offsets at the log end")
        assert await scalar(pool, "SELECT count(*) FROM rejected_messages") == 0
        assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 500
        # every retry is counted in /metrics, by reason (SQLSTATE class or "connection")
        assert retries_counted() - retries_before == runner.stats.retries >= 3
    finally:
        await runner.stop()
        await ingest_pool.close()
