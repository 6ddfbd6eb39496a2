"""Accounting periods (docs/domain.md §2) as pure rules over a scope's list of periods.

Each org unit, and the unlabeled scope, has its own periods. Creating an org creates its
open-ended period, which has no end and covers every date after the last defined period.
Defined periods are contiguous; close goes oldest first; reopen only the latest closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from events.violations import RuleViolation

OPEN_ENDED_NAME = "Open-Ended"
UNLABELED_SCOPE = ""

OPEN = "open"
PENDING_CLOSE = "pending_close"
CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Period:
    scope: str
    name: str
    start: date | None
    end: date | None
    status: str = OPEN
    fiscal_year: int | None = None
    fiscal_quarter: int | None = None
    open_ended: bool = False

    def contains(self, day: date) -> bool:
        if self.open_ended:
            return self.start is None or day >= self.start
        assert self.start is not None and self.end is not None
        return self.start <= day <= self.end


def defined(periods: Sequence[Period]) -> list[Period]:
    """The periods with dates, oldest first (the open-ended one left out)."""
    return sorted((p for p in periods if not p.open_ended), key=lambda p: p.start or date.min)


def find(periods: Sequence[Period], name: str) -> Period:
    for period in periods:
        if period.name == name:
            return period
    raise RuleViolation("period_not_found", f"no accounting period named {name!r} in this scope",
                        kind="not_found")


def containing(periods: Sequence[Period], day: date) -> Period | None:
    """The period a date belongs to: a defined one, else the open-ended one after them."""
    for period in defined(periods):
        if period.contains(day):
            return period
    ends = [p.end for p in defined(periods) if p.end is not None]
    if not ends or day > max(ends):
        return next((p for p in periods if p.open_ended), None)
    return None


def check_new_period(
    periods: Sequence[Period],
    name: str,
    start: date,
    end: date,
    fiscal_year: int,
    fiscal_quarter: int | None,
) -> None:
    """Rules for creating a period: unique name, start <= end, contiguity, quarter 1..4."""
    if not name.strip():
        raise RuleViolation("period_name_required", "a period needs a name")
    if any(p.name == name for p in periods) or name == OPEN_ENDED_NAME:
        raise RuleViolation("period_name_taken",
                            f"period name {name!r} is already used in this scope",
                            kind="conflict")
    if start > end:
        raise RuleViolation("period_dates_inverted",
                            f"period start {start} is after its end {end}")
    if fiscal_quarter is not None and not 1 <= fiscal_quarter <= 4:
        raise RuleViolation("fiscal_quarter_invalid", "fiscal quarter must be 1, 2, 3 or 4")
    if not 1900 <= fiscal_year <= 9999:
        raise RuleViolation("fiscal_year_invalid", "fiscal year must be a four-digit year")
    existing = defined(periods)
    if existing:
        last = existing[-1]
        assert last.end is not None
        expected = last.end + timedelta(days=1)
        if start != expected:
            raise RuleViolation(
                "period_not_contiguous",
                f"periods are contiguous: the next period must start on {expected}, "
                f"the day after {last.name} ends",
            )


def check_close(periods: Sequence[Period], name: str, *, to: str = CLOSED) -> Period:
    """Close (or mark pending close): only when every earlier period is closed."""
    period = find(periods, name)
    if period.open_ended:
        raise RuleViolation("period_open_ended", "the open-ended period cannot be closed")
    if period.status == CLOSED:
        raise RuleViolation("period_already_closed", f"period {name} is already closed",
                            kind="conflict")
    if to == PENDING_CLOSE and period.status == PENDING_CLOSE:
        raise RuleViolation("period_already_pending_close",
                            f"period {name} is already pending close", kind="conflict")
    earlier_open = [p.name for p in defined(periods)
                    if p.end is not None and period.start is not None
                    and p.end < period.start and p.status != CLOSED]
    if earlier_open:
        raise RuleViolation(
            "period_earlier_not_closed",
            f"close earlier periods first: {', '.join(earlier_open)} not closed",
        )
    return period


def check_reopen(periods: Sequence[Period], name: str) -> Period:
    """Reopen: only the latest closed period."""
    period = find(periods, name)
    if period.status != CLOSED:
        raise RuleViolation("period_not_closed", f"period {name} is not closed", kind="conflict")
    later_closed = [p.name for p in defined(periods)
                    if p.status == CLOSED and p.start is not None and period.start is not None
                    and p.start > period.start]
    if later_closed:
        raise RuleViolation(
            "period_not_latest_closed",
            f"only the latest closed period can be reopened; {', '.join(later_closed)} "
            "is closed after it",
        )
    return period
