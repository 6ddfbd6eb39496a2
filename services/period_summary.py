"""``ledger periods summary``: the month-end close check of one scope's period.

Seed 002's "Total": per currency, the debit and credit of every account over the entries
dated in the period that are not cancelled, with the totals (docs/domain.md §3 "Period
summary"); and what is still pending, held or excluded there, so that a controller sees
at a glance whether the period is complete.

- "Dated in the period" is the entry's ``journal_entry_date``, not the period its run
  targeted: a reversed entry counts in its own period and its reversal in the period of
  the reversal's date. Every status but ``cancelled`` counts (``created``, ``reversed``).
- The entries' side reads the entries' lines, never the transactions: one GROUP BY over a
  few lines per entry, whatever the number of transactions journaled.
- Pending, held and excluded are the scope's unjournaled transactions dated in the period
  (a revenue event item: naming it), judged as ``ledger pending`` judges them: counts and
  signed sums per currency; held and excluded also count their reasons
  (``services.unjournaled``, which says how it stays fast on a million journaled ones).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg

from events.amounts import format_amount
from services.commands.periods import period_named
from services.commands.recording import scope_of
from services.reports import report_args
from services.unjournaled import TUNING, unjournaled

STATES = ("pending", "held", "excluded")

#: Per currency and account, the debit and credit of the scope's entries dated in
#: [$2, $3] ($3 NULL: no end) that are not cancelled; the (currency) rows are the totals.
ACCOUNTS = """
SELECT j.currency, l.account, GROUPING(l.account) = 1 AS total,
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debit,
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credit
FROM journal_entries j JOIN journal_entry_lines l ON l.journal_entry = j.number
WHERE j.scope = $1 AND j.status <> 'cancelled'
  AND j.journal_entry_date >= $2 AND ($3::date IS NULL OR j.journal_entry_date <= $3)
GROUP BY GROUPING SETS ((j.currency, l.account), (j.currency))
ORDER BY j.currency, total, l.account
"""

ENTRY_COUNT = """
SELECT count(*) FROM journal_entries j
WHERE j.scope = $1 AND j.status <> 'cancelled'
  AND j.journal_entry_date >= $2 AND ($3::date IS NULL OR j.journal_entry_date <= $3)
"""


async def period_summary(pool: asyncpg.Pool, name: str, org: str | None) -> dict[str, Any]:
    """The summary of the period ``name`` of the org's scope (none: unlabeled), in the
    shape of docs/contract.md §3; amounts at their currency's precision."""
    period = await period_named(pool, org, name)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        for statement in TUNING:
            await conn.execute(statement)
        scope = await scope_of(conn, org)
        start, end = await _dates(conn, scope, period)
        accounts = await conn.fetch(ACCOUNTS, scope, start, end)
        entry_count = await conn.fetchval(ENTRY_COUNT, scope, start, end)
        left = await unjournaled(conn, await report_args(conn), scope, start, end or date.max,
                                 name)
    return {
        "period": name,
        "org": org,
        "currencies": _currencies(accounts),
        "entry_count": entry_count,
        **{state: _state(state, left) for state in STATES},
    }


async def _dates(
    conn: asyncpg.Connection, scope: str, period: dict[str, Any]
) -> tuple[date, date | None]:
    """The period's first and last day; the open-ended one starts the day after the last
    defined period (any day, while none is) and has no end."""
    if not period["open_ended"]:
        return period["start_date"], period["end_date"]
    last = await conn.fetchval(
        "SELECT max(end_date) FROM accounting_periods WHERE scope = $1 AND NOT open_ended",
        scope)
    return (date.min if last is None else last + timedelta(days=1)), None


def _currencies(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:  # per currency: its accounts, then its total
        currency = row["currency"]
        if not out or out[-1]["currency"] != currency:
            out.append({"currency": currency, "total_debit": None, "total_credit": None,
                        "accounts": []})
        debit, credit = (format_amount(row[side], currency) for side in ("debit", "credit"))
        if row["total"]:
            out[-1] |= {"total_debit": debit, "total_credit": credit}
        else:
            out[-1]["accounts"].append({"account": row["account"], "debit": debit,
                                        "credit": credit})
    return out


def _state(state: str, rows: list[asyncpg.Record]) -> dict[str, Any]:
    """How many of the period's transactions are in ``state``, with the count and signed
    sum per currency and, held or excluded, the count per reason."""
    mine = [r for r in rows if r["state"] == state]
    currencies = [{"currency": r["currency"], "count": r["count"],
                   "amount": format_amount(r["amount"], r["currency"])}
                  for r in mine if r["per_currency"]]
    return {
        "count": sum(c["count"] for c in currencies),
        "currencies": currencies,
        "reasons": [{"reason": r["reason"], "count": r["count"]}
                    for r in mine if not r["per_currency"] and r["reason"] is not None],
    }
