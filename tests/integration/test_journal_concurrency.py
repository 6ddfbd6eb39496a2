"""Runs started at once: never one transaction journaled twice, numbers stay gapless."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import asyncpg

from events.journal_rules import JournalRunRequest
from services.commands.settings import set_settings
from services.errors import NotFound
from services.journal.run import create_journal_run
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

APRIL_1 = date(2024, 4, 1)


def invoices(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        txn("invoice_item", f"{prefix}-{n:04d}", APRIL_1 + timedelta(days=n % 30), "1.25",
            segments={"region": ("NA", "EMEA", "APAC")[n % 3]})
        for n in range(count)
    ]


async def test_two_runs_on_one_scope_at_once_journal_each_transaction_once(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    request = JournalRunRequest(types=("billing",), period="Apr-2024")
    numbers: list[str] = []
    for round_ in range(4):
        await store_lines(pool, invoices(f"r{round_}", 150))
        first, second = await asyncio.gather(create_journal_run(pool, request),
                                             create_journal_run(pool, request))
        counts = sorted([first["transaction_count"], second["transaction_count"]])
        assert counts == [0, 150]
        busy, idle = (first, second) if first["transaction_count"] else (second, first)
        assert len(busy["journal_entry_numbers"]) == 3
        assert (idle["status"], idle["journal_entry_numbers"]) == ("completed", [])
        numbers += sorted([first["number"], second["number"]])

    assert numbers == [f"JR-{n:08d}" for n in range(1, 9)]
    assert await scalar(pool, "SELECT count(*) FROM unjournaled_transactions") == 0
    per_entry = await rows(pool, "SELECT j.number, j.transaction_count, count(x.id) AS members "
                                 "FROM journal_entries j LEFT JOIN journaled_transactions x "
                                 "ON x.journal_entry = j.number GROUP BY j.number "
                                 "ORDER BY j.number")
    assert [r["number"] for r in per_entry] == [f"JE-{n:08d}" for n in range(1, 13)]
    assert all(r["transaction_count"] == r["members"] == 50 for r in per_entry)


async def test_runs_on_two_orgs_at_once_both_complete_with_their_own_transactions(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool, settings={"multi_org": "true"}, orgs=("US", "EU"),
                 unlabeled_periods=False)
    await store_lines(pool, invoices("us", 120), org="US")
    await store_lines(pool, invoices("eu", 90), org="EU")
    us, eu = await asyncio.gather(
        create_journal_run(pool, JournalRunRequest(types=("billing",), period="Apr-2024",
                                                   org="US")),
        create_journal_run(pool, JournalRunRequest(types=("billing",), period="Apr-2024",
                                                   org="EU")),
    )
    assert (us["org"], us["status"], us["transaction_count"]) == ("US", "completed", 120)
    assert (eu["org"], eu["status"], eu["transaction_count"]) == ("EU", "completed", 90)
    assert sorted([us["number"], eu["number"]]) == ["JR-00000001", "JR-00000002"]
    assert sorted(us["journal_entry_numbers"] + eu["journal_entry_numbers"]) == [
        f"JE-{n:08d}" for n in range(1, 7)]
    by_org = await rows(pool, "SELECT p.org, j.scope, count(*) AS n FROM pending_transactions p "
                              "JOIN journaled_transactions x USING (type, id) "
                              "JOIN journal_entries j ON x.journal_entry = j.number "
                              "GROUP BY p.org, j.scope ORDER BY p.org")
    assert by_org == [{"org": "EU", "scope": "EU", "n": 90}, {"org": "US", "scope": "US", "n": 120}]


async def test_a_run_racing_the_first_command_on_a_new_ledger_initialises_it_once(
    pool: asyncpg.Pool,
) -> None:
    outcomes: list[object] = list(await asyncio.gather(
        set_settings(pool, {"harmonization": "true"}),
        create_journal_run(pool, JournalRunRequest(types=("billing",), period="Apr-2024")),
        return_exceptions=True,
    ))
    changed, refused = outcomes
    assert changed == {"settlement": "invoice_settlement", "harmonization": True,
                       "multi_org": False}
    assert isinstance(refused, NotFound) and refused.code == "period_not_found"
    created = "SELECT count(*) FROM events WHERE event_type = 'period.created'"
    assert await scalar(pool, created) == 1  # the unlabeled open-ended period, once
