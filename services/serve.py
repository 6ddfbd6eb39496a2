"""``ledger serve``: the ingest, the outbox publisher and the HTTP API in one process.

Each part gets its own pool (``services.pools``) and they run together until SIGTERM or
SIGINT. When one fails, the others are stopped gracefully and its error is raised, so the
process exits with that failure and a supervisor restarts it, rather than serving on
without one of its parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any

import asyncpg

from services.config import Settings
from services.ingest.app import install_stop_signals, run_ingest
from services.pools import part_pools
from services.publisher import run_publisher

log = logging.getLogger("ledger.serve")

#: The parts, in the order they start.
PARTS = ("ingest", "publisher", "api")


async def serve(settings: Settings, pool: asyncpg.Pool, parts: Collection[str]) -> None:
    """Run the named ``parts`` until SIGTERM or SIGINT (``pool``: the ingest's)."""
    async with part_pools(settings, pool, set(parts)) as pools:  # a pool per part
        stop = asyncio.Event()
        install_stop_signals(stop)
        running: dict[str, Coroutine[Any, Any, Any]] = {}
        if "ingest" in parts:
            running["ingest"] = run_ingest(settings, pools["ingest"], stop)
        if "publisher" in parts:
            running["publisher"] = run_publisher(pools["publisher"], settings,
                                                 settings.topic_journal, stop)
        if "api" in parts:
            from services.api.server import run_api  # FastAPI loads only when serving it

            running["api"] = run_api(settings, pools["api"], stop)
            log.info("HTTP API and /metrics on %s:%d", settings.http_host, settings.http_port)
        log.info("serving: %s", ", ".join(running))
        await run_parts(running, stop)
        log.info("stopped")


async def run_parts(parts: dict[str, Coroutine[Any, Any, Any]], stop: asyncio.Event) -> None:
    """Run every part until ``stop``; if one fails, stop the others gracefully (they finish
    what they have in hand, as on SIGTERM) and raise its error."""
    tasks = [asyncio.create_task(coro, name=name) for name, coro in parts.items()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [task for task in done if task.exception() is not None]
        for task in failed:
            log.error("%s failed; stopping the others", task.get_name())
        if failed:
            stop.set()
        outcomes = dict(zip(tasks, await asyncio.gather(*tasks, return_exceptions=True),
                            strict=True))
        for task, outcome in outcomes.items():
            if isinstance(outcome, BaseException) and task not in failed:
                log.error("%s failed while stopping: %r", task.get_name(), outcome)
                failed.append(task)
        if failed:
            raise outcomes[failed[0]]  # the first to fail; the others are in the log
    finally:
        for task in tasks:
            task.cancel()
