"""Session servers and per-test isolation.

- ``pg_url`` (session): ``LEDGER_TEST_DATABASE_URL``, else 127.0.0.1:5432 (user postgres)
  if it answers, else (only when nothing listens there) embedded PostgreSQL for the session.
- ``kafka_bootstrap`` (session): ``LEDGER_TEST_KAFKA_BOOTSTRAP``, else Tansu for the session.
- ``database_url``: a fresh schema per test, named in the URL (``?search_path=t_<hex>``) so
  every connection made from it, in this process or a subprocess, works in that schema.
- ``topics``: unique topic names and consumer group per test.
- ``settings``: ``services.config.Settings`` wired to all of the above, with short group
  timeouts and ``data_dir=tmp_path``. ``helpers.settings_env(settings)`` gives its
  ``LEDGER_*`` environment for running the ledger as a subprocess.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from services.config import Settings
from services.embedded import free_port
from services.store.pool import create_pool
from tests.servers import (
    Topics,
    create_schema,
    drop_schema,
    session_kafka,
    session_postgres,
    with_query_params,
)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Server-level URL of the session's PostgreSQL (no schema chosen: use ``database_url``)."""
    with session_postgres(tmp_path_factory.mktemp("embedded-postgres")) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the session's Kafka-protocol broker."""
    with session_kafka(tmp_path_factory.mktemp("embedded-kafka")) as bootstrap:
        yield bootstrap


@pytest.fixture
def schema_name() -> str:
    """The schema ``database_url`` puts the test in."""
    return f"t_{uuid.uuid4().hex}"


@pytest.fixture
async def database_url(pg_url: str, schema_name: str) -> AsyncIterator[str]:
    """URL of a fresh, empty schema for this test (dropped, cascade, afterwards)."""
    await create_schema(pg_url, schema_name)
    try:
        yield with_query_params(pg_url, search_path=schema_name)
    finally:
        await drop_schema(pg_url, schema_name)


@pytest.fixture
def topics() -> Topics:
    """Topic names (``billing``, ``dlq``, ``journal``) and consumer ``group`` for this test."""
    return Topics.unique(uuid.uuid4().hex[:8])


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> Settings:
    """Settings for this test's schema, broker and topics (a free HTTP port too)."""
    return Settings(
        _env_file=None,  # a developer's .env must not leak into tests
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_billing=topics.billing,
        topic_dlq=topics.dlq,
        topic_journal=topics.journal,
        consumer_group=topics.group,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        batch_timeout_ms=100,
        http_port=free_port(),
        data_dir=tmp_path,
    )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A migrated pool on this test's schema."""
    pool = await create_pool(settings.database_dsn(), max_size=4, run_migrations=True)
    yield pool
    await pool.close()
