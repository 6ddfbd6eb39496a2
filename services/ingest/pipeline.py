"""Batches parsed ahead while earlier ones are stored, in order: the ingest component's
pipeline."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: Batches a pipeline holds at once: one being stored, the rest parsed or being parsed.
#: With two, the parse worker waited for the store to finish before it got the next batch
#: whenever it had parsed its own first; a third keeps one queued for it.
DEPTH = 3


class StorePipeline:
    """Batches are parsed (by a worker process, see ``parse_pool``) ahead of the one whose
    transaction runs, and stored one at a time, in the order they were submitted.

    A batch is judged (duplicates, known transactions) only after the batch before it has
    committed, because judging reads what that one wrote; and it is not stored at all if the
    batch before it failed, because its offsets would skip that batch's records. One
    transaction per batch, with its offsets.

    A failure is final: every later ``submit`` and ``drain`` raises it, and ``on_failure``
    hears of it once, as soon as it happens, so the owner can stop reading instead of
    reading on and storing nothing.
    """

    def __init__(
        self, depth: int = DEPTH, on_failure: Callable[[BaseException], None] | None = None
    ) -> None:
        if depth < 1:
            raise ValueError("a pipeline holds at least one batch")
        self.depth = depth
        self.failure: BaseException | None = None
        self._on_failure = on_failure
        self._in_flight: deque[asyncio.Task[None]] = deque()

    async def submit(
        self, parsing: Awaitable[T], storing: Callable[[T], Coroutine[Any, Any, None]]
    ) -> None:
        """Start parsing a batch now and store it after the batches before it; wait first
        while the pipeline is full. A failure of an earlier batch is raised here."""
        try:
            if self.failure is not None:
                raise self.failure
            while len(self._in_flight) >= self.depth:
                await self._in_flight.popleft()
        except BaseException:
            if asyncio.iscoroutine(parsing):
                parsing.close()  # never started: no "never awaited" warning
            raise
        previous = self._in_flight[-1] if self._in_flight else None
        # A fresh context, not the handler's: that one holds FastStream's message (the whole
        # batch), and every timer scheduled under it keeps it alive. asyncpg schedules one
        # per connection release (its 300 s idle timeout); cancelled, it stays in the loop's
        # heap with its context, and held about a hundred batches (+100 MB RSS).
        task = asyncio.create_task(
            _after(previous, parsing, storing), context=contextvars.Context()
        )
        task.add_done_callback(self._note_failure)
        self._in_flight.append(task)

    def _note_failure(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is None or self.failure is not None:
            return
        self.failure = error
        if self._on_failure is not None:
            self._on_failure(error)

    async def drain(self) -> None:
        """Wait until every batch submitted is stored or failed; raise the first failure
        (the batches after it fail with it, unstored)."""
        tasks, self._in_flight = list(self._in_flight), deque()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        if self.failure is not None:
            raise self.failure


async def _after(
    previous: asyncio.Task[None] | None,
    parsing: Awaitable[T],
    storing: Callable[[T], Coroutine[Any, Any, None]],
) -> None:
    parsed = await parsing
    if previous is not None:
        await previous  # its failure is ours: nothing is stored past a batch not stored
    await storing(parsed)
