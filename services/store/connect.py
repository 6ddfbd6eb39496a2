"""Opening PostgreSQL: one clear line per way it fails, naming the setting, never the password.

An operator who mistypes a host, a database, a role, a password or the schema in
``LEDGER_DATABASE_URL`` should read what is wrong and which setting to fix, not an asyncpg
traceback. Two codes, both exit 1:

- ``configuration``: the setting names something that is not there or is refused (unknown
  host, database, role or schema; wrong password; a URL asyncpg cannot use). Retrying will
  not help; fixing the setting will.
- ``unavailable``: the server did not answer or is not accepting connections now (refused,
  timed out, starting up, too many connections). It may work later.

Messages show the URL with its password replaced by ``***``.
"""

from __future__ import annotations

import socket
from typing import Any

import asyncpg

from services.config import redacted_url
from services.errors import LedgerError

SETTING = "LEDGER_DATABASE_URL"

#: SQLSTATE classes of a server that is there but cannot take the connection now.
_TRANSIENT_CLASSES = ("08", "53", "57")


class DatabaseUnavailable(LedgerError):
    """PostgreSQL did not answer or refused the connection for now (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class DatabaseMisconfigured(LedgerError):
    """``LEDGER_DATABASE_URL`` names something that is not there, or is refused (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__("configuration", message)


def database_problem(error: BaseException, url: str) -> LedgerError | None:
    """The clear error for a failure to connect to ``url``; None if ``error`` is not one."""
    shown = redacted_url(url)
    if isinstance(error, socket.gaierror):
        return DatabaseMisconfigured(f"{SETTING}: unknown host in {shown} ({error.strerror})")
    if isinstance(error, ConnectionRefusedError):
        return DatabaseUnavailable(
            f"{SETTING}: connection refused at {shown} (is PostgreSQL running there?)")
    if isinstance(error, TimeoutError):
        return DatabaseUnavailable(f"{SETTING}: no answer from {shown} (timed out)")
    if isinstance(error, OSError):
        return DatabaseUnavailable(f"{SETTING}: cannot connect to {shown}: {error}")
    if isinstance(error, asyncpg.InvalidPasswordError):
        return DatabaseMisconfigured(f"{SETTING}: {error} (at {shown})")
    if isinstance(error, asyncpg.PostgresError):
        sqlstate = str(getattr(error, "sqlstate", "") or "")
        if sqlstate.startswith(_TRANSIENT_CLASSES):
            return DatabaseUnavailable(f"{SETTING}: {error} (at {shown})")
        return DatabaseMisconfigured(f"{SETTING}: {error} (at {shown})")
    if isinstance(error, asyncpg.ClientConfigurationError | ValueError):
        return DatabaseMisconfigured(f"{SETTING}: not a usable PostgreSQL URL: {error}")
    return None


async def connect(url: str, **options: Any) -> asyncpg.Connection:
    """``asyncpg.connect`` whose failures are ``DatabaseUnavailable`` or
    ``DatabaseMisconfigured``, and which refuses a URL whose ``search_path`` names no
    existing schema (PostgreSQL itself accepts it, and ``current_schema()`` is then NULL:
    every query would fail later with "relation does not exist")."""
    try:
        conn = await asyncpg.connect(url, **options)
    except Exception as error:
        problem = database_problem(error, url)
        if problem is None:
            raise
        raise problem from error
    try:
        if await conn.fetchval("SELECT current_schema()") is None:
            path = await conn.fetchval("SHOW search_path")
            database = await conn.fetchval("SELECT current_database()")
            raise DatabaseMisconfigured(
                f"{SETTING}: no schema of the search_path ({path}) exists in database "
                f"{database} (at {redacted_url(url)}); create the schema or fix the URL")
    except BaseException:
        await conn.close()
        raise
    return conn

