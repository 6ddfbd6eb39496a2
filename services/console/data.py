"""What the console's pages show, composed from the functions the CLI and the HTTP API call
(reports, views, commands): no SQL here, and no rule of its own.

The close-status bar of a period counts its transactions by where they are: journaled (in
a created entry of the period), pending (would be picked up by a run), held (would be, but
for a setting or a status: the reason says which) and excluded (never picked up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from events.periods import OPEN
from services.commands.orgs import list_orgs
from services.commands.periods import list_periods, period_named
from services.commands.settings import show_settings
from services.config import Settings
from services.journal import views
from services.operations.status import status_report
from services.reports import pending_report

log = logging.getLogger("ledger.console")

#: The states of the bar, in the order it shows them.
STATES = ("journaled", "pending", "held", "excluded")
#: The pipeline panel waits at most this long (its lag needs the broker).
STATUS_TIMEOUT = 5.0


@dataclass
class StateTotals:
    """How many transactions are in one state, and their amounts per currency."""

    count: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)

    def add(self, count: int, currency: str, value: Decimal) -> None:
        self.count += count
        self.amounts[currency] = self.amounts.get(currency, Decimal(0)) + value


@dataclass
class CloseStatus:
    """A period's close-status bar."""

    states: dict[str, StateTotals] = field(
        default_factory=lambda: {s: StateTotals() for s in STATES})

    @property
    def total(self) -> int:
        return sum(s.count for s in self.states.values())

    def segments(self) -> list[dict[str, Any]]:
        """Each state's share of the bar, in percent, with its x offset (for the SVG)."""
        total = self.total
        found, x = [], 0.0
        for state in STATES:
            count = self.states[state].count
            width = 100.0 * count / total if total else 0.0
            found.append({"state": state, "count": count, "x": round(x, 3),
                          "width": round(width, 3)})
            x += width
        return found

    @property
    def complete(self) -> bool:
        """Nothing left to journal: no pending and no held transaction."""
        return not self.states["pending"].count and not self.states["held"].count


def scope_of(org: str | None) -> str:
    """The scope a view filters on: the org, or ``""`` for the unlabeled scope."""
    return org or ""


def close_status(
    org: str | None, period: str, pending: Iterable[dict[str, Any]],
    entries: Iterable[views.EntryView],
) -> CloseStatus:
    """The bar of ``org``'s ``period`` from the pending report's rows (all scopes) and the
    period's entries. Journaled: created entries that are not reversals, their transaction
    counts and debit totals."""
    status = CloseStatus()
    for row in pending:
        if row["org"] == org and row["period"] == period:
            status.states[row["state"]].add(int(row["count"]), row["currency"],
                                            Decimal(row["amount"]))
    for view in entries:
        entry = view.data
        if entry.status == "created" and entry.reverses is None:
            status.states["journaled"].add(entry.transaction_count, entry.currency,
                                           entry.total_debit)
    return status


async def period_entries(pool: asyncpg.Pool, org: str | None, period: str
                         ) -> list[views.EntryView]:
    return await views.list_entry_views(pool, org=scope_of(org), period=period)


async def period_close_status(
    pool: asyncpg.Pool, org: str | None, period: str, pending: list[dict[str, Any]]
) -> CloseStatus:
    return close_status(org, period, pending, await period_entries(pool, org, period))


def current_period(periods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The scope's earliest open period: what a run targets by default (docs/domain.md §3)."""
    defined = [p for p in periods if not p["open_ended"]]
    return next((p for p in sorted(defined, key=lambda p: p["start_date"])
                 if p["status"] == OPEN), None)


async def scopes(pool: asyncpg.Pool) -> list[str | None]:
    """Every org, then the unlabeled scope (None)."""
    return [*(o["name"] for o in await list_orgs(pool)), None]


async def pipeline(settings: Settings, pool: asyncpg.Pool) -> tuple[dict[str, Any] | None, str]:
    """``ledger status``'s report, or None and why not (the broker may be away)."""
    try:
        return await asyncio.wait_for(status_report(settings, pool), STATUS_TIMEOUT), ""
    except Exception as error:  # the page still shows the rest
        log.warning("console: status report failed: %s: %s", type(error).__name__, error)
        return None, f"the pipeline status is unavailable now ({type(error).__name__})"


async def overview(settings: Settings, pool: asyncpg.Pool) -> dict[str, Any]:
    status, status_error = await pipeline(settings, pool)
    pending = await pending_report(pool)
    orgs = []
    for org in await scopes(pool):
        current = current_period(await list_periods(pool, org))
        period = await period_named(pool, org, current["name"]) if current else None
        bar = (await period_close_status(pool, org, period["name"], pending)
               if period is not None else None)
        orgs.append({"org": org, "period": period, "bar": bar})
    return {"status": status, "status_error": status_error, "orgs": orgs,
            "ledger_settings": await show_settings(pool)}
