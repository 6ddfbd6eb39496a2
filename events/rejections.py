"""The ledger's record of refused inbound messages, and of their repair by a DLQ replay.

A refusal is an event (``message.rejected``), so the DLQ listing survives a rebuild; a
replay that stores the message records ``rejected_message.resolved``, one that refuses it
again ``rejected_message.retried`` with the new reason. The codes are ``events.errors``'s,
all of them: a refusal with a code not listed there cannot be recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from events._fields import IsoOffset
from events.errors import REJECTION_CODES
from events.names import MESSAGE_REJECTED, REJECTED_MESSAGE_RESOLVED, REJECTED_MESSAGE_RETRIED

__all__ = [
    "REJECTION_EVENT_TYPES",
    "MessageRejected",
    "RejectedMessageResolved",
    "RejectedMessageRetried",
]

def _known_code(code: str) -> str:
    if code not in REJECTION_CODES:
        raise PydanticCustomError("rejection_code", "is not one of events.errors' codes")
    return code


RejectionCode = Annotated[str, AfterValidator(_known_code)]

_RECORD = ConfigDict(frozen=True, extra="forbid")


class MessageRejected(BaseModel):
    """``message.rejected``: the message as received (key, value and header values base64,
    a NUL in a header name as U+FFFD) and why it was refused."""

    model_config = _RECORD

    topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    headers: list[tuple[str, str | None]]
    error_code: RejectionCode
    error_detail: str
    error_field: str | None
    rejected_at: IsoOffset


class RejectedMessageResolved(BaseModel):
    """``rejected_message.resolved``: a DLQ replay stored the message (or found it stored)."""

    model_config = _RECORD

    rejection_event_id: UUID
    source: str


class RejectedMessageRetried(BaseModel):
    """``rejected_message.retried``: a DLQ replay refused the message again, for this reason."""

    model_config = _RECORD

    rejection_event_id: UUID
    source: str
    error_code: RejectionCode
    error_detail: str
    error_field: str | None


REJECTION_EVENT_TYPES: Mapping[str, type[BaseModel]] = MappingProxyType({
    MESSAGE_REJECTED: MessageRejected,
    REJECTED_MESSAGE_RESOLVED: RejectedMessageResolved,
    REJECTED_MESSAGE_RETRIED: RejectedMessageRetried,
})
"""Event type -> model of its ``data``."""
