"""Reversing a summary journal entry that is already in the GL (docs/domain.md §3), as pure
rules over the entry and its scope's periods.

An entry whose transfer status is ``yes`` has been posted to the general ledger, so it can
no longer be cancelled (the GL would keep amounts the ledger had dropped). It is offset
instead: a new entry with every line on the other side, in the same run, dated when the
reversal is made, and its transactions go back to pending so the next run journals them
again. ``check_reversible`` and ``reversal_period`` raise ``RuleViolation`` naming the rule;
``reversal_of`` builds the new entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from events.journal import JournalEntryCreated, JournalEntryLine
from events.periods import CLOSED, Period, containing
from events.violations import RuleViolation

__all__ = ["check_reversible", "reversal_of", "reversal_period", "swapped"]

#: Only an entry the GL integration has marked as transferred is reversed; any other is
#: cancelled instead.
TRANSFERRED = "yes"


def check_reversible(entry: JournalEntryCreated) -> None:
    """Refuse (conflict) an entry that is not a created, transferred entry of a run."""
    if entry.status == "cancelled":
        raise RuleViolation("journal_entry_cancelled",
                            f"{entry.number} is cancelled: there is nothing to reverse",
                            kind="conflict")
    if entry.status == "reversed":
        raise RuleViolation("journal_entry_already_reversed",
                            f"{entry.number} is already reversed", kind="conflict")
    if entry.reverses is not None:
        raise RuleViolation(
            "journal_entry_is_reversal",
            f"{entry.number} reverses {entry.reverses}: a reversal is not reversed (its "
            "transactions are already pending again)", kind="conflict")
    if entry.transfer_status != TRANSFERRED:
        raise RuleViolation(
            "entry_not_transferred",
            f"{entry.number} has transfer status {entry.transfer_status}: only an entry "
            "transferred to accounting (yes) is reversed; cancel it instead", kind="conflict")


def reversal_period(periods: Sequence[Period], day: date) -> Period:
    """The period of the entry's scope that holds ``day``: open or pending close.

    The open-ended period is refused, as it is for a run's target: an entry posted to the GL
    belongs to a period that has dates (create the period first).
    """
    period = containing(periods, day)
    if period is None:
        raise RuleViolation("reversal_date_outside_periods",
                            f"reversal date {day} lies in no accounting period of this scope")
    if period.open_ended:
        raise RuleViolation(
            "reversal_date_open_ended",
            f"reversal date {day} falls in the open-ended period: create the accounting "
            "period it belongs to, or name another date")
    if period.status == CLOSED:
        raise RuleViolation(
            "reversal_period_closed",
            f"reversal date {day} falls in {period.name}, which is closed: a reversal is "
            "dated in an open period (reopen it, or name another date)")
    return period


def swapped(lines: Sequence[JournalEntryLine]) -> list[JournalEntryLine]:
    """Every line on the other side, debits first as an entry lists them, each side's
    accounts in the order they came (the database's order: Python would sort some names
    differently)."""
    flipped = [JournalEntryLine(account=line.account,
                                side="credit" if line.side == "debit" else "debit",
                                amount=line.amount)
               for line in lines]
    return ([line for line in flipped if line.side == "debit"]
            + [line for line in flipped if line.side == "credit"])


def reversal_of(
    original: JournalEntryCreated, number: str, day: date, period: Period
) -> JournalEntryCreated:
    """The reversal entry: same run, org, type, currency and segments, lines swapped.

    It holds no transactions (``transaction_count`` 0): the original's go back to pending,
    and its ``journal_entry.reversed`` event counts them.
    """
    return JournalEntryCreated(
        number=number,
        journal_run=original.journal_run,
        org=original.org,
        accounting_period=period.name,
        journal_entry_date=day,
        transaction_type=original.transaction_type,
        currency=original.currency,
        segments=dict(original.segments),
        lines=swapped(original.lines),
        total_debit=original.total_credit,
        total_credit=original.total_debit,
        transaction_count=0,
        status="created",
        transfer_status="no",
        reverses=original.number,
    )
