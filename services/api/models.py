"""Request and response bodies of the HTTP API: Zuora's v1 Finance API shapes
(docs/contract.md §4).

Each response model answers as one schema of Zuora's published OpenAPI, named in its
docstring: the same field names (camelCase, from the alias generator), the same types and
enum spellings (``services.api.zuora``). Fields the ledger has no value for are left out,
never guessed; ledger-only data come as extra fields after Zuora's, which Zuora's clients
keep as additional properties. The values are taken from the ledger's own models (the
outbound events of ``events.journal``, the CLI's ``--json`` shape) by each model's ``of``:
the ledger's shape is declared once, there.

Requests accept Zuora's request schema, camelCase only, and refuse unknown fields (a field
the ledger would ignore must not look accepted).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from events._fields import Amount, CurrencyCode, IsoDate, TransactionTypeId
from events.journal import (
    EntryNumber,
    JournalEntryCancelled,
    JournalEntryCreated,
    JournalEntryReversed,
    JournalEntryTransferStatusChanged,
    JournalRunCancelled,
    JournalRunCancelOutcome,
    JournalRunCompleted,
    RunNumber,
    utc_timestamp,
)
from services.api import zuora
from services.api.zuora import (
    ZuoraEntryStatus,
    ZuoraItemType,
    ZuoraPeriodStatus,
    ZuoraRunStatus,
    ZuoraTransferStatus,
)
from services.errors import RejectedInput
from services.journal.views import EntryView, RunView

# -- bases -------------------------------------------------------------------------------------


class ApiModel(BaseModel):
    """A response part, written as camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )


class Answer(ApiModel):
    """Every successful answer says so (Zuora's ``CommonResponse``)."""

    success: bool = True


AT = "When it was done, as its event records it: RFC 3339 UTC (2024-05-01T09:30:00.000000Z)."
BY = "Who did it: the actor its event records (an API key's name, LEDGER_ACTOR or the OS user)."


def _absent_when_none(value: object) -> bool:
    return value is None


#: A field Zuora leaves out rather than writing null (``nextPage`` on the last page).
NextPage = Annotated[
    str | None,
    Field(default=None, exclude_if=_absent_when_none,
          description="Path of the next page; absent on the last one."),
]


class RequestBody(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False,
        extra="forbid",
    )


class Reason(BaseModel):
    code: str = Field(description="Stable code of the rule refused, e.g. target_open_ended.")
    message: str


class ErrorAnswer(BaseModel):
    success: bool = False
    reasons: list[Reason]


# -- organization labels -----------------------------------------------------------------------


class OrganizationLabelRequest(RequestBody):
    """Zuora's ``OrganizationLabel``. The ledger's orgs have no separate id: an org's id is
    its name, so either field names it."""

    organization_id: str | None = None
    organization_name: str | None = None
    cascading_down: bool | None = None
    excluded: bool | None = None

    def org_name(self) -> str:
        if self.cascading_down or self.excluded:
            raise RejectedInput(
                "organization_label_unsupported",
                "the ledger's orgs have no hierarchy: cascadingDown and excluded must be "
                "false or absent",
            )
        names = {n for n in (self.organization_id, self.organization_name) if n is not None}
        if len(names) != 1:
            raise RejectedInput(
                "organization_label_invalid",
                "an organization label names one org, by organizationName or organizationId "
                "(the same value: an org's id is its name)",
            )
        return names.pop()


def org_names(labels: list[OrganizationLabelRequest]) -> list[str]:
    return [label.org_name() for label in labels]


class OrganizationLabel(ApiModel):
    organization_name: str


def labels_of(org: str | None) -> list[OrganizationLabel]:
    return [] if org is None else [OrganizationLabel(organization_name=org)]


# -- journal runs ------------------------------------------------------------------------------


class TransactionTypeName(RequestBody):
    type: str = Field(description='Display name ("Invoice Item"), id ("invoice_item") or '
                                  "category (billing, cash, revenue, unrealized_fx, all).")


class JournalRunCreate(RequestBody):
    """Zuora's ``CreateJournalRunRequest``. One target: ``accountingPeriodName``, or
    ``targetStartDate`` + ``targetEndDate`` (the same date twice is a specific-date
    target)."""

    accounting_period_name: str | None = None
    target_start_date: IsoDate | None = None
    target_end_date: IsoDate | None = None
    journal_entry_date: IsoDate | None = Field(
        default=None, description="Defaults to the end date of the target's period.")
    transaction_types: list[TransactionTypeName]
    organization_labels: list[OrganizationLabelRequest] = Field(
        default_factory=list, description="The org of the run (at most one); required "
                                          "under Multi-Org, refused without it.")


class JournalRunTransactionType(ApiModel):
    type: str = Field(description="Zuora's display name of the transaction type.")


def timestamp_or_none(at: datetime | None) -> str | None:
    return zuora.timestamp(at) if at is not None else None


class ListedJournalRun(ApiModel):
    """A run as Zuora's ``GetJournalRunResponse`` has it (without ``success``); ledger-only:
    ``accountingPeriodName``, ``journalEntryNumbers``, ``transactionCount``,
    ``transactionTypeIds``, who created it and when (``createdBy``, ``createdOn``), and who
    last cancelled it and when (``cancelledBy``, ``cancelledOn``; null if never, and a
    partial cancel leaves the run Completed)."""

    number: RunNumber
    status: ZuoraRunStatus
    journal_entry_date: IsoDate
    target_start_date: IsoDate
    target_end_date: IsoDate
    executed_on: str = Field(description="When the run completed, yyyy-mm-dd hh:mm:ss UTC.")
    total_journal_entry_count: int
    organization_labels: list[OrganizationLabel]
    transaction_types: list[JournalRunTransactionType] = Field(
        description="Types with a Zuora journal-run type (all but Unrealized FX Gain Loss).")
    aggregate_currency: bool = Field(
        default=False, description="Always false: the ledger keeps one entry per currency.")
    accounting_period_name: str | None
    journal_entry_numbers: list[EntryNumber]
    transaction_count: int
    transaction_type_ids: list[TransactionTypeId]
    created_by: str | None = Field(description="The actor who ran it (an API key's name, "
                                               "LEDGER_ACTOR or the OS user).")
    created_on: str = Field(description="When it was run, yyyy-mm-dd hh:mm:ss UTC.")
    cancelled_by: str | None
    cancelled_on: str | None

    @classmethod
    def of(cls, view: RunView, **more: Any) -> Self:
        run = view.data
        assert run.target.start_date is not None and run.target.end_date is not None
        return cls(
            number=run.number,
            status=zuora.RUN_STATUS[run.status],
            journal_entry_date=run.journal_entry_date,
            target_start_date=run.target.start_date,
            target_end_date=run.target.end_date,
            executed_on=zuora.timestamp(view.executed_at),
            total_journal_entry_count=len(run.journal_entry_numbers),
            organization_labels=labels_of(run.org),
            transaction_types=[JournalRunTransactionType(type=name)
                               for name in zuora.zuora_run_types(run.transaction_types)],
            accounting_period_name=run.target.period,
            journal_entry_numbers=run.journal_entry_numbers,
            transaction_count=run.transaction_count,
            transaction_type_ids=run.transaction_types,
            created_by=run.created_by,
            created_on=zuora.timestamp(run.created_at),
            cancelled_by=view.cancelled_by,
            cancelled_on=timestamp_or_none(view.cancelled_at),
            **more,
        )


class JournalRun(ListedJournalRun, Answer):
    """Zuora's ``GetJournalRunResponse``."""


class JournalRunCreated(JournalRun):
    """Zuora's ``CreateJournalRunResponse`` (``journalRunNumber``); the ledger completes
    the run before answering, so the run itself comes along."""

    journal_run_number: RunNumber


class JournalRunsPage(Answer):
    """Ledger-only (Zuora lists no runs), shaped as its other pages: ``journalRuns`` in
    number order and ``nextPage``."""

    journal_runs: list[ListedJournalRun]
    next_page: NextPage


class JournalRunCancellation(Answer):
    """Zuora's ``CommonResponse``; ledger-only: the run's ``number`` and ``status``, the
    ``cancelledEntries``, the ``keptEntries`` (transferred ones and reversals), and ``at``
    and ``by`` as the ``journal_run.cancelled`` event records them."""

    number: RunNumber
    status: ZuoraRunStatus = Field(description="Cancelled, or Completed when transferred "
                                               "entries were kept (partial cancel).")
    cancelled_entries: list[EntryNumber]
    kept_entries: list[EntryNumber]
    at: str = Field(description=AT)
    by: str | None = Field(description=BY)

    @classmethod
    def of(cls, cancelled: JournalRunCancelOutcome) -> Self:
        return cls(number=cancelled.number, status=zuora.RUN_STATUS[cancelled.status],
                   cancelled_entries=cancelled.cancelled_entries,
                   kept_entries=cancelled.kept_entries, at=utc_timestamp(cancelled.at),
                   by=cancelled.by)


# -- journal entries ---------------------------------------------------------------------------


class JournalEntryItem(ApiModel):
    """Zuora's ``GetJournalEntryItemResponse``: one account and side of an entry.
    ``accountingCodeType``, ``glAccountName``, ``glAccountNumber`` and ``glString`` are left
    out: the ledger has no chart of accounts."""

    accounting_code_name: str = Field(description="The account, as the transactions name it.")
    amount: Amount
    home_currency_amount: Amount = Field(
        description="Equals amount: the ledger has no home currency yet.")
    type: ZuoraItemType


class Segment(ApiModel):
    segment_name: str
    segment_value: str


class JournalEntry(ApiModel):
    """Zuora's ``GetJournalEntryDetailTypeWithoutSuccess``; ledger-only: ``journalRun``,
    ``transactionCount``, ``totalDebit``, ``totalCredit``, the reversal links (``reverses``,
    ``reversalEntry``) and who and when (``cancelledBy``/``cancelledOn``,
    ``reversedBy``/``reversedOn``). ``homeCurrency`` and the items' chart-of-accounts fields
    are left out. Zuora has no Reversed status: a reversed entry is Created (it stays in the
    GL) with a ``reversalEntry``."""

    number: EntryNumber
    accounting_period_name: str
    journal_entry_date: IsoDate
    transaction_type: str = Field(description="Zuora's display name of the type.")
    currency: CurrencyCode
    aggregate_currency: bool = False
    journal_entry_items: list[JournalEntryItem]
    segments: list[Segment]
    status: ZuoraEntryStatus
    transferred_to_accounting: ZuoraTransferStatus
    organization_label: str | None
    time_period_start: IsoDate = Field(description="The run's target start date.")
    time_period_end: IsoDate = Field(description="The run's target end date.")
    notes: str | None = Field(default=None, description="Always null: not kept by the ledger.")
    transferred_by: str | None = Field(
        description="Who set transferredToAccounting to Yes; null unless it is Yes.")
    transfer_date_time: str | None = Field(
        description="When transferredToAccounting was set to Yes; null unless it is Yes.")
    journal_run: RunNumber
    transaction_count: int
    total_debit: Amount
    total_credit: Amount
    reverses: EntryNumber | None = Field(
        description="The entry this one reverses; null for an entry made by a run.")
    reversal_entry: EntryNumber | None = Field(
        description="The entry that reverses this one; null unless it is reversed.")
    reversed_by: str | None = Field(description="Who reversed it (an actor, not an entry).")
    reversed_on: str | None
    cancelled_by: str | None
    cancelled_on: str | None

    @classmethod
    def of(cls, view: EntryView) -> Self:
        entry = view.data
        transferred = entry.transfer_status == "yes" and view.transferred_at is not None
        return cls(
            number=entry.number,
            accounting_period_name=entry.accounting_period,
            journal_entry_date=entry.journal_entry_date,
            transaction_type=zuora.display_name(entry.transaction_type),
            currency=entry.currency,
            journal_entry_items=[
                JournalEntryItem(accounting_code_name=line.account, amount=line.amount,
                                 home_currency_amount=line.amount,
                                 type=zuora.ITEM_TYPE[line.side])
                for line in entry.lines
            ],
            segments=[Segment(segment_name=name, segment_value=value)
                      for name, value in sorted(entry.segments.items())],
            status=zuora.ENTRY_STATUS[entry.status],
            transferred_to_accounting=zuora.TRANSFER_STATUS[entry.transfer_status],
            organization_label=entry.org,
            time_period_start=view.time_period_start,
            time_period_end=view.time_period_end,
            transferred_by=view.transferred_by if transferred else None,
            transfer_date_time=(zuora.timestamp(view.transferred_at)
                                if transferred and view.transferred_at else None),
            journal_run=entry.journal_run,
            transaction_count=entry.transaction_count,
            total_debit=entry.total_debit,
            total_credit=entry.total_credit,
            reverses=entry.reverses,
            reversal_entry=view.reversal_entry,
            reversed_by=view.reversed_by,
            reversed_on=timestamp_or_none(view.reversed_at),
            cancelled_by=view.cancelled_by,
            cancelled_on=timestamp_or_none(view.cancelled_at),
        )


class JournalEntryAnswer(JournalEntry, Answer):
    """Zuora's ``GetJournalEntryDetailResponse``."""


class JournalEntriesPage(Answer):
    """Zuora's ``GetJournalEntriesInJournalRunResponse``."""

    journal_entries: list[JournalEntry]
    next_page: NextPage


class JournalEntryReversal(RequestBody):
    """Ledger-only (Zuora has no reversal of a summary journal entry)."""

    reversal_date: IsoDate | None = Field(
        default=None, description="The reversal's journal entry date; default today. It "
                                  "must fall in an open (or pending close) period of the "
                                  "entry's org.")


class JournalEntryCancellation(Answer):
    """Zuora's ``CommonResponse``; ledger-only: ``number``, ``journalRun``,
    ``releasedTransactionCount``, ``at``, ``by`` (the ``journal_entry.cancelled`` data)."""

    number: EntryNumber
    journal_run: RunNumber
    released_transaction_count: int
    at: str = Field(description=AT)
    by: str | None = Field(description=BY)

    @classmethod
    def of(cls, cancelled: JournalEntryCancelled) -> Self:
        """The event's data, field for field (camelCase by the alias generator)."""
        return cls.model_validate(cancelled.document())


class BasicInformation(RequestBody):
    """Zuora's ``UpdateBasicSummaryJournalEntryRequest``. The ledger records only
    ``transferredToAccounting``; it refuses ``notes`` and ``journalEntryItems`` (400)."""

    transferred_to_accounting: str | None = Field(
        default=None, description="No, Processing, Yes, Error or Ignore (case-insensitive).")
    notes: str | None = Field(default=None, max_length=2000)
    journal_entry_items: list[dict[str, Any]] | None = Field(default=None, max_length=100)


class TransferStatusChange(Answer):
    """Zuora's ``CommonResponse``; ledger-only: ``number``, the entry's
    ``transferredToAccounting`` now, and ``at`` and ``by`` of the change (null when the
    status was already that: nothing was recorded)."""

    number: EntryNumber
    transferred_to_accounting: ZuoraTransferStatus
    at: str | None = Field(description=AT)
    by: str | None = Field(description=BY)

    @classmethod
    def of(cls, changed: JournalEntryTransferStatusChanged) -> Self:
        return cls(number=changed.number,
                   transferred_to_accounting=zuora.TRANSFER_STATUS[changed.to],
                   at=None if changed.at is None else utc_timestamp(changed.at),
                   by=changed.by)


# -- accounting periods ------------------------------------------------------------------------


class AccountingPeriodCreate(RequestBody):
    """Zuora's ``CreateAccountingPeriodRequest``."""

    name: str = Field(min_length=1, max_length=100)
    start_date: IsoDate
    end_date: IsoDate
    fiscal_year: int
    fiscal_quarter: int | None = None
    notes: str | None = Field(default=None, max_length=255)
    organization_labels: list[OrganizationLabelRequest] = Field(
        default_factory=list, description="The org whose period this is (at most one); "
                                          "none: the unlabeled scope.")


class _Period(ApiModel):
    """What Zuora's two period schemas share. The trial-balance fields and ``fileIds`` are
    left out: the ledger runs no trial balance. Ledger-only: ``openEnded``."""

    id: str = Field(description="32 hex digits, recorded when the period was created.")
    name: str
    start_date: IsoDate | None
    end_date: IsoDate | None
    fiscal_quarter: int | None
    status: ZuoraPeriodStatus
    notes: str | None
    created_by: str | None = Field(description="The actor of the period's creation, if "
                                               "one was recorded.")
    created_on: str
    updated_by: str | None
    updated_on: str
    organization_labels: list[OrganizationLabel]
    open_ended: bool

    @staticmethod
    def fields_of(period: dict[str, Any]) -> dict[str, Any]:
        """From a ``services.commands.periods.period_record``."""
        return {
            "id": period["id"], "name": period["name"], "start_date": period["start_date"],
            "end_date": period["end_date"], "fiscal_quarter": period["fiscal_quarter"],
            "status": zuora.PERIOD_STATUS[period["status"]], "notes": period["notes"],
            "created_by": period["created_by"],
            "created_on": zuora.timestamp(period["created_at"]),
            "updated_by": period["updated_by"],
            "updated_on": zuora.timestamp(period["updated_at"]),
            "organization_labels": labels_of(period["org"]),
            "open_ended": period["open_ended"],
        }


class AccountingPeriod(_Period):
    """Zuora's ``GetAccountingPeriodResponse`` (without ``success``)."""

    fiscal_year: int | None

    @classmethod
    def of(cls, period: dict[str, Any]) -> Self:
        return cls(**cls.fields_of(period), fiscal_year=period["fiscal_year"])


class ListedAccountingPeriod(_Period):
    """Zuora's ``GetAccountingPeriodWithoutSuccessResponse``, whose ``fiscalYear`` is a
    string ("2024"), unlike the single period's, and whose quarter is spelt
    ``fiscal_quarter``; ``fiscalQuarter`` comes too, as in the single period."""

    fiscal_year: str | None
    fiscal_quarter_as_listed: int | None = Field(alias="fiscal_quarter")

    @classmethod
    def of(cls, period: dict[str, Any]) -> Self:
        year = period["fiscal_year"]
        return cls(**cls.fields_of(period), fiscal_year=None if year is None else str(year),
                   fiscal_quarter_as_listed=period["fiscal_quarter"])


class AccountingPeriodAnswer(AccountingPeriod, Answer):
    """Zuora's ``GetAccountingPeriodResponse``; also the answer to creating (Zuora's
    ``CreateAccountingPeriodResponse``: its ``id``) and to closing, marking pending close
    and reopening (``CommonResponse``), with the period as it is now."""


class AccountingPeriodList(Answer):
    """Zuora's ``GetAccountingPeriodsResponse``."""

    accounting_periods: list[ListedAccountingPeriod]
    next_page: NextPage


# -- period summary (ledger-only) --------------------------------------------------------------


class SummaryAccount(ApiModel):
    account: str
    debit: Amount
    credit: Amount


class SummaryCurrency(ApiModel):
    currency: CurrencyCode
    total_debit: Amount
    total_credit: Amount
    accounts: list[SummaryAccount]


class SummaryCurrencyCount(ApiModel):
    currency: CurrencyCode
    count: int
    amount: Amount = Field(description="Signed sum of the transactions' amounts.")


class SummaryReason(ApiModel):
    reason: str
    count: int


class SummaryState(ApiModel):
    """The period's transactions in one state (pending, held or excluded)."""

    count: int
    currencies: list[SummaryCurrencyCount]
    reasons: list[SummaryReason] = Field(description="Why they are held or excluded.")


class PeriodSummary(Answer):
    """Ledger-only (Zuora has no such operation): ``ledger periods summary --json`` in
    camelCase. Per currency, the debit and credit of every account over the scope's entries
    dated in the period that are not cancelled, the totals, the entry count, and what is
    still pending, held or excluded there; amounts at the currency's precision."""

    period: str
    org: str | None
    currencies: list[SummaryCurrency]
    entry_count: int
    pending: SummaryState
    held: SummaryState
    excluded: SummaryState

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Self:
        """From ``services.period_summary.period_summary``."""
        return cls.model_validate(summary)


# -- operations --------------------------------------------------------------------------------


class Health(Answer):
    status: str = "up"


class Readiness(Answer):
    checks: dict[str, str]



# -- the outbound contract, as the answers serve it --------------------------------------------


class Served(NamedTuple):
    """The answer an outbound model is served in, and how those of its fields that the
    answer does not carry under their own name (camelCase: the alias generator) show in it:
    the answer's fields that carry each, or none when it is left out (with why, beside it)."""

    answer: type[BaseModel]
    renamed: Mapping[str, tuple[str, ...]]


#: Every outbound event's data (``events.journal``) and the Zuora-shaped answer made from
#: it. A test keeps this complete: a field added to an outbound model fails it until the
#: answer carries the field or the table says where it went or why it is left out.
SERVED_AS: Mapping[type[BaseModel], Served] = {
    JournalRunCompleted: Served(ListedJournalRun, {
        "org": ("organizationLabels",),
        "target": ("accountingPeriodName", "targetStartDate", "targetEndDate"),
        "created_at": ("createdOn",),
    }),
    JournalEntryCreated: Served(JournalEntry, {
        "org": ("organizationLabel",),
        "accounting_period": ("accountingPeriodName",),
        "lines": ("journalEntryItems",),
        "transfer_status": ("transferredToAccounting",),
    }),
    JournalEntryCancelled: Served(JournalEntryCancellation, {}),
    JournalRunCancelled: Served(JournalRunCancellation, {}),
    # A reversal answers with the new entry; the reversed one shows the reversal's data.
    JournalEntryReversed: Served(JournalEntry, {
        "reversed_by": ("reversalEntry",),  # the entry; the answer's reversedBy is the actor
        "at": ("reversedOn",),
        "by": ("reversedBy",),
        "released_transaction_count": (),  # Zuora's entry has no such figure
    }),
    JournalEntryTransferStatusChanged: Served(TransferStatusChange, {
        "from": (),  # Zuora's CommonResponse has no previous status
        "to": ("transferredToAccounting",),
    }),
}
