"""Every rule of a journal-run request, refused through ``create_journal_run`` with its code,
before anything is written: no event, no outbox row, no number consumed (docs/domain.md §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.actor import acting_as
from services.commands.periods import change_period_status
from services.errors import LedgerError, NotFound, RejectedInput
from services.journal.run import create_journal_run
from tests.integration.audit import run_unstamped
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

INVOICE = ("invoice_item",)
APRIL_3 = date(2024, 4, 3)


async def written(pool: asyncpg.Pool) -> dict[str, Any]:
    """Everything a run writes: the log, the numbers, the outbox and the journal tables."""
    return {
        "events": await scalar(pool, "SELECT count(*) FROM events"),
        "head": await scalar(pool, "SELECT coalesce(max(position), 0) FROM events"),
        "counters": await rows(pool, "SELECT name, value FROM counters ORDER BY name"),
        "outbox": await scalar(pool, "SELECT count(*) FROM outbox"),
        "runs": await scalar(pool, "SELECT count(*) FROM journal_runs"),
        "journaled": await scalar(
            pool, "SELECT count(*) FROM journaled_transactions"),
    }


async def assert_refused(
    pool: asyncpg.Pool, request: JournalRunRequest, code: str,
    kind: type[LedgerError] = RejectedInput,
) -> None:
    before = await written(pool)
    with pytest.raises(LedgerError) as caught:
        await create_journal_run(pool, request)
    assert type(caught.value) is kind
    assert caught.value.code == code
    assert caught.value.message
    assert await written(pool) == before


SINGLE_ORG_REFUSALS = [
    (JournalRunRequest(types=(), period="Apr-2024"), "types_required", RejectedInput),
    (JournalRunRequest(types=("invoices",), period="Apr-2024"),
     "transaction_type_unknown", RejectedInput),
    (JournalRunRequest(types=("electronic_payment_application_item",), period="Apr-2024"),
     "transaction_type_not_enabled", RejectedInput),
    (JournalRunRequest(types=INVOICE, period="Apr-2024", org="US"),
     "org_not_allowed", RejectedInput),
    (JournalRunRequest(types=INVOICE, period="Apr-2024", date=APRIL_3),
     "target_ambiguous", RejectedInput),
    (JournalRunRequest(types=INVOICE, period="Jun-2024"), "period_not_found", NotFound),
    (JournalRunRequest(types=INVOICE, period="Open-Ended"), "target_open_ended", RejectedInput),
    (JournalRunRequest(types=INVOICE, date=date(2024, 6, 1)),
     "target_open_ended", RejectedInput),
    (JournalRunRequest(types=INVOICE, date=date(2024, 3, 31)),
     "target_outside_periods", RejectedInput),
    (JournalRunRequest(types=INVOICE, start=APRIL_3), "target_range_incomplete", RejectedInput),
    (JournalRunRequest(types=INVOICE, start=date(2024, 4, 9), end=APRIL_3),
     "target_range_inverted", RejectedInput),
    (JournalRunRequest(types=INVOICE, start=APRIL_3, end=date(2024, 5, 2)),
     "target_across_periods", RejectedInput),
    (JournalRunRequest(types=("revenue",), date=APRIL_3),
     "target_requires_period", RejectedInput),
    (JournalRunRequest(types=("unrealized_fx_gain_loss",), start=APRIL_3, end=APRIL_3),
     "target_requires_period", RejectedInput),
]


@pytest.mark.parametrize(("request_", "code", "kind"), SINGLE_ORG_REFUSALS,
                         ids=[f"{i}-{code}" for i, (_, code, _) in enumerate(SINGLE_ORG_REFUSALS)])
async def test_a_refused_request_writes_nothing_and_consumes_no_number(
    pool: asyncpg.Pool, request_: JournalRunRequest, code: str, kind: type[LedgerError]
) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL_3, "12.50")])
    await assert_refused(pool, request_, code, kind)

    result = await create_journal_run(pool, JournalRunRequest(types=INVOICE, period="Apr-2024"))
    assert result["number"] == "JR-00000001"
    assert result["journal_entry_numbers"] == ["JE-00000001"]
    assert result["transaction_count"] == 1
    assert await rows(pool, "SELECT name, value FROM counters ORDER BY name") == [
        {"name": "journal_entry", "value": 1}, {"name": "journal_run", "value": 1}]


async def test_no_target_and_no_open_period_is_refused_as_target_required(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL_3, "12.50")])
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")
    await change_period_status(pool, org=None, name="May-2024", to="pending_close")
    await assert_refused(pool, JournalRunRequest(types=INVOICE), "target_required")


async def test_a_category_that_enables_no_type_is_refused_as_types_required(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool, settings={"settlement": "legacy"})
    await assert_refused(
        pool, JournalRunRequest(types=("unrealized_fx",), period="Apr-2024"), "types_required")


async def test_multi_org_refusals_write_nothing(pool: asyncpg.Pool) -> None:
    await set_up(pool, settings={"multi_org": "true", "harmonization": "true"}, orgs=("US",))
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL_3, "7")], org="US")
    await assert_refused(pool, JournalRunRequest(types=INVOICE, period="Apr-2024"),
                         "org_required")
    await assert_refused(pool, JournalRunRequest(types=INVOICE, period="Apr-2024", org="EU"),
                         "org_unknown", NotFound)
    await assert_refused(
        pool, JournalRunRequest(types=("invoice_adjustment",), period="Apr-2024", org="US"),
        "legacy_type_under_multi_org")
    result = await create_journal_run(
        pool, JournalRunRequest(types=("billing",), period="Apr-2024", org="US"))
    assert (result["number"], result["journal_entry_numbers"], result["transaction_count"]) == (
        "JR-00000001", ["JE-00000001"], 1)


async def test_a_refused_request_on_a_new_ledger_leaves_the_log_empty(pool: asyncpg.Pool) -> None:
    await assert_refused(pool, JournalRunRequest(types=INVOICE, period="Apr-2024"),
                         "period_not_found", NotFound)
    assert await scalar(pool, "SELECT count(*) FROM events") == 0


async def test_a_run_that_finds_nothing_completes_with_no_entries_and_takes_a_number(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    since = datetime.now(UTC)
    with acting_as("month-end@example.com"):
        result = await create_journal_run(pool, JournalRunRequest(types=INVOICE,
                                                                  period="May-2024"))
    assert run_unstamped(result, "month-end@example.com", since) == {
        "number": "JR-00000001",
        "org": None,
        "target": {"period": "May-2024", "start_date": "2024-05-01", "end_date": "2024-05-31"},
        "journal_entry_date": "2024-05-31",
        "transaction_types": ["invoice_item"],
        "status": "completed",
        "journal_entry_numbers": [],
        "transaction_count": 0,
    }
    assert await rows(pool, "SELECT name, value FROM counters ORDER BY name") == [
        {"name": "journal_entry", "value": 0}, {"name": "journal_run", "value": 1}]


async def test_a_dry_run_writes_nothing_and_consumes_no_number(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL_3, "12.50")])
    before = await written(pool)
    preview = await create_journal_run(
        pool, JournalRunRequest(types=INVOICE, period="Apr-2024"), dry_run=True)
    assert preview["status"] == "dry_run" and preview["transaction_count"] == 1
    assert [e["lines"] for e in preview["entries"]] == [[
        {"account": "Accounts Receivable", "side": "debit", "amount": "12.50"},
        {"account": "Revenue", "side": "credit", "amount": "12.50"},
    ]]
    assert await written(pool) == before
    result = await create_journal_run(pool, JournalRunRequest(types=INVOICE, period="Apr-2024"))
    assert result["number"] == "JR-00000001"
