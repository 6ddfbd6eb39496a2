"""Schema changes are explicit: ``migrate`` applies and records checksums, everything else
only checks, and refuses a schema older or newer than the code without running DDL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.errors import LedgerError
from services.store.migrate import (
    migrate,
    migration_files,
    require_current_schema,
    schema_state,
)
from services.store.pool import create_pool

NAMES = [name for _, name, _ in migration_files()]
LATEST = migration_files()[-1][0]


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def tables(conn: asyncpg.Connection) -> list[str]:
    found = await conn.fetch("SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = current_schema() ORDER BY 1")
    return [r["table_name"] for r in found]


async def refusal(conn: asyncpg.Connection, check: str = "require") -> LedgerError:
    with pytest.raises(LedgerError) as refused:
        await (require_current_schema(conn) if check == "require" else migrate(conn))
    return refused.value


async def test_migrate_applies_every_file_once_with_its_sha256(
    conn: asyncpg.Connection,
) -> None:
    assert await migrate(conn) == NAMES
    recorded = await conn.fetch("SELECT version, name, checksum FROM schema_migrations "
                                "ORDER BY version")
    assert [(r["version"], r["name"], r["checksum"]) for r in recorded] == [
        (version, name, hashlib.sha256(sql.encode()).hexdigest())
        for version, name, sql in migration_files()]
    assert await migrate(conn) == []
    state = await schema_state(conn)
    assert (state.pending, state.unknown, state.current) == ([], [], LATEST)
    await require_current_schema(conn)  # the code's schema: accepted


async def test_an_unmigrated_schema_is_refused_and_the_check_creates_nothing(
    conn: asyncpg.Connection,
) -> None:
    refused = await refusal(conn)
    assert (refused.code, refused.exit_code) == ("schema_outdated", 1)
    assert refused.message == ("the database has no ledger schema yet; run `ledger migrate`")
    assert await tables(conn) == []  # no DDL ran, not even schema_migrations


async def test_a_schema_behind_the_code_is_refused_naming_what_is_missing(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn)
    await conn.execute("DELETE FROM schema_migrations WHERE version = $1", LATEST)
    refused = await refusal(conn)
    assert refused.code == "schema_outdated"
    assert refused.message == (f"the database lacks 1 migration(s): {NAMES[-1]}; "
                               "run `ledger migrate`")


async def test_a_schema_ahead_of_the_code_is_refused_by_the_check_and_by_migrate(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn)
    await conn.execute("INSERT INTO schema_migrations (version, name, checksum) "
                       "VALUES (9999, '9999_from_the_future.sql', 'x')")
    for check in ("require", "migrate"):
        refused = await refusal(conn, check)
        assert (refused.code, refused.exit_code) == ("schema_newer_than_code", 1)
        assert "9999_from_the_future.sql" in refused.message


async def test_a_changed_applied_file_is_refused_and_nothing_else_is_applied(
    conn: asyncpg.Connection,
) -> None:
    await migrate(conn)
    await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
    await conn.execute("DELETE FROM schema_migrations WHERE version = $1", LATEST)
    refused = await refusal(conn, "migrate")
    assert (refused.code, refused.exit_code) == ("migration_checksum_mismatch", 4)
    assert NAMES[1] in refused.message and NAMES[0] not in refused.message
    assert (await schema_state(conn)).pending == [NAMES[-1]]  # still pending: nothing ran


async def test_a_pool_checks_the_schema_unless_asked_to_migrate(database_url: str) -> None:
    with pytest.raises(LedgerError) as refused:
        await create_pool(database_url)
    assert refused.value.code == "schema_outdated"
    pool = await create_pool(database_url, max_size=1, run_migrations=True)
    try:
        assert await pool.fetchval("SELECT count(*) FROM schema_migrations") == len(NAMES)
    finally:
        await pool.close()
    checked = await create_pool(database_url, max_size=1)
    await checked.close()
