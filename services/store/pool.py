"""Connection pools for the store, with the per-connection setup the writers rely on."""

from __future__ import annotations

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


async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    run_migrations: bool = False,
    check_schema: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections have the staging table the batch writers COPY into.

    A first connection checks the URL (``DatabaseUnavailable`` / ``DatabaseMisconfigured``
    naming ``LEDGER_DATABASE_URL``) and the schema: with ``run_migrations`` it applies the
    pending migrations (``serve``, ``demo``, ``ledger migrate``, test fixtures), otherwise it
    refuses a schema older or newer than the code and runs no DDL. ``check_schema=False``
    (without ``run_migrations``) takes the schema as it is: for readiness checks that must
    see an unmigrated one.
    """
    conn = await connect(database_url)
    try:
        if run_migrations:
            await migrate(conn)
        elif check_schema:
            await require_current_schema(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_prepare_connection
    )
    assert pool is not None
    return pool
