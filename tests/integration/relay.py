"""Relaying the outbox in a test: the real publisher, run until nothing is left unsent."""

from __future__ import annotations

import asyncio

import asyncpg

from services.config import Settings
from services.publisher import run_publisher
from tests.helpers import wait_until
from tests.integration.db import scalar


async def relay_outbox(settings: Settings, pool: asyncpg.Pool, timeout: float = 60) -> None:  # noqa: ASYNC109
    """Run the publisher to the journal topic until every outbox row is sent, then stop it
    (so a reader that goes on to the topic's end sees any duplicate it sent)."""
    stop = asyncio.Event()
    publisher = asyncio.create_task(run_publisher(pool, settings, settings.topic_journal, stop))
    try:
        async def all_sent() -> bool:
            return await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        await wait_until(all_sent, timeout=timeout, message="the outbox relayed")
    finally:
        stop.set()
        await asyncio.wait_for(publisher, timeout=60)
