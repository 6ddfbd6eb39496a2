"""What the ingest handles: raw Kafka records, and the refusals it sends to the DLQ."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from events.catalogue import event_envelope
from events.names import MESSAGE_REJECTED
from events.rejections import MessageRejected
from services.store.log import NewEvent

#: Namespace of rejection event ids: one rejection per (topic, partition, offset), so a
#: re-consumed bad message is recognised as already refused.
REJECTION_NAMESPACE = uuid.UUID("0b9d1f44-5f1e-4a36-9d1e-6c1a3c9b7e21")


class InboundRecord(NamedTuple):
    """A consumed Kafka record: a named tuple, as it is made for every message read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...] = ()  # a header's value may be null
    timestamp_ms: int | None = None

    @classmethod
    def from_consumer_record(cls, record: Any) -> InboundRecord:
        return cls(record.topic, record.partition, record.offset, record.key,
                   record.value or b"", tuple(record.headers or ()), record.timestamp)

    @property
    def source(self) -> str:
        """``topic/partition/offset``: where the message came from (the DLQ header)."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def metadata(self) -> str:
        """Where the event came from, as JSON (built by hand: it is on the hot path)."""
        return (f'{{"topic":{_json_string(self.topic)},"partition":{self.partition},'
                f'"offset":{self.offset}}}')


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message the ingest refused: the error code is stable, the detail is for people."""

    record: InboundRecord
    code: str
    detail: str
    field: str | None = None

    @property
    def event_id(self) -> uuid.UUID:
        return rejection_event_id(self.record)

    def dlq_headers(self) -> dict[str, str]:
        return {
            "ledger-error": self.code,
            "ledger-error-detail": self.detail,
            "ledger-source": self.record.source,
        }

    def to_event(self, rejected_at: datetime | None = None) -> NewEvent:
        """The ``message.rejected`` event that records this refusal."""
        record = self.record
        when = rejected_at or datetime.now(UTC)
        data = MessageRejected(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=_b64(record.key),
            value=_b64(record.value) or "",
            headers=[(_storable(k), _b64(v)) for k, v in record.headers],
            error_code=self.code,
            error_detail=self.detail,
            error_field=self.field,
            rejected_at=when,
        )
        payload = event_envelope(data, None, self.event_id, when)
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        return NewEvent(
            stream=rejected_stream(record),
            event_id=self.event_id,
            event_type=MESSAGE_REJECTED,
            org=None,
            payload=text,
            body_hash=hashlib.sha256(record.value).digest(),
            metadata=record.metadata,
        )


def rejected_stream(record: InboundRecord) -> str:
    """The stream of the refusals (and their repairs) of a topic's partition."""
    return f"rejected:{record.topic}/{record.partition}"


@functools.lru_cache(maxsize=64)
def _json_string(text: str) -> str:
    """A topic name as a JSON string; a consumer sees few topics, so each is quoted once."""
    return json.dumps(text)


def rejection_event_id(record: InboundRecord) -> uuid.UUID:
    """The id of the ``message.rejected`` event a refusal of ``record`` is stored as."""
    return uuid.uuid5(REJECTION_NAMESPACE, record.source)


def _storable(header_key: str) -> str:
    """A header key as PostgreSQL text can hold it: NUL (which a key may contain) becomes
    U+FFFD. Kept as it was, the refusal itself could not be stored, and the ingest would
    stop at the message instead of refusing it."""
    return header_key.replace("\x00", "\ufffd") if "\x00" in header_key else header_key


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")
