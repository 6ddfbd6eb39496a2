"""Run a command's coroutine against resolved servers (embedded ones when unconfigured)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from services.config import Settings, load_settings
from services.embedded import resolved_servers
from services.store.pool import create_pool

T = TypeVar("T")


def run_with_store(work: Callable[[Settings, asyncpg.Pool], Awaitable[T]]) -> T:
    """Resolve servers, open a migrated pool, run ``work``, close everything."""
    with resolved_servers(load_settings()) as settings:
        return asyncio.run(_with_pool(settings, work))


async def _with_pool(
    settings: Settings, work: Callable[[Settings, asyncpg.Pool], Awaitable[T]]
) -> T:
    assert settings.database_url
    pool = await create_pool(settings.database_url, max_size=settings.db_pool_size)
    try:
        return await work(settings, pool)
    finally:
        await pool.close()
