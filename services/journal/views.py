"""Reading runs and entries back as their outbound models (``events.journal``): the shape
they were emitted in, whatever reads them (the CLI prints them, the HTTP API's models are
made from them).

The ``*_view`` readers add what only the HTTP API and the CLI's tables show
(docs/contract.md §4): when a run was executed and cancelled (and by whom), an entry's time
period (its run's target dates), when and by whom its transfer status was set to yes, it
was cancelled, or it was reversed (and by which entry).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, NamedTuple

import asyncpg

from events.journal import RUN_STATUSES, JournalEntryCreated, JournalRunCompleted, JournalRunTarget
from services.errors import NotFound, RejectedInput

_ENTRY = """
SELECT j.*, r.start_date AS run_start_date, r.end_date AS run_end_date,
       (SELECT jsonb_agg(jsonb_build_object('account', l.account, 'side', l.side,
                                                 'amount', format_amount(l.amount, j.currency))
                              ORDER BY l.side DESC, l.account)
             FROM journal_entry_lines l WHERE l.journal_entry = j.number) AS lines
FROM journal_entries j JOIN journal_runs r ON r.number = j.journal_run
"""

_ENTRIES = _ENTRY + """
WHERE ($1::text IS NULL OR j.journal_run = $1)
  AND ($2::text IS NULL OR j.scope = $2)
  AND ($3::text IS NULL OR j.accounting_period = $3)
ORDER BY j.number LIMIT $4 OFFSET $5
"""


_RUNS = """
SELECT * FROM journal_runs
WHERE ($1::text IS NULL OR scope = $1)
  AND ($2::text IS NULL OR target_period = $2)
  AND ($3::text IS NULL OR status = $3)
ORDER BY number LIMIT $4 OFFSET $5
"""


class RunView(NamedTuple):
    """A run (its outbound model), when it was executed, and when and by whom it was last
    cancelled (None if never; a partial cancel leaves it completed)."""

    data: JournalRunCompleted
    executed_at: datetime
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None


class EntryView(NamedTuple):
    """An entry (its outbound model), its run's target dates, who set its transfer status
    to yes and when (both None unless it is yes; the actor None where none was recorded),
    when and by whom it was cancelled or reversed, and the entry that reverses it."""

    data: JournalEntryCreated
    time_period_start: date
    time_period_end: date
    transferred_at: datetime | None
    transferred_by: str | None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    reversal_entry: str | None = None
    reversed_at: datetime | None = None
    reversed_by: str | None = None


#: The columns of ``journal_entries`` named as the fields of the entry they hold.
_ENTRY_FIELDS = ("number", "journal_run", "accounting_period", "journal_entry_date",
                 "transaction_type", "currency", "total_debit", "total_credit",
                 "transaction_count", "status", "transfer_status", "reverses")


def entry_of(row: asyncpg.Record) -> JournalEntryCreated:
    """An entry as its projection row holds it (the model sets the amounts' precision)."""
    return JournalEntryCreated(
        **{name: row[name] for name in _ENTRY_FIELDS}, org=row["scope"] or None,
        segments=json.loads(row["segments"]),
        lines=json.loads(row["lines"]) if row["lines"] else [])


def run_of(row: asyncpg.Record) -> JournalRunCompleted:
    """A run as its projection row holds it."""
    return JournalRunCompleted(
        number=row["number"],
        org=row["scope"] or None,
        target=JournalRunTarget(period=row["target_period"], start_date=row["start_date"],
                                end_date=row["end_date"]),
        journal_entry_date=row["journal_entry_date"],
        transaction_types=list(row["transaction_types"]),
        status=row["status"],
        journal_entry_numbers=list(row["entry_numbers"]),
        transaction_count=row["transaction_count"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def run_view(row: asyncpg.Record) -> RunView:
    return RunView(run_of(row), row["executed_at"], row["cancelled_at"], row["cancelled_by"])


def entry_view(row: asyncpg.Record) -> EntryView:
    return EntryView(entry_of(row), row["run_start_date"], row["run_end_date"],
                     row["transferred_at"], row["transferred_by"], row["cancelled_at"],
                     row["cancelled_by"], row["reversal_entry"], row["reversed_at"],
                     row["reversed_by"])


async def get_entry_view(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> EntryView:
    row = await conn.fetchrow(_ENTRY + " WHERE j.number = $1", number)
    if row is None:
        raise NotFound("journal_entry_not_found", f"no journal entry {number}")
    return entry_view(row)


async def get_entry(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> JournalEntryCreated:
    return (await get_entry_view(conn, number)).data


async def list_entry_views(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    run: str | None = None,
    org: str | None = None,
    period: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[EntryView]:
    rows = await conn.fetch(_ENTRIES, run, org, period, limit, offset)
    return [entry_view(r) for r in rows]


async def list_entries(
    conn: asyncpg.Connection | asyncpg.Pool, **filters: Any
) -> list[JournalEntryCreated]:
    """The entries of ``list_entry_views`` (same filters), without the rest of their views."""
    return [view.data for view in await list_entry_views(conn, **filters)]


async def get_run_view(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> RunView:
    row = await conn.fetchrow("SELECT * FROM journal_runs WHERE number = $1", number)
    if row is None:
        raise NotFound("journal_run_not_found", f"no journal run {number}")
    return run_view(row)


async def get_run(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> JournalRunCompleted:
    return (await get_run_view(conn, number)).data


async def list_run_views(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    org: str | None = None,
    period: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[RunView]:
    """Runs in number order: of one org's scope, targeting one period, in one status."""
    if status is not None and status not in RUN_STATUSES:
        raise RejectedInput("journal_run_status_invalid",
                            f"a run's status is one of {', '.join(RUN_STATUSES)}, not {status!r}")
    rows = await conn.fetch(_RUNS, org, period, status, limit, offset)
    return [run_view(r) for r in rows]


async def list_runs(
    conn: asyncpg.Connection | asyncpg.Pool, **filters: Any
) -> list[JournalRunCompleted]:
    """The runs of ``list_run_views`` (same filters), without the rest of their views."""
    return [view.data for view in await list_run_views(conn, **filters)]
