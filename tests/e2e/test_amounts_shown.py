"""Amounts at the currency's precision everywhere they are shown (docs/domain.md §3): the
Kafka event the publisher sends, ``--json``, the tables, HTTP, the CSV export, the period
summary. USD ``12.50`` (sent as ``12.5``), JPY ``500``, BHD ``1.250``, and an over-precise
USD ``19.625`` kept whole."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from services.config import Settings
from services.ingest.app import run_ingest
from services.publisher import run_publisher
from tests.e2e.test_cli import Ledger
from tests.helpers import consume_all, process_env, produce, wait_until
from tests.integration.billing import AR, REVENUE, billing_event, txn
from tests.integration.db import billing_event_count, scalar
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up

APRIL = "Apr-2024"

#: The three entries April's run makes, by currency: (number, lines, total).
ENTRIES = {
    "BHD": ("JE-00000001", [(AR, "debit", "1.250"), (REVENUE, "credit", "1.250")], "1.250"),
    "JPY": ("JE-00000002", [(AR, "debit", "500"), (REVENUE, "credit", "500")], "500"),
    "USD": ("JE-00000003", [(AR, "debit", "19.625"), (REVENUE, "credit", "19.625")],
            "19.625"),
}


def lines_of(entry: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(ln["account"], ln["side"], ln["amount"]) for ln in entry["lines"]]


def shown(entry: dict[str, Any]) -> tuple[str, list[tuple[str, str, str]], str, str]:
    return entry["number"], lines_of(entry), entry["total_debit"], entry["total_credit"]


def expected(currency: str) -> tuple[str, list[tuple[str, str, str]], str, str]:
    number, lines, total = ENTRIES[currency]
    return number, lines, total, total


async def ingest(settings: Settings, pool: asyncpg.Pool) -> None:
    """Three invoices through Kafka and the ingest, as upstream sends them."""
    values = [json.dumps(billing_event(lines, currency=currency)).encode() for currency, lines in (
        ("USD", [txn("invoice_item", "U1", date(2024, 4, 3), "12.5"),
                 txn("invoice_item", "U2", date(2024, 4, 4), "7.125")]),
        ("JPY", [txn("invoice_item", "J1", date(2024, 4, 5), "500")]),
        ("BHD", [txn("invoice_item", "B1", date(2024, 4, 6), "1.25")]),
    )]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values)
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, pool, stop))
    try:
        async def stored() -> bool:
            return await billing_event_count(pool) == 3

        await wait_until(stored, message="three invoices stored")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def table_output(settings: Settings, *args: str) -> str:
    """What a person sees: the command without ``--json``, on a wide terminal."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args,
        env=process_env(settings, COLUMNS="200"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def published_entries(settings: Settings, pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Relay the outbox with the publisher; the journal_entry.created data read back."""
    total = await scalar(pool, "SELECT count(*) FROM outbox")
    stop = asyncio.Event()
    publisher = asyncio.create_task(run_publisher(pool, settings, settings.topic_journal, stop))
    try:
        async def relayed() -> bool:
            return await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        await wait_until(relayed, message="the publisher relays the outbox")
    finally:
        stop.set()
        await asyncio.wait_for(publisher, timeout=30)
    assert settings.kafka_bootstrap
    records = await consume_all(settings.kafka_bootstrap, settings.topic_journal, total)
    messages = [json.loads(r.value) for r in records]
    return sorted((m["data"] for m in messages if m["event_type"] == "journal_entry.created"),
                  key=lambda d: d["number"])


async def test_every_output_shows_amounts_at_the_currency_s_precision(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await set_up(pool)  # unlabeled Apr-2024 and May-2024
    await ingest(settings, pool)
    ledger = Ledger(settings)

    dry = await ledger("journal-runs", "create", "--types", "invoice_item", "--period", APRIL,
                       "--dry-run")
    assert [(lines_of(e), e["total_debit"]) for e in dry["entries"]] == [
        (ENTRIES[c][1], ENTRIES[c][2]) for c in ("BHD", "JPY", "USD")]
    run = await ledger("journal-runs", "create", "--types", "invoice_item", "--period", APRIL)
    assert run["journal_entry_numbers"] == ["JE-00000001", "JE-00000002", "JE-00000003"]

    # Kafka: the events the publisher sends
    assert [shown(e) for e in await published_entries(settings, pool)] == [
        expected(c) for c in ("BHD", "JPY", "USD")]

    # --json: lists and single entries; the period summary
    csv_file = tmp_path / "usd.csv"
    listed, bhd, summary, exported = await ledger.many(
        ("journal-entries", "list"), ("journal-entries", "show", "JE-00000001"),
        ("periods", "summary", APRIL),
        ("journal-entries", "export", "JE-00000003", "-o", str(csv_file)))
    assert [shown(e) for e in listed] == [expected(c) for c in ("BHD", "JPY", "USD")]
    assert shown(bhd) == expected("BHD")
    assert [(c["currency"], c["total_debit"], c["total_credit"], c["accounts"])
            for c in summary["currencies"]] == [
        ("BHD", "1.250", "1.250", [{"account": AR, "debit": "1.250", "credit": "0.000"},
                                   {"account": REVENUE, "debit": "0.000", "credit": "1.250"}]),
        ("JPY", "500", "500", [{"account": AR, "debit": "500", "credit": "0"},
                               {"account": REVENUE, "debit": "0", "credit": "500"}]),
        ("USD", "19.625", "19.625", [{"account": AR, "debit": "19.625", "credit": "0.00"},
                                     {"account": REVENUE, "debit": "0.00",
                                      "credit": "19.625"}]),
    ]

    # the CSV export: each transaction's amount, sent "12.5", written 12.50
    assert exported["transaction_count"] == 2
    detail = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    assert [(r["transaction_id"], r["amount"], r["currency"]) for r in detail] == [
        ("U1", "12.50", "USD"), ("U2", "7.125", "USD")]

    # HTTP: Zuora's shapes carry the same strings
    async with serving(settings, pool, role="viewer") as api:
        for currency, (number, lines, total) in ENTRIES.items():
            entry = (await api.get(f"/v1/journal-entries/{number}")).json()
            assert (entry["currency"], entry["totalDebit"], entry["totalCredit"]) == (
                currency, total, total)
            assert [(i["accountingCodeName"], i["amount"], i["homeCurrencyAmount"])
                    for i in entry["journalEntryItems"]] == [
                (account, amount, amount) for account, _side, amount in lines]
        http_summary = (await api.get(f"/v1/accounting-periods/{APRIL}/summary")).json()
        assert [(c["currency"], c["totalDebit"]) for c in http_summary["currencies"]] == [
            ("BHD", "1.250"), ("JPY", "500"), ("USD", "19.625")]
        csv_answer = await api.get("/v1/journal-entries/JE-00000003/transaction-details")
        assert [r["amount"] for r in csv.DictReader(io.StringIO(csv_answer.text))] == [
            "12.50", "7.125"]

    # the tables a person reads
    entry_table, summary_table = await asyncio.gather(
        table_output(settings, "journal-entries", "list"),
        table_output(settings, "periods", "summary", APRIL))
    for amount in ("1.250", "500", "19.625"):
        assert f" {amount} " in entry_table, entry_table
    for amount in ("1.250", "0.000", "19.625", "0.00"):
        assert f" {amount} " in summary_table, summary_table
    assert "19.6 " not in entry_table and "1.25 " not in summary_table
    assert summary_table.count("balanced") == 3 and "NOT balanced" not in summary_table
    assert "Apr-2024: 3 entries; complete: nothing pending or held" in summary_table
