"""The oracle of the journal property test: a ledger's history replayed with the pure rules.

``Ledger`` keeps what a history has made (transactions and their statuses, runs, entries and
the transactions each holds, period statuses) and says, before each command, what the
ledger must answer: the refusal's code, or exactly what the command writes.

What a transaction *is* comes from the pure rules (``events.exclusions``: excluded or
held for its status; ``events.transaction_types``: which types a category names and the
settings enable, which are legacy). What a command *does* is restated here plainly from
docs/domain.md §2-§3 (the target window and the default period, grouping and the sign
flip, cancels, transfers, reversals, the period summary), so that the code and the oracle
disagree when either drifts from the rules. Nothing here touches the database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from events import exclusion_reason, status_eligible
from events.journal_rules import CATEGORY_NAMES, JournalRunRequest
from events.periods import CLOSED, OPEN, OPEN_ENDED_NAME, Period, check_close, check_reopen
from events.transaction_types import (
    TRANSACTION_TYPES,
    Category,
    Settlement,
    enabled_types,
    resolve_type_names,
)
from events.violations import RuleViolation
from tests.integration.billing import billing_event, txn

#: The defined periods of every scope; the open-ended one covers every day after them.
PERIODS = (("Apr-2024", date(2024, 4, 1), date(2024, 4, 30)),
           ("May-2024", date(2024, 5, 1), date(2024, 5, 31)))
OPEN_ENDED_START = PERIODS[-1][2] + timedelta(days=1)
PERIOD_NAMES = tuple(name for name, _, _ in PERIODS)
ORGS = ("US", "EU")
UNLABELED = ""
TRANSFER_LOCKS = ("yes", "processing")

LineKey = tuple[str, str]  # (account, side)
Key = tuple[str, str]  # (type, id): an id is unique within its type only
GroupKey = tuple[str, str, str, tuple[tuple[str, str], ...]]  # type, currency, debit, segments


class Readable:
    """Printed as its ``repr`` in hypothesis's reports, which would list a dataclass's
    fields one per line."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Refusal:
    """The command is refused with this code, and writes nothing."""

    code: str

    def __str__(self) -> str:
        return f"refused {self.code}"


@dataclass(frozen=True, repr=False)
class Config(Readable):
    settlement: Settlement
    harmonization: bool
    multi_org: bool

    @property
    def orgs(self) -> tuple[str, ...]:
        return ORGS if self.multi_org else ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope with periods: the orgs' and the unlabeled one."""
        return (*self.orgs, UNLABELED)

    @property
    def run_scopes(self) -> tuple[str, ...]:
        """The scopes a run may name: under Multi-Org the orgs, else the unlabeled one."""
        return self.orgs if self.multi_org else (UNLABELED,)

    def changes(self) -> dict[str, str]:
        return {"settlement": str(self.settlement),
                "harmonization": str(self.harmonization).lower(),
                "multi_org": str(self.multi_org).lower()}

    def __repr__(self) -> str:
        return (f"settlement={self.settlement} harmonization={self.harmonization} "
                f"multi_org={self.multi_org}")


@dataclass(frozen=True, repr=False)
class Txn(Readable):
    """A transaction as it arrived (its status may change later: ``Ledger.status``)."""

    id: str
    type: str
    org: str | None
    day: date
    amount: Decimal
    status: str
    debit: str
    credit: str
    currency: str
    segments: tuple[tuple[str, str], ...]
    subtype: str | None
    period: str | None  # a revenue event item names its period
    rule: str | None
    carrier: str  # the billing event type that carried it

    @property
    def key(self) -> Key:
        return (self.type, self.id)

    @property
    def revenue(self) -> bool:
        return self.type == "revenue_event_item"

    @property
    def legacy(self) -> bool:
        return TRANSACTION_TYPES[self.type].legacy

    @property
    def exclusion(self) -> str | None:
        reason = exclusion_reason(self.type, self.subtype, self.debit, self.credit, self.rule,
                                  event_type=self.carrier)
        return None if reason is None else str(reason)

    @property
    def group(self) -> GroupKey:
        """One summary entry per (type, currency, stamped debit account, segments)."""
        return (self.type, self.currency, self.debit, self.segments)

    def message(self) -> dict[str, Any]:
        line = txn(self.type, self.id, self.day, self.amount, status=self.status,
                   debit=self.debit, credit=self.credit, currency=self.currency,
                   segments=dict(self.segments), subtype=self.subtype, period=self.period,
                   rule=self.rule)
        return billing_event([line], org=self.org, event_type=self.carrier,
                             currency=self.currency)

    def __repr__(self) -> str:
        when = f"names {self.period}" if self.revenue else str(self.day)
        extra = [f"{k}={v}" for k, v in (("subtype", self.subtype), ("rule", self.rule))
                 if v is not None]
        if self.carrier == "credit_memo.unapplied":
            extra.append("via credit_memo.unapplied")
        if self.segments:
            extra.append(str(dict(self.segments)))
        return (f"{self.id} {self.type}@{self.org or '-'} {when} {self.amount} {self.currency} "
                f"{self.status} Dr {self.debit!r} / Cr {self.credit!r} {' '.join(extra)}")


@dataclass
class Entry:
    number: str
    run: str
    scope: str
    period: str
    day: date  # the journal entry date
    type: str
    currency: str
    segments: tuple[tuple[str, str], ...]
    lines: dict[LineKey, Decimal]
    members: frozenset[Key]
    status: str = "created"
    transfer: str = "no"
    reverses: str | None = None

    def facts(self) -> dict[str, Any]:
        """As ``entry_facts`` reads the ledger's entry."""
        debit = sum((a for (_, side), a in self.lines.items() if side == "debit"), Decimal(0))
        credit = sum((a for (_, side), a in self.lines.items() if side == "credit"),
                     Decimal(0))
        return {
            "number": self.number, "journal_run": self.run, "org": self.scope or None,
            "accounting_period": self.period, "journal_entry_date": self.day.isoformat(),
            "transaction_type": self.type, "currency": self.currency,
            "segments": dict(self.segments),
            "lines": sorted((account, side, amount)
                            for (account, side), amount in self.lines.items()),
            "total_debit": debit, "total_credit": credit,
            "transaction_count": len(self.members), "status": self.status,
            "transfer_status": self.transfer, "reverses": self.reverses,
        }


def entry_facts(data: dict[str, Any]) -> dict[str, Any]:
    """An entry as the ledger shows it, with amounts as numbers and lines in a fixed order."""
    return {
        **{k: data[k] for k in ("number", "journal_run", "org", "accounting_period",
                                "journal_entry_date", "transaction_type", "currency",
                                "segments", "transaction_count", "status", "transfer_status",
                                "reverses")},
        "lines": sorted((ln["account"], ln["side"], Decimal(ln["amount"]))
                        for ln in data["lines"]),
        "total_debit": Decimal(data["total_debit"]),
        "total_credit": Decimal(data["total_credit"]),
    }


@dataclass
class Run:
    number: str
    scope: str
    period: str
    start: date
    end: date
    day: date
    types: tuple[str, ...]
    entries: list[str]
    count: int
    status: str = "completed"

    def facts(self) -> dict[str, Any]:
        return {
            "number": self.number, "org": self.scope or None,
            "target": {"period": self.period, "start_date": self.start.isoformat(),
                       "end_date": self.end.isoformat()},
            "journal_entry_date": self.day.isoformat(), "transaction_types": list(self.types),
            "status": self.status, "journal_entry_numbers": list(self.entries),
            "transaction_count": self.count,
        }


RUN_FACTS = ("number", "org", "target", "journal_entry_date", "transaction_types", "status",
             "journal_entry_numbers", "transaction_count")


@dataclass(frozen=True, repr=False)
class Plan:
    """What a run selects: the scope's pending transactions of these types, dated in
    [start, end] (a revenue event item: naming the period)."""

    scope: str
    types: tuple[str, ...]
    period: str
    start: date
    end: date
    day: date

    def __repr__(self) -> str:
        return (f"{self.scope or 'unlabeled'} {self.period} {self.start}..{self.end}, "
                f"{len(self.types)} types")


def run_number(n: int) -> str:
    return f"JR-{n:08d}"


def entry_number(n: int) -> str:
    return f"JE-{n:08d}"


def lines_of(members: list[Txn]) -> dict[LineKey, Decimal]:
    """Per (account, side), summed and never netted; a negative amount posts its absolute
    value with the stamped accounts exchanged (docs/domain.md §1, §3)."""
    lines: dict[LineKey, Decimal] = {}
    for t in members:
        debit, credit = (t.debit, t.credit) if t.amount >= 0 else (t.credit, t.debit)
        for key in ((debit, "debit"), (credit, "credit")):
            lines[key] = lines.get(key, Decimal(0)) + abs(t.amount)
    return lines


@dataclass
class Ledger:
    config: Config
    txns: dict[Key, Txn] = field(default_factory=dict)
    status: dict[Key, str] = field(default_factory=dict)
    holder: dict[Key, str] = field(default_factory=dict)  # transaction -> active entry
    entries: dict[str, Entry] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    periods: dict[str, list[Period]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for scope in self.config.scopes:
            self.periods[scope] = [
                *(Period(scope, name, start, end, OPEN, 2024) for name, start, end in PERIODS),
                Period(scope, OPEN_ENDED_NAME, None, None, OPEN, open_ended=True)]

    # --- transactions -------------------------------------------------------------------

    def arrive(self, txns: list[Txn]) -> None:
        for t in txns:
            self.txns[t.key] = t
            self.status[t.key] = t.status

    def scope_of(self, t: Txn) -> str:
        """Its org's scope under Multi-Org unless its type is legacy; else unlabeled."""
        return (t.org or UNLABELED) if self.config.multi_org and not t.legacy else UNLABELED

    def state(self, t: Txn) -> tuple[str, str | None]:
        """What an unjournaled transaction is (pending, held or excluded) and why."""
        if t.exclusion is not None:
            return "excluded", t.exclusion
        if self.config.multi_org and t.legacy:
            return "held", "legacy_type_under_multi_org"
        if self.config.multi_org and self.scope_of(t) == UNLABELED:
            return "held", "unlabeled_under_multi_org"
        if t.type not in enabled_types(self.config.settlement, self.config.harmonization):
            return "held", "type_not_enabled"
        if not status_eligible(t.type, self.status[t.key]):
            return "held", "status_not_eligible"
        return "pending", None

    def eligible(self, t: Txn) -> bool:
        return self.state(t)[0] == "pending"

    def containing(self, scope: str, day: date) -> Period | None:
        for period in self.periods[scope]:
            if not period.open_ended and period.contains(day):
                return period
        return self.period(scope, OPEN_ENDED_NAME) if day >= OPEN_ENDED_START else None

    def period(self, scope: str, name: str) -> Period:
        return next(p for p in self.periods[scope] if p.name == name)

    def home(self, t: Txn) -> str | None:
        """The period a transaction belongs to: the one it names, or the one of its date."""
        if t.revenue:
            return t.period
        period = self.containing(self.scope_of(t), t.day)
        return None if period is None else period.name

    # --- runs ---------------------------------------------------------------------------

    def plan(self, request: JournalRunRequest) -> Plan | Refusal:
        """docs/domain.md §3: types, then target; the first rule broken is the answer."""
        types = resolve_type_names(request.types, self.config.settlement,
                                   self.config.harmonization)
        if self.config.multi_org:
            types = [t for t in types if not TRANSACTION_TYPES[t].legacy]
        enabled = enabled_types(self.config.settlement, self.config.harmonization)
        if any(n not in CATEGORY_NAMES and n not in enabled for n in request.types):
            return Refusal("transaction_type_not_enabled")
        if not types:
            return Refusal("types_required")
        scope = request.org or UNLABELED
        target = self._target(scope, request)
        if isinstance(target, Refusal):
            return target
        period, start, end = target
        assert period.end is not None
        dated = request.date is not None or request.start is not None
        if dated and any(
                TRANSACTION_TYPES[t].category in (Category.REVENUE, Category.UNREALIZED_FX)
                for t in types):
            return Refusal("target_requires_period")
        return Plan(scope, tuple(types), period.name, start, end,
                    request.journal_entry_date or period.end)

    def _target(self, scope: str, request: JournalRunRequest
                ) -> tuple[Period, date, date] | Refusal:
        """The target's period and window: a period, a date, a range inside one period, or
        (none named) the scope's earliest open period. No target day is open-ended."""
        if request.period is not None:
            period = self.period(scope, request.period)
            if period.open_ended:
                return Refusal("target_open_ended")
        elif request.date is not None:
            found = self._target_period(scope, request.date)
            if isinstance(found, Refusal):
                return found
            return found, request.date, request.date
        elif request.start is not None and request.end is not None:
            first = self._target_period(scope, request.start)
            if isinstance(first, Refusal):
                return first
            last = self._target_period(scope, request.end)
            if isinstance(last, Refusal):
                return last
            if first.name != last.name:
                return Refusal("target_across_periods")
            return first, request.start, request.end
        else:
            found_open = [p for p in self.periods[scope] if not p.open_ended and p.status == OPEN]
            if not found_open:
                return Refusal("target_required")
            period = found_open[0]
        assert period.start is not None and period.end is not None
        return period, period.start, period.end

    def _target_period(self, scope: str, day: date) -> Period | Refusal:
        period = self.containing(scope, day)
        if period is None:
            return Refusal("target_outside_periods")
        if period.open_ended:
            return Refusal("target_open_ended")
        return period

    def takes(self, plan: Plan, t: Txn) -> bool:
        """Pending (eligible, in no active entry), of the plan's scope and types, dated
        inside its window (a revenue event item: naming its period)."""
        dated = t.period == plan.period if t.revenue else plan.start <= t.day <= plan.end
        return (dated and t.type in plan.types and self.scope_of(t) == plan.scope
                and self.eligible(t) and t.key not in self.holder)

    def expected_groups(self, plan: Plan) -> dict[GroupKey, frozenset[Key]]:
        groups: dict[GroupKey, set[Key]] = {}
        for t in self.txns.values():
            if self.takes(plan, t):
                groups.setdefault(t.group, set()).add(t.key)
        return {key: frozenset(ids) for key, ids in groups.items()}

    def record_run(self, plan: Plan, made: dict[str, frozenset[Key]]) -> Run:
        """The run and its entries (number -> members, as the ledger numbered them)."""
        run = Run(run_number(len(self.runs) + 1), plan.scope, plan.period, plan.start,
                  plan.end, plan.day, plan.types, sorted(made), sum(map(len, made.values())))
        self.runs[run.number] = run
        for number, ids in sorted(made.items()):
            members = [self.txns[key] for key in sorted(ids)]
            first = members[0]
            self.entries[number] = Entry(number, run.number, plan.scope, plan.period, plan.day,
                                         first.type, first.currency, first.segments,
                                         lines_of(members), frozenset(ids))
            self.holder.update(dict.fromkeys(ids, number))
        return run

    def next_entry(self) -> int:
        return len(self.entries) + 1

    # --- after a run --------------------------------------------------------------------

    def _release(self, entry: Entry) -> None:
        for key in entry.members:
            del self.holder[key]

    def cancel_entry(self, number: str) -> int | Refusal:
        """The number of transactions released, or the refusal."""
        entry = self.entries[number]
        if entry.status == "cancelled":
            return Refusal("journal_entry_already_cancelled")
        if entry.status == "reversed":
            return Refusal("journal_entry_reversed")
        if entry.reverses is not None:
            return Refusal("journal_entry_is_reversal")
        if entry.transfer in TRANSFER_LOCKS:
            return Refusal("journal_entry_transferred")
        entry.status = "cancelled"
        self._release(entry)
        return len(entry.members)

    def cancel_run(self, number: str) -> tuple[list[str], list[str], str] | Refusal:
        """(cancelled entries, kept entries, run status), or the refusal."""
        run = self.runs[number]
        if run.status == "cancelled":
            return Refusal("journal_run_already_cancelled")
        created = [self.entries[n] for n in sorted(run.entries)
                   if self.entries[n].status == "created"]
        kept = [e for e in created if e.transfer in TRANSFER_LOCKS or e.reverses is not None]
        cancelled = [e for e in created if e not in kept]
        for entry in cancelled:
            entry.status = "cancelled"
            self._release(entry)
        if not kept:
            run.status = "cancelled"
        return [e.number for e in cancelled], [e.number for e in kept], run.status

    def transfer(self, number: str, status: str) -> str | Refusal:
        """The status it had, or the refusal (frozen once cancelled or reversed)."""
        entry = self.entries[number]
        if entry.status in ("cancelled", "reversed"):
            return Refusal(f"journal_entry_{entry.status}")
        before, entry.transfer = entry.transfer, status
        return before

    def reverse(self, number: str, day: date) -> Entry | Refusal:
        """The reversal entry, or the refusal (docs/domain.md §3 "Reverse")."""
        original = self.entries[number]
        if original.status == "cancelled":
            return Refusal("journal_entry_cancelled")
        if original.status == "reversed":
            return Refusal("journal_entry_already_reversed")
        if original.reverses is not None:
            return Refusal("journal_entry_is_reversal")
        if original.transfer != "yes":
            return Refusal("entry_not_transferred")
        period = self.containing(original.scope, day)
        if period is None:
            return Refusal("reversal_date_outside_periods")
        if period.open_ended:
            return Refusal("reversal_date_open_ended")
        if period.status == CLOSED:
            return Refusal("reversal_period_closed")
        reversal = dataclasses.replace(
            original, number=entry_number(self.next_entry()), period=period.name, day=day,
            lines={(account, "credit" if side == "debit" else "debit"): amount
                   for (account, side), amount in original.lines.items()},
            members=frozenset(), status="created", transfer="no", reverses=original.number)
        original.status = "reversed"
        self._release(original)
        self.entries[reversal.number] = reversal
        self.runs[original.run].entries.append(reversal.number)
        return reversal

    def change_period(self, scope: str, name: str, to: str) -> Refusal | None:
        """Close or mark pending close oldest first, reopen the latest closed (the pure
        rules of ``events.periods``: the subject here is what runs and reversals do)."""
        periods = self.periods[scope]
        try:
            if to == OPEN:
                check_reopen(periods, name)
            else:
                check_close(periods, name, to=to)
        except RuleViolation as violation:
            return Refusal(violation.code)
        self.periods[scope] = [dataclasses.replace(p, status=to) if p.name == name else p
                               for p in periods]
        return None

    # --- the period summary -------------------------------------------------------------

    def summary(self, scope: str, name: str) -> dict[str, Any]:
        """As ``summary_facts`` reads ``period_summary``: the non-cancelled entries dated in
        the period per currency and account, and its unjournaled transactions per state."""
        period = self.period(scope, name)
        start = OPEN_ENDED_START if period.open_ended else period.start
        end = period.end
        assert start is not None

        def dated(day: date) -> bool:
            return start <= day and (end is None or day <= end)

        currencies: dict[str, dict[str, Any]] = {}
        entries = [e for e in self.entries.values()
                   if e.scope == scope and e.status != "cancelled" and dated(e.day)]
        for entry in entries:
            c = currencies.setdefault(entry.currency, {"total": (Decimal(0), Decimal(0)),
                                                       "accounts": {}})
            for (account, side), amount in entry.lines.items():
                add = (amount, Decimal(0)) if side == "debit" else (Decimal(0), amount)
                d, k = c["accounts"].get(account, (Decimal(0), Decimal(0)))
                c["accounts"][account] = (d + add[0], k + add[1])
                c["total"] = (c["total"][0] + add[0], c["total"][1] + add[1])
        states: dict[str, dict[str, Any]] = {
            s: {"count": 0, "currencies": {}, "reasons": {}}
            for s in ("pending", "held", "excluded")}
        for t in self.txns.values():
            in_period = t.period == name if t.revenue else dated(t.day)
            if t.key in self.holder or self.scope_of(t) != scope or not in_period:
                continue
            state, reason = self.state(t)
            s = states[state]
            s["count"] += 1
            count, amount = s["currencies"].get(t.currency, (0, Decimal(0)))
            s["currencies"][t.currency] = (count + 1, amount + t.amount)
            if reason is not None:
                s["reasons"][reason] = s["reasons"].get(reason, 0) + 1
        return {"currencies": currencies, "entry_count": len(entries), **states}


def summary_facts(summary: dict[str, Any]) -> dict[str, Any]:
    """``period_summary``'s answer with amounts as numbers, keyed by currency and reason."""
    return {
        "currencies": {
            c["currency"]: {
                "total": (Decimal(c["total_debit"]), Decimal(c["total_credit"])),
                "accounts": {a["account"]: (Decimal(a["debit"]), Decimal(a["credit"]))
                             for a in c["accounts"]},
            }
            for c in summary["currencies"]
        },
        "entry_count": summary["entry_count"],
        **{
            state: {
                "count": summary[state]["count"],
                "currencies": {c["currency"]: (c["count"], Decimal(c["amount"]))
                               for c in summary[state]["currencies"]},
                "reasons": {r["reason"]: r["count"] for r in summary[state]["reasons"]},
            }
            for state in ("pending", "held", "excluded")
        },
    }
