"""A rebuild while the ingest stores a stream: the ingest pauses at its next append for the
rebuild's whole transaction, then stores everything, each event once, into the rebuilt tables.

The rebuild here is ``services.operations.rebuild.rebuild`` itself. To watch it
mid-transaction without guessing its duration, the test holds a read lock on the first table
it truncates: the rebuild then waits there, inside its transaction, holding the log writers'
lock it took first, for as long as the test needs to look. Releasing the read lock lets it
finish.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg

import projections
from services.config import Settings
from services.operations.rebuild import rebuild
from services.samples import invoices, to_lines
from services.store.locks import LOG_WRITERS
from services.store.pool import create_pool
from tests.helpers import consume_all, produce, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, log_ends, rows, scalar, stored_offsets
from tests.servers import with_query_params

INGEST_APPLICATION = "ledger-test-ingest"
#: The first table the rebuild truncates (the first projection's): where the test holds it.
FIRST_TRUNCATED = projections.ALL[0].tables[0]

#: Backends waiting for, or holding, the log writers' advisory lock (a bigint key: the high
#: half in classid, the low half in objid, objsubid 1).
_WRITERS_LOCK = """
SELECT l.pid, l.mode, l.granted, a.application_name
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
"""


async def tables(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {table: await rows(pool, f"SELECT * FROM {table} t ORDER BY t::text")
            for projection in projections.ALL for table in projection.tables}


async def writers_lock(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return await rows(pool, _WRITERS_LOCK, LOG_WRITERS >> 32, LOG_WRITERS & 0xFFFFFFFF)


async def test_a_rebuild_pauses_the_ingest_mid_stream_which_then_stores_everything_once(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    assert settings.kafka_bootstrap
    first = to_lines(invoices(1500, org="US", seed=81))
    second = to_lines(invoices(1500, lines=2, org="US", seed=82))
    total = len(first) + len(second)
    ingest_pool = await create_pool(
        with_query_params(settings.database_dsn(), application_name=INGEST_APPLICATION),
        max_size=2)
    runner = IngestRunner(settings.model_copy(update={"batch_max_records": 25}), ingest_pool)
    blocker = await pool.acquire()
    rebuilding = await pool.acquire()
    rebuild_pid = rebuilding.get_server_pid()
    hold = blocker.transaction()
    holding = False
    try:
        await produce(settings.kafka_bootstrap, settings.topic_billing, first,
                      keys=[b"US"] * len(first))
        runner.start()

        async def under_way() -> bool:
            return await billing_event_count(pool) >= 100

        await wait_until(under_way, message="the ingest stores the stream")
        await hold.start()
        holding = True
        await blocker.execute(f"LOCK TABLE {FIRST_TRUNCATED} IN ACCESS SHARE MODE")
        rebuild_task = asyncio.create_task(rebuild(rebuilding))
        # More of the stream arrives while the rebuild runs: the ingest has work either way.
        await produce(settings.kafka_bootstrap, settings.topic_billing, second,
                      keys=[b"US"] * len(second))

        async def ingest_paused() -> bool:
            """The rebuild holds the writers' lock exclusively and the ingest waits for it."""
            lock = await writers_lock(pool)
            rebuild_holds = [r for r in lock if r["pid"] == rebuild_pid]
            ingest_waits = [r for r in lock if r["application_name"] == INGEST_APPLICATION]
            return ([(r["mode"], r["granted"]) for r in rebuild_holds] == [("ExclusiveLock", True)]
                    and bool(ingest_waits)
                    and {(r["mode"], r["granted"]) for r in ingest_waits} == {
                        ("ShareLock", False)})

        await wait_until(ingest_paused, message="the ingest waits for the rebuild")
        paused_at = await billing_event_count(pool)
        batches_at = runner.stats.batches
        head_at = await scalar(pool, "SELECT max(position) FROM events")
        window_opened: datetime = await scalar(pool, "SELECT clock_timestamp()")
        assert 100 <= paused_at < total
        # The stream is still there to store; the ingest has stored nothing since: still
        # waiting, with the rebuild still in its transaction.
        await wait_until(ingest_paused, message="the ingest still waits")
        assert await billing_event_count(pool) == paused_at
        assert runner.stats.batches == batches_at
        window_closed: datetime = await scalar(pool, "SELECT clock_timestamp()")
        assert not rebuild_task.done()

        await hold.rollback()  # the rebuild goes on, commits, and the ingest with it
        holding = False
        head = await asyncio.wait_for(rebuild_task, timeout=120)
        # The rebuild folded exactly what was stored before it took the lock ...
        assert head == head_at
        # ... and nothing was appended while it held it.
        assert await scalar(
            pool, "SELECT count(*) FROM events WHERE recorded_at BETWEEN $1 AND $2",
            window_opened, window_closed) == 0

        async def all_stored() -> bool:
            return await billing_event_count(pool) == total

        await wait_until(all_stored, timeout=120, message="the whole stream after the rebuild")
        ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing,
                                          total))

        async def offsets_at_end() -> bool:
            got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
            return got == ends

        await wait_until(offsets_at_end, message="stored offsets at the log end")
    finally:
        if holding:
            await hold.rollback()
        await runner.stop()
        await ingest_pool.close()
        await pool.release(blocker)
        await pool.release(rebuilding)

    assert runner.stats.batches > batches_at  # it resumed
    assert await scalar(pool, "SELECT count(DISTINCT event_id) FROM events") == total
    assert await scalar(pool, "SELECT count(*) FROM rejected_messages") == 0
    # The rebuilt tables, with what the ingest applied after the rebuild, are a fold of the
    # whole log: one more rebuild from scratch changes nothing.
    live = await tables(pool)
    transactions = len(first) + 2 * len(second)
    assert len(live["pending_transactions"]) == transactions
    assert await scalar(pool, "SELECT count(*) FROM events WHERE position > $1",
                        head) == total - paused_at  # stored after the rebuild, and folded
    async with pool.acquire() as conn:
        assert await rebuild(conn) == await scalar(pool, "SELECT max(position) FROM events")
    assert await tables(pool) == live
