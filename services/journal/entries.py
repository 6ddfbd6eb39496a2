"""After a run: cancel entries and runs, record transfer status, export transaction detail.

docs/domain.md §3: cancelling an entry releases its transactions for the next run; an entry
whose transfer status is ``yes`` or ``processing`` cannot be cancelled (a ``yes`` one is
reversed instead: ``services.journal.reversal``), and a run holding one stays ``completed``
(partial cancel) with the kept entries named; transfer status is frozen once the entry is
cancelled or reversed. A reversal entry is never cancelled: it offsets an entry the GL
holds, whose transactions are already pending again. Every command records when (``at``)
and by whom (``by``: the actor of its metadata) in its event's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import cast

import asyncpg

from events.journal import (
    TRANSFER_STATUSES,
    JournalEntryCancelled,
    JournalEntryTransferStatusChanged,
    JournalRunCancelled,
    JournalRunCancelOutcome,
    TransferStatus,
)
from services import metrics
from services.actor import current_actor
from services.commands.recording import command_event, entry_stream, run_stream
from services.errors import Conflict, NotFound, RejectedInput
from services.journal.views import get_entry, get_run
from services.store import log
from services.store.unit_of_work import UnitOfWork, unit_of_work

LOCKED_BY_TRANSFER = ("yes", "processing")


async def _entry_row(conn: asyncpg.Connection, number: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT number, journal_run, scope, status, transfer_status, reverses, debit_account "
        "FROM journal_entries WHERE number = $1",
        number,
    )
    if row is None:
        raise NotFound("journal_entry_not_found", f"no journal entry {number}")
    return row


async def locked_entry(uow: UnitOfWork, number: str) -> asyncpg.Record:
    """The entry, read again once its scope is locked (a concurrent command may have just
    cancelled or transferred it)."""
    row = await _entry_row(uow.conn, number)
    await uow.lock_scope(row["scope"])
    return await _entry_row(uow.conn, number)


def _cancel_event(cancelled: JournalEntryCancelled, scope: str) -> log.NewEvent:
    return command_event(cancelled, entry_stream(cancelled.number), org=scope or None,
                         occurred_at=cancelled.at)


def _cancelled(entry: asyncpg.Record, released: int, at: datetime) -> JournalEntryCancelled:
    return JournalEntryCancelled(number=entry["number"], journal_run=entry["journal_run"],
                                 released_transaction_count=released, at=at,
                                 by=current_actor())


def _kept_by_run_cancel(entry: asyncpg.Record) -> bool:
    """Transferred entries and reversals stay when their run is cancelled."""
    return entry["transfer_status"] in LOCKED_BY_TRANSFER or entry["reverses"] is not None


async def released_counts(conn: asyncpg.Connection, numbers: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT journal_entry, count(*) AS n FROM journaled_transactions "
        "WHERE journal_entry = ANY($1) GROUP BY journal_entry",
        numbers,
    )
    return {r["journal_entry"]: int(r["n"]) for r in rows}


async def cancel_entry(pool: asyncpg.Pool, number: str) -> JournalEntryCancelled:
    async with unit_of_work(pool) as uow:
        row = await locked_entry(uow, number)
        if row["status"] == "cancelled":
            raise Conflict("journal_entry_already_cancelled", f"{number} is already cancelled")
        if row["status"] == "reversed":
            raise Conflict("journal_entry_reversed",
                           f"{number} is reversed: its transactions are already pending again")
        if row["reverses"] is not None:
            raise Conflict(
                "journal_entry_is_reversal",
                f"{number} reverses {row['reverses']}, which the GL holds: a reversal cannot "
                "be cancelled",
            )
        if row["transfer_status"] in LOCKED_BY_TRANSFER:
            raise Conflict(
                "journal_entry_transferred",
                f"{number} has transfer status {row['transfer_status']}: a transferred entry "
                "cannot be cancelled",
            )
        released = (await released_counts(uow.conn, [number])).get(number, 0)
        cancelled = _cancelled(row, released, datetime.now(UTC))
        await uow.record([_cancel_event(cancelled, row["scope"])])
    metrics.JOURNAL_ENTRIES_CANCELLED.inc()
    return cancelled


async def cancel_run(pool: asyncpg.Pool, number: str) -> JournalRunCancelOutcome:
    """Cancel every entry that may be; a run keeping transferred entries stays completed."""
    async with unit_of_work(pool) as uow:
        run = await get_run(uow.conn, number)
        await uow.lock_scope(run.org or "")
        run = await get_run(uow.conn, number)
        if run.status == "cancelled":
            raise Conflict("journal_run_already_cancelled", f"{number} is already cancelled")
        rows = await uow.conn.fetch(
            "SELECT number, journal_run, scope, status, transfer_status, reverses "
            "FROM journal_entries WHERE journal_run = $1 AND status = 'created' ORDER BY number",
            number,
        )
        kept = [r["number"] for r in rows if _kept_by_run_cancel(r)]
        cancelled = [r for r in rows if not _kept_by_run_cancel(r)]
        released = await released_counts(uow.conn, [r["number"] for r in cancelled])
        at = datetime.now(UTC)
        run_cancelled = JournalRunCancelled(
            number=number, cancelled_entries=[r["number"] for r in cancelled],
            kept_entries=kept, at=at, by=current_actor())
        events = [_cancel_event(_cancelled(r, released.get(r["number"], 0), at), r["scope"])
                  for r in cancelled]
        events.append(command_event(run_cancelled, run_stream(number), org=run.org,
                                    occurred_at=at))
        await uow.record(events)
    metrics.JOURNAL_ENTRIES_CANCELLED.inc(len(cancelled))
    return JournalRunCancelOutcome(**run_cancelled.model_dump(),
                                   status="completed" if kept else "cancelled")


def check_transfer_status(status: str) -> TransferStatus:
    if status not in TRANSFER_STATUSES:
        raise RejectedInput(
            "transfer_status_invalid",
            f"transfer status is one of {', '.join(TRANSFER_STATUSES)}, not {status!r}",
        )
    return cast(TransferStatus, status)


async def set_transfer_status(
    pool: asyncpg.Pool, number: str, status: str
) -> JournalEntryTransferStatusChanged:
    """The ``journal_entry.transfer_status_changed`` data; when the status is already
    ``status`` nothing is recorded, and ``at`` and ``by`` are null."""
    to = check_transfer_status(status)
    async with unit_of_work(pool) as uow:
        row = await locked_entry(uow, number)
        if row["status"] in ("cancelled", "reversed"):
            raise Conflict(f"journal_entry_{row['status']}",
                           f"{number} is {row['status']}: its transfer status is frozen")
        if row["transfer_status"] == to:
            return JournalEntryTransferStatusChanged(number=number, from_=to, to=to, at=None,
                                                     by=None)
        at = datetime.now(UTC)
        changed = JournalEntryTransferStatusChanged(
            number=number, from_=row["transfer_status"], to=to, at=at, by=current_actor())
        await uow.record([command_event(changed, entry_stream(number),
                                        org=row["scope"] or None, occurred_at=at)])
    return changed


EXPORT_COLUMNS = (
    "journal_entry", "transaction_id", "transaction_type", "subtype", "transaction_date",
    "document_number", "account_number", "amount", "currency", "debit_account",
    "credit_account", "segments", "org",
)

#: First characters a spreadsheet reads as a formula or a control: = + - @ tab CR.
_FORMULA_STARTS = (ord("="), ord("+"), ord("-"), ord("@"), ord("\t"), ord("\r"))


def _text_cell(expression: str, name: str) -> str:
    """SQL for one text column of the export: written with a leading ``'`` when it starts
    like a formula (OWASP CSV injection, docs/domain.md §3). ``ascii()`` reads only the
    first character, so the guard adds little to the COPY and keeps it one set-based stream.
    """
    starts = ", ".join(map(str, _FORMULA_STARTS))
    return (f"CASE WHEN ascii({expression}) IN ({starts}) THEN '''' || {expression} "
            f"ELSE {expression} END AS {name}")


#: Every text column guarded; amounts (numeric) and dates written as they are, and
#: ``segments`` is a JSON object, whose text always starts with ``{``.
_EXPORT = f"""
SELECT {_text_cell("j.journal_entry", "journal_entry")},
       {_text_cell("p.id", "transaction_id")},
       {_text_cell("p.type", "transaction_type")},
       {_text_cell("p.subtype", "subtype")},
       p.date AS transaction_date,
       {_text_cell("p.document_number", "document_number")},
       {_text_cell("p.account_number", "account_number")},
       format_amount(p.amount, p.currency) AS amount,
       {_text_cell("p.currency", "currency")},
       {_text_cell("p.debit_account", "debit_account")},
       {_text_cell("p.credit_account", "credit_account")},
       p.segments::text AS segments,
       {_text_cell("p.org", "org")}
FROM journaled_transactions j JOIN pending_transactions p USING (type, id)
WHERE j.journal_entry = $1 ORDER BY p.type, p.id
"""

_EXPORT_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"


async def export_entry_csv(
    pool: asyncpg.Pool,
    number: str,
    write: Callable[[bytes], Awaitable[None]],
    *,
    time_limit: float | None = None,
) -> int:
    """Stream the transaction detail CSV of a created entry; PostgreSQL writes the CSV.

    ``COPY ... TO STDOUT`` hands over chunks as they are produced, so memory does not grow
    with the entry's size. Returns the number of transactions exported.

    ``time_limit`` (seconds): the statement timeout for this transaction (the API's
    connections have a short one for every other statement). A backend blocked writing to
    a slow reader does not act on its statement timeout, so ``write`` must give up by the
    same limit itself (``services.api.csv_stream`` does).
    """
    async with pool.acquire() as conn:
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        copying = False
        try:
            if time_limit is not None:
                await conn.execute(_EXPORT_STATEMENT_TIMEOUT, f"{int(time_limit * 1000)}ms")
            entry = await get_entry(conn, number)
            if entry.status != "created":
                raise Conflict("journal_entry_not_created",
                               f"{number} is {entry.status}: only a created entry has detail")
            copying = True
            await _copy_or_drop(conn, number, write)
        except BaseException:
            if not copying:  # a failed COPY has dropped the connection
                await transaction.rollback()
            raise
        await transaction.commit()
        return entry.transaction_count


async def _copy_or_drop(
    conn: asyncpg.Connection,
    number: str,
    write: Callable[[bytes], Awaitable[None]],
) -> None:
    """The COPY; if it stops half-way (``write`` failed, the task was cancelled), the
    connection is dropped rather than reused. asyncpg cannot cancel a
    ``COPY TO STDOUT`` cleanly mid-stream: it takes the next CopyData message for the end
    of the cancellation and leaves the connection mid-COPY, so the rollback fails or waits
    for ever. Dropped, the server ends the backend at its next write and the pool opens a
    new connection when one is needed."""
    try:
        await conn.copy_from_query(_EXPORT, number, output=write, format="csv", header=True)
    except BaseException:
        conn.terminate()
        raise
