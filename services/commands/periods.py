"""``ledger periods``: create, list, close, reopen accounting periods of a scope."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from events.periods import (
    CLOSED,
    OPEN,
    PENDING_CLOSE,
    Period,
    check_close,
    check_new_period,
    check_reopen,
)
from events.violations import RuleViolation
from services.commands.recording import (
    admin_transaction,
    as_ledger_error,
    command_event,
    load_periods,
    record,
    scope_of,
)
from services.errors import RejectedInput


def period_dict(period: Period) -> dict[str, Any]:
    return {
        "org": period.scope or None,
        "name": period.name,
        "start_date": period.start,
        "end_date": period.end,
        "fiscal_year": period.fiscal_year,
        "fiscal_quarter": period.fiscal_quarter,
        "status": period.status,
        "open_ended": period.open_ended,
    }


async def create_period(
    pool: asyncpg.Pool,
    *,
    org: str | None,
    name: str,
    start: date,
    end: date,
    fiscal_year: int,
    fiscal_quarter: int | None = None,
) -> dict[str, Any]:
    async with admin_transaction(pool) as conn:
        scope = await scope_of(conn, org)
        periods = await load_periods(conn, scope)
        try:
            check_new_period(periods, name, start, end, fiscal_year, fiscal_quarter)
        except RuleViolation as violation:
            raise as_ledger_error(violation) from violation
        period = Period(scope, name, start, end, OPEN, fiscal_year, fiscal_quarter)
        await record(
            conn,
            [command_event(
                "period.created",
                f"periods:{scope or 'unlabeled'}",
                {
                    "scope": scope, "name": name, "start_date": start.isoformat(),
                    "end_date": end.isoformat(), "fiscal_year": fiscal_year,
                    "fiscal_quarter": fiscal_quarter, "open_ended": False,
                },
                org=scope or None,
            )],
        )
    return period_dict(period)


async def list_periods(pool: asyncpg.Pool, org: str | None) -> list[dict[str, Any]]:
    async with admin_transaction(pool) as conn:
        periods = await load_periods(conn, await scope_of(conn, org))
    return [period_dict(p) for p in periods]


async def change_period_status(
    pool: asyncpg.Pool, *, org: str | None, name: str, to: str
) -> dict[str, Any]:
    """Close (or mark pending close) oldest first; reopen only the latest closed period."""
    if to not in (OPEN, PENDING_CLOSE, CLOSED):
        raise RejectedInput("period_status_invalid",
                            f"a period is {OPEN}, {PENDING_CLOSE} or {CLOSED}, not {to!r}")
    async with admin_transaction(pool) as conn:
        scope = await scope_of(conn, org)
        periods = await load_periods(conn, scope)
        try:
            if to in (CLOSED, PENDING_CLOSE):
                period = check_close(periods, name, to=to)
            else:
                period = check_reopen(periods, name)
        except RuleViolation as violation:
            raise as_ledger_error(violation) from violation
        await record(
            conn,
            [command_event(
                "period.status_changed",
                f"periods:{scope or 'unlabeled'}",
                {"scope": scope, "name": name, "from": period.status, "to": to},
                org=scope or None,
            )],
        )
    return period_dict(
        Period(period.scope, period.name, period.start, period.end, to, period.fiscal_year,
               period.fiscal_quarter, period.open_ended)
    )
