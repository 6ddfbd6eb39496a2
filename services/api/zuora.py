"""Zuora's spellings of the ledger's states, as its v1 Finance API writes them.

The ledger's own words (``completed``, ``debit``, ``pending_close``) stay in the CLI's
``--json`` and the Kafka events (docs/contract.md §2); the HTTP API speaks Zuora's
(docs/contract.md §4). Each table maps every state the ledger has, so a state added to the
ledger without a Zuora spelling fails type checking here, not at a client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final, Literal

from events.journal import EntryStatus, RunStatus, TransferStatus
from events.transaction_types import TRANSACTION_TYPES

ZuoraRunStatus = Literal[
    "Pending", "Processing", "Completed", "Error", "CancelInprogress", "Cancelled",
    "DeleteInprogress",
]
ZuoraEntryStatus = Literal["Created", "Cancelled"]
ZuoraTransferStatus = Literal["No", "Processing", "Yes", "Error", "Ignore"]
ZuoraItemType = Literal["Debit", "Credit"]
ZuoraPeriodStatus = Literal["Open", "PendingClose", "Closed"]

RUN_STATUS: Final[Mapping[RunStatus, ZuoraRunStatus]] = {
    "pending": "Pending", "processing": "Processing", "completed": "Completed",
    "error": "Error", "cancelled": "Cancelled",
}
#: Zuora's entries are Created or Cancelled. A reversed entry stays in the GL, offset by
#: its reversal: Created, with the ledger-only ``reversalEntry`` naming that reversal.
ENTRY_STATUS: Final[Mapping[EntryStatus, ZuoraEntryStatus]] = {
    "created": "Created", "cancelled": "Cancelled", "reversed": "Created",
}
TRANSFER_STATUS: Final[Mapping[TransferStatus, ZuoraTransferStatus]] = {
    "no": "No", "processing": "Processing", "yes": "Yes", "error": "Error", "ignore": "Ignore",
}
ITEM_TYPE: Final[Mapping[Literal["debit", "credit"], ZuoraItemType]] = {
    "debit": "Debit", "credit": "Credit",
}
PERIOD_STATUS: Final[Mapping[str, ZuoraPeriodStatus]] = {
    "open": "Open", "pending_close": "PendingClose", "closed": "Closed",
}

#: Types whose display name is not one of Zuora's journal-run transaction types: a run's
#: ``transactionTypes`` leaves them out (a client would refuse the value); its ledger-only
#: ``transactionTypeIds`` names every type.
NO_ZUORA_RUN_TYPE: Final = frozenset({"unrealized_fx_gain_loss"})


def display_name(type_id: str) -> str:
    return TRANSACTION_TYPES[type_id].display_name


def zuora_run_types(type_ids: list[str]) -> list[str]:
    """The display names of a run's types that Zuora's journal-run enum has."""
    return [display_name(t) for t in type_ids if t not in NO_ZUORA_RUN_TYPE]


def timestamp(at: datetime) -> str:
    """Zuora's date-time form, ``2024-05-01 09:30:00``; the ledger writes it in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
