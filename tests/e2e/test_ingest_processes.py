"""The ingest as real processes: kill -9 mid-stream, and two members of one group.

Exactly once is shown from both sides: the store holds every event once, the DLQ topic (read
to its end) and ``rejected_messages`` hold nothing, and with two members each process's own
``ledger_ingest_events_total`` says how many it stored: both stored some, together all.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from services.config import Settings
from services.embedded import free_port
from services.samples import invoices, to_lines
from tests.helpers import consume_all, create_topic, process_env, produce, wait_until
from tests.integration.db import billing_event_count, log_ends, scalar, stored_offsets
from tests.integration.http_api import bearer, metric_values

pytestmark = pytest.mark.slow

ORGS = ("US", "EU", "APAC", "UK", "JP", "BR", "IN", "DE")


class Ingests:
    """``ledger serve --ingest`` child processes, with their logs on disk."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *parts: str, **extra: str) -> subprocess.Popen[bytes]:
        """``serve --ingest`` (and the other ``parts`` named, e.g. ``--api``)."""
        log = self.folder / f"ingest-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "--ingest", *parts],
            env=process_env(self.settings, **extra),
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        self.procs.append((proc, log))
        return proc

    def assignments(self, index: int) -> list[set[int]]:
        text = self.procs[index][1].read_text(errors="replace")
        return [
            {int(p) for p in m.group(1).split(",") if p}
            for m in re.finditer(r"assigned partitions ([0-9,]*) of", text)
        ]

    def stop_all(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def ingests(settings: Settings, tmp_path: Path) -> Iterator[Ingests]:
    runner = Ingests(settings, tmp_path)
    yield runner
    runner.stop_all()


async def nothing_refused(settings: Settings, pool: asyncpg.Pool) -> None:
    """No message went to the DLQ: its topic, read to the end, is empty, and so is the
    table of refusals."""
    assert settings.kafka_bootstrap
    assert await consume_all(settings.kafka_bootstrap, settings.topic_dlq, 0) == []
    assert await scalar(pool, "SELECT count(*) FROM rejected_messages") == 0


async def stored_by(port: int, headers: dict[str, str]) -> int:
    """Billing events the ``serve`` process on ``port`` stored itself (its own counter)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers,
                                 timeout=30) as client:
        values = await metric_values(client)
    return int(sum(value for (name, _), value in values.items()
                   if name == "ledger_ingest_events_total"))


def stream(count: int) -> tuple[list[bytes], list[bytes]]:
    values: list[bytes] = []
    per_org = count // len(ORGS)
    for i, org in enumerate(ORGS):
        values += to_lines(invoices(per_org, org=org, seed=200 + i))
    keys = [org.encode() for org in ORGS for _ in range(per_org)]
    return values, keys


async def test_kill_9_mid_stream_then_restart_stores_every_event_exactly_once(
    settings: Settings, pool: asyncpg.Pool, ingests: Ingests
) -> None:
    assert settings.kafka_bootstrap
    values, keys = stream(20_000)
    await create_topic(settings.kafka_bootstrap, settings.topic_dlq)  # to read it to its end
    await produce(settings.kafka_bootstrap, settings.topic_billing, values, keys=keys)
    first = ingests.start(LEDGER_BATCH_MAX_RECORDS="250")

    async def some_stored() -> bool:
        return await billing_event_count(pool) >= 2_000

    await wait_until(some_stored, timeout=120, message="ingest under way")
    children = psutil.Process(first.pid).children()  # the parse worker, and multiprocessing's
    workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]  # resource tracker
    assert len(workers) == 1, "one parse worker (LEDGER_PARSE_WORKERS=1)"
    first.kill()  # SIGKILL: no cleanup, no graceful stop
    first.wait()
    at_kill = await billing_event_count(pool)
    assert 2_000 <= at_kill < 20_000, "the kill must land mid-stream"

    def alive(child: psutil.Process) -> bool:
        try:
            return child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    async def children_gone() -> bool:
        return not any(alive(c) for c in children)

    await wait_until(children_gone, timeout=10, message="the parse worker leaves with its parent")

    ingests.start()

    async def all_stored() -> bool:
        return await billing_event_count(pool) == 20_000

    await wait_until(all_stored, timeout=180, message="every event after restart")
    ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 20_000))

    async def offsets_at_end() -> bool:
        got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
        return got == ends

    await wait_until(offsets_at_end, message="stored offsets at the log end")
    assert await scalar(pool, "SELECT count(DISTINCT event_id) FROM events") == 20_000
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 20_000
    await nothing_refused(settings, pool)


async def test_two_ingest_processes_share_the_partitions_and_store_each_event_once(
    settings: Settings, pool: asyncpg.Pool, ingests: Ingests
) -> None:
    assert settings.kafka_bootstrap
    values, keys = stream(8_000)
    await create_topic(settings.kafka_bootstrap, settings.topic_dlq)  # to read it to its end
    ports = [free_port(), free_port()]
    for port in ports:  # --api too: each process's /metrics tells what it stored
        ingests.start("--api", LEDGER_HTTP_PORT=str(port))

    async def shared() -> bool:
        a, b = ingests.assignments(0), ingests.assignments(1)
        return bool(a and b and a[-1] and b[-1] and not (a[-1] & b[-1])
                    and len(a[-1] | b[-1]) == 4)

    await wait_until(shared, timeout=90, message="both members hold partitions")
    await produce(settings.kafka_bootstrap, settings.topic_billing, values, keys=keys)

    async def all_stored() -> bool:
        return await billing_event_count(pool) == 8_000

    await wait_until(all_stored, timeout=120, message="every event stored")
    ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 8_000))

    async def offsets_at_end() -> bool:
        got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
        return got == ends

    await wait_until(offsets_at_end, message="stored offsets at the log end")
    assert await scalar(pool, "SELECT count(DISTINCT event_id) FROM events") == 8_000
    assert await billing_event_count(pool) == 8_000
    assert len(ends) > 1, "the stream must span several partitions"
    viewer = await bearer(pool, "viewer")
    first, second = [await stored_by(port, viewer) for port in ports]
    assert first > 0 and second > 0, (first, second)  # both members stored events ...
    assert first + second == 8_000  # ... and together each one once
    await nothing_refused(settings, pool)
