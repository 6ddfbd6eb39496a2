"""``ledger serve`` runs its parts (ingest, publisher, API) together: when one fails, the
others are stopped and the service exits with that failure, so a supervisor restarts it."""

from __future__ import annotations

import asyncio

import pytest

from services.cli.pipeline import run_parts

WAIT_S = 5.0


async def test_a_failed_part_stops_the_others_and_its_error_is_raised() -> None:
    stop = asyncio.Event()
    stopped_cleanly: list[str] = []

    async def runs_until_stopped(name: str) -> None:
        await stop.wait()
        for _ in range(5):  # a graceful stop takes a few steps: finishing what is in hand
            await asyncio.sleep(0)
        stopped_cleanly.append(name)

    async def fails() -> None:
        raise RuntimeError("a batch could not be stored")

    parts = {"publisher": runs_until_stopped("publisher"), "ingest": fails(),
             "api": runs_until_stopped("api")}
    with pytest.raises(RuntimeError, match="a batch could not be stored"):
        async with asyncio.timeout(WAIT_S):
            await run_parts(parts, stop)
    assert stop.is_set()
    assert sorted(stopped_cleanly) == ["api", "publisher"]


async def test_parts_stopped_on_request_end_without_error() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def runs_until_stopped(name: str) -> None:
        await stop.wait()
        finished.append(name)

    running = asyncio.create_task(run_parts(
        {"ingest": runs_until_stopped("ingest"), "api": runs_until_stopped("api")}, stop))
    stop.set()
    async with asyncio.timeout(WAIT_S):
        await running
    assert sorted(finished) == ["api", "ingest"]
