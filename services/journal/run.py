"""A journal run, as a short sequence of named steps over SQL that does the heavy lifting.

1. check the request against every rule of docs/domain.md §3 (``events.journal_rules``);
2. lock the scope, so two runs on one scope never take the same transaction;
3. select the eligible transactions of the scope, types and dates;
4. summarise them into entries and lines;
5. take gapless numbers (last, so the counter row is locked only until commit);
6. write the ``journal_entry.created`` and ``journal_run.completed`` events, fold them into
   the projections (which marks the transactions journaled) and queue them for Kafka.

All of it is one unit of work (``services.store.unit_of_work``): a refused or failed run
writes nothing and consumes no number, and a dry run is the same unit rolled back.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Literal, overload

import asyncpg

from events.journal import (
    JournalEntryPreview,
    JournalRunCompleted,
    JournalRunPreview,
    JournalRunTarget,
)
from events.journal_rules import JournalRunRequest, RunPlan, plan_journal_run
from events.names import JOURNAL_ENTRY_CREATED, JOURNAL_RUN_COMPLETED
from events.transaction_types import TRANSACTION_TYPES
from events.violations import RuleViolation
from services import metrics
from services.actor import current_actor
from services.commands.recording import (
    as_ledger_error,
    command_event,
    ensure_initialized,
    load_orgs,
    load_periods,
    load_settings,
    run_stream,
)
from services.journal import idempotency as idempotency_keys
from services.journal import run_sql as sql
from services.journal.idempotency import RequestKey
from services.store import log
from services.store.unit_of_work import UnitOfWork, unit_of_work


def run_number(n: int) -> str:
    return f"JR-{n:08d}"


async def check_request(uow: UnitOfWork, request: JournalRunRequest) -> RunPlan:
    await ensure_initialized(uow)
    conn = uow.conn
    settings = await load_settings(conn)
    orgs = await load_orgs(conn)
    scope = request.org if settings.multi_org and request.org in orgs else ""
    try:
        return plan_journal_run(request, settings, orgs, await load_periods(conn, scope))
    except RuleViolation as violation:
        raise as_ledger_error(violation) from violation


async def select_transactions(conn: asyncpg.Connection, plan: RunPlan) -> None:
    """The eligible transactions, summarised by part in the same pass (see run_sql)."""
    for setting in sql.TUNE:
        await conn.execute(setting)
    statuses = [TRANSACTION_TYPES[t].required_status for t in plan.types]
    await conn.execute(
        sql.SELECT_TRANSACTIONS,
        list(plan.types), statuses, plan.start, plan.end, plan.period.name, plan.org,
    )
    await conn.execute("ANALYZE run_parts")  # temp tables have no statistics otherwise


async def summarise(conn: asyncpg.Connection) -> tuple[int, int]:
    """Entries and lines into temp tables; returns (entry count, transaction count)."""
    await conn.execute(sql.SUMMARISE_GROUPS)
    await conn.execute(sql.SUMMARISE_LINES)
    await conn.execute(sql.SUMMARISE_ENTRIES)
    row = await conn.fetchrow(sql.RUN_TOTALS)
    assert row is not None
    return int(row["groups"]), int(row["n"])


async def take_numbers(conn: asyncpg.Connection, entries: int) -> tuple[int, int]:
    """(run number, first entry number): gapless, tenant-wide, in commit order."""
    run = await conn.fetchval(sql.TAKE_NUMBERS, "journal_run", 1)
    first_entry = await conn.fetchval(sql.TAKE_NUMBERS, "journal_entry", entries)
    return int(run), int(first_entry)


def run_fields(plan: RunPlan, count: int, at: datetime) -> dict[str, Any]:
    """What a run and a dry run share: the plan, the count, the command's time ``at`` and
    the actor its metadata records."""
    return {
        "org": plan.org,
        "target": JournalRunTarget(period=plan.period.name, start_date=plan.start,
                                   end_date=plan.end),
        "journal_entry_date": plan.journal_entry_date,
        "transaction_types": list(plan.types),
        "transaction_count": count,
        "created_at": at,
        "created_by": current_actor(),
    }


async def write_events(
    uow: UnitOfWork, plan: RunPlan, run: int, first_entry: int, entries: int, count: int
) -> JournalRunCompleted:
    """The entries' ``journal_entry.created`` events, built in SQL where the entries are,
    then the run's ``journal_run.completed``; recorded together."""
    number = run_number(run)
    at = datetime.now(UTC)
    completed = JournalRunCompleted(
        number=number, status="completed",
        journal_entry_numbers=[f"JE-{first_entry + i:08d}" for i in range(entries)],
        **run_fields(plan, count, at))
    event = command_event(completed, run_stream(number), org=plan.org, occurred_at=at)
    await uow.conn.execute(
        sql.STAGE_ENTRY_EVENTS,
        first_entry, number, plan.org, plan.period.name, plan.journal_entry_date,
        event.metadata,  # the entries record the same actor as their run
    )
    await uow.conn.copy_records_to_table(
        "staged_events",
        records=[(entries + 1, event.stream, event.event_id, event.event_type, event.org,
                  event.payload, event.body_hash, event.metadata)],
        columns=log.STAGED_COLUMNS,
    )
    await uow.record_staged({JOURNAL_ENTRY_CREATED, JOURNAL_RUN_COMPLETED})
    return completed


async def preview(conn: asyncpg.Connection, plan: RunPlan, count: int) -> JournalRunPreview:
    """What a dry run shows: the run and its entries, without numbers."""
    entries = [
        JournalEntryPreview(
            org=plan.org,
            accounting_period=plan.period.name,
            journal_entry_date=plan.journal_entry_date,
            transaction_type=r["type"],
            currency=r["currency"],
            segments=json.loads(r["segments"]),
            lines=json.loads(r["lines"]),
            total_debit=r["total_debit"],
            total_credit=r["total_credit"],
            transaction_count=r["transaction_count"],
            transfer_status="no",
        )
        for r in await conn.fetch(sql.PREVIEW)
    ]
    return JournalRunPreview(journal_entry_numbers=[], entries=entries,
                             **run_fields(plan, count, datetime.now(UTC)))


@overload
async def create_journal_run(
    pool: asyncpg.Pool, request: JournalRunRequest, *, dry_run: Literal[False] = False,
    idempotency: RequestKey | None = None,
) -> JournalRunCompleted: ...


@overload
async def create_journal_run(
    pool: asyncpg.Pool, request: JournalRunRequest, *, dry_run: Literal[True],
    idempotency: RequestKey | None = None,
) -> JournalRunPreview: ...


@overload
async def create_journal_run(
    pool: asyncpg.Pool, request: JournalRunRequest, *, dry_run: bool,
    idempotency: RequestKey | None = None,
) -> JournalRunCompleted | JournalRunPreview: ...


async def create_journal_run(
    pool: asyncpg.Pool,
    request: JournalRunRequest,
    *,
    dry_run: bool = False,
    idempotency: RequestKey | None = None,
) -> JournalRunCompleted | JournalRunPreview:
    """Run, or with ``dry_run`` show the entries a run would make and write nothing (the
    same unit of work, rolled back).

    With ``idempotency``, a key whose first request already made a run raises
    ``AlreadyRun`` (nothing is written), one used with another body ``Conflict``.
    """
    started = time.perf_counter()
    async with unit_of_work(pool) as uow:
        if idempotency is not None and not dry_run:
            await idempotency_keys.claim(uow.conn, idempotency)
        plan = await check_request(uow, request)
        await uow.lock_scope(plan.scope)
        await select_transactions(uow.conn, plan)
        entries, count = await summarise(uow.conn)
        if dry_run:
            uow.roll_back()
            return await preview(uow.conn, plan, count)
        run, first_entry = await take_numbers(uow.conn, entries)
        completed = await write_events(uow, plan, run, first_entry, entries, count)
        if idempotency is not None:
            await idempotency_keys.remember(uow.conn, idempotency, completed.number)
    metrics.observe_journal_run(completed, time.perf_counter() - started)
    return completed
