"""Sort a batch of records into new events, duplicates and refusals. No I/O.

The rules, in the order they are checked for each record (docs/contract.md §2):

1. the message must parse (``events.parse_billing_event``: too_large, invalid_json,
   invalid_envelope, unknown_event_type, invalid_payload);
2. an ``event_id`` seen before with the same body is a duplicate (stored once), with a
   different body a ``duplicate_conflict``;
3. a transaction line whose (type, id) is already known, from another event or twice in
   this one, is a ``duplicate_transaction``: a posted transaction's facts never change;
4. a status change naming a transaction not known yet is an ``unknown_transaction``
   (replay it from the DLQ once the transaction has arrived);
5. under Multi-Org, a document labelled with an org that does not exist is an
   ``unknown_org`` (replay it from the DLQ once the org has been created).

Records are judged in order, so a line accepted earlier in the batch is "known" to a status
change later in the same batch. A refusal already recorded for the same source offset (the
message was consumed before) counts as a duplicate: see ``drop_refused_before``.

Rule 1 needs nothing but the bytes, so ``check_values`` does it, with the canonical body and
its hash, and returns plain picklable ``CheckedEvent``s: the ingest runs it in a worker
process (``services.ingest.parse_pool``). Rules 2-5 need the store and run in ``classify``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from uuid import UUID

from events import (
    BillingDocumentEvent,
    BillingEvent,
    ContractError,
    StatusChangedEvent,
    canonical_body,
    parse_billing_event,
)
from events.errors import (
    DUPLICATE_CONFLICT,
    DUPLICATE_TRANSACTION,
    UNKNOWN_ORG,
    UNKNOWN_TRANSACTION,
)
from services.ingest.records import InboundRecord, Rejection
from services.store.log import NewEvent

TransactionKey = tuple[str, str]


class CheckedEvent(NamedTuple):
    """What the store and the judging need of a valid message: its identity, where it goes,
    the transactions it names, and its canonical body (what is stored) with that body's hash.

    A named tuple, because it crosses from the parse worker in every batch: it pickles in
    half the time of a dataclass.
    """

    event_id: UUID
    event_type: str
    org: str | None
    stream: str
    body: bytes
    digest: bytes
    keys: tuple[TransactionKey, ...]
    status_change: bool


@dataclass(slots=True)
class Parsed:
    record: InboundRecord
    event: CheckedEvent | None = None
    error: ContractError | None = None


def check_event(event: BillingEvent) -> CheckedEvent:
    """Everything the store-side rules need, so the validated model never leaves the worker."""
    body = canonical_body(event)
    return CheckedEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        org=event.org,
        stream=stream_of(event),
        body=body,
        digest=hashlib.sha256(body).digest(),
        keys=tuple(transaction_keys(event)),
        status_change=isinstance(event, StatusChangedEvent),
    )


def check_values(values: Sequence[bytes], max_bytes: int) -> list[CheckedEvent | ContractError]:
    """Rule 1 for each message value, plus its canonical body and hash. Pure CPU, no state:
    safe to run in another process."""
    out: list[CheckedEvent | ContractError] = []
    for value in values:
        try:
            out.append(check_event(parse_billing_event(value, max_bytes=max_bytes)))
        except ContractError as error:
            out.append(error)
    return out


def pair(records: Sequence[InboundRecord], checked: Sequence[CheckedEvent | ContractError]
         ) -> list[Parsed]:
    """Each record with what ``check_values`` made of its value."""
    return [
        Parsed(record, error=c) if isinstance(c, ContractError) else Parsed(record, event=c)
        for record, c in zip(records, checked, strict=True)
    ]


@dataclass(slots=True)
class Classified:
    new_events: list[NewEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    #: the record each new event came from, and the records judged duplicates
    accepted: list[InboundRecord] = field(default_factory=list)
    duplicate_records: list[InboundRecord] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return len(self.duplicate_records)

    def duplicate(self, record: InboundRecord) -> None:
        self.duplicate_records.append(record)


def parse_all(records: Sequence[InboundRecord], max_bytes: int) -> list[Parsed]:
    """Check every record here, in this process (the ingest uses a worker: ``parse_pool``)."""
    return pair(records, check_values([r.value for r in records], max_bytes))


def transaction_keys(event: BillingEvent) -> list[TransactionKey]:
    if isinstance(event, StatusChangedEvent):
        return [(c.type, c.id) for c in event.data.changes]
    return [(line.type, line.id) for line in event.data.transactions]


def stream_of(event: BillingEvent) -> str:
    if isinstance(event, BillingDocumentEvent):
        return f"document:{event.data.document.number}"
    return f"status-change:{event.event_id}"


def classify(
    parsed: Sequence[Parsed],
    stored: Mapping[UUID, bytes],
    known: set[TransactionKey],
    orgs: frozenset[str] | None = None,
) -> Classified:
    """Judge each record against what is stored (``stored`` hashes, ``known`` keys) and,
    under Multi-Org, the ``orgs`` that exist (None: labels are not checked)."""
    out = Classified()
    seen: dict[UUID, bytes] = dict(stored)
    known = set(known)
    for item in parsed:
        record, event = item.record, item.event
        if event is None:
            assert item.error is not None
            error = item.error
            out.rejections.append(Rejection(record, error.code, error.detail, error.field))
            continue
        digest = event.digest
        previous = seen.get(event.event_id)
        if previous is not None:
            if previous == digest:
                out.duplicate(record)
            else:
                out.rejections.append(
                    Rejection(
                        record,
                        DUPLICATE_CONFLICT,
                        f"event_id {event.event_id} was already stored with a different body",
                        "event_id",
                    )
                )
            continue
        refusal = _org_rule(event, orgs) or _transaction_rule(event, known)
        if refusal is not None:
            out.rejections.append(Rejection(record, *refusal))
            continue
        seen[event.event_id] = digest
        if not event.status_change:
            known.update(event.keys)
        out.accepted.append(record)
        out.new_events.append(
            NewEvent(
                stream=event.stream,
                event_id=event.event_id,
                event_type=event.event_type,
                org=event.org,
                payload=event.body.decode("utf-8"),
                body_hash=digest,
                metadata=record.metadata,
            )
        )
    return out


def drop_refused_before(out: Classified, refused_before: set[UUID]) -> None:
    """A refusal already recorded (the message was consumed before) is a duplicate: it is
    neither recorded nor sent to the DLQ again."""
    again = [r for r in out.rejections if r.event_id in refused_before]
    out.rejections = [r for r in out.rejections if r.event_id not in refused_before]
    for rejection in again:
        out.duplicate(rejection.record)


def _transaction_rule(
    event: CheckedEvent, known: set[TransactionKey]
) -> tuple[str, str, str] | None:
    keys = event.keys
    if event.status_change:
        for i, key in enumerate(keys):
            if key not in known:
                return (
                    UNKNOWN_TRANSACTION,
                    f"status change names transaction {key[0]} {key[1]}, which is not known",
                    f"data.changes[{i}]",
                )
        return None
    seen: set[TransactionKey] = set()
    for i, key in enumerate(keys):
        if key in known or key in seen:
            return (
                DUPLICATE_TRANSACTION,
                f"transaction {key[0]} {key[1]} is already stored; posted facts never change",
                f"data.transactions[{i}].id",
            )
        seen.add(key)
    return None


def _org_rule(event: CheckedEvent, orgs: frozenset[str] | None) -> tuple[str, str, str] | None:
    if orgs is None or event.org is None or event.status_change:
        return None
    if event.org not in orgs:
        return (UNKNOWN_ORG, f"org {event.org!r} does not exist; create it, then replay", "org")
    return None
