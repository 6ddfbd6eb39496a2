"""Where the test session's PostgreSQL and Kafka come from (used by conftest.py).

PostgreSQL: ``LEDGER_TEST_DATABASE_URL``, else the local server at 127.0.0.1:5432 (user
postgres, trust auth), else, only when nothing listens there, embedded. A server that is there
but refuses the tests (a password asked, no such role or database, not PostgreSQL) is an
error that says so, never a silent switch to another server. Kafka:
``LEDGER_TEST_KAFKA_BOOTSTRAP``, else Tansu on a free port. Each test gets its own schema
(``search_path`` in the URL) and its own topic names.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from services.embedded import embedded_kafka, embedded_postgres

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


@dataclass(frozen=True)
class Topics:
    """Topic and consumer-group names unique to one test."""

    billing: str
    dlq: str
    journal: str
    group: str

    @classmethod
    def unique(cls, suffix: str) -> Topics:
        return cls(
            billing=f"billing.events.{suffix}",
            dlq=f"billing.events.dlq.{suffix}",
            journal=f"ledger.journal-entries.{suffix}",
            group=f"ledger-ingest.{suffix}",
        )


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private event loop in a private thread.

    For synchronous (session) fixtures: ``asyncio.run`` in the main thread would replace and
    then clear the current event loop that pytest-asyncio manages.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="run_in_thread")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


#: What a connection attempt fails with when no server listens at the address (refused), or
#: the address cannot be reached at all: the only failures after which embedded stands in.
NOTHING_LISTENS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                             errno.EADDRNOTAVAIL})


class UnusablePostgres(RuntimeError):
    """A PostgreSQL server is there but the tests cannot use it."""


def nothing_listens(error: BaseException) -> bool:
    """The connection failed because no server listens there (not: it refused us)."""
    return isinstance(error, OSError) and error.errno in NOTHING_LISTENS


async def postgres_answers(url: str, timeout: float = 3.0) -> bool:  # noqa: ASYNC109
    """True when the server at ``url`` answers a query; False when nothing listens there.

    Any other failure (authentication, unknown role or database, a server starting up, a
    timeout, something that is not PostgreSQL) raises ``UnusablePostgres``: falling back to
    another server would hide it.
    """
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
        try:
            await conn.fetchval("select 1")
        finally:
            await conn.close()
    except Exception as error:
        if nothing_listens(error):
            return False
        where = urlsplit(url)
        raise UnusablePostgres(
            f"PostgreSQL at {where.hostname}:{where.port} cannot be used for the tests "
            f"({type(error).__name__}: {error}); fix it, stop it (then embedded PostgreSQL "
            "is used), or set LEDGER_TEST_DATABASE_URL to a server the tests may use"
        ) from error
    return True


@contextmanager
def session_postgres(tmp_dir: Path, local_url: str = LOCAL_DATABASE_URL) -> Iterator[str]:
    """The session's PostgreSQL URL (see module docstring); embedded is stopped on exit."""
    from_env = os.environ.get("LEDGER_TEST_DATABASE_URL")
    if from_env:
        yield from_env
    elif run_in_thread(postgres_answers(local_url)):
        yield local_url
    else:
        with embedded_postgres(tmp_dir) as url:
            yield url


@contextmanager
def session_kafka(tmp_dir: Path) -> Iterator[str]:
    """The session's Kafka bootstrap (see module docstring); Tansu is stopped on exit."""
    from_env = os.environ.get("LEDGER_TEST_KAFKA_BOOTSTRAP")
    if from_env:
        yield from_env
    else:
        with embedded_kafka(tmp_dir) as bootstrap:
            yield bootstrap


def with_query_params(url: str, **params: str) -> str:
    """``url`` with these query parameters set (replacing any of the same name).

    asyncpg passes query parameters it does not know as server settings, so
    ``search_path=t_x`` puts every connection made from the URL in schema ``t_x``: pools
    too (``RESET ALL`` returns to the connection's start-up value), and subprocesses given
    the URL. libpq (psql) does not accept such parameters.
    """
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


async def create_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'create schema "{schema}"')
    finally:
        await conn.close()


async def drop_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        # A leftover connection of the test holding a lock must not hang the session.
        await conn.execute("set lock_timeout = '10s'")
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
