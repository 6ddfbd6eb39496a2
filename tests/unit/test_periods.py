"""Accounting periods (docs/domain.md §2) as pure rules: membership, creation, close, reopen."""

from __future__ import annotations

from datetime import date

import pytest

from events.periods import (
    CLOSED,
    OPEN,
    OPEN_ENDED_NAME,
    PENDING_CLOSE,
    Period,
    check_close,
    check_new_period,
    check_reopen,
    containing,
    defined,
    find,
)
from events.violations import RuleViolation

OPEN_ENDED = Period("", OPEN_ENDED_NAME, None, None, open_ended=True)


def period(name: str, start: date, end: date, status: str = OPEN) -> Period:
    return Period("", name, start, end, status, fiscal_year=start.year)


def months(*statuses: str) -> list[Period]:
    """Apr, May, Jun 2024 with the given statuses (open when not given), open-ended last."""
    spans = [("Apr-2024", date(2024, 4, 1), date(2024, 4, 30)),
             ("May-2024", date(2024, 5, 1), date(2024, 5, 31)),
             ("Jun-2024", date(2024, 6, 1), date(2024, 6, 30))]
    chosen = list(statuses) + [OPEN] * (3 - len(statuses))
    return [OPEN_ENDED, *(period(n, s, e, st) for (n, s, e), st in zip(spans, chosen, strict=True))]


def violation(call: object, *args: object, **kwargs: object) -> RuleViolation:
    assert callable(call)
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    return caught.value


# -- which period a date belongs to ------------------------------------------------------------


def test_defined_periods_are_oldest_first_without_the_open_ended_one() -> None:
    periods = list(reversed(months()))
    assert [p.name for p in defined(periods)] == ["Apr-2024", "May-2024", "Jun-2024"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 4, 1), "Apr-2024"),
        (date(2024, 4, 30), "Apr-2024"),
        (date(2024, 5, 1), "May-2024"),
        (date(2024, 6, 30), "Jun-2024"),
        (date(2024, 7, 1), OPEN_ENDED_NAME),
        (date(2031, 1, 1), OPEN_ENDED_NAME),
        (date(2024, 3, 31), None),
    ],
)
def test_a_date_belongs_to_the_period_containing_it(day: date, expected: str | None) -> None:
    found = containing(months(), day)
    assert (found.name if found else None) == expected


def test_the_open_ended_period_covers_every_date_while_none_is_defined() -> None:
    assert containing([OPEN_ENDED], date(1999, 12, 31)) == OPEN_ENDED
    assert containing([OPEN_ENDED], date(2024, 4, 1)) == OPEN_ENDED


def test_find_names_a_missing_period_as_not_found() -> None:
    assert find(months(), "May-2024").start == date(2024, 5, 1)
    error = violation(find, months(), "Jul-2024")
    assert (error.code, error.kind) == ("period_not_found", "not_found")


# -- creating a period -----------------------------------------------------------------------


def test_the_first_period_may_start_anywhere_and_the_next_the_day_after() -> None:
    check_new_period([OPEN_ENDED], "Jan-2020", date(2020, 1, 1), date(2020, 1, 31), 2020, 1)
    check_new_period(months(), "Jul-2024", date(2024, 7, 1), date(2024, 7, 31), 2024, 3)
    check_new_period(months(), "Jul-2024", date(2024, 7, 1), date(2024, 7, 1), 2024, None)


@pytest.mark.parametrize("name", ["May-2024", OPEN_ENDED_NAME])
def test_period_name_taken(name: str) -> None:
    error = violation(check_new_period, months(), name, date(2024, 7, 1), date(2024, 7, 31),
                      2024, None)
    assert (error.code, error.kind) == ("period_name_taken", "conflict")


def test_period_name_required() -> None:
    error = violation(check_new_period, months(), "  ", date(2024, 7, 1), date(2024, 7, 31),
                      2024, None)
    assert error.code == "period_name_required"


def test_period_dates_inverted() -> None:
    error = violation(check_new_period, months(), "Jul-2024", date(2024, 7, 31),
                      date(2024, 7, 1), 2024, None)
    assert (error.code, error.kind) == ("period_dates_inverted", "rejected")


@pytest.mark.parametrize(
    "start", [date(2024, 7, 2), date(2024, 6, 30), date(2024, 1, 1), date(2025, 7, 1)]
)
def test_period_not_contiguous(start: date) -> None:
    error = violation(check_new_period, months(), "Next", start, date(2025, 12, 31), 2024, None)
    assert error.code == "period_not_contiguous"
    assert "2024-07-01" in error.message


@pytest.mark.parametrize("quarter", [0, 5, -1])
def test_fiscal_quarter_invalid(quarter: int) -> None:
    error = violation(check_new_period, months(), "Jul-2024", date(2024, 7, 1),
                      date(2024, 7, 31), 2024, quarter)
    assert error.code == "fiscal_quarter_invalid"


@pytest.mark.parametrize("year", [24, 10000])
def test_fiscal_year_invalid(year: int) -> None:
    error = violation(check_new_period, months(), "Jul-2024", date(2024, 7, 1),
                      date(2024, 7, 31), year, None)
    assert error.code == "fiscal_year_invalid"


# -- close and reopen ------------------------------------------------------------------------


def test_close_goes_oldest_first() -> None:
    assert check_close(months(), "Apr-2024").name == "Apr-2024"
    assert check_close(months(CLOSED), "May-2024").name == "May-2024"
    assert check_close(months(CLOSED, CLOSED, PENDING_CLOSE), "Jun-2024").name == "Jun-2024"
    assert check_close(months(), "Apr-2024", to=PENDING_CLOSE).name == "Apr-2024"


def test_period_earlier_not_closed() -> None:
    error = violation(check_close, months(CLOSED, PENDING_CLOSE), "Jun-2024")
    assert error.code == "period_earlier_not_closed"
    assert "May-2024" in error.message and "Apr-2024" not in error.message
    error = violation(check_close, months(), "Jun-2024", to=PENDING_CLOSE)
    assert error.code == "period_earlier_not_closed"
    assert "Apr-2024, May-2024" in error.message


def test_period_open_ended_cannot_be_closed() -> None:
    error = violation(check_close, months(CLOSED, CLOSED, CLOSED), OPEN_ENDED_NAME)
    assert error.code == "period_open_ended"


def test_period_already_closed() -> None:
    error = violation(check_close, months(CLOSED), "Apr-2024")
    assert (error.code, error.kind) == ("period_already_closed", "conflict")


def test_period_already_pending_close() -> None:
    error = violation(check_close, months(PENDING_CLOSE), "Apr-2024", to=PENDING_CLOSE)
    assert (error.code, error.kind) == ("period_already_pending_close", "conflict")


def test_close_of_an_unknown_period_is_not_found() -> None:
    assert violation(check_close, months(), "Dec-2023").code == "period_not_found"


def test_reopen_only_the_latest_closed_period() -> None:
    assert check_reopen(months(CLOSED, CLOSED), "May-2024").name == "May-2024"
    assert check_reopen(months(CLOSED), "Apr-2024").name == "Apr-2024"
    error = violation(check_reopen, months(CLOSED, CLOSED), "Apr-2024")
    assert (error.code, error.kind) == ("period_not_latest_closed", "rejected")
    assert "May-2024" in error.message


@pytest.mark.parametrize(("statuses", "name"), [
    ((CLOSED,), "May-2024"),
    ((PENDING_CLOSE,), "Apr-2024"),
    ((), OPEN_ENDED_NAME),
])
def test_period_not_closed(statuses: tuple[str, ...], name: str) -> None:
    error = violation(check_reopen, months(*statuses), name)
    assert (error.code, error.kind) == ("period_not_closed", "conflict")
