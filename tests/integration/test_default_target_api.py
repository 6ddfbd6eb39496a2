"""``POST /v1/journal-runs`` without a target takes the scope's earliest open period, as the
CLI does (seed 001: "by default, the current, open accounting period is selected"); with no
open period it is refused as ``target_required``. Asserted on what the run stored, so the
test holds whatever shape the answer takes."""

from __future__ import annotations

from datetime import date

import asyncpg

from services.commands.periods import change_period_status
from services.config import Settings
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows
from tests.integration.http_api import serving
from tests.integration.ledger_setup import MONTHS_2024, set_up

NO_TARGET = {"transactionTypes": [{"type": "Invoice Item"}]}


async def test_a_run_without_a_target_takes_the_earliest_open_period(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, periods=MONTHS_2024)
    await store_lines(pool, [txn("invoice_item", f"I-{m}", date(2024, m, 3), "10.00")
                             for m in (4, 5, 6)])
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")
    async with serving(settings, pool) as api:
        first = await api.post("/v1/journal-runs", json=NO_TARGET)
        assert first.status_code == 200, first.text
        await change_period_status(pool, org=None, name="May-2024", to="closed")
        await change_period_status(pool, org=None, name="Jun-2024", to="pending_close")
        refused = await api.post("/v1/journal-runs", json=NO_TARGET)
    assert refused.status_code == 400
    assert refused.json()["reasons"][0]["code"] == "target_required"
    assert await rows(pool, "SELECT number, target_period, start_date, end_date, "
                            "journal_entry_date, transaction_count FROM journal_runs") == [
        {"number": "JR-00000001", "target_period": "May-2024", "start_date": date(2024, 5, 1),
         "end_date": date(2024, 5, 31), "journal_entry_date": date(2024, 5, 31),
         "transaction_count": 1},
    ]
