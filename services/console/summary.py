"""The period page's summary table: per currency, the debit and credit of every account
over the period's entries, with the totals (docs/domain.md §3, "Period summary").

TODO(summary): the period summary is being built on the ``summary`` branch (the function
behind ``ledger periods summary --json``). Once it is merged, ``period_summary`` calls it
and returns its document unchanged, shaped as ``ledger periods summary --json`` prints it:
``{"period", "org", "currencies": [{"currency", "total_debit", "total_credit", "accounts":
[{"account", "debit", "credit"}]}], "entry_count", "pending", "held", "excluded"}``.
``period.html`` renders exactly that shape; until then the page says "not available".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg


async def period_summary(pool: asyncpg.Pool, org: str | None, period: str
                         ) -> dict[str, Any] | None:
    """The period's summary document, or None while the summary is not available."""
    return None


def balanced(currency: dict[str, Any]) -> bool:
    """Whether a summary currency's total debit equals its total credit (exactly)."""
    return Decimal(currency["total_debit"]) == Decimal(currency["total_credit"])
