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


def run_with_store(
    work: Callable[[Settings, asyncpg.Pool], Awaitable[T]],
    *,
    migrate: bool = False,
    settings: Settings | None = None,
) -> T:
    """Resolve servers, open a pool, run ``work``, close everything (``settings``: the
    command's own, loaded with ``load_settings``, when it needed them earlier).

    Only ``migrate=True`` (``serve``) applies migrations; every other command gets a pool
    only if the schema is exactly the code's (``schema_outdated`` / ``schema_newer_than_code``
    otherwise, naming ``ledger migrate``) and runs no DDL.
    """
    if settings is None:  # refuses unknown LEDGER_* names before any server starts
        settings = load_settings()
    with resolved_servers(settings) as resolved:
        return asyncio.run(_with_pool(resolved, work, migrate))


async def _with_pool(
    settings: Settings, work: Callable[[Settings, asyncpg.Pool], Awaitable[T]], migrate: bool
) -> T:
    pool = await create_pool(settings.database_dsn(), max_size=settings.db_pool_size,
                             run_migrations=migrate)
    try:
        return await work(settings, pool)
    finally:
        await pool.close()
