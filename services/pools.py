"""One connection pool per part of ``ledger serve`` (docs/design.md "Isolation").

The ingest keeps the store's pool (``db_pool_size``); the publisher and the HTTP API get
their own, so no number of slow downloads or heavy reports can take the connections the
ingest needs. The API's connections carry a ``statement_timeout`` (set at connect), and a
request waits at most ``api_pool_timeout_ms`` for one: past that it is answered 503
``unavailable`` rather than queued behind the slow ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from services.config import Settings
from services.store.pool import create_pool


async def api_pool(settings: Settings) -> asyncpg.Pool:
    """The HTTP API's pool: statement timeout on every connection, bounded wait for one."""
    return await create_pool(
        settings.database_dsn(),
        max_size=settings.api_pool_size,
        run_migrations=False,
        server_settings={"statement_timeout": f"{settings.api_statement_timeout_ms}ms"},
        acquire_timeout=settings.api_pool_timeout_ms / 1000,
    )


async def publisher_pool(settings: Settings) -> asyncpg.Pool:
    return await create_pool(settings.database_dsn(), max_size=settings.publisher_pool_size,
                             run_migrations=False)


@asynccontextmanager
async def part_pools(
    settings: Settings, store_pool: asyncpg.Pool, parts: set[str]
) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    """The pool of each named part (``ingest``, ``publisher``, ``api``), closed on exit;
    the ingest's is ``store_pool``, which its owner closes."""
    async with AsyncExitStack() as stack:
        pools: dict[str, asyncpg.Pool] = {}
        for part, opener in (("publisher", publisher_pool), ("api", api_pool)):
            if part in parts:
                pools[part] = pool = await opener(settings)
                stack.push_async_callback(pool.close)
        if "ingest" in parts:
            pools["ingest"] = store_pool
        yield pools
