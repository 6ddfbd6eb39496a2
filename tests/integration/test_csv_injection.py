"""Transaction detail CSV (docs/domain.md §3): a text cell that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with a leading ``'`` (OWASP CSV
injection), in the CLI's export and the HTTP download alike; amounts and dates as they are."""

from __future__ import annotations

import csv
import io
from datetime import date

import asyncpg

from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.entries import export_entry_csv
from services.journal.run import create_journal_run
from tests.integration.billing import AR, REVENUE, store_lines, txn
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up

HYPERLINK = '=HYPERLINK("http://x","open")'


async def entry_with_formulas(pool: asyncpg.Pool) -> str:
    await set_up(pool)
    april = date(2024, 4, 5)
    await store_lines(pool, [
        txn("invoice_item", "T1", april, "-3.25", credit=HYPERLINK, document="INV-1"),
        txn("invoice_item", "T2", april, "10.00", credit="+1", document="INV-2"),
        txn("invoice_item", "T3", april, "1", credit="-2", document="INV-3"),
        txn("invoice_item", "T4", april, "2", credit="@SUM(A1)", document="INV-4"),
        txn("invoice_item", "T5", april, "4.50", document="\tDOC-TAB"),
        txn("invoice_item", "T6", april, "5", document="\rDOC-CR"),
    ])
    run = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                           period="Apr-2024"))
    [number] = run["journal_entry_numbers"]
    return str(number)


def by_transaction(text: str) -> dict[str, dict[str, str]]:
    return {row["transaction_id"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}


def assert_guarded(rows: dict[str, dict[str, str]], number: str) -> None:
    assert rows["T1"] == {
        "journal_entry": number, "transaction_id": "T1", "transaction_type": "invoice_item",
        "subtype": "", "transaction_date": "2024-04-05", "document_number": "INV-1",
        "account_number": "A-001", "amount": "-3.25", "currency": "USD",
        "debit_account": AR, "credit_account": "'" + HYPERLINK, "segments": "{}", "org": "",
    }
    assert {t: rows[t]["credit_account"] for t in ("T2", "T3", "T4", "T5")} == {
        "T2": "'+1", "T3": "'-2", "T4": "'@SUM(A1)", "T5": REVENUE}
    assert {t: rows[t]["document_number"] for t in ("T4", "T5", "T6")} == {
        "T4": "INV-4", "T5": "'\tDOC-TAB", "T6": "'\rDOC-CR"}
    assert {t: rows[t]["amount"] for t in rows} == {
        "T1": "-3.25", "T2": "10.00", "T3": "1.00", "T4": "2.00", "T5": "4.50", "T6": "5.00"}
    assert {rows[t]["transaction_date"] for t in rows} == {"2024-04-05"}


async def test_the_cli_export_guards_text_cells_and_keeps_amounts_and_dates(
    pool: asyncpg.Pool,
) -> None:
    number = await entry_with_formulas(pool)
    out = io.BytesIO()

    async def write(chunk: bytes) -> None:
        out.write(chunk)

    assert await export_entry_csv(pool, number, write) == 6
    assert_guarded(by_transaction(out.getvalue().decode()), number)


async def test_the_http_transaction_details_are_guarded_the_same_way(
    settings: Settings, pool: asyncpg.Pool,
) -> None:
    number = await entry_with_formulas(pool)
    async with serving(settings, pool) as api:
        answer = await api.get(f"/v1/journal-entries/{number}/transaction-details")
    assert answer.status_code == 200
    assert_guarded(by_transaction(answer.text), number)
