"""One batch being stored while the next one is checked: the ingest's and replay's pipeline."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any


class StorePipeline:
    """At most one batch being stored while the next one is parsed.

    Parsing needs no database, so batch N+1 is parsed (by a worker process, see
    ``parse_pool``) while batch N's transaction runs; it is judged (duplicates, known
    transactions) only after batch N has committed, because judging reads what N wrote. One
    transaction per batch, with its offsets.
    """

    def __init__(self) -> None:
        self._in_flight: asyncio.Task[None] | None = None

    async def submit(self, storing: Coroutine[Any, Any, None]) -> None:
        await self.drain()
        # A fresh context, not the handler's: that one holds FastStream's message (the whole
        # batch), and every timer scheduled under it keeps it alive. asyncpg schedules one
        # per connection release (its 300 s idle timeout); cancelled, it stays in the loop's
        # heap with its context, and held about a hundred batches (+100 MB RSS).
        self._in_flight = asyncio.create_task(storing, context=contextvars.Context())

    async def drain(self) -> None:
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task
