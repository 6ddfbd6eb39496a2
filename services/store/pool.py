"""Connection pools for the store, with the per-connection setup the writers rely on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from services.store.connect import connect
from services.store.migrate import migrate, require_current_schema

#: A temporary table per connection (not a schema change: it lives in the session's own
#: ``pg_temp`` schema and goes with the connection), so commands that run no DDL may use it.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staged_events (
    ord        integer NOT NULL,
    stream     text    NOT NULL,
    event_id   uuid    NOT NULL,
    event_type text    NOT NULL,
    org        text,
    payload    jsonb   NOT NULL,
    body_hash  bytea   NOT NULL,
    metadata   jsonb   NOT NULL
) ON COMMIT DELETE ROWS
"""


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    await conn.execute("SET client_min_messages = warning")
    await conn.execute(_STAGING)


class WaitLimitedPool(asyncpg.Pool):  # type: ignore[misc]
    """A pool whose ``acquire`` waits at most ``acquire_timeout`` seconds (for a free
    connection, or for a new one to connect) unless the caller names another limit; then
    ``TimeoutError``. asyncpg's own pool waits forever by default, so one part's requests
    would queue behind its slow ones instead of being refused."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


#: asyncpg.create_pool's defaults, for building a ``WaitLimitedPool`` the same way.
_ASYNCPG_POOL_DEFAULTS: dict[str, Any] = {
    "max_queries": 50_000, "max_inactive_connection_lifetime": 300.0, "loop": None,
    "connection_class": asyncpg.Connection, "record_class": asyncpg.Record,
}


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    run_migrations: bool = False,
    check_schema: bool = True,
    server_settings: Mapping[str, str] | None = None,
    acquire_timeout: float | None = None,
) -> asyncpg.Pool:
    """A pool whose connections have the staging table the batch writers COPY into.

    A first connection checks the URL (``DatabaseUnavailable`` / ``DatabaseMisconfigured``
    naming ``LEDGER_DATABASE_URL``) and the schema: with ``run_migrations`` it applies the
    pending migrations (``serve``, ``demo``, ``ledger migrate``, test fixtures), otherwise it
    refuses a schema older or newer than the code and runs no DDL. ``check_schema=False``
    (without ``run_migrations``) takes the schema as it is: for readiness checks that must
    see an unmigrated one.

    ``server_settings`` are PostgreSQL settings for every connection (sent at connect, such
    as ``statement_timeout``); ``acquire_timeout`` makes it a ``WaitLimitedPool``.
    """
    conn = await connect(database_url)
    try:
        if run_migrations:
            await migrate(conn)
        elif check_schema:
            await require_current_schema(conn)
    finally:
        await conn.close()
    options: dict[str, Any] = {"min_size": min_size, "max_size": max_size,
                               "init": _prepare_connection}
    if server_settings:
        options["server_settings"] = dict(server_settings)
    if acquire_timeout is not None:
        limited = WaitLimitedPool(database_url, acquire_timeout=acquire_timeout,
                                  **_ASYNCPG_POOL_DEFAULTS, **options)
        await limited  # connects min_size connections, as create_pool does
        return limited
    pool = await asyncpg.create_pool(database_url, **options)
    assert pool is not None
    return pool
