"""The period page's summary table: per currency, the debit and credit of every account
over the period's entries, with the totals (docs/domain.md §3, "Period summary"): the
document ``ledger periods summary --json`` prints, which ``period.html`` renders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from services import period_summary as summaries


async def period_summary(pool: asyncpg.Pool, org: str | None, period: str) -> dict[str, Any]:
    """The period's summary document (the CLI's and the API's)."""
    return await summaries.period_summary(pool, period, org)


def balanced(currency: dict[str, Any]) -> bool:
    """Whether a summary currency's total debit equals its total credit (exactly)."""
    return Decimal(currency["total_debit"]) == Decimal(currency["total_credit"])
