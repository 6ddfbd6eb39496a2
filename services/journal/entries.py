"""After a run: cancel entries and runs, record transfer status, export transaction detail.

DOMAIN.md §3: cancelling an entry releases its transactions for the next run; an entry whose
transfer status is ``yes`` or ``processing`` cannot be cancelled, and a run holding one stays
``completed`` (partial cancel) with the kept entries named; transfer status is frozen once
the entry is cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from services import metrics
from services.commands.recording import command_event, record
from services.errors import Conflict, NotFound, RejectedInput
from services.journal.run import lock_scope
from services.journal.views import get_entry, get_run
from services.store.log import hold_writers_lock

TRANSFER_STATUSES = ("no", "processing", "yes", "error", "ignore")
LOCKED_BY_TRANSFER = ("yes", "processing")


async def _entry_row(conn: asyncpg.Connection, number: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT number, journal_run, scope, status, transfer_status FROM journal_entries "
        "WHERE number = $1",
        number,
    )
    if row is None:
        raise NotFound("journal_entry_not_found", f"no journal entry {number}")
    return row


async def _locked_entry(conn: asyncpg.Connection, number: str) -> asyncpg.Record:
    """The entry, read again once its scope is locked (a concurrent command may have just
    cancelled or transferred it)."""
    await hold_writers_lock(conn)
    row = await _entry_row(conn, number)
    await lock_scope(conn, row["scope"])
    return await _entry_row(conn, number)


def _cancel_event(entry: asyncpg.Record, released: int) -> Any:
    return command_event(
        "journal_entry.cancelled",
        f"journal_entry:{entry['number']}",
        {
            "number": entry["number"],
            "journal_run": entry["journal_run"],
            "released_transaction_count": released,
        },
        org=entry["scope"] or None,
    )


async def _released_counts(conn: asyncpg.Connection, numbers: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT journal_entry, count(*) AS n FROM journaled_transactions "
        "WHERE journal_entry = ANY($1) GROUP BY journal_entry",
        numbers,
    )
    return {r["journal_entry"]: int(r["n"]) for r in rows}


async def cancel_entry(pool: asyncpg.Pool, number: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked_entry(conn, number)
        if row["status"] == "cancelled":
            raise Conflict("journal_entry_already_cancelled", f"{number} is already cancelled")
        if row["transfer_status"] in LOCKED_BY_TRANSFER:
            raise Conflict(
                "journal_entry_transferred",
                f"{number} has transfer status {row['transfer_status']}: a transferred entry "
                "cannot be cancelled",
            )
        released = (await _released_counts(conn, [number])).get(number, 0)
        await record(conn, [_cancel_event(row, released)])
    metrics.JOURNAL_ENTRIES_CANCELLED.inc()
    return {"number": number, "journal_run": row["journal_run"],
            "released_transaction_count": released}


async def cancel_run(pool: asyncpg.Pool, number: str) -> dict[str, Any]:
    """Cancel every entry that may be; a run keeping transferred entries stays completed."""
    async with pool.acquire() as conn, conn.transaction():
        await hold_writers_lock(conn)
        run = await get_run(conn, number)
        await lock_scope(conn, run["org"] or "")
        run = await get_run(conn, number)
        if run["status"] == "cancelled":
            raise Conflict("journal_run_already_cancelled", f"{number} is already cancelled")
        rows = await conn.fetch(
            "SELECT number, journal_run, scope, status, transfer_status FROM journal_entries "
            "WHERE journal_run = $1 AND status = 'created' ORDER BY number",
            number,
        )
        kept = [r["number"] for r in rows if r["transfer_status"] in LOCKED_BY_TRANSFER]
        cancelled = [r for r in rows if r["transfer_status"] not in LOCKED_BY_TRANSFER]
        released = await _released_counts(conn, [r["number"] for r in cancelled])
        data = {
            "number": number,
            "cancelled_entries": [r["number"] for r in cancelled],
            "kept_entries": kept,
        }
        events = [_cancel_event(r, released.get(r["number"], 0)) for r in cancelled]
        events.append(command_event("journal_run.cancelled", f"journal_run:{number}", data,
                                    org=run["org"]))
        await record(conn, events)
    metrics.JOURNAL_ENTRIES_CANCELLED.inc(len(cancelled))
    return data | {"status": "completed" if kept else "cancelled"}


async def set_transfer_status(pool: asyncpg.Pool, number: str, status: str) -> dict[str, Any]:
    if status not in TRANSFER_STATUSES:
        raise RejectedInput(
            "transfer_status_invalid",
            f"transfer status is one of {', '.join(TRANSFER_STATUSES)}, not {status!r}",
        )
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked_entry(conn, number)
        if row["status"] == "cancelled":
            raise Conflict("journal_entry_cancelled",
                           f"{number} is cancelled: its transfer status is frozen")
        data = {"number": number, "from": row["transfer_status"], "to": status}
        if row["transfer_status"] != status:
            await record(conn, [command_event(
                "journal_entry.transfer_status_changed", f"journal_entry:{number}", data,
                org=row["scope"] or None)])
    return data


EXPORT_COLUMNS = (
    "journal_entry", "transaction_id", "transaction_type", "subtype", "transaction_date",
    "document_number", "account_number", "amount", "currency", "debit_account",
    "credit_account", "segments", "org",
)

_EXPORT = """
SELECT j.journal_entry, p.id AS transaction_id, p.type AS transaction_type, p.subtype,
       p.date AS transaction_date, p.document_number, p.account_number,
       format_amount(p.amount, p.currency) AS amount, p.currency,
       p.debit_account, p.credit_account, p.segments::text AS segments, p.org
FROM journaled_transactions j JOIN pending_transactions p USING (type, id)
WHERE j.journal_entry = $1 ORDER BY p.type, p.id
"""


async def export_entry_csv(
    pool: asyncpg.Pool, number: str, write: Callable[[bytes], Awaitable[None]]
) -> int:
    """Stream the transaction detail CSV of a created entry; PostgreSQL writes the CSV.

    ``COPY ... TO STDOUT`` hands over chunks as they are produced, so memory does not grow
    with the entry's size. Returns the number of transactions exported.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        entry = await get_entry(conn, number)
        if entry["status"] != "created":
            raise Conflict("journal_entry_not_created",
                           f"{number} is {entry['status']}: only a created entry has detail")
        await conn.copy_from_query(_EXPORT, number, output=write, format="csv", header=True)
        return int(entry["transaction_count"])
