"""Operators' tools on a realistic history: verify, rebuild, DLQ repair, replay, republish."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

import projections
from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.errors import NotFound
from services.journal.entries import cancel_entry, set_transfer_status
from services.journal.run import create_journal_run
from services.kafka_io import topic_partitions
from services.operations.dlq import list_rejected, replay_rejected
from services.operations.rebuild import drop_indexes, rebuild
from services.operations.replay import ReplayStart, replay
from services.operations.republish import republish
from services.operations.verify import verify
from services.samples import invoices, seed001_lines, to_lines
from tests.helpers import consume_all, produce, wait_until
from tests.integration.billing import status_changed
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, rows, scalar
from tests.integration.ledger_setup import set_up

CASH_APRIL = JournalRunRequest(types=("cash",), org="US", period="Apr-2024")
BILLING_APRIL = JournalRunRequest(types=("billing",), org="US", period="Apr-2024")


async def history(settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner) -> list[bytes]:
    """Seed 001 plus 50 invoices for US; runs, a transfer, a cancel and a re-run."""
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",))
    values = seed001_lines() + to_lines(invoices(50, lines=2, org="US", seed=9))
    await ingest.feed(values, stored=len(values), keys=[b"US"] * len(values))
    cash = await create_journal_run(pool, CASH_APRIL)
    billing = await create_journal_run(pool, BILLING_APRIL)
    await set_transfer_status(pool, cash["journal_entry_numbers"][0], "yes")
    await cancel_entry(pool, billing["journal_entry_numbers"][0])
    await create_journal_run(pool, BILLING_APRIL)
    return values


async def tables(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for projection in projections.ALL:
        for table in projection.tables:
            out[table] = await rows(pool, f"SELECT * FROM {table} t ORDER BY t::text")
    return out


async def test_verify_passes_on_a_real_history_and_names_each_corruption(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await history(settings, pool, ingest)
    clean = await verify(settings.database_dsn())
    assert clean["violations"] == []
    assert clean["ok"] is True

    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE pending_transactions SET amount = amount + 1 WHERE id = "
            "'8a368aeb800478018014b95455a'"
        )
        await conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'journal_entry'")
    report = await verify(settings.database_dsn())
    assert report["ok"] is False
    checks = sorted({v["check"] for v in report["violations"]})
    assert checks == ["entry_totals", "gapless_numbering", "projections_match_log"]
    details = " | ".join(v["detail"] for v in report["violations"])
    assert "pending_transactions: 1 rows differ" in details
    assert "journal_entry: counter at" in details


async def test_verify_names_a_journaled_transaction_the_projection_lost(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await history(settings, pool, ingest)
    entry = await scalar(pool, "SELECT journal_entry FROM journaled_transactions WHERE id = $1",
                         "8a368aeb800478018014b95455a")
    count = await scalar(pool, "SELECT transaction_count FROM journal_entries WHERE number = $1",
                         entry)
    await pool.execute("DELETE FROM journaled_transactions WHERE id = $1",
                       "8a368aeb800478018014b95455a")
    report = await verify(settings.database_dsn())
    membership = sorted(v["detail"] for v in report["violations"]
                        if v["check"] == "one_active_entry")
    assert membership == [
        f"{entry}: {count} transactions recorded, {count - 1} point at it",
        f"transaction electronic_payment_application_item 8a368aeb800478018014b95455a: "
        f"the log puts it in "
        f"{entry}, the projection in no entry",
    ]
    assert "journaled_transactions: 0 rows differ" in " | ".join(
        v["detail"] for v in report["violations"])


async def test_one_transaction_cannot_be_in_two_active_entries(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    """The primary key of journaled_transactions is the last guard, below the scope lock."""
    await history(settings, pool, ingest)
    row = await pool.fetchrow("SELECT type, id, journal_entry FROM journaled_transactions "
                              "ORDER BY type, id LIMIT 1")
    assert row is not None
    with pytest.raises(asyncpg.UniqueViolationError) as refused:
        await pool.execute("INSERT INTO journaled_transactions VALUES ($1, $2, 'JE-99999999')",
                           row["type"], row["id"])
    assert refused.value.constraint_name == "journaled_transactions_pkey"
    assert await scalar(pool, "SELECT journal_entry FROM journaled_transactions "
                              "WHERE type = $1 AND id = $2", row["type"], row["id"]) == \
        row["journal_entry"]


async def index_definitions(pool: asyncpg.Pool) -> dict[str, str]:
    found = await pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename IN ('pending_transactions', 'journaled_transactions')")
    return {r["indexname"]: r["indexdef"] for r in found}


async def test_rebuild_after_runs_and_cancels_equals_the_live_tables(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await history(settings, pool, ingest)
    await ingest.stop()
    live = await tables(pool)
    assert len(live["journal_runs"]) == 3
    assert sum(1 for e in live["journal_entries"] if e["status"] == "cancelled") == 1
    keys = await index_definitions(pool)
    assert sorted(keys) == ["journaled_transactions_entry_idx", "journaled_transactions_pkey",
                            "pending_transactions_date_idx", "pending_transactions_pkey"]
    async with pool.acquire() as conn:
        await rebuild(conn, page=7)
    assert await tables(pool) == live
    assert await index_definitions(pool) == keys  # the keys dropped for the fold are back
    async with pool.acquire() as conn:
        await rebuild(conn, ["journal"], page=1000)
    assert await tables(pool) == live


async def test_dlq_replay_stores_what_can_now_be_stored_and_keeps_the_rest(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    invoice = next(invoices(1, org=None, seed=55, prefix="LATE"))
    line_id = invoice["data"]["transactions"][0]["id"]
    early = [json.dumps(status_changed([("invoice_item", line_id, "posted")])).encode(),
             b"not json"]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, early, keys=[b"K"] * 2)
    ingest.start()

    async def refused() -> bool:
        return len(await list_rejected(pool)) == 2

    await wait_until(refused, message="both refused")
    assert [r["error_code"] for r in await list_rejected(pool, "unknown_transaction")] == [
        "unknown_transaction"]

    late = to_lines([invoice])
    await produce(settings.kafka_bootstrap, settings.topic_billing, late, keys=[b"K"])

    async def arrived() -> bool:
        return await billing_event_count(pool) == 1

    await wait_until(arrived, message="the transaction arrived")
    result = await replay_rejected(pool, max_bytes=settings.max_message_bytes)
    assert result == {"replayed": 2, "stored": 1, "already_stored": 0, "still_rejected": 1,
                      "reasons": ["invalid_json"]}
    left = await list_rejected(pool)
    assert [r["error_code"] for r in left] == ["invalid_json"]
    assert await scalar(pool, "SELECT status FROM pending_transactions WHERE id = $1",
                        line_id) == "posted"
    again = await replay_rejected(pool, max_bytes=settings.max_message_bytes,
                                  error_code="unknown_transaction")
    assert again["replayed"] == 0


async def test_replay_from_the_beginning_is_all_duplicates_and_from_a_timestamp_skips_older(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    older = to_lines(invoices(30, org="US", seed=61))
    newer = to_lines(invoices(20, org="US", seed=62))
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, older, keys=[b"US"] * 30,
                  timestamps=[1_700_000_000_000] * 30)
    await produce(settings.kafka_bootstrap, settings.topic_billing, newer, keys=[b"US"] * 20,
                  timestamps=[1_800_000_000_000] * 20)

    report = await replay(settings, pool, ReplayStart.parse(False, "2026-01-01T00:00:00Z", None))
    assert (report.read, report.skipped, report.stored, report.duplicates) == (50, 30, 20, 0)
    assert await billing_event_count(pool) == 20

    again = await replay(settings, pool, ReplayStart(from_beginning=True))
    assert (again.read, again.stored, again.duplicates, again.rejected) == (50, 30, 20, 0)
    assert await billing_event_count(pool) == 50

    partition = (await rows(pool, "SELECT DISTINCT (metadata->>'partition')::int AS p "
                                  "FROM events WHERE event_type = 'invoice.posted'"))[0]["p"]
    tail = await replay(settings, pool, ReplayStart.parse(False, None, f"{partition}:45"))
    assert (tail.read, tail.stored, tail.duplicates) == (5, 0, 5)


async def test_a_replay_names_a_missing_topic_or_partition_and_creates_neither(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    with pytest.raises(NotFound) as no_topic:
        await replay(settings, pool, ReplayStart(from_beginning=True))
    assert no_topic.value.code == "topic_not_found"
    assert await topic_partitions(settings, settings.topic_billing) == set()  # asked, not made

    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, [b"{}"], keys=[b"US"])
    partitions = await topic_partitions(settings, settings.topic_billing)
    assert partitions == set(range(len(partitions))) and partitions
    with pytest.raises(NotFound) as no_partition:
        await replay(settings, pool, ReplayStart(partition=len(partitions), offset=0))
    assert no_partition.value.code == "partition_not_found"
    assert await topic_partitions(settings, settings.topic_billing) == partitions


async def test_republish_sends_a_runs_events_again_with_their_event_ids(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await history(settings, pool, ingest)
    assert settings.kafka_bootstrap
    result = await republish(pool, settings, settings.topic_journal,
                             run="JR-00000002")
    # JR-2: its entries' created events, the cancel of its first entry, and the run itself
    expected = await rows(
        pool,
        "SELECT event_id FROM events WHERE event_type IN ('journal_entry.created', "
        "'journal_entry.cancelled', 'journal_run.completed') AND (payload->'data'->>'number' = "
        "'JR-00000002' OR payload->'data'->>'journal_run' = 'JR-00000002') ORDER BY position",
    )
    assert result["republished"] == len(expected)
    sent = await consume_all(settings.kafka_bootstrap, settings.topic_journal, len(expected))
    assert [json.loads(r.value)["event_id"] for r in sent] == [str(r["event_id"])
                                                                 for r in expected]
    assert all("internal" not in json.loads(r.value) for r in sent)


async def test_a_rebuild_pauses_writers_until_it_commits_and_refuses_none(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """The rebuild's lock, taken by hand here so the pause can be watched: a command that
    arrives meanwhile waits (it is not refused) and completes once the lock is gone."""
    from services.commands.orgs import create_org
    from services.store.locks import LOG_WRITERS

    async with pool.acquire() as rebuilding:
        transaction = rebuilding.transaction()
        await transaction.start()
        await rebuilding.execute("SELECT pg_advisory_xact_lock($1)", LOG_WRITERS)
        writer = asyncio.create_task(create_org(pool, "LATE"))

        async def writer_waits() -> bool:
            waiting = await scalar(
                pool, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            return bool(waiting)

        await wait_until(writer_waits, message="the command waits on the writers' lock")
        assert not writer.done()
        assert await scalar(pool, "SELECT count(*) FROM orgs") == 0
        await transaction.commit()
    assert await writer == {"name": "LATE"}
    assert await scalar(pool, "SELECT count(*) FROM orgs") == 1


async def test_dropping_a_pg_temp_key_leaves_the_live_table_alone(pool: asyncpg.Pool) -> None:
    """How verify drops its shadow tables' keys (``pg_temp.`` names): the live table of the
    same name keeps its key and is not even locked exclusively, so the ingest goes on."""
    async with pool.acquire() as conn, conn.transaction():
        schema = await conn.fetchval("SELECT current_schema()")
        await conn.execute("CREATE TEMP TABLE pending_transactions "
                           "(LIKE pending_transactions INCLUDING ALL) ON COMMIT DROP")
        temp = await conn.fetchval("SELECT nspname FROM pg_namespace "
                                   "WHERE oid = pg_my_temp_schema()")
        restore = await drop_indexes(conn, ["pg_temp.pending_transactions_pkey"])

        assert restore == [f'ALTER TABLE "{temp}"."pending_transactions" ADD CONSTRAINT '
                           '"pending_transactions_pkey" PRIMARY KEY (type, id)']
        assert await conn.fetchval("SELECT to_regclass('pg_temp.pending_transactions_pkey')") \
            is None
        assert await conn.fetchval(
            f"SELECT to_regclass('{schema}.pending_transactions_pkey') IS NOT NULL")
        modes = {r["mode"] for r in await conn.fetch(
            "SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND relation = $1::regclass",
            f"{schema}.pending_transactions")}
        assert "AccessExclusiveLock" not in modes
