"""``ledger pending``: counts and sums per scope, type and period; held and excluded too."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.errors import NotFound
from services.journal.entries import cancel_entry
from services.journal.run import create_journal_run
from services.reports import pending_report, unlabeled_report
from tests.integration.conftest import IngestRunner
from tests.integration.ledger_setup import set_up


def message(n: int, event_type: str, data: dict[str, Any], org: str | None = None) -> bytes:
    return json.dumps({
        "event_id": str(uuid.UUID(int=0xAE9_000 + n)), "event_type": event_type,
        "occurred_at": "2024-04-01T00:00:00Z", "org": org, "schema_version": 1, "data": data,
    }).encode()


def document(number: str, currency: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"document": {"number": number, "account_number": "A-9", "currency": currency},
            "transactions": list(lines)}


def line(tid: str, type_: str, day: str, amount: str, status: str = "posted",
         **extra: Any) -> dict[str, Any]:
    return {"id": tid, "type": type_, "date": day, "status": status, "amount": amount,
            "debit_account": "Accounts Receivable", "credit_account": "Sales Revenue", **extra}


BILLING = [
    message(1, "invoice.posted", document(
        "INV-A", "USD",
        line("A1", "invoice_item", "2024-04-05", "10.00"),
        line("A2", "invoice_item", "2024-04-05", "20.50"),
        line("A3", "invoice_item", "2024-04-05", "5.25", status="draft"))),
    message(2, "invoice.posted", document(
        "INV-B", "USD", line("B1", "invoice_item", "2024-05-07", "7"))),
    message(3, "invoice.posted", document(
        "INV-C", "USD", line("C1", "invoice_item", "2024-06-02", "1.50"))),
    message(4, "invoice.posted", document(
        "INV-D", "EUR", line("D1", "invoice_item", "2024-04-09", "100"))),
    message(5, "payment.applied", document(
        "P-1", "USD",
        line("PA1", "electronic_payment_application_item", "2024-04-21", "3.25",
             status="processed", subtype="invoice_item"),
        line("PA2", "electronic_payment_application_item", "2024-04-21", "-10",
             status="processed", subtype="reclassification"),
        line("PA3", "electronic_payment_application_item", "2024-04-21", "10",
             status="processed", subtype="Reclassification"))),
    # invoice adjustments do not exist under invoice item settlement without harmonization
    message(6, "adjustment.processed", document(
        "IA-9", "USD", line("IA9", "invoice_adjustment", "2024-04-15", "-30",
                            status="processed"))),
    # dated in April, but a revenue event item names its period
    message(7, "revenue.recognized", document(
        "RS-1", "USD", line("R1", "revenue_event_item", "2024-04-30", "12",
                            accounting_period="May-2024",
                            recognition_rule="Recognize daily over time"))),
]
STATUS_CHANGE = message(8, "transactions.status_changed",
                        {"changes": [{"type": "invoice_item", "id": "A3", "status": "posted"}]})


def summary(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["org"], r["transaction_type"], r["period"], r["currency"], r["state"],
             r["reason"], r["count"], r["amount"]) for r in rows]


async def test_pending_report_counts_sums_held_excluded_and_forgets_journaled(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement"})
    await ingest.feed(BILLING, stored=len(BILLING))
    untouched = [
        (None, "electronic_payment_application_item", "Apr-2024", "USD", "excluded",
         "reclassification", 2, "0.00"),
        (None, "electronic_payment_application_item", "Apr-2024", "USD", "pending", None, 1,
         "3.25"),
        (None, "invoice_adjustment", "Apr-2024", "USD", "held", "type_not_enabled", 1, "-30.00"),
    ]
    later = [
        (None, "invoice_item", "May-2024", "USD", "pending", None, 1, "7.00"),
        (None, "invoice_item", "Open-Ended", "USD", "pending", None, 1, "1.50"),
        (None, "revenue_event_item", "May-2024", "USD", "pending", None, 1, "12.00"),
    ]
    assert summary(await pending_report(pool)) == [
        *untouched,
        (None, "invoice_item", "Apr-2024", "EUR", "pending", None, 1, "100.00"),
        (None, "invoice_item", "Apr-2024", "USD", "held", "status_not_eligible", 1, "5.25"),
        (None, "invoice_item", "Apr-2024", "USD", "pending", None, 2, "30.50"),
        *later,
    ]
    with pytest.raises(NotFound) as unknown:
        await pending_report(pool, "US")
    assert unknown.value.code == "org_unknown"

    # the draft invoice item is posted: no longer held
    await ingest.feed([STATUS_CHANGE], stored=len(BILLING) + 1)
    april_invoices = [
        (None, "invoice_item", "Apr-2024", "EUR", "pending", None, 1, "100.00"),
        (None, "invoice_item", "Apr-2024", "USD", "pending", None, 3, "35.75"),
    ]
    assert summary(await pending_report(pool)) == [*untouched, *april_invoices, *later]

    # journaled transactions leave the report; a cancelled entry's come back
    run = await create_journal_run(
        pool, JournalRunRequest(types=("invoice_item",), period="Apr-2024"))
    assert run["transaction_count"] == 4
    assert len(run["journal_entry_numbers"]) == 2
    assert summary(await pending_report(pool)) == [*untouched, *later]
    eur = run["journal_entry_numbers"][0]
    assert (await cancel_entry(pool, eur))["released_transaction_count"] == 1
    assert summary(await pending_report(pool)) == [*untouched, april_invoices[0], *later]
    # without Multi-Org everything is in the unlabeled scope, so the reconciliation report
    # lists every transaction not yet journaled, with its state
    listed = await unlabeled_report(pool)
    assert sorted(r["id"] for r in listed) == ["B1", "C1", "D1", "IA9", "PA1", "PA2", "PA3",
                                               "R1"]
    assert {r["id"]: r["period"] for r in listed}["R1"] == "May-2024"


async def test_under_multi_org_a_transaction_without_org_label_is_held_unlabeled(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    await set_up(pool, settings={"settlement": "invoice_settlement", "multi_org": "true"},
                 orgs=("US",))
    await ingest.feed([
        message(20, "invoice.posted", document(
            "INV-U", "USD", line("U1", "invoice_item", "2024-04-03", "8.00"))),
        message(21, "invoice.posted", document(
            "INV-L", "USD", line("L1", "invoice_item", "2024-04-04", "9.00")), org="US"),
    ], stored=2)
    assert summary(await pending_report(pool)) == [
        (None, "invoice_item", "Apr-2024", "USD", "held", "unlabeled_under_multi_org", 1,
         "8.00"),
        ("US", "invoice_item", "Apr-2024", "USD", "pending", None, 1, "9.00"),
    ]
    assert [(r["id"], r["org_label"], r["state"]) for r in await unlabeled_report(pool)] == [
        ("U1", None, "held")]
    run = await create_journal_run(
        pool, JournalRunRequest(types=("invoice_item",), org="US", period="Apr-2024"))
    assert run["transaction_count"] == 1
    assert summary(await pending_report(pool, "US")) == []
