"""Period commands (docs/domain.md §2) through ``services.commands.periods``: each rule refused with
its code and nothing written; close oldest first, reopen only the latest closed period."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Any

import asyncpg
import pytest

from services.commands.orgs import create_org
from services.commands.periods import change_period_status, create_period, list_periods
from services.commands.settings import set_settings
from services.errors import Conflict, LedgerError, NotFound, RejectedInput
from tests.integration.db import scalar
from tests.integration.ledger_setup import set_up


async def refused(
    pool: asyncpg.Pool, call: Awaitable[object], kind: type[LedgerError], code: str
) -> None:
    events = await scalar(pool, "SELECT count(*) FROM events")
    with pytest.raises(kind) as caught:
        await call
    assert caught.value.code == code
    assert await scalar(pool, "SELECT count(*) FROM events") == events


async def statuses(pool: asyncpg.Pool, org: str | None = None) -> dict[str, str]:
    return {p["name"]: p["status"] for p in await list_periods(pool, org)}


async def test_creating_periods_keeps_them_contiguous_and_named_once(pool: asyncpg.Pool) -> None:
    await set_up(pool)  # Apr-2024 and May-2024, unlabeled
    june = await create_period(pool, org=None, name="Jun-2024", start=date(2024, 6, 1),
                               end=date(2024, 6, 30), fiscal_year=2024, fiscal_quarter=2)
    assert (june["name"], june["status"], june["fiscal_quarter"]) == ("Jun-2024", "open", 2)

    def july(name: str = "Jul-2024", start: date = date(2024, 7, 1),
             end: date = date(2024, 7, 31), quarter: int | None = None,
             org: str | None = None) -> Awaitable[dict[str, Any]]:
        return create_period(pool, org=org, name=name, start=start, end=end, fiscal_year=2024,
                             fiscal_quarter=quarter)

    await refused(pool, july(name="May-2024"), Conflict, "period_name_taken")
    await refused(pool, july(name="Open-Ended"), Conflict, "period_name_taken")
    await refused(pool, july(end=date(2024, 6, 30)), RejectedInput, "period_dates_inverted")
    await refused(pool, july(start=date(2024, 7, 2)), RejectedInput, "period_not_contiguous")
    await refused(pool, july(quarter=5), RejectedInput, "fiscal_quarter_invalid")
    await refused(pool, july(org="EU"), NotFound, "org_unknown")
    assert list(await statuses(pool)) == ["Apr-2024", "May-2024", "Jun-2024", "Open-Ended"]


async def test_close_oldest_first_and_reopen_only_the_latest_closed(pool: asyncpg.Pool) -> None:
    await set_up(pool)

    def status(name: str, to: str) -> Awaitable[dict[str, Any]]:
        return change_period_status(pool, org=None, name=name, to=to)

    await refused(pool, status("May-2024", "closed"), RejectedInput, "period_earlier_not_closed")
    await refused(pool, status("Open-Ended", "closed"), RejectedInput, "period_open_ended")
    await refused(pool, status("Jul-2024", "closed"), NotFound, "period_not_found")
    await refused(pool, status("Apr-2024", "open"), Conflict, "period_not_closed")
    await refused(pool, status("Apr-2024", "locked"), RejectedInput, "period_status_invalid")

    await status("Apr-2024", "pending_close")
    await refused(pool, status("Apr-2024", "pending_close"), Conflict,
                  "period_already_pending_close")
    await status("Apr-2024", "closed")
    await refused(pool, status("Apr-2024", "closed"), Conflict, "period_already_closed")
    await status("May-2024", "closed")
    assert await statuses(pool) == {"Apr-2024": "closed", "May-2024": "closed",
                                    "Open-Ended": "open"}

    await refused(pool, status("Apr-2024", "open"), RejectedInput, "period_not_latest_closed")
    await status("May-2024", "open")
    await status("Apr-2024", "open")
    assert await statuses(pool) == {"Apr-2024": "open", "May-2024": "open",
                                    "Open-Ended": "open"}


async def test_each_org_has_its_own_periods_from_its_open_ended_one(pool: asyncpg.Pool) -> None:
    await set_settings(pool, {"multi_org": "true"})
    await create_org(pool, "US")
    assert await statuses(pool, "US") == {"Open-Ended": "open"}
    await create_period(pool, org="US", name="Q1", start=date(2024, 1, 1), end=date(2024, 3, 31),
                        fiscal_year=2024, fiscal_quarter=1)
    await create_period(pool, org=None, name="Q1", start=date(2023, 1, 1),
                        end=date(2023, 3, 31), fiscal_year=2023)
    assert await statuses(pool, "US") == {"Q1": "open", "Open-Ended": "open"}
    assert await statuses(pool) == {"Q1": "open", "Open-Ended": "open"}
    await change_period_status(pool, org="US", name="Q1", to="closed")
    assert (await statuses(pool, "US"))["Q1"] == "closed"
    assert (await statuses(pool))["Q1"] == "open"
