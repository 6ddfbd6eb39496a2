"""After a run (docs/domain.md §3): cancel entries and runs, transfer status, transaction
detail; each command records when and by whom."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.actor import acting_as, os_user
from services.errors import Conflict, NotFound
from services.journal.entries import (
    EXPORT_COLUMNS,
    cancel_entry,
    cancel_run,
    export_entry_csv,
    set_transfer_status,
)
from services.journal.run import create_journal_run
from services.journal.views import get_entry, get_run, list_entries
from tests.integration.audit import unstamped
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

DAY = date(2024, 4, 12)
APRIL = JournalRunRequest(types=("invoice_item",), period="Apr-2024")


async def three_entries(pool: asyncpg.Pool) -> dict[str, Any]:
    """One run, three entries (one per region): AMER 2 transactions, APAC 1, EMEA 1."""
    await set_up(pool)
    await store_lines(pool, [
        txn("invoice_item", "am-1", DAY, "10.00", segments={"region": "AMER"}),
        txn("invoice_item", "am-2", DAY, "-2.50", segments={"region": "AMER"}),
        txn("invoice_item", "ap-1", DAY, "20.00", segments={"region": "APAC"}),
        txn("invoice_item", "em-1", DAY, "30.00", segments={"region": "EMEA"}),
    ])
    return await create_journal_run(pool, APRIL)


async def entry_of(pool: asyncpg.Pool, transaction_id: str) -> str | None:
    number = await scalar(pool, "SELECT journal_entry FROM journaled_transactions WHERE id = $1",
                          transaction_id)
    return str(number) if number is not None else None


async def outbox_types(pool: asyncpg.Pool) -> list[str]:
    found = await rows(pool, "SELECT event_type FROM outbox ORDER BY id")
    return [r["event_type"] for r in found]


async def test_a_cancelled_entry_releases_its_transactions_to_the_next_run(
    pool: asyncpg.Pool,
) -> None:
    run = await three_entries(pool)
    assert run["journal_entry_numbers"] == ["JE-00000001", "JE-00000002", "JE-00000003"]
    amer = await entry_of(pool, "am-1")
    assert amer is not None and await entry_of(pool, "am-2") == amer

    since = datetime.now(UTC)
    assert unstamped(await cancel_entry(pool, amer), os_user(), since) == {
        "number": amer, "journal_run": "JR-00000001", "released_transaction_count": 2}
    assert (await get_entry(pool, amer))["status"] == "cancelled"
    assert await entry_of(pool, "am-1") is None and await entry_of(pool, "am-2") is None
    assert (await get_run(pool, "JR-00000001"))["status"] == "completed"

    again = await create_journal_run(pool, APRIL)
    assert (again["number"], again["journal_entry_numbers"], again["transaction_count"]) == (
        "JR-00000002", ["JE-00000004"], 2)
    assert await entry_of(pool, "am-1") == await entry_of(pool, "am-2") == "JE-00000004"
    new = await get_entry(pool, "JE-00000004")
    assert new["lines"] == [
        {"account": "Accounts Receivable", "side": "debit", "amount": "10.00"},
        {"account": "Revenue", "side": "debit", "amount": "2.50"},
        {"account": "Accounts Receivable", "side": "credit", "amount": "2.50"},
        {"account": "Revenue", "side": "credit", "amount": "10.00"},
    ]
    assert await outbox_types(pool) == [
        *["journal_entry.created"] * 3, "journal_run.completed",
        "journal_entry.cancelled",
        "journal_entry.created", "journal_run.completed",
    ]
    with pytest.raises(Conflict) as caught:
        await cancel_entry(pool, amer)
    assert caught.value.code == "journal_entry_already_cancelled"


@pytest.mark.parametrize("transfer", ["yes", "processing"])
async def test_a_transferred_entry_cannot_be_cancelled(pool: asyncpg.Pool, transfer: str) -> None:
    await three_entries(pool)
    since = datetime.now(UTC)
    with acting_as("gl-sync"):
        changed = await set_transfer_status(pool, "JE-00000002", transfer)
    assert unstamped(changed, "gl-sync", since) == {
        "number": "JE-00000002", "from": "no", "to": transfer}
    with acting_as("gl-sync"):  # the same status again: nothing changes, nothing is recorded
        assert await set_transfer_status(pool, "JE-00000002", transfer) == {
            "number": "JE-00000002", "from": transfer, "to": transfer, "at": None, "by": None}
    events = await scalar(pool, "SELECT count(*) FROM events")
    with pytest.raises(Conflict) as caught:
        await cancel_entry(pool, "JE-00000002")
    assert caught.value.code == "journal_entry_transferred"
    assert await scalar(pool, "SELECT count(*) FROM events") == events
    entry = await get_entry(pool, "JE-00000002")
    assert (entry["status"], entry["transfer_status"]) == ("created", transfer)


@pytest.mark.parametrize("transfer", ["no", "error", "ignore"])
async def test_an_entry_not_transferred_can_be_cancelled(pool: asyncpg.Pool, transfer: str) -> None:
    await three_entries(pool)
    await set_transfer_status(pool, "JE-00000003", transfer)
    result = await cancel_entry(pool, "JE-00000003")
    assert result["released_transaction_count"] == 1


async def test_cancelling_a_run_keeps_its_transferred_entry_and_stays_completed(
    pool: asyncpg.Pool,
) -> None:
    await three_entries(pool)
    await set_transfer_status(pool, "JE-00000002", "yes")
    since = datetime.now(UTC)
    with acting_as("controller"):
        answer = await cancel_run(pool, "JR-00000001")
    assert unstamped(answer, "controller", since) == {
        "number": "JR-00000001",
        "cancelled_entries": ["JE-00000001", "JE-00000003"],
        "kept_entries": ["JE-00000002"],
        "status": "completed",
    }
    assert (await get_run(pool, "JR-00000001"))["status"] == "completed"
    statuses = {e["number"]: e["status"] for e in await list_entries(pool, run="JR-00000001")}
    assert statuses == {"JE-00000001": "cancelled", "JE-00000002": "created",
                        "JE-00000003": "cancelled"}
    still = await rows(pool, "SELECT id FROM journaled_transactions ORDER BY id")
    assert [r["id"] for r in still] == ["ap-1"]
    assert (await outbox_types(pool))[-3:] == [
        "journal_entry.cancelled", "journal_entry.cancelled", "journal_run.cancelled"]

    again = await create_journal_run(pool, APRIL)
    assert (again["number"], again["journal_entry_numbers"], again["transaction_count"]) == (
        "JR-00000002", ["JE-00000004", "JE-00000005"], 3)


async def test_cancelling_a_run_without_transferred_entries_cancels_it(
    pool: asyncpg.Pool,
) -> None:
    await three_entries(pool)
    await cancel_entry(pool, "JE-00000001")
    since = datetime.now(UTC)
    answer = await cancel_run(pool, "JR-00000001")
    assert unstamped(answer, os_user(), since) == {
        "number": "JR-00000001", "cancelled_entries": ["JE-00000002", "JE-00000003"],
        "kept_entries": [], "status": "cancelled"}
    assert (await get_run(pool, "JR-00000001"))["status"] == "cancelled"
    assert await scalar(pool, "SELECT count(*) FROM journaled_transactions") == 0
    with pytest.raises(Conflict) as caught:
        await cancel_run(pool, "JR-00000001")
    assert caught.value.code == "journal_run_already_cancelled"


async def test_transfer_status_is_frozen_once_the_entry_is_cancelled(pool: asyncpg.Pool) -> None:
    await three_entries(pool)
    await set_transfer_status(pool, "JE-00000001", "error")
    await cancel_entry(pool, "JE-00000001")
    for status in ("yes", "no", "error"):
        with pytest.raises(Conflict) as caught:
            await set_transfer_status(pool, "JE-00000001", status)
        assert caught.value.code == "journal_entry_cancelled"
    assert (await get_entry(pool, "JE-00000001"))["transfer_status"] == "error"


async def test_unknown_entries_and_runs_are_not_found(pool: asyncpg.Pool) -> None:
    await three_entries(pool)
    for call in (cancel_entry(pool, "JE-00000009"),
                 set_transfer_status(pool, "JE-00000009", "yes"),
                 cancel_run(pool, "JR-00000009")):
        with pytest.raises(NotFound):
            await call


async def export(pool: asyncpg.Pool, number: str) -> tuple[int, list[dict[str, str]], list[str]]:
    chunks: list[bytes] = []

    async def write(chunk: bytes) -> None:
        chunks.append(chunk)

    count = await export_entry_csv(pool, number, write)
    text = b"".join(chunks).decode()
    reader = csv.DictReader(io.StringIO(text))
    return count, list(reader), list(reader.fieldnames or [])


async def test_the_export_of_a_created_entry_is_exactly_its_transactions(
    pool: asyncpg.Pool,
) -> None:
    await three_entries(pool)
    amer = await entry_of(pool, "am-1")
    assert amer is not None
    count, lines, header = await export(pool, amer)
    assert header == list(EXPORT_COLUMNS)
    assert count == 2
    assert [(r["transaction_id"], r["amount"], r["transaction_type"], r["transaction_date"],
             r["currency"], r["debit_account"], r["credit_account"], r["journal_entry"])
            for r in lines] == [
        ("am-1", "10.00", "invoice_item", "2024-04-12", "USD", "Accounts Receivable", "Revenue",
         amer),
        ("am-2", "-2.50", "invoice_item", "2024-04-12", "USD", "Accounts Receivable", "Revenue",
         amer),
    ]
    assert all(r["document_number"] == f"DOC-{r['transaction_id']}" for r in lines)
    assert all(r["segments"] == '{"region": "AMER"}' for r in lines)


async def test_a_cancelled_entry_has_no_export(pool: asyncpg.Pool) -> None:
    await three_entries(pool)
    await cancel_entry(pool, "JE-00000003")
    with pytest.raises(Conflict) as caught:
        await export(pool, "JE-00000003")
    assert caught.value.code == "journal_entry_not_created"
    with pytest.raises(NotFound):
        await export(pool, "JE-00000042")
