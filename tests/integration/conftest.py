"""Fixtures for tests that run the ledger's parts in-process against real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pytest

from services.commands.api_keys import create_api_key
from services.config import Settings
from services.ingest.app import run_ingest
from services.ingest.component import IngestTotals
from tests.helpers import produce, wait_until
from tests.integration.db import billing_event_count

if TYPE_CHECKING:
    from tests.integration.zuora_client import ZuoraSdk


class IngestRunner:
    """The ingest service running as a task in the test's event loop."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.stats = IngestTotals()
        self._runs: list[tuple[asyncio.Event, asyncio.Task[IngestTotals]]] = []

    def start(self, **overrides: object) -> IngestTotals:
        settings = self.settings.model_copy(update=overrides)
        stop = asyncio.Event()
        stats = self.stats if not overrides else IngestTotals()
        task = asyncio.create_task(run_ingest(settings, self.pool, stop, stats))
        self._runs.append((stop, task))
        return stats

    async def feed(self, values: list[bytes], *, stored: int,
                   keys: list[bytes] | None = None, within: float = 30) -> None:
        """Produce ``values`` to the billing topic, start the ingest unless it runs, and wait
        (at most ``within`` seconds) until ``stored`` billing events are in the store."""
        assert self.settings.kafka_bootstrap
        await produce(self.settings.kafka_bootstrap, self.settings.topic_billing, values,
                      keys=keys)
        if not self._runs:
            self.start()

        async def all_stored() -> bool:
            return await billing_event_count(self.pool) == stored

        await wait_until(all_stored, timeout=within,
                         message=f"{stored} billing events stored within {within:g} s")

    async def stop(self) -> None:
        for stop, _ in self._runs:
            stop.set()
        for _, task in self._runs:
            await asyncio.wait_for(task, timeout=60)
        self._runs.clear()


@pytest.fixture
async def ingest(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[IngestRunner]:
    runner = IngestRunner(settings, pool)
    yield runner
    await runner.stop()


@pytest.fixture
async def sdk_access_token(pool: asyncpg.Pool) -> str:
    """The bearer token Zuora's SDK sends in these tests: an operator key of the test's
    ledger (every route but the probes needs one)."""
    key = await create_api_key(pool, "zuora-sdk", "operator")
    return str(key["token"])


@pytest.fixture
async def zuora(
    settings: Settings, pool: asyncpg.Pool, sdk_access_token: str | None
) -> AsyncIterator[ZuoraSdk]:
    """Zuora's SDK talking over real HTTP to the API served on the settings' free port."""
    from tests.integration.http_api import serving
    from tests.integration.zuora_client import ZuoraSdk, zuora_client  # seconds to import

    async with serving(settings, pool):
        yield ZuoraSdk(zuora_client(f"http://127.0.0.1:{settings.http_port}",
                                    sdk_access_token))
