"""Ingest from the real broker into real PostgreSQL: stored once, offsets with the events."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from services.config import Settings
from services.ingest import component
from services.ingest.app import run_ingest
from services.ingest.component import Ingest, IngestTotals
from services.ingest.parse_pool import ParsePool
from services.ingest.recovery import COMMAND_ATTEMPTS
from services.kafka_io import message_key
from services.operations.replay import ReplayStart, replay
from services.publisher import run_publisher
from services.samples import invoices, to_lines
from services.serve import run_parts
from tests.helpers import consume_all, produce, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, log_ends, scalar, stored_offsets

ORGS = ("US", "EU", "APAC", "UK", "JP")


def five_thousand_events() -> list[bytes]:
    """4,000 one-line invoices and 1,000 three-line invoices over five orgs."""
    values: list[bytes] = []
    for i, org in enumerate(ORGS):
        values += to_lines(invoices(800, lines=1, org=org, seed=10 + i))
        values += to_lines(invoices(200, lines=3, org=org, seed=20 + i, prefix="INV3"))
    return values


async def publish(settings: Settings, values: list[bytes]) -> None:
    assert settings.kafka_bootstrap
    await produce(
        settings.kafka_bootstrap,
        settings.topic_billing,
        values,
        keys=[message_key(v) for v in values],
    )


async def test_5000_events_are_stored_once_and_offsets_reach_the_log_end(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    values = five_thousand_events()
    await publish(settings, values)
    ingest.start()

    async def all_stored() -> bool:
        return await billing_event_count(pool) == 5000

    await wait_until(all_stored, timeout=120, message="5,000 events stored")
    assert settings.kafka_bootstrap
    ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 5000))

    async def offsets_at_end() -> bool:
        return await stored_offsets(pool, settings.consumer_group, settings.topic_billing) == ends

    await wait_until(offsets_at_end, message="stored offsets equal the log end")
    assert await billing_event_count(pool) == 5000
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 4000 + 3 * 1000
    assert await scalar(pool, "SELECT count(DISTINCT event_id) FROM events") == 5000
    assert await scalar(pool, "SELECT count(*) FROM rejected_messages") == 0
    assert ingest.stats.stored == 5000
    assert ingest.stats.duplicates == 0


async def test_the_same_events_again_and_with_a_new_group_store_nothing_new(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    values = to_lines(invoices(300, lines=2, org="US", seed=3)) + to_lines(
        invoices(300, lines=1, org="EU", seed=4)
    )
    await publish(settings, values)
    ingest.start()

    async def stored(n: int) -> bool:
        return await billing_event_count(pool) == n

    await wait_until(lambda: stored(600), message="first pass stored")
    total_lines = await scalar(pool, "SELECT count(*) FROM pending_transactions")
    assert total_lines == 300 * 2 + 300

    await publish(settings, values)
    assert settings.kafka_bootstrap
    ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 1200))

    async def caught_up(group: str) -> bool:
        return await stored_offsets(pool, group, settings.topic_billing) == ends

    await wait_until(lambda: caught_up(settings.consumer_group), message="re-sent batch read")
    assert await billing_event_count(pool) == 600
    # A rebalance may hand a batch in flight back to the group: re-reading is allowed (and
    # harmless), storing twice is not.
    assert ingest.stats.stored == 600
    assert ingest.stats.duplicates == ingest.stats.read - 600 >= 600

    other = ingest.start(consumer_group=settings.consumer_group + "-other")
    await wait_until(lambda: caught_up(settings.consumer_group + "-other"), message="new group")

    async def counted() -> bool:  # a batch is counted just after its commit, not with it
        return other.read >= 1200

    await wait_until(counted, message="the new group's batches counted")
    assert other.stored == 0
    assert other.duplicates == other.read >= 1200
    assert await billing_event_count(pool) == 600
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == total_lines


@pytest.mark.parametrize("statement", ["UPDATE events SET org = 'X'", "DELETE FROM events",
                                       "TRUNCATE events"])
async def test_the_event_log_refuses_update_delete_and_truncate(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner, statement: str
) -> None:
    await publish(settings, to_lines(invoices(3, org="US", seed=5)))
    ingest.start()

    async def stored() -> bool:
        return await billing_event_count(pool) == 3

    await wait_until(stored, message="three events stored")
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)
    assert await billing_event_count(pool) == 3


async def test_only_the_batches_in_hand_stay_in_memory(ingest: IngestRunner) -> None:
    """Once everything is stored, at most two batches' records are alive, not every batch a
    timer's context saw: a cancelled asyncpg idle timer kept its context, and with it a whole
    batch, for 300 s."""
    ingest.start(batch_max_records=100)
    await ingest.feed(to_lines(invoices(3_000, org="US", seed=41)), stored=3_000)

    live = sum(1 for o in gc.get_objects() if type(o) is ConsumerRecord)
    assert live <= 2 * 100


async def test_without_parse_workers_the_ingest_checks_in_its_own_process(
    ingest: IngestRunner, pool: asyncpg.Pool
) -> None:
    """LEDGER_PARSE_WORKERS=0: the same results, no child process."""
    ingest.start(parse_workers=0, batch_max_records=100)
    values = to_lines(invoices(500, lines=2, org="US", seed=43)) + [b"{not json"]
    await ingest.feed(values, stored=500)

    assert multiprocessing.active_children() == []
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 1_000

    async def refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(refused, message="the bad message recorded")
    assert await scalar(pool, "SELECT error_code FROM rejected_messages") == "invalid_json"


@pytest.fixture
def second_parse_fails(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ingest's second batch fails in its parse (as a bug would); returns the sizes of
    the batches handed to the parse, in order."""
    calls: list[int] = []
    real_parse = ParsePool.parse

    async def parse(self: ParsePool, records: Any) -> Any:
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("the second batch could not be parsed")
        return await real_parse(self, records)

    monkeypatch.setattr(ParsePool, "parse", parse)
    return calls


async def test_a_batch_that_failed_stops_the_ingest_and_nothing_later_is_stored(
    settings: Settings, pool: asyncpg.Pool, second_parse_fails: list[int]
) -> None:
    """A batch whose parse fails leaves the store where the batch before it left it (a later
    batch stored would have moved the offsets past the failed one's records), and the ingest
    stops by itself with the failure, instead of reading on and storing nothing."""
    await publish(settings, to_lines(invoices(100, org="US", seed=47)))
    stop = asyncio.Event()
    running = asyncio.create_task(run_ingest(settings.model_copy(
        update={"batch_max_records": 10}), pool, stop))

    with pytest.raises(RuntimeError, match="the second batch could not be parsed"):
        await asyncio.wait_for(running, timeout=60)  # nobody set stop: the ingest did
    assert stop.is_set()

    first_batch = second_parse_fails[0]
    assert await billing_event_count(pool) == first_batch
    offsets = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
    assert list(offsets.values()) == [first_batch]  # one org: one partition


async def test_the_service_stops_every_part_when_the_ingest_fails(
    settings: Settings, pool: asyncpg.Pool, second_parse_fails: list[int]
) -> None:
    """``ledger serve``'s parts: the ingest's failure stops the publisher too (it leaves its
    loop as on SIGTERM, without error) and is what the service fails with."""
    assert settings.kafka_bootstrap
    await publish(settings, to_lines(invoices(100, org="US", seed=48)))
    stop = asyncio.Event()
    ingest = run_ingest(settings.model_copy(update={"batch_max_records": 10}), pool, stop)
    publisher_stopped = asyncio.Event()

    async def publisher() -> None:
        assert settings.kafka_bootstrap
        await run_publisher(pool, settings, settings.topic_journal, stop)
        publisher_stopped.set()  # not cancelled on the way: its producer closed in order

    with pytest.raises(RuntimeError, match="the second batch could not be parsed"):
        await asyncio.wait_for(run_parts({"ingest": ingest, "publisher": publisher()}, stop),
                               timeout=60)
    assert stop.is_set() and publisher_stopped.is_set()
    assert await billing_event_count(pool) == second_parse_fails[0]


@pytest.fixture
def ingests_made(monkeypatch: pytest.MonkeyPatch) -> list[Ingest]:
    """Every ingest component made from now on, in order."""
    made: list[Ingest] = []

    class Recorded(Ingest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(component, "Ingest", Recorded)
    return made


async def test_the_service_and_replay_drive_the_same_ingest_component(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner, ingests_made: list[Ingest]
) -> None:
    """Both readers hand their batches to one ``Ingest`` each and report its totals; only
    the retry policy differs: the service waits for the database for ever, a replay gives
    up after a few attempts."""
    await ingest.feed([*to_lines(invoices(20, org="US", seed=71)), b"{not json"], stored=20,
                      keys=[b"US"] * 21)

    async def refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(refused, message="the bad message recorded")
    await ingest.stop()
    report = await replay(settings, pool, ReplayStart(from_beginning=True))

    service, replayed = ingests_made
    assert (service.totals, service.attempts) == (ingest.stats, None)
    assert ingest.stats == IngestTotals(batches=ingest.stats.batches, read=21, stored=20,
                                        rejected=1)
    assert (replayed.totals, replayed.attempts) == (report, COMMAND_ATTEMPTS)
    assert report == IngestTotals(batches=report.batches, read=21, duplicates=21)
