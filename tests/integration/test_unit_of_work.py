"""Every write is one unit of work: locks in one order, append, fold, outbox; the outbox
refuses a payload its model would not write, so nothing of that unit is kept; reads take no
write lock; a unit that asks to keep nothing (a dry run) keeps nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.commands.orgs import create_org, list_orgs
from services.commands.periods import list_period_records, list_periods
from services.journal.run import create_journal_run
from services.journal.views import get_run, list_entries
from services.reports import pending_report
from services.store import log
from services.store.locks import LOG_WRITERS
from services.store.unit_of_work import OutboundRefused, pause_writers, unit_of_work
from tests.helpers import wait_until
from tests.integration.billing import billing_event, store_lines, txn
from tests.integration.db import scalar
from tests.integration.ledger_setup import set_up

APRIL = JournalRunRequest(types=("invoice_item",), period="Apr-2024")

WRITTEN = ("events", "outbox", "journal_entries", "journal_entry_lines", "orgs")


async def written(pool: asyncpg.Pool) -> dict[str, int]:
    return {table: int(await scalar(pool, f"SELECT count(*) FROM {table}"))
            for table in WRITTEN}


def entry_data(**changes: Any) -> dict[str, Any]:
    """A ``journal_entry.created`` data of run JR-00000001 as the model writes it."""
    data: dict[str, Any] = {
        "number": "JE-00000099", "journal_run": "JR-00000001", "org": None,
        "accounting_period": "Apr-2024", "journal_entry_date": "2024-04-30",
        "transaction_type": "invoice_item", "currency": "USD", "segments": {},
        "lines": [{"account": "AR", "side": "debit", "amount": "12.50"},
                  {"account": "Revenue", "side": "credit", "amount": "12.50"}],
        "total_debit": "12.50", "total_credit": "12.50", "transaction_count": 0,
        "status": "created", "transfer_status": "no", "reverses": None,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def entry_event(data: dict[str, Any]) -> log.NewEvent:
    """An entry event made by hand, as a buggy command could make one."""
    event_id = uuid.uuid4()
    text = json.dumps({"event_id": str(event_id), "event_type": "journal_entry.created",
                       "occurred_at": "2024-05-01T00:00:00Z", "org": None,
                       "schema_version": 1, "data": data,
                       "internal": {"debit_account": "AR", "members": []}})
    return log.NewEvent(stream=f"journal_entry:{data['number']}", event_id=event_id,
                        event_type="journal_entry.created", org=None, payload=text,
                        body_hash=hashlib.sha256(text.encode()).digest())


async def a_run(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "I-1", date(2024, 4, 3), "12.50")])
    await create_journal_run(pool, APRIL)


@pytest.mark.parametrize(("why", "data", "refusal"), [
    # (totals that differ never get this far: a constraint of journal_entries refuses them)
    ("lines that do not balance", entry_data(
        lines=[{"account": "AR", "side": "debit", "amount": "12.50"},
               {"account": "Revenue", "side": "credit", "amount": "12.00"}]),
     r"totals 12.50/12.50 are not the sums of the lines \(12.50/12.00\)"),
    ("totals not the lines' sums", entry_data(total_debit="13.00", total_credit="13.00"),
     "totals 13.00/13.00 are not the sums of the lines"),
    ("misnamed field", entry_data(reverses=..., reversal_of=None), "reversal_of"),
    ("not at the currency's precision", entry_data(
        total_debit="12.5", total_credit="12.5",
        lines=[{"account": "AR", "side": "debit", "amount": "12.5"},
               {"account": "Revenue", "side": "credit", "amount": "12.5"}]),
     "is not written as JournalEntryCreated writes it"),
])
async def test_the_outbox_refuses_an_entry_its_model_would_not_write_and_nothing_is_kept(
    pool: asyncpg.Pool, why: str, data: dict[str, Any], refusal: str
) -> None:
    await a_run(pool)
    before = await written(pool)
    with pytest.raises(OutboundRefused, match=refusal):
        async with unit_of_work(pool) as uow:
            await uow.record([entry_event(data)])
    assert await written(pool) == before, why
    # the same event, written as the model writes it, is kept and queued
    async with unit_of_work(pool) as uow:
        await uow.record([entry_event(entry_data())])
    after = await written(pool)
    assert (after["events"], after["outbox"], after["journal_entries"]) == (
        before["events"] + 1, before["outbox"] + 1, before["journal_entries"] + 1)


async def test_an_entry_built_in_sql_is_validated_as_it_enters_the_outbox(
    pool: asyncpg.Pool,
) -> None:
    await a_run(pool)
    before = await written(pool)
    bad = entry_event(entry_data(total_debit="99.00", total_credit="99.00"))
    with pytest.raises(OutboundRefused, match="are not the sums of the lines"):
        async with unit_of_work(pool) as uow:
            await uow.conn.execute(
                "INSERT INTO staged_events (ord, stream, event_id, event_type, org, payload, "
                "body_hash, metadata) VALUES (1, $1, $2, $3, NULL, $4::jsonb, $5, '{}')",
                bad.stream, bad.event_id, bad.event_type, bad.payload, bad.body_hash)
            await uow.record_staged({"journal_entry.created"})
    assert await written(pool) == before


async def test_a_unit_that_rolls_back_keeps_nothing(pool: asyncpg.Pool) -> None:
    await a_run(pool)
    before = await written(pool)
    async with unit_of_work(pool, admin=True) as uow:
        await uow.record([entry_event(entry_data())])
        assert await uow.conn.fetchval("SELECT count(*) FROM outbox") == before["outbox"] + 1
        uow.roll_back()
    assert await written(pool) == before
    preview = await create_journal_run(pool, APRIL, dry_run=True)  # a rolled-back unit too
    assert (preview.number, preview.status, preview.entries) == (None, "dry_run", [])
    assert await written(pool) == before


async def test_locks_are_taken_in_one_order_and_one_scope_at_a_time(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    with pytest.raises(RuntimeError, match="before a scope's"):
        async with unit_of_work(pool) as uow:
            await uow.lock_scope("")
            await uow.lock_admin()
    with pytest.raises(RuntimeError, match="holds scope 'US', not 'EU'"):
        async with unit_of_work(pool, admin=True) as uow:
            await uow.lock_scope("US")
            await uow.lock_scope("US")  # again: nothing more to take
            await uow.lock_scope("EU")


_WAITING_FOR_WRITERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 1 AND NOT granted
"""


async def test_reads_take_no_write_lock_while_writes_wait_for_a_rebuild(
    pool: asyncpg.Pool,
) -> None:
    """Reads go on while the rebuild's exclusive lock is held; a write waits for it."""
    await a_run(pool)
    async with pool.acquire() as rebuilding:
        transaction = rebuilding.transaction()
        await transaction.start()
        await pause_writers(rebuilding)
        try:
            reads = await asyncio.wait_for(asyncio.gather(
                list_periods(pool, None), list_period_records(pool, limit=10),
                get_run(pool, "JR-00000001"), list_entries(pool, run="JR-00000001"),
                pending_report(pool), list_orgs(pool)), timeout=10)
            assert [p["name"] for p in reads[0]] == ["Apr-2024", "May-2024", "Open-Ended"]
            assert reads[2].status == "completed" and len(reads[3]) == 1
            write = asyncio.create_task(create_org(pool, "US"))

            async def waiting() -> bool:
                return bool(await pool.fetchval(_WAITING_FOR_WRITERS, LOG_WRITERS >> 32,
                                                LOG_WRITERS & 0xFFFFFFFF))

            await wait_until(waiting, timeout=10, message="the write did not wait")
            assert not write.done()
        finally:
            await transaction.rollback()
        assert await asyncio.wait_for(write, timeout=10) == {"name": "US"}


async def test_a_line_without_an_account_cannot_be_published(pool: asyncpg.Pool) -> None:
    """A journal entry line must name an account. The contract refuses a blank account at
    the ingest (but on a revenue event item recognized upon invoicing, which is never
    journaled); a transaction stored before that rule, with a blank account, makes its run
    fail at the outbox rather than publish a line the GL cannot post: nothing is written."""
    await set_up(pool)
    message = billing_event([txn("revenue_event_item", "R-1", date(2024, 4, 3), "4.00",
                                 credit="", period="Apr-2024")])
    document = message["data"]["document"]
    for line in message["data"]["transactions"]:  # stored as inherited from the document
        line |= {"currency": document["currency"], "document_number": document["number"],
                 "account_number": document.get("account_number")}
    text = json.dumps(message, separators=(",", ":"), sort_keys=True)
    legacy = log.NewEvent(stream="document:R-1", event_id=uuid.UUID(message["event_id"]),
                          event_type=message["event_type"], org=None, payload=text,
                          body_hash=hashlib.sha256(text.encode()).digest())
    async with unit_of_work(pool) as uow:  # as an older ledger stored it, unchecked
        await uow.record([legacy])
    head = await scalar(pool, "SELECT max(position) FROM events")
    with pytest.raises(OutboundRefused, match="account"):
        await create_journal_run(pool, JournalRunRequest(types=("revenue_event_item",),
                                                         period="Apr-2024"))
    assert await scalar(pool, "SELECT max(position) FROM events") == head
    assert await scalar(pool, "SELECT count(*) FROM outbox") == 0
    assert await scalar(pool, "SELECT value FROM counters WHERE name = 'journal_entry'") == 0
