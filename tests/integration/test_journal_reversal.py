"""Reversing an entry that is already in the GL (docs/domain.md §3), through the command
handler on real PostgreSQL: what it refuses, what it writes, how the projections, ``verify``
and a rebuild see it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

import projections
from events.journal_rules import JournalRunRequest
from services.actor import acting_as
from services.commands.periods import change_period_status
from services.config import Settings
from services.errors import Conflict, NotFound, RejectedInput
from services.journal.entries import (
    cancel_entry,
    cancel_run,
    export_entry_csv,
    set_transfer_status,
)
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.journal.views import get_entry, get_entry_view, get_run, list_entries
from services.operations.rebuild import rebuild
from services.operations.republish import republish
from services.operations.verify import verify
from services.store import log
from services.store.unit_of_work import unit_of_work
from tests.helpers import consume_all
from tests.integration.audit import unstamped
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import MONTHS_2024, set_up

DAY = date(2024, 4, 12)
MAY_10 = date(2024, 5, 10)
APRIL = JournalRunRequest(types=("invoice_item",), period="Apr-2024")
AR, REVENUE = "Accounts Receivable", "Revenue"


async def two_entries(pool: asyncpg.Pool) -> None:
    """Run JR-00000001: JE-00000001 (AMER: +10.00, -2.50, +0.125) and JE-00000002 (EMEA)."""
    await set_up(pool, periods=MONTHS_2024)
    await store_lines(pool, [
        txn("invoice_item", "am-1", DAY, "10.00", segments={"region": "AMER"}),
        txn("invoice_item", "am-2", DAY, "-2.50", segments={"region": "AMER"}),
        txn("invoice_item", "am-3", DAY, "0.125", segments={"region": "AMER"}),
        txn("invoice_item", "em-1", DAY, "30.00", segments={"region": "EMEA"}),
    ])
    run = await create_journal_run(pool, APRIL)
    assert run["journal_entry_numbers"] == ["JE-00000001", "JE-00000002"]


async def journaled(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    found = await rows(pool, "SELECT id, journal_entry FROM journaled_transactions ORDER BY id")
    return [(r["id"], r["journal_entry"]) for r in found]


async def outbox(pool: asyncpg.Pool) -> list[tuple[str, str, dict[str, Any]]]:
    found = await rows(pool, "SELECT event_type, payload FROM outbox ORDER BY id")
    return [(r["event_type"], json.loads(r["payload"])["data"]["number"],
             json.loads(r["payload"])) for r in found]


async def projection_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    tables = [t for p in projections.ALL for t in p.tables]
    return {t: await rows(pool, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}


async def test_a_reversal_swaps_every_line_releases_the_transactions_and_a_run_takes_them(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    original = await get_entry(pool, "JE-00000001")
    assert original["lines"] == [
        {"account": AR, "side": "debit", "amount": "10.125"},
        {"account": REVENUE, "side": "debit", "amount": "2.50"},
        {"account": AR, "side": "credit", "amount": "2.50"},
        {"account": REVENUE, "side": "credit", "amount": "10.125"},
    ]
    since = datetime.now(UTC)
    with acting_as("controller@example.com"):
        done = await reverse_entry(pool, "JE-00000001", MAY_10)

    assert unstamped(done.reversed.model_dump(mode="json"), "controller@example.com",
                     since) == {"number": "JE-00000001", "reversed_by": "JE-00000003",
                                "released_transaction_count": 3}
    reversal = await get_entry(pool, "JE-00000003")
    assert reversal == done.entry.model_dump(mode="json")
    assert reversal == {
        "number": "JE-00000003", "journal_run": "JR-00000001", "org": None,
        "accounting_period": "May-2024", "journal_entry_date": "2024-05-10",
        "transaction_type": "invoice_item", "currency": "USD", "segments": {"region": "AMER"},
        "lines": [
            {"account": AR, "side": "debit", "amount": "2.50"},
            {"account": REVENUE, "side": "debit", "amount": "10.125"},
            {"account": AR, "side": "credit", "amount": "10.125"},
            {"account": REVENUE, "side": "credit", "amount": "2.50"},
        ],
        "total_debit": "12.625", "total_credit": "12.625", "transaction_count": 0,
        "status": "created", "transfer_status": "no", "reverses": "JE-00000001",
    }
    reversed_view = await get_entry_view(pool, "JE-00000001")
    assert reversed_view.data == original | {"status": "reversed"}
    assert (reversed_view.reversal_entry, reversed_view.reversed_by) == (
        "JE-00000003", "controller@example.com")
    assert reversed_view.reversed_at == datetime.fromisoformat(
        done.reversed.model_dump(mode="json")["at"])
    run = await get_run(pool, "JR-00000001")  # the reversal belongs to the run
    assert (run["journal_entry_numbers"], run["transaction_count"], run["status"]) == (
        ["JE-00000001", "JE-00000002", "JE-00000003"], 4, "completed")
    assert await journaled(pool) == [("em-1", "JE-00000002")]  # AMER's three are pending

    # the events: reversed, then the reversal's created, with nothing internal
    published = await outbox(pool)
    assert [(t, n) for t, n, _ in published[-2:]] == [
        ("journal_entry.reversed", "JE-00000001"), ("journal_entry.created", "JE-00000003")]
    assert published[-1][2]["data"] == reversal
    assert "internal" not in published[-1][2]
    assert published[-2][2]["data"] == done.reversed.model_dump(mode="json")
    envelope = published[-2][2]
    assert datetime.fromisoformat(envelope["occurred_at"]) == datetime.fromisoformat(
        envelope["data"]["at"])  # the command's one time

    # the next run journals the released transactions again, exactly
    again = await create_journal_run(pool, APRIL)
    assert (again["number"], again["journal_entry_numbers"], again["transaction_count"]) == (
        "JR-00000002", ["JE-00000004"], 3)
    assert (await get_entry(pool, "JE-00000004"))["lines"] == original["lines"]
    assert await journaled(pool) == [("am-1", "JE-00000004"), ("am-2", "JE-00000004"),
                                     ("am-3", "JE-00000004"), ("em-1", "JE-00000002")]

    report = await verify(settings.database_dsn())
    assert (report["ok"], report["violations"]) == (True, [])
    before = await projection_rows(pool)
    async with pool.acquire() as conn:
        await rebuild(conn, page=3)  # small pages: a few events at a time
    assert await projection_rows(pool) == before


async def test_only_a_created_transferred_entry_of_a_run_is_reversed(pool: asyncpg.Pool) -> None:
    await two_entries(pool)
    events = await scalar(pool, "SELECT count(*) FROM events")
    counters = await rows(pool, "SELECT * FROM counters ORDER BY name")
    for status in ("no", "processing", "error", "ignore"):
        await set_transfer_status(pool, "JE-00000001", status)
        events += status != "no"
        with pytest.raises(Conflict) as caught:
            await reverse_entry(pool, "JE-00000001", MAY_10)
        assert caught.value.code == "entry_not_transferred"
        assert f"transfer status {status}" in caught.value.message
    await cancel_entry(pool, "JE-00000002")
    events += 1
    with pytest.raises(Conflict) as cancelled:
        await reverse_entry(pool, "JE-00000002", MAY_10)
    with pytest.raises(NotFound):
        await reverse_entry(pool, "JE-00000042", MAY_10)
    assert cancelled.value.code == "journal_entry_cancelled"
    assert await scalar(pool, "SELECT count(*) FROM events") == events
    assert await rows(pool, "SELECT * FROM counters ORDER BY name") == counters

    await set_transfer_status(pool, "JE-00000001", "yes")
    await reverse_entry(pool, "JE-00000001", MAY_10)
    await set_transfer_status(pool, "JE-00000003", "yes")  # the reversal reached the GL too
    for number, code in (("JE-00000001", "journal_entry_already_reversed"),
                         ("JE-00000003", "journal_entry_is_reversal")):
        with pytest.raises(Conflict) as caught:
            await reverse_entry(pool, number, MAY_10)
        assert caught.value.code == code
    assert await scalar(pool, "SELECT value FROM counters WHERE name = 'journal_entry'") == 3


async def test_the_reversal_date_falls_in_an_open_dated_period_of_the_entrys_scope(
    pool: asyncpg.Pool,
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")
    events = await scalar(pool, "SELECT count(*) FROM events")
    for day, code, message in [
        (date(2024, 4, 30), "reversal_period_closed",
         "reversal date 2024-04-30 falls in Apr-2024, which is closed"),
        (date(2024, 7, 1), "reversal_date_open_ended",
         "reversal date 2024-07-01 falls in the open-ended period"),
        (date(2024, 3, 31), "reversal_date_outside_periods",
         "reversal date 2024-03-31 lies in no accounting period of this scope"),
    ]:
        with pytest.raises(RejectedInput) as caught:
            await reverse_entry(pool, "JE-00000001", day)
        assert caught.value.code == code
        assert caught.value.message.startswith(message)
    with pytest.raises(RejectedInput) as today:  # today (no date) is after the last period
        await reverse_entry(pool, "JE-00000001")
    assert today.value.code == "reversal_date_open_ended"
    assert await scalar(pool, "SELECT count(*) FROM events") == events
    assert await scalar(pool, "SELECT value FROM counters WHERE name = 'journal_entry'") == 2

    await change_period_status(pool, org=None, name="May-2024", to="pending_close")
    done = await reverse_entry(pool, "JE-00000001", date(2024, 5, 31))  # pending close: yes
    assert (done.entry.accounting_period, done.entry.journal_entry_date) == (
        "May-2024", date(2024, 5, 31))


async def test_a_reversal_and_its_original_are_final_and_survive_their_runs_cancel(
    pool: asyncpg.Pool,
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    await reverse_entry(pool, "JE-00000001", MAY_10)

    for number, code in (("JE-00000001", "journal_entry_reversed"),
                         ("JE-00000003", "journal_entry_is_reversal")):
        with pytest.raises(Conflict) as caught:
            await cancel_entry(pool, number)
        assert caught.value.code == code
    with pytest.raises(Conflict) as frozen:
        await set_transfer_status(pool, "JE-00000001", "no")
    assert frozen.value.code == "journal_entry_reversed"

    cancelled = await cancel_run(pool, "JR-00000001")
    assert (cancelled["cancelled_entries"], cancelled["kept_entries"], cancelled["status"]) == (
        ["JE-00000002"], ["JE-00000003"], "completed")
    statuses = {e["number"]: e["status"] for e in await list_entries(pool, run="JR-00000001")}
    assert statuses == {"JE-00000001": "reversed", "JE-00000002": "cancelled",
                        "JE-00000003": "created"}

    chunks: list[bytes] = []

    async def write(chunk: bytes) -> None:
        chunks.append(chunk)

    assert await export_entry_csv(pool, "JE-00000003", write) == 0  # holds no transaction
    assert b"".join(chunks).decode().splitlines() == [
        "journal_entry,transaction_id,transaction_type,subtype,transaction_date,"
        "document_number,account_number,amount,currency,debit_account,credit_account,"
        "segments,org"]
    with pytest.raises(Conflict) as no_detail:
        await export_entry_csv(pool, "JE-00000001", write)
    assert no_detail.value.code == "journal_entry_not_created"


async def test_verify_finds_a_reversal_that_does_not_mirror_its_original(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    await reverse_entry(pool, "JE-00000001", MAY_10)
    await pool.execute("UPDATE journal_entry_lines SET amount = 2.51 "
                       "WHERE journal_entry = 'JE-00000003' AND side = 'debit' AND account = $1",
                       AR)
    await pool.execute("UPDATE journal_entries SET status = 'created' "
                       "WHERE number = 'JE-00000001'")
    report = await verify(settings.database_dsn())
    found = {(v["check"], v["detail"]) for v in report["violations"]}
    assert {
        ("reversals_balance", "JE-00000003 reverses JE-00000001: it is not marked reversed "
                              "by this entry"),
        ("reversals_balance", "JE-00000003 debit Accounts Receivable: the reversal says 2.51, "
                              "the swapped original 2.50"),
    } <= found
    assert {check for check, _ in found} >= {"reversals_balance", "one_active_entry",
                                             "projections_match_log"}


def old_event(event_type: str, stream: str, data: dict[str, Any]) -> log.NewEvent:
    """A command event as recorded before its data carried who and when (no metadata)."""
    event_id = uuid.uuid4()
    text = json.dumps({"event_id": str(event_id), "event_type": event_type,
                       "occurred_at": "2024-05-01T00:00:00Z", "org": None,
                       "schema_version": 1, "data": data})
    return log.NewEvent(stream=stream, event_id=event_id, event_type=event_type, org=None,
                        payload=text, body_hash=hashlib.sha256(text.encode()).digest())


async def test_events_recorded_before_who_and_when_fold_from_the_event_itself(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await two_entries(pool)
    async with unit_of_work(pool) as uow:
        conn = uow.conn
        positions = sorted((await log.append(conn, [
            old_event("journal_entry.cancelled", "journal_entry:JE-00000002",
                      {"number": "JE-00000002", "journal_run": "JR-00000001",
                       "released_transaction_count": 1}),
        ])).values())
        await projections.apply_all(conn, positions[0], positions[-1], positions)
    recorded = await scalar(pool, "SELECT recorded_at FROM events WHERE position = $1",
                            positions[0])
    view = await get_entry_view(pool, "JE-00000002")
    assert (view.data["status"], view.cancelled_at, view.cancelled_by) == (
        "cancelled", recorded, None)
    report = await verify(settings.database_dsn())
    assert (report["ok"], report["violations"]) == (True, [])


async def test_republishing_a_run_sends_its_reversals_too(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    await reverse_entry(pool, "JE-00000001", MAY_10)
    result = await republish(pool, settings, settings.topic_journal, run="JR-00000001")
    assert settings.kafka_bootstrap
    sent = await consume_all(settings.kafka_bootstrap, settings.topic_journal,
                             result["republished"])
    assert [(json.loads(r.value)["event_type"], json.loads(r.value)["data"]["number"])
            for r in sent] == [
        ("journal_entry.created", "JE-00000001"), ("journal_entry.created", "JE-00000002"),
        ("journal_run.completed", "JR-00000001"), ("journal_entry.reversed", "JE-00000001"),
        ("journal_entry.created", "JE-00000003")]


async def test_a_reversal_racing_a_run_on_its_scope_leaves_each_transaction_in_one_entry(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await two_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "yes")
    done, run = await asyncio.gather(reverse_entry(pool, "JE-00000001", MAY_10),
                                     create_journal_run(pool, APRIL))
    # the scope lock orders them: the run takes the three released transactions or none
    assert run["transaction_count"] in (0, 3)
    assert done.reversed.released_transaction_count == 3
    expected = 3 - run["transaction_count"]
    assert await scalar(pool, "SELECT count(*) FROM unjournaled_transactions") == expected
    numbers = {done.entry.number, *run["journal_entry_numbers"]}
    assert sorted(numbers) == [f"JE-{n:08d}" for n in range(3, 3 + len(numbers))]
    report = await verify(settings.database_dsn())
    assert (report["ok"], report["violations"]) == (True, [])
