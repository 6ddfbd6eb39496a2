"""The production database roles (deploy/postgres/) on real PostgreSQL.

Each deployment here is what docker-compose.yml builds: a database of its own, the roles and
schema from ``roles.sql`` (run by psql as a superuser), the ledger's migrations run as the
owner role, then ``grants.sql`` run by psql as the owner. The roles get unique names (roles
are cluster-wide) and are dropped afterwards, with the database, even when a test fails.

The service's role must do the ledger's real work (ingest a batch, command events, a journal
run, the outbox relay, verify) and must not be able to change, empty, drop or disarm the
event log.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.commands.periods import create_period
from services.config import Settings
from services.ingest.records import InboundRecord, Rejection
from services.ingest.writer import write_batch
from services.journal.entries import cancel_entry, set_transfer_status
from services.journal.run import create_journal_run
from services.kafka_io import producer as make_producer
from services.operations.rebuild import rebuild
from services.operations.verify import verify
from services.publisher import relay_once
from services.store.migrate import migrate, pending_migrations
from services.store.pool import create_pool
from tests.helpers import consume_all
from tests.integration.billing import billing_event, txn
from tests.integration.ledger_setup import set_up
from tests.servers import Topics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "postgres"
#: The schema compose uses (roles.sql and grants.sql take it as a psql variable).
SCHEMA = "ledger"
PSQL = shutil.which("psql")

pytestmark = pytest.mark.skipif(PSQL is None, reason="psql runs the deployment's SQL files")


@dataclass(frozen=True)
class Deployment:
    database: str
    owner: str
    app: str
    owner_url: str
    app_url: str


def server_url_as(server_url: str, *, user: str, database: str) -> str:
    """The session server's URL for ``user`` on ``database`` (host, port, socket kept)."""
    parts = urlsplit(server_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}", path=f"/{database}"))


async def psql(url: str, sql_file: Path, **variables: str) -> None:
    """Run a deployment SQL file the way compose does: psql, stopping at the first error."""
    assert PSQL is not None
    args = [PSQL, "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        args += ["-v", f"{name}={value}"]
    process = await asyncio.create_subprocess_exec(
        *args, "-f", str(sql_file), "--dbname", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, f"psql -f {sql_file.name}: {err.decode()}{out.decode()}"


#: Passwords with quotes and a backslash: psql's :'variable' must quote them, whatever they hold.
PASSWORDS = {"owner_password": "o'wner \"pass\" \\ word", "app_password": "a'pp; DROP ROLE x"}


async def deploy(pg_url: str) -> tuple[Deployment, asyncpg.Connection]:
    """An empty database with unique names for it and the roles (:func:`undeploy` drops all
    three; the superuser connection it returns is for that)."""
    tag = uuid.uuid4().hex[:12]
    database, owner, app = f"ledger_{tag}", f"ledger_owner_{tag}", f"ledger_app_{tag}"
    d = Deployment(
        database=database, owner=owner, app=app,
        owner_url=server_url_as(pg_url, user=owner, database=database),
        app_url=server_url_as(pg_url, user=app, database=database),
    )
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE DATABASE "{d.database}"')
    except BaseException:
        await admin.close()
        raise
    return d, admin


async def undeploy(admin: asyncpg.Connection, d: Deployment) -> None:
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{d.database}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{d.app}", "{d.owner}"')
    finally:
        await admin.close()


def superuser_url(pg_url: str, d: Deployment) -> str:
    return server_url_as(pg_url, user=urlsplit(pg_url).username or "postgres",
                         database=d.database)


async def set_up_roles_and_schema(pg_url: str, d: Deployment) -> None:
    """roles.sql (superuser), the migrations (owner), grants.sql (owner): compose's order."""
    await psql(superuser_url(pg_url, d), DEPLOY / "roles.sql",
               owner=d.owner, app=d.app, schema=SCHEMA, **PASSWORDS)
    conn = await asyncpg.connect(d.owner_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    await psql(d.owner_url, DEPLOY / "grants.sql", app=d.app, schema=SCHEMA)


@pytest.fixture
async def deployment(pg_url: str) -> AsyncIterator[Deployment]:
    """A fresh deployment for a test that writes."""
    d, admin = await deploy(pg_url)
    try:
        await set_up_roles_and_schema(pg_url, d)
        yield d
    finally:
        await undeploy(admin, d)


@pytest.fixture(scope="module")
async def shared_deployment(pg_url: str) -> AsyncIterator[Deployment]:
    """One deployment with a few events in its log, for the checks that must all fail."""
    d, admin = await deploy(pg_url)
    try:
        await set_up_roles_and_schema(pg_url, d)
        pool = await create_pool(d.app_url, run_migrations=False)
        try:
            await set_up(pool)
        finally:
            await pool.close()
        yield d
    finally:
        await undeploy(admin, d)


async def connect_as_app(d: Deployment) -> asyncpg.Connection:
    conn = await asyncpg.connect(d.app_url)
    assert await conn.fetchval("SELECT current_user") == d.app
    assert await conn.fetchval("SELECT current_schema()") == SCHEMA
    return conn


# --- what the service's role cannot do ----------------------------------------------------

NOT_OWNER = r"must be owner of (table|relation) events"
DENIED_ON_EVENTS = r"permission denied for table events"

#: (statement, PostgreSQL's refusal), every one SQLSTATE 42501. UPDATE, DELETE and TRUNCATE
#: are refused for want of the privilege, before the log's own triggers could refuse them.
REFUSED = [
    ("DROP TRIGGER events_append_only_rows ON events", NOT_OWNER),
    ("DROP TRIGGER events_append_only_truncate ON events", NOT_OWNER),
    ("ALTER TABLE events DISABLE TRIGGER ALL", NOT_OWNER),
    ("ALTER TABLE events DISABLE TRIGGER events_append_only_rows", NOT_OWNER),
    ("UPDATE events SET org = 'forged'", DENIED_ON_EVENTS),
    ("DELETE FROM events", DENIED_ON_EVENTS),
    ("TRUNCATE events", DENIED_ON_EVENTS),
    ("DROP TABLE events", NOT_OWNER),
    ("ALTER TABLE events RENAME TO events_old", NOT_OWNER),
    ("ALTER TABLE events ADD COLUMN forged text", NOT_OWNER),
    # A no-op trigger function would disarm the triggers without touching them.
    ("CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql "
     "AS $$ BEGIN RETURN NEW; END $$", r"permission denied for schema ledger"),
    ("DROP FUNCTION events_refuse_change() CASCADE",
     r"must be owner of function events_refuse_change"),
    # Replica mode skips ordinary triggers: only a superuser may switch to it.
    ("SET session_replication_role = replica",
     r'permission denied to set parameter "session_replication_role"'),
    ("CREATE TABLE ledger.shadow (x int)", r"permission denied for schema ledger"),
    ("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_forged.sql')",
     r"permission denied for table schema_migrations"),
    ("DELETE FROM schema_migrations", r"permission denied for table schema_migrations"),
]


@pytest.mark.parametrize(("statement", "refusal"), REFUSED,
                         ids=[statement[:48] for statement, _ in REFUSED])
async def test_the_service_role_cannot_change_drop_or_disarm_the_log(
    shared_deployment: Deployment, statement: str, refusal: str
) -> None:
    conn = await connect_as_app(shared_deployment)
    try:
        before = await conn.fetchval("SELECT count(*) FROM events")
        assert before > 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=refusal):
            await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM events") == before
        triggers = await conn.fetch(
            "SELECT tgname, tgenabled::text FROM pg_trigger "
            "WHERE tgrelid = 'events'::regclass AND NOT tgisinternal ORDER BY tgname")
        assert [(t["tgname"], t["tgenabled"]) for t in triggers] == [
            ("events_append_only_rows", "O"), ("events_append_only_truncate", "O")]
    finally:
        await conn.close()


async def test_the_roles_are_plain_logins_with_passwords(
    pg_url: str, shared_deployment: Deployment
) -> None:
    d = shared_deployment
    admin = await asyncpg.connect(superuser_url(pg_url, d))
    try:
        found = await admin.fetch(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, "
            "       rolpassword LIKE 'SCRAM-SHA-256$%' AS has_password "
            "FROM pg_authid WHERE rolname = ANY($1::text[]) ORDER BY rolname", [d.owner, d.app])
        assert [tuple(r) for r in found] == [
            (d.app, True, False, False, False, False, True),
            (d.owner, True, False, False, False, False, True)]
        database = await admin.fetchrow(
            "SELECT has_database_privilege($1, $3, 'CONNECT') AS connect, "
            "       has_database_privilege($1, $3, 'TEMPORARY') AS temporary, "
            "       has_database_privilege($1, $3, 'CREATE') AS create_schema, "
            "       has_database_privilege('public', $3, 'CONNECT') AS anyone_connects, "
            "       has_schema_privilege($1, $2, 'CREATE') AS create_in_schema, "
            "       has_schema_privilege($1, 'public', 'CREATE') AS create_in_public",
            d.app, SCHEMA, d.database)
        assert dict(database) == {
            "connect": True, "temporary": True, "create_schema": False,
            "anyone_connects": False, "create_in_schema": False, "create_in_public": False}
    finally:
        await admin.close()


async def test_the_owner_role_owns_the_schema_and_the_log(shared_deployment: Deployment) -> None:
    conn = await connect_as_app(shared_deployment)
    try:
        owners = await conn.fetchrow(
            "SELECT n.nspowner::regrole::text AS schema_owner, "
            "       c.relowner::regrole::text AS log_owner "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = 'events'::regclass")
        assert dict(owners) == {"schema_owner": shared_deployment.owner,
                                "log_owner": shared_deployment.owner}
        granted = await conn.fetchval(
            "SELECT array_agg(p ORDER BY p) FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', "
            "'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p "
            "WHERE has_table_privilege(current_user, 'events', p)")
        assert granted == ["INSERT", "SELECT"]
    finally:
        await conn.close()


# --- what it must be able to do -------------------------------------------------------------

def record(offset: int, value: bytes, topic: str = "billing.events") -> InboundRecord:
    return InboundRecord(topic, 0, offset, b"key", value)


async def test_the_service_role_ingests_runs_journals_relays_and_verifies(
    deployment: Deployment, settings: Settings, topics: Topics
) -> None:
    pool = await create_pool(deployment.app_url, run_migrations=False)
    try:
        # Readiness: the app reads which migrations ran.
        async with pool.acquire() as conn:
            assert await pending_migrations(conn) == []

        # Commands (settings, periods) append events and fold them into projections.
        await set_up(pool)

        # The ingest's write path: the log (COPY), projections, rejections, consumer offsets.
        invoice = billing_event([txn("invoice_item", "I1", date(2024, 4, 3), "12.50"),
                                 txn("invoice_item", "I2", date(2024, 4, 9), "7.25")])
        refused: list[Rejection] = []

        async def publish_rejection(rejection: Rejection) -> None:
            refused.append(rejection)

        batch = [record(0, json.dumps(invoice).encode()), record(1, b"not json")]
        result = await write_batch(pool, batch, group_id="ingest", max_bytes=1_048_576,
                                   publish_rejection=publish_rejection)
        assert (result.read, result.stored, result.duplicates, result.rejected) == (2, 1, 0, 1)
        assert [r.code for r in refused] == ["invalid_json"]
        again = await write_batch(pool, batch, group_id="ingest", max_bytes=1_048_576,
                                  publish_rejection=publish_rejection)
        # Read again (a restart before the offsets): both recognised, nothing stored twice.
        assert (again.stored, again.duplicates, again.rejected) == (0, 2, 0)

        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT next_offset FROM consumer_offsets WHERE group_id = 'ingest'") == 2
            assert await conn.fetchval("SELECT count(*) FROM rejected_messages") == 1

        # A journal run (temporary tables, the staging table, counters), a cancel (deletes
        # from journaled_transactions), a second run, a transfer status.
        april = JournalRunRequest(types=("invoice_item",), period="Apr-2024")
        first = await create_journal_run(pool, april)
        assert first["transaction_count"] == 2
        [entry] = first["journal_entry_numbers"]
        await cancel_entry(pool, entry)
        second = await create_journal_run(pool, april)
        assert second["transaction_count"] == 2
        [entry] = second["journal_entry_numbers"]
        await set_transfer_status(pool, entry, "yes")
        async with pool.acquire() as conn:
            assert str(await conn.fetchval(
                "SELECT total_debit FROM journal_entries WHERE number = $1", entry)) == "19.75"

        # The outbox relay sends to the broker and marks the rows sent.
        async with pool.acquire() as conn:
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        assert outbox >= 5  # two runs (entry + completion each), the cancel, the transfer
        async with make_producer(settings) as producer:
            assert await relay_once(pool, producer, topics.journal) == outbox
        published = await consume_all(settings, topics.journal, outbox)
        assert len(published) == outbox
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    finally:
        await pool.close()

    # ``ledger verify`` folds the log into temporary shadow tables: the app may run it.
    report = await verify(deployment.app_url)
    assert report["violations"] == []
    assert report["ok"] is True


async def test_projection_rebuilds_run_as_the_owner(deployment: Deployment) -> None:
    """A rebuild truncates projections and drops and re-creates their indexes: the owner's
    work, not the app's."""
    pool = await create_pool(deployment.app_url, run_migrations=False)
    try:
        await set_up(pool)
    finally:
        await pool.close()

    app = await connect_as_app(deployment)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError,
                           match="permission denied for table ledger_settings"):
            await rebuild(app)
    finally:
        await app.close()

    owner = await asyncpg.connect(deployment.owner_url)
    try:
        periods = "SELECT scope, name, start_date, status FROM accounting_periods ORDER BY 1, 2"
        before = await owner.fetch(periods)
        assert [(p["name"], p["status"]) for p in before] == [
            ("Apr-2024", "open"), ("May-2024", "open"), ("Open-Ended", "open")]
        head = await rebuild(owner)
        assert head == await owner.fetchval("SELECT max(position) FROM events")
        assert await owner.fetch(periods) == before
    finally:
        await owner.close()
    # What the rebuild re-created is the owner's, as before: the app's work goes on.
    pool = await create_pool(deployment.app_url, run_migrations=False)
    try:
        await create_period(pool, org=None, name="Jun-2024", start=date(2024, 6, 1),
                            end=date(2024, 6, 30), fiscal_year=2024)
    finally:
        await pool.close()
    assert (await verify(deployment.app_url))["ok"] is True


async def test_grants_cover_the_tables_a_later_migration_adds(deployment: Deployment) -> None:
    """grants.sql runs after every migration and can run any number of times."""
    owner = await asyncpg.connect(deployment.owner_url)
    try:
        await owner.execute("CREATE TABLE later_projection (id bigint GENERATED ALWAYS AS "
                            "IDENTITY PRIMARY KEY, name text NOT NULL)")
    finally:
        await owner.close()
    app = await connect_as_app(deployment)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError,
                           match="permission denied for table later_projection"):
            await app.execute("INSERT INTO later_projection (name) VALUES ('a')")

        await psql(deployment.owner_url, DEPLOY / "grants.sql", app=deployment.app,
                   schema=SCHEMA)
        await app.execute("INSERT INTO later_projection (name) VALUES ('a'), ('b')")
        await app.execute("UPDATE later_projection SET name = 'c' WHERE name = 'b'")
        await app.execute("DELETE FROM later_projection WHERE name = 'a'")
        assert await app.fetchval("SELECT array_agg(name) FROM later_projection") == ["c"]
        # ... and the log's restrictions hold after the second run too.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=DENIED_ON_EVENTS):
            await app.execute("DELETE FROM events")
    finally:
        await app.close()


async def test_serve_start_as_the_service_role_finds_nothing_to_migrate(
    deployment: Deployment,
) -> None:
    """``serve`` migrates at start; as the service role, after the owner migrated, that
    must find nothing to do and write nothing (it may not create or update anything)."""
    pool = await create_pool(deployment.app_url, run_migrations=True)  # as `ledger serve`
    try:
        async with pool.acquire() as conn:
            assert await pending_migrations(conn) == []
    finally:
        await pool.close()


def test_the_sql_files_take_every_name_as_a_variable() -> None:
    """No role or schema name is written into the SQL: compose and these tests pass them."""
    for name in ("roles.sql", "grants.sql"):
        text = (DEPLOY / name).read_text()
        code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        assert not re.search(r"\bledger_(owner|app)\b", code), name
        assert not re.search(r'(?<![:"])\bledger\b\.', code), name
