"""A journal run, as a short sequence of named steps over SQL that does the heavy lifting.

1. check the request against every rule of docs/domain.md §3 (``events.journal_rules``);
2. lock the scope, so two runs on one scope never take the same transaction;
3. select the eligible transactions of the scope, types and dates;
4. summarise them into entries and lines;
5. take gapless numbers (last, so the counter row is locked only until commit);
6. write the ``journal_entry.created`` and ``journal_run.completed`` events, fold them into
   the projections (which marks the transactions journaled) and queue them for Kafka.

All of it is one PostgreSQL transaction: a refused or failed run writes nothing and
consumes no number.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from events.amounts import format_amount
from events.journal import utc_timestamp
from events.journal_rules import JournalRunRequest, RunPlan, plan_journal_run
from events.transaction_types import TRANSACTION_TYPES
from events.violations import RuleViolation
from services import metrics
from services.actor import current_actor
from services.commands.recording import (
    as_ledger_error,
    command_event,
    ensure_initialized,
    fold,
    load_orgs,
    load_periods,
    load_settings,
)
from services.journal import idempotency as idempotency_keys
from services.journal import run_sql as sql
from services.journal.idempotency import RequestKey
from services.store import log

SCOPE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('journal-scope:' || $1, 0))"


def run_number(n: int) -> str:
    return f"JR-{n:08d}"


async def lock_scope(conn: asyncpg.Connection, scope: str) -> None:
    """Runs, cancels and transfers on one scope serialise; other scopes run in parallel."""
    await conn.execute(SCOPE_LOCK, scope)


async def check_request(conn: asyncpg.Connection, request: JournalRunRequest) -> RunPlan:
    await ensure_initialized(conn)
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


def run_data(
    plan: RunPlan, number: str, entry_numbers: list[str], count: int, at: datetime
) -> dict[str, Any]:
    """The ``journal_run.completed`` data (docs/contract.md §2); ``at`` is the command's
    time, and the actor the one its metadata records."""
    return {
        "number": number,
        "org": plan.org,
        "target": {
            "period": plan.period.name,
            "start_date": plan.start.isoformat(),
            "end_date": plan.end.isoformat(),
        },
        "journal_entry_date": plan.journal_entry_date.isoformat(),
        "transaction_types": list(plan.types),
        "status": "completed",
        "journal_entry_numbers": entry_numbers,
        "transaction_count": count,
        "created_at": utc_timestamp(at),
        "created_by": current_actor(),
    }


async def write_events(
    conn: asyncpg.Connection, plan: RunPlan, run: int, first_entry: int, entries: int, count: int
) -> dict[str, Any]:
    number = run_number(run)
    entry_numbers = [f"JE-{first_entry + i:08d}" for i in range(entries)]
    at = datetime.now(UTC)
    data = run_data(plan, number, entry_numbers, count, at)
    completed = command_event("journal_run.completed", f"journal_run:{number}", data,
                              org=plan.org, occurred_at=at)
    await conn.execute(
        sql.STAGE_ENTRY_EVENTS,
        first_entry, number, plan.org, plan.period.name, plan.journal_entry_date,
        completed.metadata,  # the entries record the same actor as their run
    )
    await conn.copy_records_to_table(
        "staged_events",
        records=[(entries + 1, completed.stream, completed.event_id, completed.event_type,
                  completed.org, completed.payload, completed.body_hash, completed.metadata)],
        columns=log.STAGED_COLUMNS,
    )
    positions = sorted((await log.append_staged(conn)).values())
    await fold(conn, positions)
    return data


async def preview(conn: asyncpg.Connection, plan: RunPlan) -> list[dict[str, Any]]:
    """What a dry run shows: the entries without numbers."""
    return [
        {
            "number": None,
            "journal_run": None,
            "org": plan.org,
            "accounting_period": plan.period.name,
            "journal_entry_date": plan.journal_entry_date.isoformat(),
            "transaction_type": r["type"],
            "currency": r["currency"],
            "segments": json.loads(r["segments"]),
            "lines": json.loads(r["lines"]),
            "total_debit": format_amount(r["total_debit"], r["currency"]),
            "total_credit": format_amount(r["total_credit"], r["currency"]),
            "transaction_count": r["transaction_count"],
            "status": "dry_run",
            "transfer_status": "no",
            "reverses": None,
        }
        for r in await conn.fetch(sql.PREVIEW)
    ]


@metrics.observes_journal_runs
async def create_journal_run(
    pool: asyncpg.Pool,
    request: JournalRunRequest,
    *,
    dry_run: bool = False,
    idempotency: RequestKey | None = None,
) -> dict[str, Any]:
    """Run, or with ``dry_run`` show the entries a run would make and write nothing.

    With ``idempotency``, a key whose first request already made a run raises
    ``AlreadyRun`` (nothing is written), one used with another body ``Conflict``.
    """
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await log.hold_writers_lock(conn)
            if idempotency is not None and not dry_run:
                await idempotency_keys.claim(conn, idempotency)
            plan = await check_request(conn, request)
            await lock_scope(conn, plan.scope)
            await select_transactions(conn, plan)
            entries, count = await summarise(conn)
            if dry_run:
                result = run_data(plan, "", [], count, datetime.now(UTC)) | {
                    "status": "dry_run", "entries": await preview(conn, plan)}
                await transaction.rollback()
                return result
            run, first_entry = await take_numbers(conn, entries)
            result = await write_events(conn, plan, run, first_entry, entries, count)
            if idempotency is not None:
                await idempotency_keys.remember(conn, idempotency, result["number"])
        except BaseException:
            await transaction.rollback()
            raise
        await transaction.commit()
        return result
