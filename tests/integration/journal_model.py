"""The facts of the journal property test: its tenants, transactions, runs and entries.

The oracle (``journal_oracle``) keeps these as a history makes them; ``entry_facts``,
``summary_facts`` and ``RUN_FACTS`` read the ledger's answers into the same shape, so that
the two compare with ``==`` and a difference names its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from events import exclusion_reason
from events.transaction_types import TRANSACTION_TYPES, Settlement
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
