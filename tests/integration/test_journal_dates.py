"""Date options of a journal run (docs/domain.md §3): accounting period, specific date, time period;
revenue event items are judged by the accounting period they name, not by their date."""

from __future__ import annotations

from datetime import date

import asyncpg

from events.journal_rules import JournalRunRequest
from services.commands.periods import change_period_status
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows
from tests.integration.ledger_setup import set_up


async def journaled_ids(pool: asyncpg.Pool, run: str) -> list[str]:
    found = await rows(
        pool,
        "SELECT x.id FROM journaled_transactions x JOIN journal_entries j "
        "ON x.journal_entry = j.number WHERE j.journal_run = $1 ORDER BY x.id",
        run,
    )
    return [r["id"] for r in found]


INVOICES = [
    txn("invoice_item", "A01", date(2024, 4, 1), "1.00"),
    txn("invoice_item", "A03a", date(2024, 4, 3), "3.10"),
    txn("invoice_item", "A03b", date(2024, 4, 3), "3.20"),
    txn("invoice_item", "A09", date(2024, 4, 9), "9.00"),
    txn("invoice_item", "A10", date(2024, 4, 10), "10.00"),
    txn("invoice_item", "A15", date(2024, 4, 15), "15.00"),
    txn("invoice_item", "A20", date(2024, 4, 20), "20.00"),
    txn("invoice_item", "A21", date(2024, 4, 21), "21.00"),
    txn("invoice_item", "A30", date(2024, 4, 30), "30.00"),
    txn("invoice_item", "M01", date(2024, 5, 1), "100.00"),
]


async def test_date_then_time_period_then_the_rest_of_the_period(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    await store_lines(pool, INVOICES)

    on_the_3rd = await create_journal_run(
        pool, JournalRunRequest(types=("invoice_item",), date=date(2024, 4, 3)))
    assert on_the_3rd["target"] == {
        "period": "Apr-2024", "start_date": "2024-04-03", "end_date": "2024-04-03"}
    assert on_the_3rd["journal_entry_date"] == "2024-04-30"
    assert on_the_3rd["transaction_count"] == 2
    assert await journaled_ids(pool, on_the_3rd["number"]) == ["A03a", "A03b"]
    [entry] = await list_entries(pool, run=on_the_3rd["number"])
    assert (entry["total_debit"], entry["accounting_period"]) == ("6.30", "Apr-2024")

    mid_april = await create_journal_run(
        pool, JournalRunRequest(types=("billing",), start=date(2024, 4, 10),
                                end=date(2024, 4, 20), journal_entry_date=date(2024, 4, 20)))
    assert mid_april["target"] == {
        "period": "Apr-2024", "start_date": "2024-04-10", "end_date": "2024-04-20"}
    assert mid_april["journal_entry_date"] == "2024-04-20"
    assert await journaled_ids(pool, mid_april["number"]) == ["A10", "A15", "A20"]
    [entry] = await list_entries(pool, run=mid_april["number"])
    assert (entry["total_debit"], entry["journal_entry_date"]) == ("45.00", "2024-04-20")

    rest = await create_journal_run(
        pool, JournalRunRequest(types=("invoice_item",), period="Apr-2024"))
    assert rest["transaction_count"] == 4
    assert await journaled_ids(pool, rest["number"]) == ["A01", "A09", "A21", "A30"]
    [entry] = await list_entries(pool, run=rest["number"])
    assert entry["total_debit"] == "61.00"

    assert [r["number"] for r in (on_the_3rd, mid_april, rest)] == [
        "JR-00000001", "JR-00000002", "JR-00000003"]
    assert [r["journal_entry_numbers"] for r in (on_the_3rd, mid_april, rest)] == [
        ["JE-00000001"], ["JE-00000002"], ["JE-00000003"]]
    still_pending = await rows(
        pool, "SELECT id FROM unjournaled_transactions ORDER BY id")
    assert still_pending == [{"id": "M01"}]


async def test_a_time_period_may_be_the_whole_period_or_one_day(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    await store_lines(pool, INVOICES)
    one_day = await create_journal_run(pool, JournalRunRequest(
        types=("invoice_item",), start=date(2024, 5, 1), end=date(2024, 5, 1)))
    assert await journaled_ids(pool, one_day["number"]) == ["M01"]
    whole = await create_journal_run(pool, JournalRunRequest(
        types=("invoice_item",), start=date(2024, 4, 1), end=date(2024, 4, 30)))
    assert whole["transaction_count"] == 9


async def test_revenue_event_items_are_selected_by_the_period_they_name(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    await store_lines(pool, [
        # Dated in May, recognised in April: belongs to the April run.
        txn("revenue_event_item", "R-apr", date(2024, 5, 5), "40.00", period="Apr-2024",
            debit="Deferred Revenue", credit="Revenue", rule="Recognize daily over time"),
        # Dated in April, recognised in May: belongs to the May run.
        txn("revenue_event_item", "R-may", date(2024, 4, 10), "25.00", period="May-2024",
            debit="Deferred Revenue", credit="Revenue", rule="Recognize daily over time"),
        txn("invoice_item", "I-apr", date(2024, 4, 10), "5.00"),
    ])
    april = await create_journal_run(pool, JournalRunRequest(types=("revenue",),
                                                             period="Apr-2024"))
    assert april["transaction_types"] == ["revenue_event_item"]
    assert await journaled_ids(pool, april["number"]) == ["R-apr"]
    [entry] = await list_entries(pool, run=april["number"])
    assert entry["lines"] == [
        {"account": "Deferred Revenue", "side": "debit", "amount": "40.00"},
        {"account": "Revenue", "side": "credit", "amount": "40.00"},
    ]
    may = await create_journal_run(pool, JournalRunRequest(types=("revenue_event_item",),
                                                           period="May-2024"))
    assert await journaled_ids(pool, may["number"]) == ["R-may"]
    assert may["journal_entry_date"] == "2024-05-31"


async def test_a_closed_period_is_still_a_target_and_picks_up_late_arrivals(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    await store_lines(pool, INVOICES[:2])
    first = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                             period="Apr-2024"))
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")
    await store_lines(pool, [txn("invoice_item", "late", date(2024, 4, 29), "2.00")])
    late = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                            period="Apr-2024"))
    assert await journaled_ids(pool, first["number"]) == ["A01", "A03a"]
    assert await journaled_ids(pool, late["number"]) == ["late"]
