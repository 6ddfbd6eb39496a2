"""A whole month driven through Zuora's own Python SDK, unchanged, over real HTTP against the
ledger's API and real PostgreSQL: what an existing GL integration does (docs/contract.md §4).

Every value asserted is one the SDK handed over: amounts as the strings Zuora sends, enums
equal to the SDK's enums, ledger-only fields as additional properties. Dates are compared as
ISO text (``day``): the SDK's models declare ``date`` but do not convert (they skip
validation); every answer was checked against their declared types all the same
(``tests.integration.zuora_client``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import asyncpg
from zuora_sdk import (
    CreateAccountingPeriodRequest,
    CreateJournalRunRequest,
    CreateJournalRunRequestTransactionType,
    JournalEntryItemType,
    JournalEntryStatus,
    JournalRunStatus,
    JournalRunTransactionType,
    OrganizationLabel,
    TransferredToAccountingStatus,
    UpdateBasicSummaryJournalEntryRequest,
)

from services.commands.orgs import create_org
from services.commands.settings import set_settings
from tests.integration.billing import AR, REVENUE, store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.zuora_client import ZuoraSdk, sdk_call, sdk_refusal

US = [OrganizationLabel(organization_name="US")]
ZUORA_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
AR_EU = "Accounts Receivable - EU"


def day(value: object) -> str | None:
    """A date the SDK handed over, as ISO text, whether it converted it or not."""
    return None if value is None else str(value)


def items(entry: Any) -> list[tuple[str, str, str, JournalEntryItemType]]:
    """(accountingCodeName, amount, homeCurrencyAmount, type) of an entry's items."""
    return [(i.accounting_code_name, i.amount, i.home_currency_amount, i.type)
            for i in entry.journal_entry_items]


def april_run(**changes: object) -> CreateJournalRunRequest:
    fields: dict[str, object] = {
        "accounting_period_name": "Apr-2024",
        "journal_entry_date": date(2024, 4, 30),
        "organization_labels": US,
        "transaction_types": [CreateJournalRunRequestTransactionType(
            type=JournalRunTransactionType.INVOICE_ITEM)],
    }
    return CreateJournalRunRequest(**(fields | changes))


async def actor_of(pool: asyncpg.Pool, event_type: str) -> str | None:
    """Who the log recorded for the latest such event (null until actors are recorded)."""
    return await scalar(pool, "SELECT metadata ->> 'actor' FROM events WHERE event_type = $1 "
                              "ORDER BY position DESC LIMIT 1", event_type)


async def test_a_month_end_through_zuoras_sdk(zuora: ZuoraSdk, pool: asyncpg.Pool) -> None:
    await set_settings(pool, {"settlement": "invoice_settlement", "multi_org": "true"})
    await create_org(pool, "US")

    # -- the period: create, list (every scope), get by id ---------------------------------
    created = await sdk_call(zuora.periods.create_accounting_period, CreateAccountingPeriodRequest(
        name="Apr-2024", start_date=date(2024, 4, 1), end_date=date(2024, 4, 30),
        fiscal_year=2024, fiscal_quarter=2, notes="April close", organization_labels=US))
    assert created.success is True
    april_id = created.id
    assert re.fullmatch(r"[0-9a-f]{32}", april_id)

    listed = await sdk_call(zuora.periods.get_all_accounting_periods)
    assert listed.next_page is None
    assert [(p.name, p.status, p.fiscal_year, day(p.start_date), day(p.end_date),
             [o.organization_name for o in p.organization_labels])
            for p in listed.accounting_periods] == [
        ("Apr-2024", "Open", "2024", "2024-04-01", "2024-04-30", ["US"]),
        ("Open-Ended", "Open", None, None, None, []),  # the unlabeled scope's
        ("Open-Ended", "Open", None, None, None, ["US"]),
    ]
    assert listed.accounting_periods[0].id == april_id
    assert len({p.id for p in listed.accounting_periods}) == 3

    april = await sdk_call(zuora.periods.get_accounting_period, april_id)
    assert (april.success, april.id, april.name, day(april.start_date), day(april.end_date),
            april.fiscal_year, april.fiscal_quarter, april.status, april.notes) == (
        True, april_id, "Apr-2024", "2024-04-01", "2024-04-30", 2024, 2, "Open",
        "April close")
    assert [o.organization_name for o in april.organization_labels] == ["US"]
    assert ZUORA_TIMESTAMP.match(april.created_on) and april.updated_on == april.created_on
    assert april.created_by == await actor_of(pool, "period.created")
    assert april.additional_properties == {"openEnded": False}

    # -- the run: create (idempotently), get ------------------------------------------------
    await store_lines(pool, [
        txn("invoice_item", "I-1", date(2024, 4, 2), "100.00", segments={"region": "NA"}),
        txn("invoice_item", "I-2", date(2024, 4, 15), "50.25", segments={"region": "NA"}),
        txn("invoice_item", "I-3", date(2024, 4, 20), "30.00", debit=AR_EU,
            segments={"region": "EU"}),
    ], org="US")
    run = await sdk_call(zuora.runs.create_journal_run, april_run(),
                         idempotency_key="close-2024-04")
    assert (run.success, run.journal_run_number) == (True, "JR-00000001")
    again = await sdk_call(zuora.runs.create_journal_run, april_run(),
                           idempotency_key="close-2024-04")
    assert again.journal_run_number == "JR-00000001"
    assert await scalar(pool, "SELECT count(*) FROM journal_runs") == 1

    got = await sdk_call(zuora.runs.get_journal_run, "JR-00000001")
    assert (got.number, got.status, day(got.journal_entry_date), day(got.target_start_date),
            day(got.target_end_date), got.total_journal_entry_count, got.aggregate_currency) == (
        "JR-00000001", JournalRunStatus.COMPLETED, "2024-04-30", "2024-04-01", "2024-04-30", 2,
        False)
    assert [t.type for t in got.transaction_types] == [JournalRunTransactionType.INVOICE_ITEM]
    assert [o.organization_name for o in got.organization_labels] == ["US"]
    assert ZUORA_TIMESTAMP.match(got.executed_on)
    created_on = got.additional_properties.pop("createdOn")
    assert ZUORA_TIMESTAMP.match(created_on)
    assert got.additional_properties == {
        "accountingPeriodName": "Apr-2024", "journalEntryNumbers": ["JE-00000001", "JE-00000002"],
        "transactionCount": 3, "transactionTypeIds": ["invoice_item"],
        "createdBy": await actor_of(pool, "journal_run.completed"), "cancelledBy": None,
        "cancelledOn": None}

    # -- its entries: list page by page, get one ----------------------------------------------
    first = await sdk_call(zuora.entries.get_all_summary_journal_entries, "JR-00000001",
                           page_size=1)
    assert first.next_page == "/v1/journal-entries/journal-runs/JR-00000001?page=2&pageSize=1"
    second = await sdk_call(zuora.entries.get_all_summary_journal_entries, "JR-00000001",
                            page=2, page_size=1)
    assert second.next_page is None
    entries = first.journal_entries + second.journal_entries
    debit, credit = JournalEntryItemType.DEBIT, JournalEntryItemType.CREDIT
    assert [(e.number, [(s.segment_name, s.segment_value) for s in e.segments], items(e))
            for e in entries] == [
        ("JE-00000001", [("region", "NA")],
         [(AR, "150.25", "150.25", debit), (REVENUE, "150.25", "150.25", credit)]),
        ("JE-00000002", [("region", "EU")],
         [(AR_EU, "30.00", "30.00", debit), (REVENUE, "30.00", "30.00", credit)]),
    ]

    entry = await sdk_call(zuora.entries.get_summary_journal_entry, "JE-00000001")
    assert (entry.success, entry.number, entry.accounting_period_name,
            day(entry.journal_entry_date), entry.transaction_type, entry.currency, entry.status,
            entry.transferred_to_accounting, entry.organization_label,
            day(entry.time_period_start), day(entry.time_period_end), entry.aggregate_currency,
            entry.notes, entry.transferred_by, entry.transfer_date_time) == (
        True, "JE-00000001", "Apr-2024", "2024-04-30", "Invoice Item", "USD",
        JournalEntryStatus.CREATED, TransferredToAccountingStatus.NO, "US", "2024-04-01",
        "2024-04-30", False, None, None, None)
    assert entry.additional_properties == {
        "journalRun": "JR-00000001", "transactionCount": 2, "totalDebit": "150.25",
        "totalCredit": "150.25", "reverses": None, "reversalEntry": None, "reversedBy": None,
        "reversedOn": None, "cancelledBy": None, "cancelledOn": None}

    # -- transfer, cancel (refused once transferred), cancel the run --------------------------
    transferred = await sdk_call(
        zuora.entries.update_basic_summary_journal_entry, "JE-00000001",
        UpdateBasicSummaryJournalEntryRequest(
            transferred_to_accounting=TransferredToAccountingStatus.YES))
    assert transferred.success is True
    entry = await sdk_call(zuora.entries.get_summary_journal_entry, "JE-00000001")
    assert entry.transferred_to_accounting == TransferredToAccountingStatus.YES
    assert ZUORA_TIMESTAMP.match(entry.transfer_date_time)
    assert entry.transferred_by == await actor_of(pool, "journal_entry.transfer_status_changed")

    assert await sdk_refusal(zuora.entries.cancel_summary_journal_entry, "JE-00000001") == (
        409, "journal_entry_transferred")
    cancelled = await sdk_call(zuora.entries.cancel_summary_journal_entry, "JE-00000002")
    cancel_actor = await actor_of(pool, "journal_entry.cancelled")
    at = cancelled.additional_properties.pop("at")
    assert (cancelled.success, cancelled.additional_properties) == (True, {
        "number": "JE-00000002", "journalRun": "JR-00000001", "releasedTransactionCount": 1,
        "by": cancel_actor})
    entry = await sdk_call(zuora.entries.get_summary_journal_entry, "JE-00000002")
    assert entry.status == JournalEntryStatus.CANCELLED
    assert (entry.additional_properties["cancelledBy"],
            entry.additional_properties["cancelledOn"]) == (
        cancel_actor, f"{at[:10]} {at[11:19]}")  # the same time, in Zuora's form

    await sdk_call(zuora.entries.update_basic_summary_journal_entry, "JE-00000001",
                   UpdateBasicSummaryJournalEntryRequest(
                       transferred_to_accounting=TransferredToAccountingStatus.NO))
    run_cancelled = await sdk_call(zuora.runs.cancel_journal_run, "JR-00000001")
    at = run_cancelled.additional_properties.pop("at")
    assert (run_cancelled.success, run_cancelled.additional_properties) == (True, {
        "number": "JR-00000001", "status": "Cancelled", "cancelledEntries": ["JE-00000001"],
        "keptEntries": [], "by": cancel_actor})
    assert (await sdk_call(zuora.runs.get_journal_run, "JR-00000001")).additional_properties[
        "cancelledOn"] == f"{at[:10]} {at[11:19]}"
    got = await sdk_call(zuora.runs.get_journal_run, "JR-00000001")
    assert got.status == JournalRunStatus.CANCELLED
    assert await rows(pool, "SELECT count(*) AS n FROM journaled_transactions") == [{"n": 0}]

    # -- close and reopen the period, by id -------------------------------------------------
    assert (await sdk_call(zuora.periods.pending_close_accounting_period, april_id)).success
    assert (await sdk_call(zuora.periods.get_accounting_period, april_id)).status == (
        "PendingClose")
    assert (await sdk_call(zuora.periods.close_accounting_period, april_id)).success
    closed = await sdk_call(zuora.periods.get_accounting_period, april_id)
    assert (closed.status, closed.created_on) == ("Closed", april.created_on)
    assert ZUORA_TIMESTAMP.match(closed.updated_on) and closed.updated_on >= april.updated_on
    assert (await sdk_call(zuora.periods.reopen_accounting_period, april_id)).success
    assert (await sdk_call(zuora.periods.get_accounting_period, april_id)).status == "Open"

    # -- refusals the SDK raises as ApiException with the reasons ------------------------------
    assert await sdk_refusal(zuora.periods.get_accounting_period, "f" * 32) == (
        404, "period_not_found")
    assert await sdk_refusal(zuora.runs.create_journal_run,
                             april_run(accounting_period_name="Open-Ended")) == (
        400, "target_open_ended")
    assert await sdk_refusal(zuora.runs.create_journal_run,
                             april_run(journal_entry_date=date(2024, 5, 1)),
                             idempotency_key="close-2024-04") == (409, "idempotency_key_reused")
    assert await sdk_refusal(zuora.runs.get_journal_run, "JR-00000009") == (
        404, "journal_run_not_found")
    assert await sdk_refusal(
        zuora.entries.update_basic_summary_journal_entry, "JE-00000001",
        UpdateBasicSummaryJournalEntryRequest(notes="reviewed")) == (
        400, "journal_entry_notes_unsupported")
