"""What a period summary says is not journaled, two ways (``services.unjournaled``): by
counting, when the entries' counts show every pending transaction journaled, and by
anti-join, always. Wherever counting answers, the two must agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from events.journal_rules import JournalRunRequest
from services import unjournaled
from services.commands.orgs import create_org
from services.commands.periods import create_period, period_named
from services.commands.settings import set_settings
from services.journal.run import create_journal_run
from services.period_summary import period_summary
from services.reports import report_args
from tests.integration.billing import status_changed, store, store_lines, txn
from tests.integration.ledger_setup import set_up
from tests.integration.test_period_summary import APRIL, april_journaled, day, nothing


async def not_journaled_both_ways(
    pool: asyncpg.Pool, name: str, org: str | None
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(by counting, or None when it cannot tell; by anti-join), as plain rows."""
    period = await period_named(pool, org, name)
    async with pool.acquire() as conn, conn.transaction():
        for statement in unjournaled.TUNING:
            await conn.execute(statement)
        args = await report_args(conn)
        scope = org or ""
        where = (args, scope, period["start_date"], period["end_date"], name)
        counted = await unjournaled.by_counting(conn, *where)
        joined = await unjournaled.by_anti_join(conn, *where)

    def plain(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
        keys = ("state", "currency", "reason", "per_currency", "count", "amount")
        return sorted(({k: r[k] for k in keys} for r in rows),
                      key=lambda r: (r["state"], not r["per_currency"], r["currency"] or "",
                                     r["reason"] or ""))

    return (None if counted is None else plain(counted)), plain(joined)


async def test_counting_and_the_anti_join_agree(pool: asyncpg.Pool) -> None:
    """When every pending transaction of the period is journaled, counting answers (one
    pass, no membership test for them), also when a journaled one has since become held;
    once one is left pending, counting cannot give its amount and the anti-join answers."""
    await set_up(pool)
    await store_lines(pool, [
        txn("invoice_item", "I1", day(3), "100"), txn("invoice_item", "I2", day(4), "50"),
        txn("invoice_item", "H1", day(5), "40", status="draft"),
        txn("electronic_payment_application", "X1", day(6), "-10",
            subtype="reclassification")])
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",), period=APRIL))
    await store(pool, status_changed([("invoice_item", "I2", "draft")]))  # journaled, held
    counted, joined = await not_journaled_both_ways(pool, APRIL, None)
    assert counted == joined == [
        {"state": "excluded", "currency": "USD", "reason": None, "per_currency": True,
         "count": 1, "amount": Decimal("-10")},
        {"state": "excluded", "currency": None, "reason": "reclassification",
         "per_currency": False, "count": 1, "amount": Decimal("-10")},
        {"state": "held", "currency": "USD", "reason": None, "per_currency": True,
         "count": 1, "amount": Decimal("40")},
        {"state": "held", "currency": None, "reason": "status_not_eligible",
         "per_currency": False, "count": 1, "amount": Decimal("40")},
    ]
    assert (await period_summary(pool, APRIL, None))["pending"] == nothing()

    await store_lines(pool, [txn("invoice_item", "L1", day(29), "7.5")])  # late
    counted, joined = await not_journaled_both_ways(pool, APRIL, None)
    assert counted is None
    assert [r for r in joined if r["state"] == "pending" and r["per_currency"]] == [
        {"state": "pending", "currency": "USD", "reason": None, "per_currency": True,
         "count": 1, "amount": Decimal("7.5")}]
    assert (await period_summary(pool, APRIL, None))["pending"] == {
        "count": 1, "currencies": [{"currency": "USD", "count": 1, "amount": "7.50"}],
        "reasons": []}


async def test_counting_steps_aside_when_settings_changed_after_the_runs(
    pool: asyncpg.Pool,
) -> None:
    """Turning Multi-Org on moves transactions between scopes: the entries' counts no longer
    say which of a scope's transactions are journaled, so the anti-join answers."""
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", "D1", day(10), "4")], org="US")
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",), period=APRIL))
    counted, joined = await not_journaled_both_ways(pool, APRIL, None)
    assert counted == joined == []
    await set_settings(pool, {"multi_org": "true"})
    await create_org(pool, "US")
    await create_period(pool, org="US", name=APRIL, start=day(1), end=day(30),
                        fiscal_year=2024)
    counted, joined = await not_journaled_both_ways(pool, APRIL, "US")
    assert (counted, joined) == (None, [])  # D1 is journaled, in the unlabeled scope's entry


async def test_a_period_with_pending_ones_left_is_answered_by_the_anti_join(
    pool: asyncpg.Pool,
) -> None:
    await april_journaled(pool)
    counted, joined = await not_journaled_both_ways(pool, APRIL, None)
    assert counted is None
    assert sum(r["count"] for r in joined if r["per_currency"]) == 5  # 2 pending, 2 held, 1 ex.
