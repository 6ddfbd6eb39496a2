"""The test infrastructure itself: schema isolation, the broker, embedded servers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from services.config import Settings
from services.embedded import (
    embedded_kafka,
    embedded_postgres,
    free_port,
    kafka_metadata,
    resolved_servers,
)
from tests.helpers import MiB, consume_all, create_topic, produce, settings_env
from tests.servers import (
    Topics,
    UnusablePostgres,
    postgres_answers,
    run_in_thread,
    session_postgres,
)
from tests.tcp_proxy import postgres_endpoint, through

REPO = Path(__file__).resolve().parents[1]


def gone(pid: int, create_time: float) -> bool:
    """The process has exited (a zombie counts: it is only waiting to be reaped)."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def fetchval(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- PostgreSQL


async def test_database_url_puts_every_connection_in_the_test_schema(
    database_url: str, schema_name: str, pg_url: str
) -> None:
    assert f"search_path={schema_name}" in database_url
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select current_schema()") == schema_name
        await conn.execute("create table probe (x int)")
        assert await conn.fetchval("select 'probe'::regclass::text") == "probe"
        where = await conn.fetchval(
            "select table_schema from information_schema.tables where table_name = 'probe'"
        )
        assert where == schema_name
    finally:
        await conn.close()

    # Pooled connections keep it across release (RESET ALL goes back to the start-up value).
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        for _ in range(2):
            async with pool.acquire() as pooled:
                await pooled.execute("set search_path = public")  # undone by the reset
        async with pool.acquire() as pooled:
            assert await pooled.fetchval("select current_schema()") == schema_name
    finally:
        await pool.close()

    # A subprocess handed the URL lands in the schema too.
    script = textwrap.dedent(
        """
        import asyncio, sys, asyncpg
        async def main():
            conn = await asyncpg.connect(sys.argv[1])
            print(await conn.fetchval("select current_schema()"))
            await conn.close()
        asyncio.run(main())
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().strip() == schema_name

    # The server-level URL does not see the test's table.
    assert await fetchval(pg_url, "select to_regclass('probe')") is None


async def test_each_test_gets_an_empty_schema(database_url: str) -> None:
    count = await fetchval(
        database_url,
        "select count(*) from information_schema.tables where table_schema = current_schema()",
    )
    assert count == 0


def test_settings_fixture_and_env(
    settings: Settings, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.topic_billing == topics.billing != "billing.events"
    assert settings.consumer_group == topics.group
    assert settings.data_dir == tmp_path
    env = settings_env(settings)
    assert env["LEDGER_DATABASE_URL"] == settings.database_dsn()
    assert env["LEDGER_KAFKA_BOOTSTRAP"] == settings.kafka_bootstrap
    assert env["LEDGER_SESSION_TIMEOUT_MS"] == "2000"
    assert all(key.startswith("LEDGER_") for key in env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings(_env_file=None) == settings  # what a subprocess would load


def test_embedded_postgres_starts_answers_and_stops(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as url:
        assert url.startswith("postgresql://")
        assert run_in_thread(fetchval(url, "select 40 + 2")) == 42
        record = json.loads((tmp_path / "embedded-postgres.json").read_text())
        assert record["owner_pid"] == os.getpid()
        assert not gone(record["pid"], record["create_time"])
    assert gone(record["pid"], record["create_time"])
    assert not (tmp_path / "embedded-postgres.json").exists()


def as_role(url: str, role: str) -> str:
    """``url`` with another user name (a TCP URL, or the embedded server's socket URL)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))


def in_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


async def test_only_a_refused_connection_counts_as_no_local_server(pg_url: str) -> None:
    assert await postgres_answers(pg_url) is True
    nothing_there = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    assert await postgres_answers(nothing_there) is False

    with pytest.raises(UnusablePostgres, match='role "no_such_role" does not exist'):
        await postgres_answers(as_role(pg_url, "no_such_role"))
    with pytest.raises(UnusablePostgres, match='database "no_such_database" does not exist'):
        await postgres_answers(in_database(pg_url, "no_such_database"))

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    not_postgres = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        port = not_postgres.sockets[0].getsockname()[1]
        with pytest.raises(UnusablePostgres, match=f"PostgreSQL at 127.0.0.1:{port} cannot be "
                                                   "used for the tests"):
            await postgres_answers(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    finally:
        not_postgres.close()
        await not_postgres.wait_closed()


def test_the_session_falls_back_to_embedded_only_when_nothing_listens(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_TEST_DATABASE_URL", raising=False)
    refused = tmp_path / "refused"
    with session_postgres(refused, f"postgresql://postgres@127.0.0.1:{free_port()}/x") as url:
        assert url.startswith("postgresql://postgres@/postgres?host=")  # embedded, its socket
        assert run_in_thread(fetchval(url, "select 40 + 2")) == 42
    assert (refused / "postgres" / "PG_VERSION").exists()

    refusing = tmp_path / "refusing"
    with (pytest.raises(UnusablePostgres, match='role "no_such_role" does not exist'),
          session_postgres(refusing, as_role(pg_url, "no_such_role"))):
        pass
    assert not refusing.exists() or not any(refusing.iterdir())  # no embedded server started

    # A URL given is used as it is: neither probed nor replaced.
    monkeypatch.setenv("LEDGER_TEST_DATABASE_URL", "postgresql://given@db.example/x")
    with session_postgres(tmp_path / "given", as_role(pg_url, "no_such_role")) as url:
        assert url == "postgresql://given@db.example/x"


def test_the_outage_proxy_reaches_tcp_and_socket_urls_and_keeps_the_schema() -> None:
    tcp = "postgresql://postgres@127.0.0.1:5432/postgres?search_path=t_1"
    socket = "postgresql://postgres@/postgres?host=/tmp/pg%20x&search_path=t_1"
    assert postgres_endpoint(tcp) == ("127.0.0.1", 5432)
    assert postgres_endpoint(socket) == "/tmp/pg x/.s.PGSQL.5432"
    assert postgres_endpoint("postgresql://u:pw@[::1]:6000/db?port=6001") == ("::1", 6001)
    for url in (tcp, socket):
        assert through(url, 7000) == "postgresql://postgres@127.0.0.1:7000/postgres?search_path=t_1"
    assert through("postgresql://u:pw@db:5/x", 7000) == "postgresql://u:pw@127.0.0.1:7000/x"


# --------------------------------------------------------------------------- Kafka


async def test_roundtrip_keeps_keys_and_headers(kafka_bootstrap: str, topics: Topics) -> None:
    await create_topic(kafka_bootstrap, topics.billing, partitions=4)
    keys: list[bytes | None] = [f"org-{i}".encode() for i in range(10)]
    values = [json.dumps({"n": i}).encode() for i in range(10)]
    headers = [[("ledger-test", str(i).encode()), ("empty", b"")] for i in range(10)]
    sent = await produce(kafka_bootstrap, topics.billing, values, keys=keys, headers=headers)
    assert len({m.partition for m in sent}) > 1  # the keys spread over the 4 partitions

    records = await consume_all(kafka_bootstrap, topics.billing, expected=10)
    got = sorted((r.key, r.value, list(r.headers), r.partition, r.offset) for r in records)
    want = sorted(
        (k, v, h, m.partition, m.offset)
        for k, v, h, m in zip(keys, values, headers, sent, strict=True)
    )
    assert got == want


async def test_reading_all_goes_past_the_expected_count_to_the_end_of_every_partition(
    kafka_bootstrap: str, topics: Topics
) -> None:
    await create_topic(kafka_bootstrap, topics.billing, partitions=4)
    values = [f"v{i}".encode() for i in range(20)]
    await produce(kafka_bootstrap, topics.billing, values, keys=[b"one-key"] * 20)
    await produce(kafka_bootstrap, topics.billing, [b"v19"], keys=[b"one-key"])  # a duplicate
    records = await consume_all(kafka_bootstrap, topics.billing, expected=20)
    assert [r.value for r in records] == [*values, b"v19"]
    assert len({r.partition for r in records}) == 1  # three partitions are empty to the end
    assert len(await consume_all(kafka_bootstrap, topics.billing, expected=0)) == 21


async def test_two_megabyte_record(kafka_bootstrap: str, topics: Topics) -> None:
    await create_topic(
        kafka_bootstrap, topics.billing, configs={"max.message.bytes": str(16 * MiB)}
    )
    big = os.urandom(2 * MiB)  # incompressible
    await produce(kafka_bootstrap, topics.billing, [big, b"small"], keys=[b"a", b"a"])
    records = await consume_all(kafka_bootstrap, topics.billing, expected=2)
    assert [r.value for r in records] == [big, b"small"]


async def test_broker_answers_admin_metadata(kafka_bootstrap: str, topics: Topics) -> None:
    await create_topic(kafka_bootstrap, topics.dlq, partitions=2)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert topics.dlq in await admin.list_topics()
    finally:
        await admin.close()
    host, _, port = kafka_bootstrap.rpartition(":")
    assert await asyncio.to_thread(kafka_metadata, host, int(port))


def test_stale_broker_of_a_killed_run_is_stopped(tmp_path: Path) -> None:
    # Started from a non-main thread, the broker gets no parent-death signal, so it
    # outlives the SIGKILLed owner: the next start must find and stop it.
    script = textwrap.dedent(
        """
        import os, sys, threading
        from pathlib import Path
        from services.embedded import embedded_kafka
        def run():
            with embedded_kafka(Path(sys.argv[1])) as bootstrap:
                print(bootstrap, flush=True)
                os.kill(os.getpid(), 9)
        threading.Thread(target=run).start()
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    stale = json.loads((tmp_path / "embedded-kafka.json").read_text())
    assert not gone(stale["pid"], stale["create_time"])
    try:
        with embedded_kafka(tmp_path) as bootstrap:
            assert gone(stale["pid"], stale["create_time"])
            # A fresh broker (on the stale one's port or another), and it answers.
            fresh = json.loads((tmp_path / "embedded-kafka.json").read_text())
            assert fresh["pid"] != stale["pid"]
            assert fresh["address"] == bootstrap
            host, _, port = bootstrap.rpartition(":")
            assert kafka_metadata(host, int(port))
    finally:
        if not gone(stale["pid"], stale["create_time"]):
            os.kill(stale["pid"], signal.SIGKILL)


def test_sigterm_of_the_parent_stops_the_broker(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from services.embedded import embedded_kafka
        with embedded_kafka(Path(sys.argv[1])) as bootstrap:
            print(bootstrap, flush=True)
            sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip()  # ready
        record = json.loads((tmp_path / "embedded-kafka.json").read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert gone(record["pid"], record["create_time"])
    assert not (tmp_path / "embedded-kafka.json").exists()


# --------------------------------------------------------------------------- both


def test_resolved_servers_fills_only_unset_urls(tmp_path: Path) -> None:
    given = Settings(_env_file=None, database_url="postgresql://x/y", kafka_bootstrap="k:9092")
    with resolved_servers(given) as same:
        assert same is given

    unset = Settings(_env_file=None, database_url=None, kafka_bootstrap=None, data_dir=tmp_path)
    with resolved_servers(unset) as resolved:
        assert resolved.database_url and resolved.kafka_bootstrap
        assert unset.database_url is None  # a copy
        assert run_in_thread(fetchval(resolved.database_dsn(), "select 1")) == 1
        host, _, port = resolved.kafka_bootstrap.rpartition(":")
        assert kafka_metadata(host, int(port))
        records = [
            json.loads((tmp_path / f"embedded-{name}.json").read_text())
            for name in ("postgres", "kafka")
        ]
    for record in records:
        assert gone(record["pid"], record["create_time"])
    assert (tmp_path / "tansu.log").exists()
