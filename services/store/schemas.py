"""Scratch schemas: a clean slate for ``ledger demo`` in any database it may use.

A schema needs only CREATE on the database (not CREATEDB), is instant, and two of them never
see each other; a pool lives in one through ``?search_path=`` in its URL.
"""

from __future__ import annotations

import asyncpg


def quoted(name: str) -> str:
    """``name`` as an SQL identifier (quotes doubled), whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


async def create_schema(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute(f"CREATE SCHEMA {quoted(name)}")


async def drop_schema(conn: asyncpg.Connection, name: str) -> None:
    """Drop the schema and everything in it; a schema already gone is fine."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {quoted(name)} CASCADE")
