"""Random journal histories for the property test: the steps, and how hypothesis draws them.

A step is drawn from what the history has made so far (the oracle, ``journal_oracle``): a
cancel names an entry that exists, a reversal mostly a transferred one, a period change
mostly one the rules allow. Each step prints as one line of the example's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from hypothesis import strategies as st

from events.journal_rules import JournalRunRequest
from events.periods import CLOSED, OPEN, OPEN_ENDED_NAME, PENDING_CLOSE
from events.transaction_types import Settlement
from tests.integration.billing import EVENT_TYPE_OF, eligible_status
from tests.integration.journal_model import (
    OPEN_ENDED_START,
    PERIOD_NAMES,
    PERIODS,
    Config,
    Readable,
    Txn,
)
from tests.integration.journal_oracle import Ledger

T = TypeVar("T")

IS, IIS = Settlement.INVOICE_SETTLEMENT, Settlement.INVOICE_ITEM_SETTLEMENT
#: Without Multi-Org (the unlabeled scope alone), and with it (US, EU and the unlabeled
#: scope, where legacy and unlabeled transactions stay held), each twice as likely.
CONFIGS = st.sampled_from([Config(IS, False, False), Config(IIS, True, False),
                           Config(IS, True, True), Config(IIS, False, True),
                           Config(IS, False, True), Config(IIS, True, True)])

#: Billing, cash (IS and IIS applications, a legacy-mode payment), legacy types that carry
#: no org label, revenue (judged by the period it names) and unrealized FX; the common
#: billing types twice as often.
TYPES = ("invoice_item", "invoice_item", "taxation_item", "credit_memo_item_charge",
         "credit_memo_item_charge", "credit_memo_application_item",
         "electronic_payment_application", "external_refund_application_item",
         "electronic_payment", "invoice_item_adjustment_invoice",
         "external_credit_balance_refund", "revenue_event_item", "unrealized_fx_gain_loss")
UPON_INVOICING = "Recognize upon invoicing"
ACCOUNTS = ("Accounts Receivable", "Revenue", "Cash", "Deferred Revenue", "")

(_, APR_1, APR_30), (_, MAY_1, MAY_31) = PERIODS
BEFORE_FIRST = APR_1 - timedelta(days=1)
#: Each period's first and last day; the days just outside the defined periods.
BOUNDARIES = (APR_1, APR_30, MAY_1, MAY_31)
OUTSIDE = (BEFORE_FIRST, OPEN_ENDED_START)


def weighted(*options: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each as likely as its weight (``st.one_of`` would count a
    strategy named twice once)."""
    return st.sampled_from([s for weight, s in options for _ in range(weight)]).flatmap(
        lambda strategy: strategy)


def preferring(preferred: list[T], every: list[T]) -> st.SearchStrategy[T]:
    """Mostly one of ``preferred`` (when there are any), sometimes any of ``every``."""
    if not preferred:
        return st.sampled_from(every)
    return weighted((3, st.sampled_from(preferred)), (1, st.sampled_from(every)))


DEFINED_DAYS = weighted((1, st.sampled_from(BOUNDARIES)), (1, st.dates(APR_1, MAY_31)))
#: Mostly inside the defined periods, boundaries often; else just outside them, or anywhere
#: from the day before the first period into the open-ended one.
ANY_DAYS = weighted((4, DEFINED_DAYS), (1, st.sampled_from(OUTSIDE)),
                    (1, st.dates(BEFORE_FIRST, OPEN_ENDED_START + timedelta(days=45))))


# --- the steps ---------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Arrive(Readable):
    txns: tuple[Txn, ...]

    def __repr__(self) -> str:
        return "arrive:" + "".join(f"\n      {t}" for t in self.txns)


@dataclass(frozen=True, repr=False)
class ChangeStatus(Readable):
    txn: Txn
    status: str

    def __repr__(self) -> str:
        return f"status of {self.txn.id} ({self.txn.type}) -> {self.status}"


@dataclass(frozen=True, repr=False)
class Journal(Readable):
    request: JournalRunRequest

    def __repr__(self) -> str:
        r = self.request
        target = (f"period {r.period}" if r.period else f"date {r.date}" if r.date
                  else f"range {r.start}..{r.end}" if r.start else "no target")
        on = f" dated {r.journal_entry_date}" if r.journal_entry_date else ""
        return f"run {'+'.join(r.types)} of {r.org or 'unlabeled'}, {target}{on}"


@dataclass(frozen=True, repr=False)
class CancelEntry(Readable):
    number: str

    def __repr__(self) -> str:
        return f"cancel entry {self.number}"


@dataclass(frozen=True, repr=False)
class CancelRun(Readable):
    number: str

    def __repr__(self) -> str:
        return f"cancel run {self.number}"


@dataclass(frozen=True, repr=False)
class Transfer(Readable):
    number: str
    status: str

    def __repr__(self) -> str:
        return f"transfer status of {self.number} -> {self.status}"


@dataclass(frozen=True, repr=False)
class Reverse(Readable):
    number: str
    day: date

    def __repr__(self) -> str:
        return f"reverse {self.number} on {self.day}"


@dataclass(frozen=True, repr=False)
class PeriodStatus(Readable):
    org: str | None
    name: str
    to: str

    def __repr__(self) -> str:
        return f"period {self.name} of {self.org or 'unlabeled'} -> {self.to}"


Step = Arrive | ChangeStatus | Journal | CancelEntry | CancelRun | Transfer | Reverse | PeriodStatus


# --- drawing them ------------------------------------------------------------------------


@st.composite
def transaction(draw: st.DrawFn, taken: set[tuple[str, str]], fresh: str) -> Txn:
    """A transaction with a new id, or now and then the id of one of another type (an id is
    unique within its type only, docs/domain.md §1); ``taken`` holds the (type, id) pairs."""
    type_id = draw(st.sampled_from(TYPES))
    reusable = sorted({i for _, i in taken} - {i for t, i in taken if t == type_id})
    id_ = draw(weighted((5, st.just(fresh)), (1, st.sampled_from(reusable))) if reusable
               else st.just(fresh))
    revenue = type_id == "revenue_event_item"
    rule = draw(st.sampled_from([None, UPON_INVOICING, "Ratable"])) if revenue else None
    # only a revenue event item recognized upon invoicing may leave an account blank
    accounts = ACCOUNTS if rule == UPON_INVOICING else ACCOUNTS[:-1]
    application = type_id.endswith(("_application", "_application_item"))
    carrier = EVENT_TYPE_OF[type_id]
    if type_id == "credit_memo_application_item":
        carrier = draw(st.sampled_from([carrier, carrier, "credit_memo.unapplied"]))
    return Txn(
        id=id_,
        type=type_id,
        org=draw(st.sampled_from(["US", "EU", "US", "EU", None])),
        day=draw(ANY_DAYS),
        amount=Decimal(draw(st.integers(-100_000, 100_000))).scaleb(-2),
        status=draw(st.sampled_from([eligible_status(type_id)] * 4 + ["draft", "canceled"])),
        debit=draw(st.sampled_from(accounts)),
        credit=draw(st.sampled_from(accounts)),
        currency=draw(st.sampled_from(["USD", "EUR", "JPY"])),
        segments=draw(st.sampled_from([(), (("region", "NA"),), (("region", "EMEA"),),
                                       (("product", "core"), ("region", "NA"))])),
        subtype=draw(st.sampled_from([None, "reclassification", "invoice"]))
        if application else None,
        period=draw(st.sampled_from([*PERIOD_NAMES, "Jun-2024"])) if revenue else None,
        rule=rule,
        carrier=carrier,
    )


@st.composite
def arrivals(draw: st.DrawFn, ledger: Ledger, least: int = 1, most: int = 6) -> Arrive:
    count = draw(st.integers(least, most))
    taken = set(ledger.txns)
    made: list[Txn] = []
    for _ in range(count):
        made.append(draw(transaction(taken, f"T{len(taken) + 1:03d}")))
        taken.add(made[-1].key)
    return Arrive(tuple(made))


#: Types a whole-period run names (categories expand to what the settings enable; one that
#: leaves nothing, as credit_balance under Multi-Org, is refused).
PERIOD_TYPES = (("all",), ("all",), ("all",), ("billing",), ("billing",), ("cash", "revenue"),
                ("unrealized_fx",), ("credit_balance",), ("invoice_item", "cash"))
#: Types a dated run names; ``all`` names revenue and FX, which a date cannot target.
DATED_TYPES = (("billing",), ("billing",), ("billing", "cash"), ("cash",),
               ("invoice_item", "cash"), ("taxation_item", "credit_balance"), ("all",))


@st.composite
def journal(draw: st.DrawFn, config: Config) -> Journal:
    """A run: a period (now and then the open-ended one), no target, a date (now and then
    outside the defined periods) or a range touching a boundary (now and then across)."""
    org = draw(st.sampled_from(config.orgs)) if config.multi_org else None
    kind = draw(st.sampled_from(["period", "period", "default", "default", "date", "range"]))
    types = draw(st.sampled_from(PERIOD_TYPES if kind in ("period", "default")
                                 else DATED_TYPES))
    on = draw(weighted((2, st.none()), (1, DEFINED_DAYS)))
    if kind == "default":
        return Journal(JournalRunRequest(types=types, org=org, journal_entry_date=on))
    if kind == "period":
        name = draw(st.sampled_from([*PERIOD_NAMES * 3, OPEN_ENDED_NAME]))
        return Journal(JournalRunRequest(types=types, org=org, period=name,
                                         journal_entry_date=on))
    if kind == "date":
        day = draw(weighted((3, DEFINED_DAYS), (1, st.sampled_from(OUTSIDE))))
        return Journal(JournalRunRequest(types=types, org=org, date=day, journal_entry_date=on))
    _, first, last = draw(st.sampled_from(PERIODS))
    inside = st.dates(first, last)
    start, end = draw(weighted(
        (1, st.tuples(st.just(first), inside)), (1, st.tuples(inside, st.just(last))),
        (1, st.just((first, last))),
        (1, inside.flatmap(lambda d: st.tuples(st.just(d), st.dates(d, last)))),
        (1, st.sampled_from([(APR_30, MAY_1), (MAY_31, OPEN_ENDED_START)]))))
    return Journal(JournalRunRequest(types=types, org=org, start=min(start, end),
                                     end=max(start, end), journal_entry_date=on))


def period_steps(ledger: Ledger) -> st.SearchStrategy[Step]:
    """Mostly a change the rules allow (close or mark pending close the earliest period not
    closed, reopen the latest closed), sometimes any."""
    allowed: list[Step] = []
    for scope in ledger.config.run_scopes:
        periods = [p for p in ledger.periods[scope] if not p.open_ended]
        closed = [p for p in periods if p.status == CLOSED]
        if closed:
            allowed.append(PeriodStatus(scope or None, closed[-1].name, OPEN))
        left = [p for p in periods if p.status != CLOSED]
        if left:
            allowed.append(PeriodStatus(scope or None, left[0].name, CLOSED))
            if left[0].status == OPEN:
                allowed.append(PeriodStatus(scope or None, left[0].name, PENDING_CLOSE))
    scopes = [org or None for org in ledger.config.run_scopes]
    return weighted((3, st.sampled_from(allowed)), (1, st.builds(
        PeriodStatus, st.sampled_from(scopes), st.sampled_from(PERIOD_NAMES),
        st.sampled_from([CLOSED, PENDING_CLOSE, OPEN]))))


def reversal_days(ledger: Ledger, number: str) -> st.SearchStrategy[date]:
    """Mostly a day of a period of the entry's scope that is not closed (its own period or
    a later one), sometimes any day, before the first period or open-ended included."""
    allowed = [weighted((1, st.sampled_from([p.start, p.end])), (1, st.dates(p.start, p.end)))
               for p in ledger.periods[ledger.entries[number].scope]
               if p.start is not None and p.end is not None and p.status != CLOSED]
    return weighted(*((2, days) for days in allowed), (1, DEFINED_DAYS),
                    (1, st.sampled_from(OUTSIDE)))


def steps(ledger: Ledger) -> st.SearchStrategy[Step]:
    """The next step of a history, from what the history has made so far: once there are
    entries, about half the steps act on them, transferring and reversing most."""
    entries = list(ledger.entries.values())
    options: list[tuple[int, st.SearchStrategy[Step]]] = [
        (3 if entries else 5, journal(ledger.config)), (1, arrivals(ledger)),
        (1, period_steps(ledger)),
        (1, st.sampled_from(list(ledger.txns.values())).flatmap(
            lambda t: st.builds(ChangeStatus, st.just(t), st.sampled_from(
                [eligible_status(t.type), "draft", "canceled"])))),
    ]
    if entries:
        every = [e.number for e in entries]
        created = [e.number for e in entries if e.status == "created"]
        cancellable = [e.number for e in entries if e.status == "created"
                       and e.transfer not in ("yes", "processing") and e.reverses is None]
        transferable = [n for n in cancellable if ledger.entries[n].transfer == "no"]
        reversible = [e.number for e in entries if e.status == "created"
                      and e.transfer == "yes" and e.reverses is None]
        options += [
            (1, st.builds(CancelEntry, preferring(cancellable, every))),
            (1, st.builds(CancelRun, st.sampled_from(sorted(ledger.runs)))),
            (1, st.builds(Transfer, preferring(created, every),
                          st.sampled_from(["yes", "processing", "no"]))),
            (3 if transferable else 0,
             st.builds(Transfer, preferring(transferable, every), st.just("yes"))),
            (5 if reversible else 1, preferring(reversible, every).flatmap(
                lambda n: st.builds(Reverse, st.just(n), reversal_days(ledger, n)))),
        ]
    return weighted(*options)
