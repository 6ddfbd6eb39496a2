"""Journal run requests (docs/domain.md §3) checked as pure rules, before anything is written.

``plan_journal_run`` either returns a ``RunPlan`` (the scope, the resolved types and the
exact date window to select) or raises ``RuleViolation`` naming the first rule broken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from events.periods import OPEN, UNLABELED_SCOPE, Period, containing, defined, find
from events.transaction_types import (
    REQUEST_CATEGORIES,
    TRANSACTION_TYPES,
    Category,
    Settlement,
    UnknownTransactionType,
    enabled_types,
    resolve_type_names,
)
from events.violations import RuleViolation

#: Categories whose transactions are judged by a whole period, never a date or range.
PERIOD_ONLY_CATEGORIES = frozenset({Category.REVENUE, Category.UNREALIZED_FX})

#: Names a request may use instead of types; each expands to the types the settings enable.
CATEGORY_NAMES = frozenset(REQUEST_CATEGORIES)


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    settlement: Settlement = Settlement.INVOICE_SETTLEMENT
    harmonization: bool = False
    multi_org: bool = False


@dataclass(frozen=True, slots=True)
class JournalRunRequest:
    types: tuple[str, ...]
    org: str | None = None
    period: str | None = None
    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    journal_entry_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class RunPlan:
    scope: str
    org: str | None
    types: tuple[str, ...]
    period: Period
    start: date
    end: date
    journal_entry_date: date
    target: str  # "period" | "date" | "range"


def plan_journal_run(
    request: JournalRunRequest,
    settings: LedgerSettings,
    orgs: Collection[str],
    periods: Sequence[Period],
) -> RunPlan:
    """Check every rule of a run request; the first one broken is raised."""
    types = _resolve_types(request, settings)
    scope = _scope(request, settings, orgs)
    period, start, end, target = _target(request, periods)
    if target != "period":
        period_only = [t for t in types if TRANSACTION_TYPES[t].category in PERIOD_ONLY_CATEGORIES]
        if period_only:
            raise RuleViolation(
                "target_requires_period",
                f"{', '.join(period_only)} can only be journaled for a whole accounting "
                "period, not a specific date or time period",
            )
    assert period.end is not None
    return RunPlan(
        scope=scope,
        org=request.org if settings.multi_org else None,
        types=types,
        period=period,
        start=start,
        end=end,
        journal_entry_date=request.journal_entry_date or period.end,
        target=target,
    )


def _resolve_types(request: JournalRunRequest, settings: LedgerSettings) -> tuple[str, ...]:
    if not request.types:
        raise RuleViolation("types_required", "name at least one transaction type or category")
    try:
        types = resolve_type_names(request.types, settings.settlement, settings.harmonization)
        named = set(resolve_type_names(
            [n for n in request.types if n.strip().casefold() not in CATEGORY_NAMES],
            settings.settlement, settings.harmonization,
        ))
    except UnknownTransactionType as error:
        raise RuleViolation(
            "transaction_type_unknown", f"unknown transaction type or category {error.name!r}"
        ) from error
    if settings.multi_org:
        # A category means the types this tenant can journal: under Multi-Org that leaves out
        # the legacy types (they carry no org label). Naming one explicitly is refused.
        legacy = [t for t in types if TRANSACTION_TYPES[t].legacy and t in named]
        types = [t for t in types if not TRANSACTION_TYPES[t].legacy]
        if legacy:
            raise RuleViolation(
                "legacy_type_under_multi_org",
                f"{', '.join(legacy)} carry no org label and cannot be journaled while "
                "Multi-Org is on",
            )
    enabled = enabled_types(settings.settlement, settings.harmonization)
    disabled = [t for t in types if t not in enabled]
    if disabled:
        raise RuleViolation(
            "transaction_type_not_enabled",
            f"{', '.join(disabled)} not enabled by settlement={settings.settlement} "
            f"harmonization={str(settings.harmonization).lower()}",
        )
    if not types:
        raise RuleViolation("types_required", "the categories named enable no transaction type")
    return tuple(types)


def _scope(request: JournalRunRequest, settings: LedgerSettings, orgs: Collection[str]) -> str:
    if settings.multi_org:
        if request.org is None:
            raise RuleViolation("org_required", "Multi-Org is on: a journal run names its org")
        if request.org not in orgs:
            raise RuleViolation("org_unknown", f"no org named {request.org!r}", kind="not_found")
        return request.org
    if request.org is not None:
        raise RuleViolation(
            "org_not_allowed", "Multi-Org is off: a journal run cannot name an org"
        )
    return UNLABELED_SCOPE


def _target(
    request: JournalRunRequest, periods: Sequence[Period]
) -> tuple[Period, date, date, str]:
    given = [request.period is not None, request.date is not None,
             request.start is not None or request.end is not None]
    if sum(given) == 0:
        period = default_period(periods)
        assert period.start is not None and period.end is not None
        return period, period.start, period.end, "period"
    if sum(given) > 1:
        raise RuleViolation("target_ambiguous",
                            "name only one target: a period, a date, or a start and end")
    if request.period is not None:
        period = find(periods, request.period)
        if period.open_ended:
            raise RuleViolation("target_open_ended",
                                "the open-ended period is never a journal run target")
        assert period.start is not None and period.end is not None
        return period, period.start, period.end, "period"
    if request.date is not None:
        period = _period_of(periods, request.date)
        return period, request.date, request.date, "date"
    if request.start is None or request.end is None:
        raise RuleViolation("target_range_incomplete", "a time period needs both start and end")
    if request.start > request.end:
        raise RuleViolation("target_range_inverted",
                            f"start {request.start} is after end {request.end}")
    first, last = _period_of(periods, request.start), _period_of(periods, request.end)
    if first.name != last.name:
        raise RuleViolation(
            "target_across_periods",
            f"a time period must lie inside one accounting period: {request.start} is in "
            f"{first.name}, {request.end} in {last.name}",
        )
    return first, request.start, request.end, "range"


def default_period(periods: Sequence[Period]) -> Period:
    """The target of a request that names none: the scope's earliest open period.

    Seed 001: "by default, the current, open accounting period is selected". A period
    pending close or closed is finance's, and the open-ended one is never a target.
    """
    for period in defined(periods):
        if period.status == OPEN:
            return period
    raise RuleViolation(
        "target_required",
        "no target given and this scope has no open accounting period: name a period, "
        "a date, or a start and end",
    )


def _period_of(periods: Sequence[Period], day: date) -> Period:
    period = containing(periods, day)
    if period is None:
        raise RuleViolation("target_outside_periods",
                            f"{day} lies in no accounting period of this scope")
    if period.open_ended:
        raise RuleViolation("target_open_ended",
                            f"{day} falls in the open-ended period; no target date may")
    return period
