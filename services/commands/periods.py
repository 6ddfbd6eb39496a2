"""``ledger periods``: create, list, close, reopen accounting periods of a scope; and the
periods of every scope as records, by id, for the HTTP API."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from events.ledger_events import PeriodStatusChanged
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
    admin_unit_of_work,
    as_ledger_error,
    command_event,
    initialized,
    load_periods,
    period_created_event,
    periods_stream,
    scope_of,
)
from services.errors import NotFound, RejectedInput


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
    notes: str | None = None,
) -> dict[str, Any]:
    async with admin_unit_of_work(pool) as uow:
        scope = await scope_of(uow.conn, org)
        periods = await load_periods(uow.conn, scope)
        try:
            check_new_period(periods, name, start, end, fiscal_year, fiscal_quarter)
        except RuleViolation as violation:
            raise as_ledger_error(violation) from violation
        period = Period(scope, name, start, end, OPEN, fiscal_year, fiscal_quarter)
        await uow.record([period_created_event(period, notes=notes)])
    return period_dict(period)


async def list_periods(pool: asyncpg.Pool, org: str | None) -> list[dict[str, Any]]:
    """A read: no lock (a new ledger is initialised first, so it lists its open-ended
    period)."""
    await initialized(pool)
    async with pool.acquire() as conn:
        periods = await load_periods(conn, await scope_of(conn, org))
    return [period_dict(p) for p in periods]


async def change_period_status(
    pool: asyncpg.Pool, *, org: str | None, name: str, to: str
) -> dict[str, Any]:
    """Close (or mark pending close) oldest first; reopen only the latest closed period."""
    if to not in (OPEN, PENDING_CLOSE, CLOSED):
        raise RejectedInput("period_status_invalid",
                            f"a period is {OPEN}, {PENDING_CLOSE} or {CLOSED}, not {to!r}")
    async with admin_unit_of_work(pool) as uow:
        scope = await scope_of(uow.conn, org)
        periods = await load_periods(uow.conn, scope)
        try:
            if to in (CLOSED, PENDING_CLOSE):
                period = check_close(periods, name, to=to)
            else:
                period = check_reopen(periods, name)
        except RuleViolation as violation:
            raise as_ledger_error(violation) from violation
        changed = PeriodStatusChanged.model_validate(
            {"scope": scope, "name": name, "from": period.status, "to": to})
        await uow.record([command_event(changed, periods_stream(scope), org=scope or None)])
    return period_dict(
        Period(period.scope, period.name, period.start, period.end, to, period.fiscal_year,
               period.fiscal_quarter, period.open_ended)
    )


# -- periods as records: every scope, by id -----------------------------------------------

_RECORDS = """
SELECT id, scope, name, start_date, end_date, fiscal_year, fiscal_quarter, status, open_ended,
       notes, created_at, created_by, updated_at, updated_by
FROM accounting_periods
"""

#: Oldest first across scopes (by start date), the open-ended periods last.
_LIST_RECORDS = _RECORDS + """
WHERE $1::text[] IS NULL OR scope = ANY($1)
ORDER BY open_ended, start_date, scope, name
LIMIT $2 OFFSET $3
"""


def period_record(row: asyncpg.Record) -> dict[str, Any]:
    """``period_dict`` plus what the HTTP API shows of a period: its id, notes, and when and
    by whom it was created and last changed (the actors are null where none was recorded)."""
    period = Period(row["scope"], row["name"], row["start_date"], row["end_date"],
                    row["status"], row["fiscal_year"], row["fiscal_quarter"], row["open_ended"])
    return period_dict(period) | {
        "id": row["id"],
        "notes": row["notes"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def _not_found(key: str, org: str | None, *, by_id: bool) -> NotFound:
    where = f"org {org!r}" if org else "the unlabeled scope"
    what = f"with id {key!r}, nor named so," if by_id else f"named {key!r}"
    return NotFound("period_not_found", f"no accounting period {what} in {where}")


async def period_named(pool: asyncpg.Pool, org: str | None, name: str) -> dict[str, Any]:
    """The period named ``name`` in the org's scope (none: the unlabeled scope)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_RECORDS + " WHERE scope = $1 AND name = $2",
                                  await scope_of(conn, org), name)
    if row is None:
        raise _not_found(name, org, by_id=False)
    return period_record(row)


async def find_period(pool: asyncpg.Pool, key: str, org: str | None) -> dict[str, Any]:
    """The period whose id is ``key`` (ids are unique across scopes), else the one named
    ``key`` in the org's scope (none: the unlabeled scope)."""
    row = await pool.fetchrow(_RECORDS + " WHERE id = $1", key)
    if row is not None:
        return period_record(row)
    try:
        return await period_named(pool, org, key)
    except NotFound as error:
        if error.code != "period_not_found":
            raise
        raise _not_found(key, org, by_id=True) from None


async def list_period_records(
    pool: asyncpg.Pool, *, orgs: list[str] | None = None, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    """Periods of every scope, or of the named orgs only (each must exist)."""
    await initialized(pool)
    async with pool.acquire() as conn:
        scopes = None if orgs is None else [await scope_of(conn, org) for org in orgs]
        rows = await conn.fetch(_LIST_RECORDS, scopes, limit, offset)
    return [period_record(r) for r in rows]
