"""Versioned SQL migrations: applied explicitly, checked everywhere else.

``ledger migrate`` (and ``serve`` and ``demo`` at start) calls ``migrate``: every pending file
runs in one transaction, under a transaction-scoped advisory lock so that two processes
starting together do not race, and ``schema_migrations`` records each file's sha256. A file
whose text changed after it was applied is refused (``migration_checksum_mismatch``): the
database would no longer be what the files say. Rows applied by code older than the
checksums get theirs on the first ``migrate`` (the files as they are then are taken as
what was applied).

Every other command calls ``require_current_schema``, which only reads: a database behind
the code (``schema_outdated``) or ahead of it (``schema_newer_than_code``) is refused with
the fix named, and no DDL runs (docs/design.md, "Schema changes are explicit").
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

import asyncpg

from services.errors import Conflict, LedgerError
from services.store import locks

MIGRATION_LOCK_KEY = locks.MIGRATIONS

log = logging.getLogger("ledger.migrate")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum   text
)
"""
#: Tables made by code older than the checksums lack the column.
_ADD_CHECKSUM = "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"

_HAS_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL"
_HAS_CHECKSUM = """
SELECT EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass('schema_migrations') AND attname = 'checksum'
                 AND NOT attisdropped)
"""
_APPLIED = "SELECT version, name FROM schema_migrations ORDER BY version"
_APPLIED_WITH_CHECKSUMS = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
_BACKFILL = "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL"

MIGRATE_HINT = "run `ledger migrate`"


class SchemaMismatch(LedgerError):
    """The database's schema is not the one this code was written for (exit 1)."""


class MigrationChecksumMismatch(Conflict):
    """An applied migration file has changed since it was applied (exit 4)."""


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every bundled migration, in version order."""
    folder = resources.files("services.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def checksum(sql: str) -> str:
    """The sha256 (hex) recorded for a migration file's text."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SchemaState:
    """How the database's applied migrations compare with the bundled files."""

    applied: list[str]
    #: Bundled files not applied yet, in order.
    pending: list[str]
    #: Applied versions no bundled file has: a newer ledger migrated this database.
    unknown: list[str]

    @property
    def current(self) -> int:
        """The highest applied version (0: none)."""
        return max((int(name.split("_", 1)[0]) for name in self.applied), default=0)


async def schema_state(conn: asyncpg.Connection) -> SchemaState:
    """Read-only comparison of ``schema_migrations`` with the bundled files."""
    rows = await conn.fetch(_APPLIED) if await conn.fetchval(_HAS_TABLE) else []
    done = {r["version"]: r["name"] for r in rows}
    files = migration_files()
    bundled = {version for version, _, _ in files}
    return SchemaState(
        applied=[done[v] for v in sorted(done)],
        pending=[name for version, name, _ in files if version not in done],
        unknown=[done[v] for v in sorted(done) if v not in bundled],
    )


def _newer_than_code(unknown: list[str]) -> SchemaMismatch:
    return SchemaMismatch(
        "schema_newer_than_code",
        f"the database has migrations this ledger does not know ({', '.join(unknown)}): a "
        "newer ledger ran `ledger migrate` on it; run that version (a schema is never "
        "migrated backwards)",
    )


async def require_current_schema(conn: asyncpg.Connection) -> None:
    """Refuse a database whose schema is older or newer than the code; runs no DDL."""
    state = await schema_state(conn)
    if state.unknown:
        raise _newer_than_code(state.unknown)
    if state.pending:
        what = ("has no ledger schema yet" if not state.applied
                else f"lacks {len(state.pending)} migration(s): {', '.join(state.pending)}")
        raise SchemaMismatch("schema_outdated", f"the database {what}; {MIGRATE_HINT}")


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations this database lacks; return the names applied.

    Refuses, before applying anything, a database with migrations the code does not know
    and an applied file whose checksum changed; either way nothing is written.
    """
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        # With nothing to do, write nothing: ``serve`` migrates at start, and in production
        # it runs as a role that may not create, alter or update anything here.
        if not await conn.fetchval(_HAS_TABLE):
            await conn.execute(_CREATE_TABLE)
        elif not await conn.fetchval(_HAS_CHECKSUM):
            await conn.execute(_ADD_CHECKSUM)
        done = {r["version"]: r for r in await conn.fetch(_APPLIED_WITH_CHECKSUMS)}
        files = migration_files()
        unknown = sorted(set(done) - {version for version, _, _ in files})
        if unknown:
            raise _newer_than_code([done[v]["name"] for v in unknown])
        changed = [name for version, name, sql in files
                   if version in done and done[version]["checksum"] is not None
                   and done[version]["checksum"] != checksum(sql)]
        if changed:
            raise MigrationChecksumMismatch(
                "migration_checksum_mismatch",
                f"applied migration file(s) changed since they were applied: "
                f"{', '.join(changed)}; restore the file as it was and put the change in a "
                "new migration",
            )
        for version, name, sql in files:
            if version in done:
                if done[version]["checksum"] is None:
                    await conn.execute(_BACKFILL, version, checksum(sql))
                continue
            await conn.execute(sql)
            await conn.execute(_RECORD, version, name, checksum(sql))
            applied.append(name)
    for name in applied:
        log.info("applied migration %s", name)
    return applied


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    """Names of bundled migrations not applied yet (readiness checks use this)."""
    return (await schema_state(conn)).pending
