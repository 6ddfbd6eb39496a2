"""Configuration as an operator meets it: typos refused, embedded servers announced, one clear
line per unreachable or misconfigured server, explicit migrations, JSON logs without secrets.

Each case is a ``python -m services.cli`` subprocess; independent ones run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.config import Settings
from services.embedded import free_port
from services.store.migrate import migration_files
from tests.e2e.test_cli import Serve
from tests.helpers import process_env, wait_until
from tests.servers import create_schema, drop_schema, with_query_params

NAMES = [name for _, name, _ in migration_files()]
NOTICE = "starting embedded"
PASSWORD = "pw-7731-never-shown"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def document(self) -> Any:
        return json.loads(self.out)  # exactly one JSON document on stdout

    @property
    def error(self) -> dict[str, str]:
        error: dict[str, str] = self.document["error"]
        return error


async def ledger(env: dict[str, str], *args: str, cwd: Path | None = None) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def without_servers(settings: Settings, **extra: str) -> dict[str, str]:
    """The test's environment with neither URL set (what makes the CLI start embedded ones)."""
    env = process_env(settings, **extra)
    for name in ("LEDGER_DATABASE_URL", "LEDGER_KAFKA_BOOTSTRAP"):
        env.pop(name)
    return env


def with_password(url: str) -> str:
    """``url`` with a password (ignored by trust auth) unless it has one already."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user or 'postgres'}:{PASSWORD}@{host}"))


def embedded_files(data_dir: Path) -> list[Path]:
    """What an embedded server leaves in its data directory (pid records, cluster)."""
    return [*data_dir.glob("embedded-*.json"), *data_dir.glob("postgres*")]


def secret_of(url: str) -> str:
    password = urlsplit(url).password
    assert password
    return password


async def test_a_mistyped_setting_is_refused_before_any_server_starts(
    settings: Settings, tmp_path: Path
) -> None:
    typo = without_servers(settings, LEDGER_DATABSE_URL=settings.database_dsn())
    dotenv = tmp_path / "project"
    dotenv.mkdir()
    (dotenv / ".env").write_text("LEDGER_TOPIC_BILING=billing.events\n")
    bad_port = process_env(settings, LEDGER_HTTP_PORT="abc")
    typed, in_dotenv, invalid = await asyncio.gather(
        ledger(typo, "status", "--json"),
        ledger(process_env(settings), "orgs", "list", "--json", cwd=dotenv),
        ledger(bad_port, "status", "--json"),
    )
    assert (typed.code, typed.error["code"]) == (2, "setting_unknown")
    assert typed.error["message"].startswith(
        "LEDGER_DATABSE_URL is not a setting (did you mean LEDGER_DATABASE_URL?)")
    assert NOTICE not in typed.err
    assert embedded_files(tmp_path) == []  # no server was started
    assert (in_dotenv.code, in_dotenv.error["code"]) == (2, "setting_unknown")
    assert "LEDGER_TOPIC_BILING is not a setting (did you mean LEDGER_TOPIC_BILLING?)" in (
        in_dotenv.error["message"])
    assert (invalid.code, invalid.error) == (2, {
        "code": "setting_invalid",
        "message": "LEDGER_HTTP_PORT: Input should be a valid integer, unable to parse string "
                   "as an integer (got 'abc')"})
    for run in (typed, in_dotenv, invalid):
        assert "Traceback" not in run.err


async def test_embedded_servers_are_announced_once_on_stderr(
    settings: Settings, tmp_path: Path
) -> None:
    env = without_servers(settings, LEDGER_DATA_DIR=str(tmp_path / "data"))
    migrated = await ledger(env, "migrate", "--json")
    assert migrated.code == 0, migrated.err
    assert migrated.document == {"applied": NAMES, "current": migration_files()[-1][0]}
    assert migrated.err.splitlines() == [  # PostgreSQL only: migrate needs no broker
        f"starting embedded PostgreSQL (data in {tmp_path / 'data'}); "
        "set LEDGER_DATABASE_URL to use your own server"]

    shown = await ledger(env, "settings", "show", "--json")
    assert shown.code == 0, shown.err
    assert shown.document == {"settlement": "invoice_settlement", "harmonization": False,
                              "multi_org": False}
    notices = [line for line in shown.err.splitlines() if NOTICE in line]
    assert notices == [
        f"starting embedded PostgreSQL and Kafka-compatible broker (data in {tmp_path / 'data'}"
        "; the broker keeps messages in memory); set LEDGER_DATABASE_URL and "
        "LEDGER_KAFKA_BOOTSTRAP to use your own servers"]


async def test_an_unreachable_or_misconfigured_server_is_one_line_naming_the_setting(
    settings: Settings, pg_url: str, schema_name: str, tmp_path: Path
) -> None:
    server = urlsplit(with_password(pg_url))
    assert server.hostname is not None or "host=" in server.query
    urls = {
        "refused": with_password(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"),
        "unknown host": with_password("postgresql://postgres@no-such-host.invalid/postgres"),
        "unknown database": urlunsplit(server._replace(path=f"/{schema_name}_nodb")),
        "no such schema": with_query_params(urlunsplit(server),
                                            search_path=f"{schema_name}_none"),
    }
    expected = {
        "refused": ("unavailable", "connection refused at "),
        "unknown host": ("configuration", "unknown host in "),
        "unknown database": ("configuration", f'database "{schema_name}_nodb" does not exist'),
        "no such schema": ("configuration", f"no schema of the search_path ({schema_name}_none)"),
    }
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "x"}\n')
    broker_away = process_env(settings, LEDGER_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    runs = await asyncio.gather(
        *(ledger(process_env(settings, LEDGER_DATABASE_URL=url), "settings", "show", "--json")
          for url in urls.values()),
        ledger(process_env(settings, LEDGER_DATABASE_URL=urls["refused"]), "settings", "show"),
        ledger(process_env(settings, LEDGER_DATABASE_URL=urls["no such schema"]),
               "--debug", "settings", "show", "--json"),
        ledger(broker_away, "publish", str(events), "--json"),
    )
    for (case, url), run in zip(urls.items(), runs, strict=False):
        code, says = expected[case]
        assert (run.code, run.error["code"]) == (1, code), (case, run.err)
        assert run.error["message"].startswith("LEDGER_DATABASE_URL: "), case
        assert says in run.error["message"], (case, run.error["message"])
        assert secret_of(url) not in run.out + run.err
        assert "Traceback" not in run.err, case
    plain, debug, broker = runs[len(urls):]
    assert plain.code == 1 and plain.out == ""
    assert plain.err.splitlines() == [  # one line for people, too
        f"error unavailable: {runs[0].error['message']}"]
    assert debug.code == 1 and debug.error["code"] == "configuration"
    assert "Traceback (most recent call last)" in debug.err
    assert (broker.code, broker.error["code"]) == (1, "unavailable")
    assert broker.error["message"].startswith("LEDGER_KAFKA_BOOTSTRAP: no Kafka broker answers")
    assert "Traceback" not in broker.err


async def test_only_migrate_changes_the_schema_and_a_changed_file_is_refused(
    settings: Settings, database_url: str
) -> None:
    env = process_env(settings)
    refused = await ledger(env, "orgs", "list", "--json")
    assert (refused.code, refused.error) == (1, {
        "code": "schema_outdated",
        "message": "the database has no ledger schema yet; run `ledger migrate`"})
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM information_schema.tables "
                                   "WHERE table_schema = current_schema()") == 0

        first = await ledger(env, "migrate", "--json")
        assert (first.code, first.document) == (0, {"applied": NAMES,
                                                    "current": migration_files()[-1][0]})
        again, listed, plain = await asyncio.gather(
            ledger(env, "migrate", "--json"), ledger(env, "orgs", "list", "--json"),
            ledger(env, "migrate"))
        assert again.document == {"applied": [], "current": migration_files()[-1][0]}
        assert (listed.code, listed.document) == (0, [])
        assert plain.out.splitlines() == [
            f"schema at version {migration_files()[-1][0]} (up to date, nothing applied)"]

        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        changed = await ledger(env, "migrate", "--json")
        assert (changed.code, changed.error["code"]) == (4, "migration_checksum_mismatch")
        assert NAMES[0] in changed.error["message"]

        await conn.execute("INSERT INTO schema_migrations (version, name) "
                           "VALUES (9999, '9999_from_the_future.sql')")
        newer = await ledger(env, "orgs", "list", "--json")
        assert (newer.code, newer.error["code"]) == (1, "schema_newer_than_code")
        assert "9999_from_the_future.sql" in newer.error["message"]
    finally:
        await conn.close()


async def test_serve_migrates_at_start_and_logs_json_lines_without_the_password(
    settings: Settings, pg_url: str, schema_name: str, tmp_path: Path
) -> None:
    schema = f"{schema_name}_serve"
    await create_schema(pg_url, schema)
    url = with_query_params(with_password(pg_url), search_path=schema)
    log = tmp_path / "serve.log"
    serve = Serve(settings, log, "--publisher", LEDGER_DATABASE_URL=url,
                  LEDGER_LOG_FORMAT="json", LEDGER_LOG_LEVEL="info")
    try:
        async def started() -> bool:
            return "serving: publisher" in log.read_text(errors="replace")

        await wait_until(started, timeout=60, message="serve starts")
    finally:
        code = await serve.terminate()
        await drop_schema(pg_url, schema)
    assert code == 0, serve.text()
    lines = serve.text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [(r["logger"], r["message"]) for r in records]
    assert [m for m in messages if m[0] == "ledger.migrate"] == [
        ("ledger.migrate", f"applied migration {name}") for name in NAMES]
    assert ("ledger.serve", "serving: publisher") in messages
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert secret_of(url) not in serve.text()
