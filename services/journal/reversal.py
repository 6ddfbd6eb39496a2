"""Reverse an entry already in the GL (docs/domain.md §3): one transaction, set-based.

1. in a unit of work, lock as a cancel does (the entry's scope) and read the entry;
2. check that it may be reversed, and find the period of the reversal date
   (``events.reversal``): nothing is written when a rule is broken;
3. take the next entry number (last, so the counter row is locked only until commit);
4. record ``journal_entry.reversed``, then the reversal's ``journal_entry.created``: the
   projections mark the original reversed and release its transactions (one DELETE of its
   memberships, however many), add the reversal and its few lines, and queue both events
   for Kafka in that order.

The reversal holds no transactions: the released ones are journaled again by the next run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

import asyncpg

from events.journal import JournalEntryCreated, JournalEntryReversed
from events.reversal import check_reversible, reversal_of, reversal_period
from events.violations import RuleViolation
from services import metrics
from services.actor import current_actor
from services.commands.recording import (
    as_ledger_error,
    command_event,
    entry_stream,
    load_periods,
)
from services.journal import run_sql
from services.journal.entries import locked_entry, released_counts
from services.journal.views import get_entry
from services.store.unit_of_work import unit_of_work

__all__ = ["Reversal", "reverse_entry"]


class Reversal(NamedTuple):
    """What a reversal recorded: the ``journal_entry.reversed`` data of the original, and
    the new entry (its ``journal_entry.created`` data)."""

    reversed: JournalEntryReversed
    entry: JournalEntryCreated


async def reverse_entry(
    pool: asyncpg.Pool, number: str, on_date: date | None = None
) -> Reversal:
    """Reverse ``number``, dated ``on_date`` (default: today, the machine's local date).

    Refused: an unknown entry (``journal_entry_not_found``), one not transferred
    (``entry_not_transferred``), cancelled, already reversed or itself a reversal
    (conflicts), a date in a closed period, in the open-ended period or before the first
    period (rejected).
    """
    day = on_date if on_date is not None else date.today()
    async with unit_of_work(pool) as uow:
        conn = uow.conn
        row = await locked_entry(uow, number)
        original = await get_entry(conn, number)
        try:
            check_reversible(original)
            period = reversal_period(await load_periods(conn, row["scope"]), day)
        except RuleViolation as violation:
            raise as_ledger_error(violation) from violation
        released = (await released_counts(conn, [number])).get(number, 0)
        reversal_number = f"JE-{await conn.fetchval(run_sql.TAKE_NUMBERS, 'journal_entry', 1):08d}"
        at = datetime.now(UTC)
        reversed_ = JournalEntryReversed(number=number, reversed_by=reversal_number,
                                         released_transaction_count=released, at=at,
                                         by=current_actor())
        entry = reversal_of(original, reversal_number, day, period)
        org = row["scope"] or None
        await uow.record([
            command_event(reversed_, entry_stream(number), org=org, occurred_at=at),
            command_event(entry, entry_stream(reversal_number), org=org, occurred_at=at,
                          internal={"debit_account": row["debit_account"], "members": []}),
        ])
    metrics.JOURNAL_ENTRIES_REVERSED.inc()
    return Reversal(reversed_, entry)
