"""The store pipeline: batches are parsed ahead, stored one at a time in the order they came,
and nothing is stored after a batch that failed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from services.ingest.pipeline import StorePipeline

WAIT_S = 5.0


class Steps:
    """Parses and stores whose finish each test controls, and a log of what happened."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.changed = asyncio.Condition()
        self.parsed: dict[int, asyncio.Event] = {}
        self.stored: dict[int, asyncio.Event] = {}

    async def note(self, entry: str) -> None:
        async with self.changed:
            self.log.append(entry)
            self.changed.notify_all()

    async def parse(self, batch: int) -> int:
        await self.note(f"parse {batch}")
        await self.parsed.setdefault(batch, asyncio.Event()).wait()
        return batch

    async def store(self, batch: int) -> None:
        await self.note(f"store {batch}")
        await self.stored.setdefault(batch, asyncio.Event()).wait()
        await self.note(f"stored {batch}")

    def finish_parse(self, batch: int) -> None:
        self.parsed.setdefault(batch, asyncio.Event()).set()

    def finish_store(self, batch: int) -> None:
        self.stored.setdefault(batch, asyncio.Event()).set()

    async def until(self, entry: str) -> None:
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(lambda: entry in self.log)


async def as_parsed(batch: int) -> int:
    """A parse that is done at once."""
    return batch


def storing_all_but_batch_1(stored: list[int]) -> Callable[[int], Awaitable[None]]:
    """A store that fails for batch 1 and notes every other batch it stores."""

    async def store(batch: int) -> None:
        if batch == 1:
            raise RuntimeError("batch 1 could not be stored")
        stored.append(batch)

    return store


async def test_batches_are_parsed_ahead_and_stored_in_the_order_they_came() -> None:
    steps, pipeline = Steps(), StorePipeline(depth=3)
    for batch in (1, 2, 3):
        await pipeline.submit(steps.parse(batch), steps.store)
    await steps.until("parse 3")
    assert steps.log == ["parse 1", "parse 2", "parse 3"]  # all three parse at once

    steps.finish_parse(3)
    steps.finish_parse(2)  # the later batches are ready first, and wait for the first
    steps.finish_parse(1)
    await steps.until("store 1")
    steps.finish_store(1)
    await steps.until("store 2")
    steps.finish_store(2)
    steps.finish_store(3)
    await pipeline.drain()

    assert steps.log[3:] == ["store 1", "stored 1", "store 2", "stored 2", "store 3", "stored 3"]


async def test_a_full_pipeline_takes_the_next_batch_when_its_oldest_is_stored() -> None:
    steps, pipeline = Steps(), StorePipeline(depth=2)
    for batch in (1, 2):
        await pipeline.submit(steps.parse(batch), steps.store)
        steps.finish_parse(batch)
    third = asyncio.create_task(pipeline.submit(steps.parse(3), steps.store))
    await steps.until("store 1")
    assert not third.done() and "parse 3" not in steps.log

    steps.finish_store(1)
    async with asyncio.timeout(WAIT_S):
        await third
    await steps.until("parse 3")
    steps.finish_parse(3)
    steps.finish_store(2)
    steps.finish_store(3)
    await pipeline.drain()
    assert steps.log.count("stored 3") == 1


async def test_nothing_is_stored_after_a_batch_that_failed() -> None:
    stored: list[int] = []
    store = storing_all_but_batch_1(stored)

    pipeline = StorePipeline(depth=3)
    for batch in (0, 1, 2):
        await pipeline.submit(as_parsed(batch), store)

    with pytest.raises(RuntimeError, match="batch 1 could not be stored"):
        await pipeline.drain()
    assert stored == [0]  # batch 2 would have moved its offsets past batch 1's records


async def test_a_failure_stops_the_next_submit_without_starting_its_parse() -> None:
    async def fail(batch: int) -> None:
        raise RuntimeError(f"batch {batch} could not be stored")

    parses: list[int] = []

    async def parse(batch: int) -> int:
        parses.append(batch)
        return batch

    pipeline = StorePipeline(depth=1)
    await pipeline.submit(parse(1), fail)
    with pytest.raises(RuntimeError, match="batch 1 could not be stored"):
        await pipeline.submit(parse(2), fail)
    assert parses == [1]


def test_a_pipeline_holds_at_least_one_batch() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        StorePipeline(depth=0)


async def test_once_a_batch_failed_every_later_submit_is_refused() -> None:
    """Even with nothing left in hand (depth 1: the failed batch was taken out by the
    submit that raised), a later batch must not be stored past the failed one's records."""
    stored: list[int] = []
    store = storing_all_but_batch_1(stored)

    pipeline = StorePipeline(depth=1)
    await pipeline.submit(as_parsed(1), store)
    for batch in (2, 3, 4):
        with pytest.raises(RuntimeError, match="batch 1 could not be stored"):
            await pipeline.submit(as_parsed(batch), store)
    with pytest.raises(RuntimeError, match="batch 1 could not be stored"):
        await pipeline.drain()
    assert stored == []


async def test_the_first_failure_is_reported_once_as_soon_as_it_happens() -> None:
    """The ingest stops on it, instead of reading on and storing nothing."""
    failures: list[str] = []
    reported = asyncio.Event()

    def on_failure(error: BaseException) -> None:
        failures.append(str(error))
        reported.set()

    async def store(batch: int) -> None:
        raise RuntimeError(f"batch {batch} could not be stored")

    pipeline = StorePipeline(depth=3, on_failure=on_failure)
    for batch in (1, 2, 3):
        await pipeline.submit(as_parsed(batch), store)
    async with asyncio.timeout(WAIT_S):
        await reported.wait()
    with pytest.raises(RuntimeError, match="batch 1 could not be stored"):
        await pipeline.drain()
    assert failures == ["batch 1 could not be stored"]
