"""The outbox relay on the real broker: a crash between send and mark loses nothing."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import date

import asyncpg

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.entries import cancel_entry, set_transfer_status
from services.journal.run import create_journal_run
from services.kafka_io import message_key
from services.kafka_io import producer as make_producer
from services.publisher import fetch_unsent, run_publisher, send_batch
from services.samples import invoices, to_lines
from tests.helpers import consume_all, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

ORGS = ("US", "EU")


async def unsent(pool: asyncpg.Pool) -> int:
    return int(await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def journal_two_orgs(settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner) -> None:
    """Invoices for US and EU in April and May, runs interleaved, one cancel, one transfer."""
    await set_up(pool, settings={"settlement": "invoice_settlement", "multi_org": "true"},
                 orgs=ORGS)
    values: list[bytes] = []
    for i, org in enumerate(ORGS):
        values += to_lines(invoices(60, org=org, seed=40 + i, start=date(2024, 4, 1), days=61))
    await ingest.feed(values, stored=120, keys=[message_key(v) for v in values])
    numbers: dict[str, list[str]] = defaultdict(list)
    for period in ("Apr-2024", "May-2024"):
        for org in ORGS:
            run = await create_journal_run(
                pool, JournalRunRequest(types=("invoice_item",), org=org, period=period))
            numbers[org] += run["journal_entry_numbers"]
    await cancel_entry(pool, numbers["US"][0])
    await set_transfer_status(pool, numbers["EU"][0], "yes")


async def test_a_crash_between_send_and_mark_sends_again_and_loses_nothing(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await journal_two_orgs(settings, pool, ingest)
    outbox = await rows(pool, "SELECT id, event_id, key, event_type FROM outbox ORDER BY id")
    assert {r["key"] for r in outbox} == set(ORGS)
    total = len(outbox)
    # 4 runs (entries + completion), 1 cancel, 1 transfer: at least 4 * 2 + 2 events
    assert total >= 10
    assert await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 0

    # The crash: a batch reaches the broker, the process dies before marking it sent.
    assert settings.kafka_bootstrap
    crashed = await fetch_unsent(pool, batch=total // 2)
    assert {r["key"] for r in crashed} == set(ORGS)
    async with make_producer(settings) as producer:
        await send_batch(producer, settings.topic_journal, crashed)
    assert await unsent(pool) == total

    stop = asyncio.Event()
    publisher = asyncio.create_task(
        run_publisher(pool, settings, settings.topic_journal, stop))
    try:
        async def all_marked() -> bool:
            return await unsent(pool) == 0

        await wait_until(all_marked, message="the publisher marks every outbox row sent")
        published = await consume_all(settings.kafka_bootstrap, settings.topic_journal,
                                      total + len(crashed))
    finally:
        stop.set()
        await asyncio.wait_for(publisher, timeout=30)

    assert len(published) == total + len(crashed)
    # The crashed batch arrived twice, with the same event ids; everything else once.
    event_ids = [json.loads(r.value)["event_id"] for r in published]
    assert set(event_ids) == {str(r["event_id"]) for r in outbox}
    twice = {e for e in event_ids if event_ids.count(e) == 2}
    assert twice == {str(r["event_id"]) for r in crashed}
    # Per org, what a consumer reads is the crashed prefix, then the whole outbox, in order.
    consumed: dict[str, list[str]] = defaultdict(list)
    for record in published:
        assert record.key is not None
        consumed[record.key.decode()].append(json.loads(record.value)["event_id"])
    for org in ORGS:
        expected = [str(r["event_id"]) for r in crashed if r["key"] == org]
        expected += [str(r["event_id"]) for r in outbox if r["key"] == org]
        assert consumed[org] == expected, org
    for record in published:
        message = json.loads(record.value)
        assert dict(record.headers)["event_type"].decode() == message["event_type"]
        assert "internal" not in message
        assert message["org"] == record.key.decode()


async def test_two_publishers_at_once_send_each_event_once(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await journal_two_orgs(settings, pool, ingest)
    outbox = await rows(pool, "SELECT event_id FROM outbox ORDER BY id")
    assert settings.kafka_bootstrap
    stop = asyncio.Event()
    publishers = [
        asyncio.create_task(run_publisher(pool, settings,
                                          settings.topic_journal, stop, idle_seconds=0.01))
        for _ in range(2)
    ]
    try:
        async def all_marked() -> bool:
            return await unsent(pool) == 0

        await wait_until(all_marked, message="every outbox row sent")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*publishers), timeout=30)
    # Both relays have stopped, so everything they sent is on the topic. A sentinel at the
    # end of every partition tells the reader it has seen it all (no timeout as a guess).
    async with make_producer(settings) as producer:
        partitions = sorted(await producer.partitions_for(settings.topic_journal))
        for partition in partitions:
            await (await producer.send(settings.topic_journal, b"{}", partition=partition))
    published = await consume_all(settings.kafka_bootstrap, settings.topic_journal,
                                  len(outbox) + len(partitions))
    assert len(published) == len(outbox) + len(partitions)
    sentinels = [r for r in published if r.value == b"{}"]
    assert sorted(r.partition for r in sentinels) == partitions
    assert sorted(json.loads(r.value)["event_id"] for r in published if r.value != b"{}") == (
        sorted(str(r["event_id"]) for r in outbox))
