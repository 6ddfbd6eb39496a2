"""The rules of a reversal (docs/domain.md §3) as pure functions: which entries, which dates,
and the reversal entry itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from events.journal import JournalEntryCreated
from events.periods import CLOSED, OPEN_ENDED_NAME, PENDING_CLOSE, Period
from events.reversal import check_reversible, reversal_of, reversal_period, swapped
from events.violations import RuleViolation

PERIODS = [
    Period("US", "Apr-2024", date(2024, 4, 1), date(2024, 4, 30), status=CLOSED),
    Period("US", "May-2024", date(2024, 5, 1), date(2024, 5, 31), status=PENDING_CLOSE),
    Period("US", "Jun-2024", date(2024, 6, 1), date(2024, 6, 30)),
    Period("US", OPEN_ENDED_NAME, None, None, open_ended=True),
]


def entry(**changes: Any) -> JournalEntryCreated:
    lines = [
        {"account": "Zebra", "side": "debit", "amount": "7.5"},
        {"account": "alpha", "side": "debit", "amount": "2.5"},
        {"account": "AR", "side": "credit", "amount": "10.00"},
    ]
    return JournalEntryCreated.model_validate({
        "number": "JE-00000004", "journal_run": "JR-00000002", "org": "US",
        "accounting_period": "Apr-2024", "journal_entry_date": "2024-04-30",
        "transaction_type": "invoice_item", "currency": "USD", "segments": {"region": "NA"},
        "lines": lines, "total_debit": "10.0", "total_credit": "10.00",
        "transaction_count": 7, "status": "created", "transfer_status": "yes",
    } | changes)


@pytest.mark.parametrize(("changes", "code"), [
    ({"transfer_status": "no"}, "entry_not_transferred"),
    ({"transfer_status": "processing"}, "entry_not_transferred"),
    ({"transfer_status": "error"}, "entry_not_transferred"),
    ({"transfer_status": "ignore"}, "entry_not_transferred"),
    ({"status": "cancelled"}, "journal_entry_cancelled"),
    ({"status": "reversed"}, "journal_entry_already_reversed"),
    ({"reverses": "JE-00000001", "transaction_count": 0}, "journal_entry_is_reversal"),
])
def test_only_a_created_transferred_entry_of_a_run_may_be_reversed(
    changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_reversible(entry(**changes))
    assert (caught.value.code, caught.value.kind) == (code, "conflict")


def test_a_transferred_entry_may_be_reversed() -> None:
    check_reversible(entry())


@pytest.mark.parametrize(("day", "code"), [
    (date(2024, 4, 30), "reversal_period_closed"),
    (date(2024, 7, 1), "reversal_date_open_ended"),
    (date(2024, 3, 31), "reversal_date_outside_periods"),
])
def test_the_date_must_fall_in_a_dated_period_that_is_not_closed(day: date, code: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        reversal_period(PERIODS, day)
    assert (caught.value.code, caught.value.kind) == (code, "rejected")
    assert str(day) in caught.value.message


@pytest.mark.parametrize(("day", "name"), [
    (date(2024, 5, 1), "May-2024"),  # pending close is not closed
    (date(2024, 6, 30), "Jun-2024"),
])
def test_the_period_is_the_one_holding_the_date(day: date, name: str) -> None:
    assert reversal_period(PERIODS, day).name == name


def test_the_reversal_mirrors_the_entry_and_holds_no_transactions() -> None:
    reversal = reversal_of(entry(), "JE-00000009", date(2024, 6, 3), PERIODS[2])
    assert reversal.model_dump(mode="json") == {
        "number": "JE-00000009", "journal_run": "JR-00000002", "org": "US",
        "accounting_period": "Jun-2024", "journal_entry_date": "2024-06-03",
        "transaction_type": "invoice_item", "currency": "USD", "segments": {"region": "NA"},
        "lines": [{"account": "AR", "side": "debit", "amount": "10.00"},
                  {"account": "Zebra", "side": "credit", "amount": "7.50"},
                  {"account": "alpha", "side": "credit", "amount": "2.50"}],
        "total_debit": "10.00", "total_credit": "10.00", "transaction_count": 0,
        "status": "created", "transfer_status": "no", "reverses": "JE-00000004",
    }


def test_swapping_keeps_each_sides_order_and_twice_is_the_original() -> None:
    lines = entry().lines
    assert [(ln.account, ln.side) for ln in swapped(lines)] == [
        ("AR", "debit"), ("Zebra", "credit"), ("alpha", "credit")]
    assert swapped(swapped(lines)) == lines
    assert sum((ln.amount for ln in swapped(lines)), Decimal(0)) == Decimal("20.00")
