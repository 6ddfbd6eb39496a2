"""Month-end as an operator meets it (issue 14): billing events through Kafka into PostgreSQL,
then ``ledger ... --json`` in a subprocess.

Settings and periods a test only needs as a starting point are set through the command
handlers (each subprocess costs about a second); what the test is about goes through the CLI.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import asyncpg

from events import TRANSACTION_TYPES
from services.commands.periods import change_period_status
from services.commands.settings import set_settings
from services.config import Settings
from services.ingest.app import run_ingest
from tests.e2e.test_cli import Ledger, error_code
from tests.helpers import produce, wait_until
from tests.integration.billing import billing_event, store_lines, txn
from tests.integration.db import billing_event_count, rows, scalar
from tests.integration.ledger_setup import MONTHS_2024, set_up

APRIL = date(2024, 4, 10)
AR, UNAPPLIED = "Accounts Receivable", "Unapplied Payments"
CREDIT_MEMO, DEFERRED, REVENUE = "Credit Memo Liability", "Deferred Revenue", "Revenue"


async def through_kafka(settings: Settings, pool: asyncpg.Pool, *messages: dict[str, Any]) -> None:
    """Publish the messages to the billing topic (keyed by document, so one document's
    events stay in order) and run the ingest until all of them are stored."""
    assert settings.kafka_bootstrap
    expected = await billing_event_count(pool) + len(messages)
    await produce(
        settings.kafka_bootstrap, settings.topic_billing,
        [json.dumps(m).encode() for m in messages],
        keys=[m["data"]["document"]["number"].encode() for m in messages],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, pool, stop))
    try:
        async def stored() -> bool:
            return await billing_event_count(pool) == expected

        await wait_until(stored, timeout=60, message=f"{expected} billing events stored")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


def lines(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"account": a, "side": s, "amount": n} for a, s, n in pairs]


# -- which types a run may select --------------------------------------------------------------

L_TYPES = [
    "invoice_item", "taxation_item", "invoice_item_adjustment_invoice",
    "invoice_item_adjustment_tax", "invoice_adjustment", "credit_balance_adjustment_applied",
    "credit_balance_adjustment_transferred", "electronic_payment", "external_payment",
    "electronic_refund", "external_refund", "electronic_credit_balance_payment",
    "external_credit_balance_payment", "electronic_credit_balance_refund",
    "external_credit_balance_refund", "revenue_event_item",
]
MEMOS = ["debit_memo_item_charge", "debit_memo_item_tax", "credit_memo_item_charge",
         "credit_memo_item_tax", "credit_memo_application_item"]
APPLICATIONS = ["electronic_payment_application", "external_payment_application",
                "electronic_refund_application", "external_refund_application"]
APPLICATION_ITEMS = [f"{t}_item" for t in APPLICATIONS]


def in_table_order(*groups: list[str]) -> list[str]:
    wanted = {t for g in groups for t in g}
    return [t for t in TRANSACTION_TYPES if t in wanted]


IS_HARMONIZED = in_table_order(L_TYPES, MEMOS, APPLICATIONS, ["unrealized_fx_gain_loss"])
IIS_HARMONIZED = in_table_order(L_TYPES, MEMOS, APPLICATION_ITEMS, ["unrealized_fx_gain_loss"])
IIS = in_table_order(["invoice_item", "taxation_item", "revenue_event_item"], MEMOS,
                     APPLICATION_ITEMS, ["unrealized_fx_gain_loss"])
CREDIT_BALANCE = ["credit_balance_adjustment_applied", "credit_balance_adjustment_transferred",
                  "electronic_credit_balance_payment", "external_credit_balance_payment",
                  "electronic_credit_balance_refund", "external_credit_balance_refund"]


async def test_the_types_a_run_selects_follow_the_settings_and_settlement_only_moves_forward(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    ledger = Ledger(settings)
    all_types = ("journal-runs", "create", "--types", "all", "--dry-run")
    await set_up(pool, settings={"settlement": "legacy"}, periods=MONTHS_2024[:1])
    legacy = await ledger(*all_types)
    assert legacy["transaction_types"] == L_TYPES
    assert legacy["target"] == {"period": "Apr-2024", "start_date": "2024-04-01",
                                "end_date": "2024-04-30"}  # no target: the open period

    await set_settings(pool, {"settlement": "invoice_settlement", "harmonization": "true"})
    assert (await ledger(*all_types))["transaction_types"] == IS_HARMONIZED
    await store_lines(pool, [txn("invoice_item", "I-1", APRIL, "10.00")])  # now it holds one

    await set_settings(pool, {"settlement": "invoice_item_settlement"})
    iis_harmonized, credit_balance, back_to_is, back_to_legacy = await ledger.many(
        all_types,
        ("journal-runs", "create", "--types", "credit_balance", "--dry-run"),
        ("settings", "set", "settlement=invoice_settlement", 2),
        ("settings", "set", "settlement=legacy", "harmonization=false", 2),
    )
    assert iis_harmonized["transaction_types"] == IIS_HARMONIZED
    assert not set(APPLICATIONS) & set(iis_harmonized["transaction_types"])
    assert credit_balance["transaction_types"] == CREDIT_BALANCE
    for refused, to in ((back_to_is, "invoice_settlement"), (back_to_legacy, "legacy")):
        assert refused["error"] == {
            "code": "settlement_backwards",
            "message": "settlement only moves forward (legacy -> invoice_settlement -> "
                       "invoice_item_settlement): the ledger holds transactions under "
                       f"invoice_item_settlement, it cannot go back to {to}",
        }

    await set_settings(pool, {"harmonization": "false"})
    iis, shown = await ledger.many(all_types, ("settings", "show"))
    assert iis["transaction_types"] == IIS
    assert shown == {"settlement": "invoice_item_settlement", "harmonization": False,
                     "multi_org": False}
    assert await scalar(pool, "SELECT count(*) FROM journal_runs") == 0


# -- what a run picks up -----------------------------------------------------------------------


async def test_month_end_journals_each_payment_once_and_leaves_out_what_never_reflects(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement",
                                 "harmonization": "true"})
    payment = {"document": "P-7", "debit": UNAPPLIED, "credit": AR}
    revenue = {"period": "Apr-2024", "debit": DEFERRED, "credit": REVENUE}
    await through_kafka(
        settings, pool,
        # payment P-7 applied to INV-1, sent both as one application and as two items
        billing_event([txn("electronic_payment_application", "PA-1", APRIL, "100.00",
                           **payment)]),
        billing_event([txn("electronic_payment_application_item", "PAI-1", APRIL, "60.00",
                           **payment),
                       txn("electronic_payment_application_item", "PAI-2", APRIL, "40.00",
                           **payment)]),
        # credit memo CM-3 applied on the 5th, unapplied on the 20th
        billing_event([txn("credit_memo_application_item", f"CMA-{i}", date(2024, 4, 5), n,
                           debit=CREDIT_MEMO, credit=AR) for i, n in ((1, "30.00"),
                                                                      (2, "20.00"))],
                      document="CM-3", event_type="credit_memo.applied"),
        billing_event([txn("credit_memo_application_item", f"CMA-{i}", date(2024, 4, 20), n,
                           debit=CREDIT_MEMO, credit=AR) for i, n in ((3, "-30.00"),
                                                                      (4, "-20.00"))]
                      + [txn("credit_memo_application_item", "CMA-5", date(2024, 4, 20),
                             "50.00", debit=CREDIT_MEMO, credit=CREDIT_MEMO,
                             subtype="reclassification")],
                      document="CM-3", event_type="credit_memo.unapplied"),
        # revenue: "recognize upon invoicing" in three spellings, and two items journaled
        billing_event([
            txn("revenue_event_item", "R-1", APRIL, "11.00", period="Apr-2024", debit="",
                credit=REVENUE, rule="RECOGNIZE_UPON_INVOICING"),
            txn("revenue_event_item", "R-2", APRIL, "12.00", period="Apr-2024",
                debit=REVENUE, credit=REVENUE, rule="recognize-upon-invoicing"),
            txn("revenue_event_item", "R-3", APRIL, "13.00", period="Apr-2024",
                debit=DEFERRED, credit=" ", rule="Recognize upon invoicing"),
            txn("revenue_event_item", "R-4", APRIL, "75.00", rule="Recognize daily over time",
                **revenue),
            txn("revenue_event_item", "R-5", APRIL, "25.00", rule="recognize_upon_invoicing",
                **revenue),
        ], document="REV-1"),
    )
    ledger = Ledger(settings)

    cash = await ledger("journal-runs", "create", "--types", "cash", "--period", "Apr-2024")
    assert (cash["number"], cash["journal_entry_numbers"], cash["transaction_count"]) == (
        "JR-00000001", ["JE-00000001"], 2)
    assert "electronic_payment_application" not in cash["transaction_types"]
    billing = await ledger("journal-runs", "create", "--types", "billing", "--period",
                           "Apr-2024")
    assert (billing["number"], billing["journal_entry_numbers"],
            billing["transaction_count"]) == ("JR-00000002", ["JE-00000002"], 2)
    recognized = await ledger("journal-runs", "create", "--types", "revenue")  # Apr: open
    assert (recognized["number"], recognized["journal_entry_numbers"],
            recognized["transaction_count"], recognized["target"]["period"]) == (
        "JR-00000003", ["JE-00000003"], 2, "Apr-2024")

    je1, je2, je3, pending = await ledger.many(
        ("journal-entries", "show", "JE-00000001"), ("journal-entries", "show", "JE-00000002"),
        ("journal-entries", "show", "JE-00000003"), ("pending",))
    # the two items, once: not the application that says the same
    assert (je1["transaction_type"], je1["lines"], je1["total_debit"]) == (
        "electronic_payment_application_item",
        lines((UNAPPLIED, "debit", "100.00"), (AR, "credit", "100.00")), "100.00")
    # the credit memo as applied; its unapplication never reflects
    assert (je2["transaction_type"], je2["lines"], je2["total_debit"]) == (
        "credit_memo_application_item",
        lines((CREDIT_MEMO, "debit", "50.00"), (AR, "credit", "50.00")), "50.00")
    assert (je3["transaction_type"], je3["lines"], je3["total_debit"]) == (
        "revenue_event_item", lines((DEFERRED, "debit", "100.00"), (REVENUE, "credit", "100.00")),
        "100.00")
    assert [(r["transaction_type"], r["period"], r["state"], r["reason"], r["count"],
             r["amount"]) for r in pending] == [
        ("credit_memo_application_item", "Apr-2024", "excluded", "reclassification", 1, "50.00"),
        ("credit_memo_application_item", "Apr-2024", "excluded", "unapplied_credit_memo", 2,
         "-50.00"),
        ("electronic_payment_application", "Apr-2024", "held", "type_not_enabled", 1, "100.00"),
        ("revenue_event_item", "Apr-2024", "excluded", "revenue_same_accounts", 1, "12.00"),
        ("revenue_event_item", "Apr-2024", "excluded", "revenue_upon_invoicing_blank_account",
         2, "24.00"),
    ]
    journaled = await rows(pool, "SELECT type, id FROM journaled_transactions ORDER BY type, id")
    assert [(r["type"], r["id"]) for r in journaled] == [
        ("credit_memo_application_item", "CMA-1"), ("credit_memo_application_item", "CMA-2"),
        ("electronic_payment_application_item", "PAI-1"),
        ("electronic_payment_application_item", "PAI-2"),
        ("revenue_event_item", "R-4"), ("revenue_event_item", "R-5"),
    ]


# -- turning Multi-Org on ----------------------------------------------------------------------


async def test_multi_org_waits_for_the_legacy_transactions_unless_forced(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"harmonization": "true"})  # invoice settlement, legacy kept
    adjustment = {"debit": AR, "credit": REVENUE, "document": "INV-1"}
    await through_kafka(
        settings, pool,
        billing_event([txn("invoice_item", "I-1", APRIL, "80.00", document="INV-1")]),
        billing_event([txn("invoice_adjustment", "IA-1", APRIL, "-5.00", **adjustment),
                       txn("invoice_adjustment", "IA-2", APRIL, "-3.00", **adjustment),
                       txn("invoice_adjustment", "IA-3", APRIL, "-1.00", status="draft",
                           **adjustment)]),
        billing_event([txn("electronic_credit_balance_payment", "CBP-1", APRIL, "20.00",
                           debit="Cash", credit="Credit Balance", document="P-9")]),
    )
    ledger = Ledger(settings)

    refused = await ledger("settings", "set", "multi_org=true", code=2)
    assert error_code(refused) == "legacy_transactions_unjournaled"
    assert "still unjournaled: invoice_adjustment 3, electronic_credit_balance_payment 1; run " \
           "a journal run for them first, or --force" in refused["error"]["message"]

    run = await ledger("journal-runs", "create", "--types", "credit_balance,invoice_adjustment",
                       "--period", "Apr-2024")
    assert (run["transaction_count"], run["journal_entry_numbers"]) == (
        3, ["JE-00000001", "JE-00000002"])
    still = await ledger("settings", "set", "multi_org=true", code=2)
    assert "still unjournaled: invoice_adjustment 1; run" in still["error"]["message"]  # draft
    assert await scalar(pool, "SELECT multi_org FROM ledger_settings") is False

    forced = await ledger("settings", "set", "multi_org=true", "--force")
    assert forced == {"settlement": "invoice_settlement", "harmonization": True,
                      "multi_org": True}
    payload = await scalar(pool, "SELECT payload FROM events WHERE event_type = "
                                 "'settings.changed' ORDER BY position DESC LIMIT 1")
    assert json.loads(payload)["data"] == {
        "settlement": "invoice_settlement", "harmonization": True, "multi_org": True,
        "forced": True, "unjournaled": {"invoice_adjustment": 1},
    }
    assert await ledger("settings", "show") == forced


# -- no target: the earliest open period ----------------------------------------------------


async def test_without_a_target_a_run_takes_the_earliest_open_period(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, periods=MONTHS_2024)  # Apr, May, Jun 2024, all open
    await store_lines(pool, [txn("invoice_item", f"I-{m}", date(2024, m, 3), n)
                             for m, n in ((4, "10.00"), (5, "20.00"), (6, "40.00"))])
    ledger = Ledger(settings)
    run = ("journal-runs", "create", "--types", "billing")

    april = await ledger(*run)
    assert (april["target"], april["journal_entry_date"], april["transaction_count"]) == (
        {"period": "Apr-2024", "start_date": "2024-04-01", "end_date": "2024-04-30"},
        "2024-04-30", 1)
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")
    may = await ledger(*run)
    assert (may["number"], may["target"]["period"], may["journal_entry_date"],
            may["transaction_count"]) == ("JR-00000002", "May-2024", "2024-05-31", 1)
    await change_period_status(pool, org=None, name="May-2024", to="closed")
    await change_period_status(pool, org=None, name="Jun-2024", to="pending_close")
    none_open = await ledger(*run, code=2)
    assert none_open["error"] == {
        "code": "target_required",
        "message": "no target given and this scope has no open accounting period: name a "
                   "period, a date, or a start and end",
    }
    june = await ledger(*run, "--period", "Jun-2024")  # a period named still works
    assert (june["number"], june["transaction_count"]) == ("JR-00000003", 1)
