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
from datetime import date
from decimal import Decimal
from typing import Any

from events import status_eligible
from events.journal_rules import CATEGORY_NAMES, JournalRunRequest
from events.periods import CLOSED, OPEN, OPEN_ENDED_NAME, Period, check_close, check_reopen
from events.transaction_types import (
    TRANSACTION_TYPES,
    Category,
    enabled_types,
    resolve_type_names,
)
from events.violations import RuleViolation
from tests.integration.journal_model import (
    OPEN_ENDED_START,
    PERIODS,
    TRANSFER_LOCKS,
    UNLABELED,
    Config,
    Entry,
    GroupKey,
    Key,
    Plan,
    Refusal,
    Run,
    Txn,
    entry_number,
    lines_of,
    run_number,
)


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
