"""Connection pools for the store, with the per-connection setup the writers rely on."""

from __future__ import annotations

import asyncpg

from services.store.migrate import migrate

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
    database_url: str, *, min_size: int = 1, max_size: int = 4, run_migrations: bool = True
) -> asyncpg.Pool:
    """A pool whose connections have the staging table the batch writers COPY into."""
    if run_migrations:
        conn = await asyncpg.connect(database_url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_prepare_connection
    )
    assert pool is not None
    return pool
