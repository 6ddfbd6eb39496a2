"""Setting a ledger up the way an operator would: settings, orgs, periods."""

from __future__ import annotations

from datetime import date

import asyncpg

from services.commands.orgs import create_org
from services.commands.periods import create_period
from services.commands.settings import set_settings

MONTHS_2024 = [
    ("Apr-2024", date(2024, 4, 1), date(2024, 4, 30)),
    ("May-2024", date(2024, 5, 1), date(2024, 5, 31)),
    ("Jun-2024", date(2024, 6, 1), date(2024, 6, 30)),
]


async def set_up(
    pool: asyncpg.Pool,
    *,
    settings: dict[str, str] | None = None,
    orgs: tuple[str, ...] = (),
    periods: list[tuple[str, date, date]] | None = None,
    unlabeled_periods: bool = True,
) -> None:
    if settings:
        await set_settings(pool, settings)
    for org in orgs:
        await create_org(pool, org)
    for scope in [*orgs, *([None] if unlabeled_periods else [])]:
        for name, start, end in periods or MONTHS_2024[:2]:
            await create_period(pool, org=scope, name=name, start=start, end=end,
                                fiscal_year=2024)
