"""Grouping (docs/domain.md §3): one summary entry per (type, currency, stamped debit account,
segment values); lines per (account, side) after the sign flip, never netted; every entry
balances. Held and excluded transactions are not picked up (docs/domain.md §1)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from events.journal_rules import JournalRunRequest
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from tests.integration.billing import AR, billing_event, status_changed, store, store_lines, txn
from tests.integration.db import rows
from tests.integration.ledger_setup import set_up

DAY = date(2024, 4, 12)
NA, EMEA = {"region": "NA"}, {"region": "EMEA"}
TAX = "Sales Tax Payable"


def line(account: str, side: str, amount: str) -> dict[str, str]:
    return {"account": account, "side": side, "amount": amount}


APRIL = [
    # invoice_item USD AR {NA}: +100 and -40 are not netted; -40 posts Dr Revenue / Cr AR.
    txn("invoice_item", "I1", DAY, "100.00", segments=NA),
    txn("invoice_item", "I2", DAY, "-40.00", segments=NA),
    # invoice_item USD AR {EMEA}: a +25/-25 pair that would net to zero on both accounts.
    txn("invoice_item", "I3", DAY, "25.00", segments=EMEA),
    txn("invoice_item", "I4", DAY, "-25.00", segments=EMEA),
    # Another currency, another stamped debit account, other segment values, a second type.
    txn("invoice_item", "I5", DAY, "10.00", segments=NA, currency="EUR"),
    txn("invoice_item", "I6", DAY, "7.77", segments=NA, debit="AR - Reseller"),
    txn("invoice_item", "I7", DAY, "5.00"),
    txn("invoice_item", "I10", DAY, "3.00", segments={"region": "NA", "product": "core"}),
    txn("taxation_item", "T1", DAY, "8.00", segments=NA, credit=TAX),
    # Revenue recognised upon invoicing with two different accounts is journaled.
    txn("revenue_event_item", "R3", DAY, "12.00", period="Apr-2024", debit="Deferred Revenue",
        rule="Recognize upon invoicing"),
    # Held: status is not the required one.
    txn("invoice_item", "I8", DAY, "50.00", segments=NA, status="draft"),
    txn("invoice_item", "I9", DAY, "60.00", segments=NA, status="canceled"),
    # Excluded: a reclassification, revenue upon invoicing with a blank or repeated account.
    txn("electronic_payment_application", "PA1", DAY, "-10.00", subtype="reclassification",
        debit="Unapplied Payments", credit="Unapplied Payments"),
    txn("electronic_payment_application", "PA2", DAY, "10.00", subtype="invoice",
        debit="Unapplied Payments", credit="Accounts Receivable"),
    txn("revenue_event_item", "R1", DAY, "9.00", period="Apr-2024", debit="Deferred Revenue",
        credit="", rule="Recognize upon invoicing"),
    txn("revenue_event_item", "R2", DAY, "9.00", period="Apr-2024", debit="Deferred Revenue",
        credit="Deferred Revenue", rule="recognize upon invoicing"),
]

EXPECTED_ENTRIES = [
    # (type, currency, stamped debit account, segments, count, lines)
    ("electronic_payment_application", "USD", "Unapplied Payments", {}, 1, [
        line("Unapplied Payments", "debit", "10.00"),
        line("Accounts Receivable", "credit", "10.00")]),
    ("invoice_item", "EUR", "Accounts Receivable", NA, 1, [
        line("Accounts Receivable", "debit", "10.00"), line("Revenue", "credit", "10.00")]),
    ("invoice_item", "USD", "AR - Reseller", NA, 1, [
        line("AR - Reseller", "debit", "7.77"), line("Revenue", "credit", "7.77")]),
    ("invoice_item", "USD", "Accounts Receivable", {}, 1, [
        line("Accounts Receivable", "debit", "5.00"), line("Revenue", "credit", "5.00")]),
    ("invoice_item", "USD", "Accounts Receivable", EMEA, 2, [
        line("Accounts Receivable", "debit", "25.00"), line("Revenue", "debit", "25.00"),
        line("Accounts Receivable", "credit", "25.00"), line("Revenue", "credit", "25.00")]),
    ("invoice_item", "USD", "Accounts Receivable", NA, 2, [
        line("Accounts Receivable", "debit", "100.00"), line("Revenue", "debit", "40.00"),
        line("Accounts Receivable", "credit", "40.00"), line("Revenue", "credit", "100.00")]),
    ("invoice_item", "USD", "Accounts Receivable", {"product": "core", "region": "NA"}, 1, [
        line("Accounts Receivable", "debit", "3.00"), line("Revenue", "credit", "3.00")]),
    ("revenue_event_item", "USD", "Deferred Revenue", {}, 1, [
        line("Deferred Revenue", "debit", "12.00"), line("Revenue", "credit", "12.00")]),
    ("taxation_item", "USD", "Accounts Receivable", NA, 1, [
        line("Accounts Receivable", "debit", "8.00"), line(TAX, "credit", "8.00")]),
]


def canonical(value: object) -> str:
    """A sort key that does not depend on dict key order."""
    return json.dumps(value, sort_keys=True)


def shape(entry: dict[str, Any], debit_account: str) -> tuple[Any, ...]:
    return (entry["transaction_type"], entry["currency"], debit_account, entry["segments"],
            entry["transaction_count"], entry["lines"])


async def stamped_debit_accounts(pool: asyncpg.Pool) -> dict[str, str]:
    found = await rows(pool, "SELECT number, debit_account FROM journal_entries")
    return {r["number"]: r["debit_account"] for r in found}


async def test_entries_split_by_type_currency_debit_account_and_segments(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    await store_lines(pool, APRIL)
    run = await create_journal_run(pool, JournalRunRequest(types=("all",), period="Apr-2024"))

    assert run["transaction_count"] == 11
    assert run["journal_entry_numbers"] == [f"JE-{n:08d}" for n in range(1, 10)]
    entries = await list_entries(pool, run=run["number"])
    accounts = await stamped_debit_accounts(pool)
    assert sorted((shape(e, accounts[e["number"]]) for e in entries), key=canonical) == sorted(
        EXPECTED_ENTRIES, key=canonical)
    for entry in entries:
        debits = sum(Decimal(x["amount"]) for x in entry["lines"] if x["side"] == "debit")
        credits = sum(Decimal(x["amount"]) for x in entry["lines"] if x["side"] == "credit")
        assert Decimal(entry["total_debit"]) == Decimal(entry["total_credit"]) == debits == credits
        assert (entry["status"], entry["transfer_status"]) == ("created", "no")
        assert (entry["accounting_period"], entry["journal_entry_date"]) == (
            "Apr-2024", "2024-04-30")

    left = await rows(pool, "SELECT id, status, exclusion_reason FROM unjournaled_transactions "
                            "ORDER BY id")
    assert left == [
        {"id": "I8", "status": "draft", "exclusion_reason": None},
        {"id": "I9", "status": "canceled", "exclusion_reason": None},
        {"id": "PA1", "status": "processed", "exclusion_reason": "reclassification"},
        {"id": "R1", "status": "posted",
         "exclusion_reason": "revenue_upon_invoicing_blank_account"},
        {"id": "R2", "status": "posted", "exclusion_reason": "revenue_same_accounts"},
    ]


async def test_a_status_change_to_posted_releases_a_held_transaction_to_the_next_run(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    await store_lines(pool, APRIL)
    first = await create_journal_run(pool, JournalRunRequest(types=("billing",),
                                                             period="Apr-2024"))
    assert first["transaction_count"] == 9

    await store(pool, status_changed([("invoice_item", "I8", "posted")]))
    second = await create_journal_run(pool, JournalRunRequest(types=("billing",),
                                                              period="Apr-2024"))
    assert (second["number"], second["journal_entry_numbers"], second["transaction_count"]) == (
        "JR-00000002", ["JE-00000008"], 1)
    [entry] = await list_entries(pool, run=second["number"])
    assert entry["lines"] == [line("Accounts Receivable", "debit", "50.00"),
                              line("Revenue", "credit", "50.00")]
    assert entry["segments"] == NA

    third = await create_journal_run(pool, JournalRunRequest(types=("billing",),
                                                             period="Apr-2024"))
    assert (third["transaction_count"], third["journal_entry_numbers"]) == (0, [])


async def test_a_posted_transaction_canceled_before_the_run_is_held(pool: asyncpg.Pool) -> None:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "X", DAY, "1.00"),
                             txn("invoice_item", "Y", DAY, "2.00")])
    await store(pool, status_changed([("invoice_item", "X", "canceled")]))
    run = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                           period="Apr-2024"))
    [entry] = await list_entries(pool, run=run["number"])
    assert (entry["transaction_count"], entry["total_debit"]) == (1, "2.00")


async def test_lines_of_one_document_split_by_segment_and_flip_per_line(
    pool: asyncpg.Pool,
) -> None:
    """Seed 001's May records: two negative applications flip into Dr AR / Cr Unapplied."""
    await set_up(pool, settings={"settlement": "invoice_item_settlement"})
    unapplied = "Unapplied Payments - 10488.000.00"
    await store(pool, billing_event([
        txn("electronic_payment_application_item", "a", date(2024, 5, 9), "-3.25",
            debit=unapplied, credit=AR, subtype="invoice_item"),
        txn("electronic_payment_application_item", "b", date(2024, 5, 9), "-6.75",
            debit=unapplied, credit=AR, subtype="invoice_item"),
        txn("electronic_payment_application_item", "c", date(2024, 5, 9), "-1.00",
            debit=unapplied, credit=AR, subtype="invoice_item", segments=EMEA),
    ], document="P-00000003", event_type="payment.unapplied"))
    run = await create_journal_run(pool, JournalRunRequest(types=("cash",), period="May-2024"))
    entries = await list_entries(pool, run=run["number"])
    assert {canonical(e["segments"]): e["lines"] for e in entries} == {
        canonical({}): [line(AR, "debit", "10.00"), line(unapplied, "credit", "10.00")],
        canonical(EMEA): [line(AR, "debit", "1.00"), line(unapplied, "credit", "1.00")],
    }
    stored = await rows(pool, "SELECT payload FROM events WHERE event_type = "
                              "'journal_entry.created' ORDER BY position")
    assert sorted(json.loads(r["payload"])["data"]["total_debit"] for r in stored) == [
        "1.00", "10.00"]
