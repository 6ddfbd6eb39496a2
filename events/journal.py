"""Outbound journal events (docs/contract.md §2, topic ``ledger.journal-entries``).

GL consumers and the CLI's ``--json`` output depend on these exact field names, so they are
models rather than dicts built where the events are emitted: the commands return them, the
views read runs and entries back as them, the CLI prints them and the HTTP API's models are
made from them. A summary journal entry checks its own arithmetic (totals equal the sum of
their lines, debit equals credit): an unbalanced entry is a bug in the run, and the store
validates every payload against its model before it enters the outbox, so one that does not
balance or is misnamed is refused with the transaction that made it, never published.
A model also reads as its JSON document (``events._document.JsonDocument``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, get_args
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from events._document import JsonDocument
from events._envelope import envelope
from events._fields import Amount, CurrencyCode, NonBlankStr, TransactionTypeId
from events.amounts import at_minor_units
from events.names import (
    JOURNAL_ENTRY_CANCELLED,
    JOURNAL_ENTRY_CREATED,
    JOURNAL_ENTRY_REVERSED,
    JOURNAL_ENTRY_TRANSFER_STATUS_CHANGED,
    JOURNAL_RUN_CANCELLED,
    JOURNAL_RUN_COMPLETED,
)

__all__ = [
    "OUTBOUND_EVENT_TYPES",
    "RUN_STATUSES",
    "TRANSFER_STATUSES",
    "JournalEntryCancelled",
    "JournalEntryCreated",
    "JournalEntryLine",
    "JournalEntryPreview",
    "JournalEntryReversed",
    "JournalEntryTransferStatusChanged",
    "JournalRunCancelOutcome",
    "JournalRunCancelled",
    "JournalRunCompleted",
    "JournalRunPreview",
    "JournalRunTarget",
    "outbound_envelope",
    "utc_timestamp",
]

RunStatus = Literal["pending", "processing", "completed", "error", "cancelled"]
EntryStatus = Literal["created", "cancelled", "reversed"]
TransferStatus = Literal["no", "processing", "yes", "error", "ignore"]
#: What a dry run shows in place of a status: nothing was written.
DryRun = Literal["dry_run"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
TRANSFER_STATUSES: tuple[str, ...] = get_args(TransferStatus)
RunNumber = Annotated[str, Field(pattern=r"^JR-[0-9]{8,}$")]
EntryNumber = Annotated[str, Field(pattern=r"^JE-[0-9]{8,}$")]
Count = Annotated[int, Field(ge=0)]


def utc_timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds, ``2024-05-01T09:30:00.000000Z``: one spelling for a
    command's time, whether written when the command runs or read back from a projection."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: When a command was done (its ``at`` or ``created_at``).
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(utc_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
#: Who did it: the actor recorded in the command's metadata (an API key's name over HTTP,
#: ``LEDGER_ACTOR`` or the OS user on the command line).
Actor = Annotated[str, Field(min_length=1)]

_OUTBOUND = ConfigDict(frozen=True, extra="forbid")


class JournalRunTarget(BaseModel):
    """What a run covered: a period, or dates inside one (both dates for a period too)."""

    model_config = _OUTBOUND

    period: str | None = None
    start_date: date | None = None
    end_date: date | None = None


class _Run(JsonDocument):
    """A run's fields, in the order they are written; a made run and a dry run narrow
    ``number`` and ``status``."""

    model_config = _OUTBOUND

    number: RunNumber | None
    org: str | None
    target: JournalRunTarget
    journal_entry_date: date
    transaction_types: list[str]
    status: RunStatus | DryRun
    journal_entry_numbers: list[EntryNumber]
    transaction_count: Count
    created_at: Timestamp
    created_by: Actor | None = Field(
        description="Null only for a run recorded before actors were recorded.")


class JournalRunCompleted(_Run):
    """``journal_run.completed``; also the CLI's ``--json`` form of a run."""

    number: RunNumber
    status: RunStatus


class JournalEntryLine(BaseModel):
    """One (account, side) sum of an entry, after the sign flip, so never negative."""

    model_config = _OUTBOUND

    account: NonBlankStr
    side: Literal["debit", "credit"]
    amount: Annotated[Amount, Field(ge=0)]


class _Entry(JsonDocument):
    """A summary entry's fields, in the order they are written, and its arithmetic; a made
    entry and a dry run's narrow ``number``, ``journal_run`` and ``status``."""

    model_config = _OUTBOUND

    number: EntryNumber | None
    journal_run: RunNumber | None
    org: str | None
    accounting_period: str
    journal_entry_date: date
    transaction_type: TransactionTypeId
    currency: CurrencyCode
    segments: dict[str, str] = Field(default_factory=dict)
    lines: list[JournalEntryLine]
    total_debit: Amount
    total_credit: Amount
    transaction_count: Count
    status: EntryStatus | DryRun
    transfer_status: TransferStatus
    reverses: EntryNumber | None = Field(
        default=None, description="The entry this one reverses; null for an entry of a run.")

    @model_validator(mode="after")
    def _balances(self) -> Self:
        debit = sum((ln.amount for ln in self.lines if ln.side == "debit"), Decimal(0))
        credit = sum((ln.amount for ln in self.lines if ln.side == "credit"), Decimal(0))
        if debit != self.total_debit or credit != self.total_credit:
            raise ValueError(
                f"totals {self.total_debit}/{self.total_credit} are not the sums of the lines "
                f"({debit}/{credit})"
            )
        if self.total_debit != self.total_credit:
            raise ValueError(
                f"entry does not balance: debit {self.total_debit} != credit {self.total_credit}"
            )
        return self

    @model_validator(mode="after")
    def _at_minor_units(self) -> Self:
        """Amounts at the currency's precision (docs/domain.md §3 "Amounts"): the same values,
        with the minor-unit digits they lack, so JSON shows USD ``12.50``, JPY ``500``. A
        line does not know its currency, so the entry sets its lines' amounts too."""
        for name in ("total_debit", "total_credit"):
            object.__setattr__(self, name, at_minor_units(getattr(self, name), self.currency))
        lines = [line.model_copy(update={"amount": at_minor_units(line.amount, self.currency)})
                 for line in self.lines]
        object.__setattr__(self, "lines", lines)
        return self


class JournalEntryCreated(_Entry):
    """``journal_entry.created``: one summary journal entry; also the CLI form of an entry."""

    number: EntryNumber
    journal_run: RunNumber
    status: EntryStatus


class JournalEntryPreview(_Entry):
    """An entry a dry run would make: no number and no run yet, nothing written."""

    number: None = None
    journal_run: None = None
    status: DryRun = "dry_run"


class JournalRunPreview(_Run):
    """What a dry run shows (``--dry-run --json``): the run it would make, without a number,
    and the entries it would make."""

    number: None = None
    status: DryRun = "dry_run"
    entries: list[JournalEntryPreview]


class JournalEntryCancelled(JsonDocument):
    """``journal_entry.cancelled``: its transactions are pending again."""

    model_config = _OUTBOUND

    number: EntryNumber
    journal_run: RunNumber
    released_transaction_count: Count
    at: Timestamp
    by: Actor | None


class JournalEntryReversed(JsonDocument):
    """``journal_entry.reversed``: an entry already in the GL is offset by a new entry
    (``reversed_by``, published next as ``journal_entry.created``); its transactions are
    pending again."""

    model_config = _OUTBOUND

    number: EntryNumber
    reversed_by: EntryNumber
    released_transaction_count: Count
    at: Timestamp
    by: Actor | None


class JournalRunCancelled(JsonDocument):
    """``journal_run.cancelled``; ``kept_entries`` stay: transferred ones, and reversals."""

    model_config = _OUTBOUND

    number: RunNumber
    cancelled_entries: list[EntryNumber]
    kept_entries: list[EntryNumber]
    at: Timestamp
    by: Actor | None


class JournalRunCancelOutcome(JournalRunCancelled):
    """What cancelling a run answers: its ``journal_run.cancelled`` data, and the run's
    status after it (``completed`` when it kept entries: a partial cancel)."""

    status: RunStatus


class JournalEntryTransferStatusChanged(JsonDocument):
    """``journal_entry.transfer_status_changed``; ``from`` is spelt ``from_`` in Python."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True
    )

    number: EntryNumber
    from_: TransferStatus = Field(alias="from")
    to: TransferStatus
    at: Timestamp | None = Field(description="Null when nothing changed (nothing recorded).")
    by: Actor | None


OUTBOUND_EVENT_TYPES: Mapping[str, type[BaseModel]] = MappingProxyType(
    {
        JOURNAL_RUN_COMPLETED: JournalRunCompleted,
        JOURNAL_ENTRY_CREATED: JournalEntryCreated,
        JOURNAL_ENTRY_CANCELLED: JournalEntryCancelled,
        JOURNAL_ENTRY_REVERSED: JournalEntryReversed,
        JOURNAL_RUN_CANCELLED: JournalRunCancelled,
        JOURNAL_ENTRY_TRANSFER_STATUS_CHANGED: JournalEntryTransferStatusChanged,
    }
)
"""Outbound event type -> model of its ``data``."""


def outbound_envelope(
    event_type: str,
    org: str | None,
    data: BaseModel | Mapping[str, Any],
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The docs/contract.md §2 envelope of an outbound event, ready for ``json.dumps``.

    ``data`` may be the model or a mapping that validates as it. ``org`` is written as
    given (None stays null); choosing the Kafka key (``unlabeled``) is the publisher's job.
    Pass ``event_id`` to make a re-emitted event dedupe downstream; the default is random.
    """
    model = OUTBOUND_EVENT_TYPES.get(event_type)
    if model is None:
        raise ValueError(f"unknown outbound event type {event_type!r}")
    if not isinstance(data, model):
        if isinstance(data, BaseModel):
            raise TypeError(f"{event_type} carries {model.__name__}, not {type(data).__name__}")
        data = model.model_validate(data)
    return envelope(event_type, org, data, event_id, occurred_at)
