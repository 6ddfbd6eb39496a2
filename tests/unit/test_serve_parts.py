"""``ledger serve`` runs its parts (ingest, publisher, API) together: when one fails, the
others are stopped and the service exits with that failure, so a supervisor restarts it."""

from __future__ import annotations

import asyncio

import pytest

from services.serve import run_parts

WAIT_S = 5.0


async def run_until(stop: asyncio.Event, name: str, finished: list[str]) -> None:
    """A part that, asked to stop, takes a few steps to finish what it has in hand."""
    await stop.wait()
    for _ in range(5):
        await asyncio.sleep(0)  # a step of work, not a wait for something
    finished.append(name)


async def test_a_failed_part_stops_the_others_and_its_error_is_raised() -> None:
    stop = asyncio.Event()
    stopped_cleanly: list[str] = []

    async def fails() -> None:
        raise RuntimeError("a batch could not be stored")

    parts = {"publisher": run_until(stop, "publisher", stopped_cleanly), "ingest": fails(),
             "api": run_until(stop, "api", stopped_cleanly)}
    with pytest.raises(RuntimeError, match="a batch could not be stored"):
        async with asyncio.timeout(WAIT_S):
            await run_parts(parts, stop)
    assert stop.is_set()
    assert sorted(stopped_cleanly) == ["api", "publisher"]


async def test_parts_stopped_on_request_end_without_error() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    running = asyncio.create_task(run_parts(
        {"ingest": run_until(stop, "ingest", finished), "api": run_until(stop, "api", finished)},
        stop))
    stop.set()
    async with asyncio.timeout(WAIT_S):
        await running
    assert sorted(finished) == ["api", "ingest"]
