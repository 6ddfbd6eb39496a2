"""The period summary, the month-end close check (docs/domain.md §3 "Period summary"): per
currency, every account's debit and credit over the entries dated in the period that are not
cancelled, the totals, and what is still pending, held or excluded there."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings
from services.config import Settings
from services.errors import NotFound
from services.journal.entries import cancel_entry, set_transfer_status
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from services.period_summary import period_summary
from tests.integration.billing import AR, REVENUE, store_lines, txn
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up

APRIL, MAY = "Apr-2024", "May-2024"
TAX = "Sales Tax"


def day(d: int, month: int = 4) -> date:
    return date(2024, month, d)


APRIL_LINES = [
    # journaled: one USD invoice item entry (a negative line posts with its sides swapped),
    # one USD taxation entry, one JPY entry, one BHD entry
    txn("invoice_item", "I1", day(3), "100"),
    txn("invoice_item", "I2", day(10), "19.625"),  # more precise than USD: kept
    txn("invoice_item", "I3", day(12), "-5.5"),
    txn("taxation_item", "T1", day(12), "8.25", credit=TAX),
    txn("invoice_item", "J1", day(15), "500", currency="JPY"),
    txn("invoice_item", "B1", day(20), "1.25", currency="BHD"),
    # not journaled by the billing runs below
    txn("electronic_payment_application", "P1", day(25), "30", subtype="invoice"),
    txn("revenue_event_item", "R1", day(3, 5), "12", period=APRIL),  # names April
    txn("invoice_item", "H1", day(22), "40", status="draft"),  # held: status
    txn("invoice_adjustment", "A1", day(23), "-30"),  # held: legacy type, not enabled
    txn("electronic_payment_application", "X1", day(21), "-10",
        subtype="reclassification"),  # excluded
    txn("invoice_item", "M1", day(7, 5), "7"),  # May's
]

APRIL_ENTRIES = {
    "BHD": {"total_debit": "1.250", "total_credit": "1.250", "accounts": [
        {"account": AR, "debit": "1.250", "credit": "0.000"},
        {"account": REVENUE, "debit": "0.000", "credit": "1.250"}]},
    "JPY": {"total_debit": "500", "total_credit": "500", "accounts": [
        {"account": AR, "debit": "500", "credit": "0"},
        {"account": REVENUE, "debit": "0", "credit": "500"}]},
    "USD": {"total_debit": "133.375", "total_credit": "133.375", "accounts": [
        {"account": AR, "debit": "127.875", "credit": "5.50"},  # 100 + 19.625 + 8.25
        {"account": REVENUE, "debit": "5.50", "credit": "119.625"},
        {"account": TAX, "debit": "0.00", "credit": "8.25"}]},
}


def currencies(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"currency": c, **entries[c]} for c in sorted(entries)]


def nothing() -> dict[str, Any]:
    return {"count": 0, "currencies": [], "reasons": []}


async def april_journaled(pool: asyncpg.Pool) -> None:
    """The lines stored; April's billing run; the BHD entry cancelled and run again (so a
    cancelled entry and its replacement both exist)."""
    await set_up(pool)
    await store_lines(pool, APRIL_LINES)
    first = await create_journal_run(
        pool, JournalRunRequest(types=("invoice_item", "taxation_item"), period=APRIL))
    assert first["journal_entry_numbers"] == ["JE-00000001", "JE-00000002", "JE-00000003",
                                              "JE-00000004"]
    entries = await list_entries(pool, run=first["number"])
    assert [(e["transaction_type"], e["currency"]) for e in entries] == [
        ("invoice_item", "BHD"), ("invoice_item", "JPY"), ("invoice_item", "USD"),
        ("taxation_item", "USD")]
    await cancel_entry(pool, "JE-00000001")
    again = await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                             period=APRIL))
    assert (again["journal_entry_numbers"], again["transaction_count"]) == (["JE-00000005"], 1)


def line_sums(entries: list[dict[str, Any]], first: date, last: date) -> dict[str, Decimal]:
    """(currency, side) -> the sum of the lines of the entries dated in [first, last] that
    are not cancelled, from the entries as the ledger lists them."""
    sums: dict[str, Decimal] = {}
    for entry in entries:
        dated = date.fromisoformat(entry["journal_entry_date"])
        if entry["status"] == "cancelled" or not first <= dated <= last:
            continue
        for line in entry["lines"]:
            key = f"{entry['currency']} {line['side']}"
            sums[key] = sums.get(key, Decimal(0)) + Decimal(line["amount"])
    return sums


async def test_summary_totals_are_the_lines_of_the_period_s_entries_per_currency(
    pool: asyncpg.Pool,
) -> None:
    await april_journaled(pool)
    summary = await period_summary(pool, APRIL, None)
    assert summary == {
        "period": APRIL,
        "org": None,
        "currencies": currencies(APRIL_ENTRIES),
        "entry_count": 4,  # JE-1 (BHD) is cancelled; JE-5 replaces it
        "pending": {"count": 2, "currencies": [{"currency": "USD", "count": 2,
                                                 "amount": "42.00"}],
                    "reasons": []},
        "held": {"count": 2,  # 40 - 30
                 "currencies": [{"currency": "USD", "count": 2, "amount": "10.00"}],
                 "reasons": [{"reason": "status_not_eligible", "count": 1},
                             {"reason": "type_not_enabled", "count": 1}]},
        "excluded": {"count": 1,
                     "currencies": [{"currency": "USD", "count": 1, "amount": "-10.00"}],
                     "reasons": [{"reason": "reclassification", "count": 1}]},
    }
    # the totals are the sums of the lines, per currency, whatever the ledger lists
    lines = line_sums(await list_entries(pool), day(1), day(30))
    for currency in summary["currencies"]:
        code = currency["currency"]
        assert Decimal(currency["total_debit"]) == lines[f"{code} debit"]
        assert Decimal(currency["total_credit"]) == lines[f"{code} credit"]
        assert sum(Decimal(a["debit"]) for a in currency["accounts"]) == lines[f"{code} debit"]

    # May: no entries; its invoice pending
    assert await period_summary(pool, MAY, None) == {
        "period": MAY, "org": None, "currencies": [], "entry_count": 0,
        "pending": {"count": 1, "currencies": [{"currency": "USD", "count": 1,
                                                 "amount": "7.00"}], "reasons": []},
        "held": nothing(), "excluded": nothing(),
    }


async def test_an_entry_counts_in_the_period_of_its_journal_entry_date(
    pool: asyncpg.Pool,
) -> None:
    """An April run dated May 1st is May's: "entries dated in the period" is the journal
    entry date (so that a reversal, dated when it is made, counts where it is dated)."""
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "I1", day(3), "10", currency="EUR")])
    await create_journal_run(pool, JournalRunRequest(
        types=("invoice_item",), period=APRIL, journal_entry_date=day(1, 5)))
    april = await period_summary(pool, APRIL, None)
    may = await period_summary(pool, MAY, None)
    assert (april["currencies"], april["entry_count"], april["pending"]["count"]) == ([], 0, 0)
    assert (may["currencies"], may["entry_count"]) == (currencies({"EUR": {
        "total_debit": "10.00", "total_credit": "10.00", "accounts": [
            {"account": AR, "debit": "10.00", "credit": "0.00"},
            {"account": REVENUE, "debit": "0.00", "credit": "10.00"}]}}), 1)


async def test_summary_of_an_org_and_of_the_open_ended_period(pool: asyncpg.Pool) -> None:
    """Under Multi-Org each scope has its own summary: the org's invoices in its own, the
    legacy adjustments (no org) held in the unlabeled scope's. The open-ended period has
    every date after the last defined one."""
    await set_settings(pool, {"multi_org": "true"})
    await create_org(pool, "US")
    for org in ("US", None):
        await create_period(pool, org=org, name=APRIL, start=day(1), end=day(30),
                            fiscal_year=2024)
    await store_lines(pool, [txn("invoice_item", "U1", day(5), "12.5"),
                             txn("invoice_item", "U2", day(9, 6), "3")], org="US")
    await store_lines(pool, [txn("invoice_adjustment", "A1", day(6), "-2")])
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",), org="US",
                                                     period=APRIL))
    us = await period_summary(pool, APRIL, "US")
    assert (us["org"], us["currencies"], us["entry_count"], us["held"]) == (
        "US", currencies({"USD": {"total_debit": "12.50", "total_credit": "12.50", "accounts": [
            {"account": AR, "debit": "12.50", "credit": "0.00"},
            {"account": REVENUE, "debit": "0.00", "credit": "12.50"}]}}), 1, nothing())
    unlabeled = await period_summary(pool, APRIL, None)
    assert (unlabeled["currencies"], unlabeled["entry_count"], unlabeled["held"]) == (
        [], 0, {"count": 1, "currencies": [{"currency": "USD", "count": 1, "amount": "-2.00"}],
                "reasons": [{"reason": "legacy_type_under_multi_org", "count": 1}]})
    open_ended = await period_summary(pool, "Open-Ended", "US")
    assert (open_ended["entry_count"], open_ended["pending"]) == (0, {
        "count": 1, "currencies": [{"currency": "USD", "count": 1, "amount": "3.00"}],
        "reasons": []})

    with pytest.raises(NotFound) as unknown:
        await period_summary(pool, "Jul-2024", "US")
    assert unknown.value.code == "period_not_found"
    with pytest.raises(NotFound) as no_org:
        await period_summary(pool, APRIL, "EU")
    assert no_org.value.code == "org_unknown"


async def test_http_summary_by_name_or_id_for_a_viewer(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await april_journaled(pool)
    expected = {
        "success": True, "period": APRIL, "org": None,
        "currencies": [
            {"currency": c, "totalDebit": e["total_debit"], "totalCredit": e["total_credit"],
             "accounts": e["accounts"]} for c, e in sorted(APRIL_ENTRIES.items())],
        "entryCount": 4,
        "pending": {"count": 2, "currencies": [{"currency": "USD", "count": 2,
                                                 "amount": "42.00"}], "reasons": []},
        "held": {"count": 2, "currencies": [{"currency": "USD", "count": 2, "amount": "10.00"}],
                 "reasons": [{"reason": "status_not_eligible", "count": 1},
                             {"reason": "type_not_enabled", "count": 1}]},
        "excluded": {"count": 1,
                     "currencies": [{"currency": "USD", "count": 1, "amount": "-10.00"}],
                     "reasons": [{"reason": "reclassification", "count": 1}]},
    }
    async with serving(settings, pool, role="viewer") as api:
        by_name = await api.get(f"/v1/accounting-periods/{APRIL}/summary")
        assert (by_name.status_code, by_name.json()) == (200, expected)
        period_id = (await api.get(f"/v1/accounting-periods/{APRIL}")).json()["id"]
        by_id = await api.get(f"/v1/accounting-periods/{period_id}/summary")
        assert (by_id.status_code, by_id.json()) == (200, expected)
        missing = await api.get("/v1/accounting-periods/Jul-2024/summary")
        assert missing.status_code == 404
        assert missing.json()["reasons"][0]["code"] == "period_not_found"
        unknown_org = await api.get(f"/v1/accounting-periods/{APRIL}/summary?orgName=EU")
        assert (unknown_org.status_code, unknown_org.json()["reasons"][0]["code"]) == (
            404, "org_unknown")
        also_org = await api.get(f"/v1/accounting-periods/{APRIL}/summary?org=EU")
        assert (also_org.status_code, also_org.json()["reasons"][0]["code"]) == (
            404, "org_unknown")
        both = await api.get(f"/v1/accounting-periods/{APRIL}/summary?org=EU&orgName=US")
        assert (both.status_code, both.json()["reasons"][0]["code"]) == (400, "org_ambiguous")
    async with serving(settings, pool, role=None) as anonymous:
        assert (await anonymous.get(f"/v1/accounting-periods/{APRIL}/summary")
                ).status_code == 401


# -- a reversal in a later period ---------------------------------------------------------

#: JE-00000003 (April's USD invoice items) offset in May: every line on the other side.
MAY_REVERSAL = {"USD": {"total_debit": "125.125", "total_credit": "125.125", "accounts": [
    {"account": AR, "debit": "5.50", "credit": "119.625"},
    {"account": REVENUE, "debit": "119.625", "credit": "5.50"}]}}


async def test_reverse_entry_in_a_later_period_and_the_released_transactions(
    pool: asyncpg.Pool,
) -> None:
    """The reversal command: the original counts in April, its reversal in May, and the
    original's transactions are pending in April again."""
    await april_journaled(pool)
    await set_transfer_status(pool, "JE-00000003", "yes")
    done = await reverse_entry(pool, "JE-00000003", day(6, 5))
    assert done.reversed.reversed_by == "JE-00000006"
    april = await period_summary(pool, APRIL, None)
    assert (april["currencies"], april["entry_count"]) == (currencies(APRIL_ENTRIES), 4)
    assert april["pending"] == {  # P1 and R1, and I1, I2, I3 released by the reversal
        "count": 5, "currencies": [{"currency": "USD", "count": 5, "amount": "156.125"}],
        "reasons": []}
    may = await period_summary(pool, MAY, None)
    assert (may["currencies"], may["entry_count"]) == (currencies(MAY_REVERSAL), 1)
    # over both periods the reversed entry nets to nothing: only the tax entry is left
    net: dict[str, Decimal] = {}
    for summary in (april, may):
        for account in next(c for c in summary["currencies"] if c["currency"] == "USD")[
                "accounts"]:
            net[account["account"]] = (net.get(account["account"], Decimal(0))
                                       + Decimal(account["debit"]) - Decimal(account["credit"]))
    assert net == {AR: Decimal("8.25"), REVENUE: Decimal(0), TAX: Decimal("-8.25")}


async def test_journaled_is_judged_by_membership_whatever_the_run_s_target_or_scope(
    pool: asyncpg.Pool,
) -> None:
    """A transaction journaled by a run over dates inside the period, or journaled in the
    unlabeled scope before Multi-Org moved it to its org's, is not pending in the summary;
    the one no run took is."""
    await set_up(pool)  # unlabeled Apr-2024, May-2024; no Multi-Org
    await store_lines(pool, [txn("invoice_item", "D1", day(10), "4"),
                             txn("invoice_item", "D2", day(20), "6"),
                             txn("invoice_item", "D3", day(25), "5")], org="US")
    await create_journal_run(pool, JournalRunRequest(
        types=("invoice_item",), start=day(9), end=day(21)))
    assert (await period_summary(pool, APRIL, None))["pending"] == {
        "count": 1, "currencies": [{"currency": "USD", "count": 1, "amount": "5.00"}],
        "reasons": []}
    await set_settings(pool, {"multi_org": "true"})
    await create_org(pool, "US")
    await create_period(pool, org="US", name=APRIL, start=day(1), end=day(30),
                        fiscal_year=2024)
    us = await period_summary(pool, APRIL, "US")  # D1, D2 journaled in the unlabeled scope
    assert (us["entry_count"], us["pending"]) == (0, {
        "count": 1, "currencies": [{"currency": "USD", "count": 1, "amount": "5.00"}],
        "reasons": []})
    unlabeled = await period_summary(pool, APRIL, None)  # its entry stays where it was made
    assert (unlabeled["entry_count"], unlabeled["pending"]["count"]) == (1, 0)
    assert unlabeled["currencies"][0]["total_debit"] == "10.00"
