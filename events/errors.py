"""Why an inbound message was refused, as a stable code plus the field it is about.

The code goes into the DLQ header ``ledger-error`` and the store's rejected table, so the
values are part of the contract (docs/contract.md §2, "Rejected"); the detail is for humans
and names the field and the rule that was broken. Every code is here, whichever part of the
ledger refuses with it (the parser, the ingest's judgement against the store, the store
itself): ``REJECTION_CODES`` lists them all, and a refusal with any other code cannot be
recorded (``events.rejections.MessageRejected``).
"""

from __future__ import annotations

__all__ = [
    "DUPLICATE_CONFLICT",
    "DUPLICATE_TRANSACTION",
    "INVALID_ENVELOPE",
    "INVALID_JSON",
    "INVALID_PAYLOAD",
    "REJECTION_CODES",
    "TOO_LARGE",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_ORG",
    "UNKNOWN_TRANSACTION",
    "UNSTORABLE",
    "ContractError",
]

INVALID_JSON = "invalid_json"
"""Not UTF-8, not JSON, or a string that cannot be stored (NUL, unpaired surrogate)."""
INVALID_ENVELOPE = "invalid_envelope"
"""Not a JSON object, or an envelope field (event_id, occurred_at, org, ...) is wrong."""
UNKNOWN_EVENT_TYPE = "unknown_event_type"
"""A well-formed envelope whose event_type is not one of docs/contract.md §2."""
INVALID_PAYLOAD = "invalid_payload"
"""Something inside ``data`` breaks the contract, or a text field anywhere (the envelope's
``org`` too) is over its length limit (255 characters, 32 segments a line)."""
TOO_LARGE = "too_large"
"""The message is larger than the configured maximum; it was not parsed."""
DUPLICATE_CONFLICT = "duplicate_conflict"
"""A known event_id arrived again with a different body (raised by the store, not here)."""
DUPLICATE_TRANSACTION = "duplicate_transaction"
"""A transaction line whose (type, id) is already known, from another event or twice in the
same one: a posted transaction's facts never change (raised by the ingest)."""
UNKNOWN_TRANSACTION = "unknown_transaction"
"""A status change names a transaction the ledger has never seen (raised by the ingest)."""
UNKNOWN_ORG = "unknown_org"
"""Under Multi-Org, a document labelled with an org that does not exist (raised by the
ingest; replay it from the DLQ once the org has been created)."""
UNSTORABLE = "unstorable"
"""The message passed the contract but the database refused it for its own content (a data
exception, a program limit, ...); the detail is the database's message and SQLSTATE. Raised
by the ingest after it split the batch down to this one message: its neighbours are stored."""

#: Every code a refused message can carry, in the order the ingest checks its rules.
REJECTION_CODES: tuple[str, ...] = (
    TOO_LARGE, INVALID_JSON, INVALID_ENVELOPE, UNKNOWN_EVENT_TYPE, INVALID_PAYLOAD,
    DUPLICATE_CONFLICT, DUPLICATE_TRANSACTION, UNKNOWN_TRANSACTION, UNKNOWN_ORG, UNSTORABLE,
)


class ContractError(ValueError):
    """An inbound message breaks the contract; ``code`` says how, ``field`` where."""

    def __init__(self, code: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.field = field
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only ``field`` defeats BaseException's default pickling (worker processes).
        return (_rebuild, (self.code, self.detail, self.field))

    def __repr__(self) -> str:
        return f"ContractError(code={self.code!r}, field={self.field!r}, detail={self.detail!r})"


def _rebuild(code: str, detail: str, field: str | None) -> ContractError:
    return ContractError(code, detail, field=field)
