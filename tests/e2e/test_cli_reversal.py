"""Reversing a transferred entry as an operator does it (issue 14): billing events through
Kafka, ``ledger ... --json`` in subprocesses under ``LEDGER_ACTOR``, the outbox relayed to
the journal topic and read back, then ``ledger verify`` and ``ledger projections rebuild``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

import projections
from services.config import Settings
from tests.e2e.test_cli import Ledger, error_code
from tests.e2e.test_cli_month_end import through_kafka
from tests.helpers import consume_all
from tests.integration.audit import parse_stamp, run_unstamped, unstamped
from tests.integration.billing import billing_event, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import MONTHS_2024, set_up
from tests.integration.relay import relay_outbox

CONTROLLER, GL = "controller@example.com", "gl-sync"
AR, REVENUE, TAX = "Accounts Receivable", "Revenue", "Sales Tax Payable"
APRIL = date(2024, 4, 9)


async def journal_topic(settings: Settings, pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Relay the whole outbox with the publisher, then read the journal topic from the
    beginning until every relayed event is there; the messages in the order read."""
    expected = int(await scalar(pool, "SELECT count(*) FROM outbox"))
    await relay_outbox(settings, pool)
    assert settings.kafka_bootstrap
    records = await consume_all(settings.kafka_bootstrap, settings.topic_journal, expected)
    assert len(records) == expected  # each once: nothing lost, nothing twice
    assert {r.key for r in records} == {b"US"}  # one org: one partition, one order
    return [json.loads(r.value) for r in records]


async def tables(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """Every projection table's rows, in one order whatever the table's columns."""
    names = [t for p in projections.ALL for t in p.tables]
    return {t: sorted(await rows(pool, f"SELECT * FROM {t}"),
                      key=lambda r: json.dumps(r, default=str, sort_keys=True))
            for t in names}


async def test_a_transferred_entry_is_reversed_and_its_transactions_journaled_again(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US",), periods=MONTHS_2024, unlabeled_periods=False)
    await through_kafka(
        settings, pool,
        billing_event([txn("invoice_item", "I-1", APRIL, "100.00"),
                       txn("invoice_item", "I-2", APRIL, "-20.50"),
                       txn("taxation_item", "T-1", APRIL, "8.125", debit=AR, credit=TAX)],
                      org="US", document="INV-1"),
        billing_event([txn("invoice_item", "I-3", APRIL, "5.00", segments={"region": "EU"})],
                      org="US", document="INV-2"),
    )
    ledger, gl = Ledger(settings, actor=CONTROLLER), Ledger(settings, actor=GL)
    since = datetime.now(UTC)
    run = await ledger("journal-runs", "create", "--org", "US", "--types", "billing",
                       "--period", "Apr-2024")
    assert (run["number"], run["journal_entry_numbers"], run["transaction_count"]) == (
        "JR-00000001", ["JE-00000001", "JE-00000002", "JE-00000003"], 4)
    assert run_unstamped(run, CONTROLLER, since)["status"] == "completed"
    invoices = await ledger("journal-entries", "show", "JE-00000002")  # (JE-1: region EU)
    assert (invoices["transaction_type"], invoices["segments"], invoices["lines"]) == (
        "invoice_item", {},
        [{"account": AR, "side": "debit", "amount": "100.00"},
         {"account": REVENUE, "side": "debit", "amount": "20.50"},
         {"account": AR, "side": "credit", "amount": "20.50"},
         {"account": REVENUE, "side": "credit", "amount": "100.00"}])

    # -- refused: not transferred yet; then a date in a closed period --------------------------
    not_yet = await ledger("journal-entries", "reverse", "JE-00000002", "--date", "2024-05-10",
                           code=4)
    assert not_yet["error"] == {
        "code": "entry_not_transferred",
        "message": "JE-00000002 has transfer status no: only an entry transferred to "
                   "accounting (yes) is reversed; cancel it instead"}
    transferred, closed = await asyncio.gather(
        gl("journal-entries", "transfer", "JE-00000002", "--status", "yes"),
        ledger("periods", "close", "Apr-2024", "--org", "US"))
    assert unstamped(transferred, GL, since) == {"number": "JE-00000002", "from": "no",
                                                 "to": "yes"}
    assert closed["status"] == "closed"
    in_closed = await ledger("journal-entries", "reverse", "JE-00000002", "--date",
                             "2024-04-30", code=2)
    assert error_code(in_closed) == "reversal_period_closed"
    assert "falls in Apr-2024, which is closed" in in_closed["error"]["message"]
    assert await scalar(pool, "SELECT value FROM counters WHERE name = 'journal_entry'") == 3

    # -- the reversal -------------------------------------------------------------------------
    reversed_ = await ledger("journal-entries", "reverse", "JE-00000002", "--date", "2024-05-10")
    assert unstamped(reversed_, CONTROLLER, since) == {
        "number": "JE-00000002", "reversed_by": "JE-00000004", "released_transaction_count": 2}
    original, reversal, pending = await ledger.many(
        ("journal-entries", "show", "JE-00000002"), ("journal-entries", "show", "JE-00000004"),
        ("pending", "--org", "US"))
    assert original == invoices | {"status": "reversed", "transfer_status": "yes"}
    assert reversal == invoices | {
        "number": "JE-00000004", "accounting_period": "May-2024",
        "journal_entry_date": "2024-05-10", "transaction_count": 0, "reverses": "JE-00000002",
        "lines": [{"account": AR, "side": "debit", "amount": "20.50"},
                  {"account": REVENUE, "side": "debit", "amount": "100.00"},
                  {"account": AR, "side": "credit", "amount": "100.00"},
                  {"account": REVENUE, "side": "credit", "amount": "20.50"}]}
    assert [(r["transaction_type"], r["state"], r["count"], r["amount"]) for r in pending] == [
        ("invoice_item", "pending", 2, "79.50")]

    # -- the next run journals exactly the released transactions (Apr-2024 is closed: a run
    # may still target it) ------------------------------------------------------------------
    rerun = await ledger("journal-runs", "create", "--org", "US", "--types", "billing",
                         "--period", "Apr-2024")
    assert (rerun["number"], rerun["journal_entry_numbers"], rerun["transaction_count"]) == (
        "JR-00000002", ["JE-00000005"], 2)
    again, by_status, of_april, runs_of_eu, bad_status = await ledger.many(
        ("journal-entries", "show", "JE-00000005"),
        ("journal-runs", "list", "--status", "completed"),
        ("journal-runs", "list", "--org", "US", "--period", "Apr-2024"),
        ("journal-runs", "list", "--org", "EU"),
        ("journal-runs", "list", "--status", "finished", 2))
    assert again == invoices | {"number": "JE-00000005", "journal_run": "JR-00000002"}
    members = await rows(pool, "SELECT id FROM journaled_transactions "
                               "WHERE journal_entry = 'JE-00000005' ORDER BY id")
    assert [m["id"] for m in members] == ["I-1", "I-2"]
    first_run = await ledger("journal-runs", "show", "JR-00000001")
    assert first_run == run | {"journal_entry_numbers": [
        "JE-00000001", "JE-00000002", "JE-00000003", "JE-00000004"]}
    assert by_status == of_april == [first_run, rerun]
    assert runs_of_eu == []
    assert error_code(bad_status) == "journal_run_status_invalid"

    # -- what GL consumers read from Kafka ------------------------------------------------------
    messages = await journal_topic(settings, pool)
    assert [(m["event_type"], m["data"]["number"]) for m in messages] == [
        ("journal_entry.created", "JE-00000001"), ("journal_entry.created", "JE-00000002"),
        ("journal_entry.created", "JE-00000003"), ("journal_run.completed", "JR-00000001"),
        ("journal_entry.transfer_status_changed", "JE-00000002"),
        ("journal_entry.reversed", "JE-00000002"), ("journal_entry.created", "JE-00000004"),
        ("journal_entry.created", "JE-00000005"), ("journal_run.completed", "JR-00000002"),
    ]
    data = [m["data"] for m in messages]
    assert data[3] == run and data[4] == transferred and data[5] == reversed_
    assert data[6] == reversal | {"status": "created"} and data[7] == again | {
        "status": "created"}
    assert data[1] == invoices | {"status": "created"} and data[1]["reverses"] is None
    assert (data[8]["created_by"], data[4]["by"], data[5]["by"]) == (CONTROLLER, GL, CONTROLLER)
    for message in messages:
        assert "internal" not in message
        if message["event_type"] in ("journal_entry.reversed", "journal_run.completed"):
            stamp = message["data"].get("at") or message["data"]["created_at"]
            assert parse_stamp(stamp) == datetime.fromisoformat(message["occurred_at"])

    # -- verify, and a rebuild gives the same tables ---------------------------------------------
    verified = await ledger("verify")
    assert (verified["ok"], verified["violations"]) == (True, [])
    before = await tables(pool)
    rebuilt = await ledger("projections", "rebuild")
    assert rebuilt["log_head"] == await scalar(pool, "SELECT max(position) FROM events")
    assert await tables(pool) == before
