"""The ledger's contract as code: message models, the transaction-type table, the rules.

No I/O and no dependency on Kafka, PostgreSQL or the rest of the service, so a producer or
a GL consumer can import it alone. ``__all__`` is the whole public surface; a test keeps it
exactly so (names starting with ``_`` and modules' other attributes are internal).
"""

from events._fields import MAX_SEGMENTS, MAX_TEXT_LENGTH
from events.amounts import format_amount, minor_units
from events.billing import (
    EVENT_LINE_TYPES,
    INBOUND_EVENT_TYPES,
    BillingData,
    BillingDocumentEvent,
    BillingEvent,
    Document,
    Envelope,
    StatusChange,
    StatusChangedData,
    StatusChangedEvent,
    TransactionLine,
)
from events.errors import (
    DUPLICATE_CONFLICT,
    INVALID_ENVELOPE,
    INVALID_JSON,
    INVALID_PAYLOAD,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    UNKNOWN_TRANSACTION,
    UNSTORABLE,
    ContractError,
)
from events.exclusions import (
    HOLD_REASON_STATUS,
    ExclusionReason,
    exclusion_reason,
    status_eligible,
)
from events.journal import (
    OUTBOUND_EVENT_TYPES,
    JournalEntryCancelled,
    JournalEntryCreated,
    JournalEntryLine,
    JournalEntryReversed,
    JournalEntryTransferStatusChanged,
    JournalRunCancelled,
    JournalRunCompleted,
    JournalRunTarget,
    outbound_envelope,
)
from events.parsing import body_hash, canonical_body, parse_billing_event
from events.schemas import json_schemas
from events.transaction_types import (
    TRANSACTION_TYPES,
    Category,
    Mode,
    Settlement,
    TransactionType,
    UnknownTransactionType,
    enabled_types,
    resolve_type_names,
    type_by_display_name,
)

__all__ = [
    "DUPLICATE_CONFLICT",
    "EVENT_LINE_TYPES",
    "HOLD_REASON_STATUS",
    "INBOUND_EVENT_TYPES",
    "INVALID_ENVELOPE",
    "INVALID_JSON",
    "INVALID_PAYLOAD",
    "MAX_SEGMENTS",
    "MAX_TEXT_LENGTH",
    "OUTBOUND_EVENT_TYPES",
    "TOO_LARGE",
    "TRANSACTION_TYPES",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_TRANSACTION",
    "UNSTORABLE",
    "BillingData",
    "BillingDocumentEvent",
    "BillingEvent",
    "Category",
    "ContractError",
    "Document",
    "Envelope",
    "ExclusionReason",
    "JournalEntryCancelled",
    "JournalEntryCreated",
    "JournalEntryLine",
    "JournalEntryReversed",
    "JournalEntryTransferStatusChanged",
    "JournalRunCancelled",
    "JournalRunCompleted",
    "JournalRunTarget",
    "Mode",
    "Settlement",
    "StatusChange",
    "StatusChangedData",
    "StatusChangedEvent",
    "TransactionLine",
    "TransactionType",
    "UnknownTransactionType",
    "body_hash",
    "canonical_body",
    "enabled_types",
    "exclusion_reason",
    "format_amount",
    "json_schemas",
    "minor_units",
    "outbound_envelope",
    "parse_billing_event",
    "resolve_type_names",
    "status_eligible",
    "type_by_display_name",
]
