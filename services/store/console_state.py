"""The console's own state in PostgreSQL: its signing secret and the ids it has spent.

Not ledger data (no events, nothing a rebuild restores): a session or a form token is only
good for hours, and every server sharing the database must agree on both.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import asyncpg

#: Bytes of randomness in a secret the console creates for itself.
SECRET_BYTES = 32

_CREATE_SECRET = """
INSERT INTO console_secret (secret) VALUES ($1) ON CONFLICT (singleton) DO NOTHING
"""
_SECRET = "SELECT secret FROM console_secret"

_SPEND = """
INSERT INTO console_spent_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING
"""
_SPENT = "SELECT EXISTS (SELECT 1 FROM console_spent_ids WHERE id = $1)"
_FORGET_EXPIRED = "DELETE FROM console_spent_ids WHERE expires_at < now()"


async def shared_secret(pool: asyncpg.Pool) -> str:
    """The database's console secret, created (by whichever server asks first) if none."""
    async with pool.acquire() as conn:
        secret = await conn.fetchval(_SECRET)
        if secret is None:
            await conn.execute(_CREATE_SECRET, secrets.token_urlsafe(SECRET_BYTES))
            secret = await conn.fetchval(_SECRET)
    assert isinstance(secret, str)
    return secret


async def spend(pool: asyncpg.Pool, spent_id: str, expires_at: datetime) -> bool:
    """Record ``spent_id`` as used until ``expires_at``; False if it already was (a replay).

    One statement: of two requests spending the same id at once, exactly one wins.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_FORGET_EXPIRED)
        status = await conn.execute(_SPEND, spent_id, expires_at)
    return bool(status == "INSERT 0 1")


async def is_spent(pool: asyncpg.Pool, spent_id: str) -> bool:
    return bool(await pool.fetchval(_SPENT, spent_id))
