"""Billing events for journal-run tests, stored the way the ingest stores them, minus Kafka.

``txn(...)`` builds one transaction line (contract JSON), ``billing_event`` wraps lines of one
document in the docs/contract.md §2 envelope, ``status_changed`` builds a status change, and
``store`` parses each event with ``events.parse_billing_event`` and appends it with the
projections applied in one transaction, exactly as ``services.ingest.writer`` does for a batch.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from events import EVENT_LINE_TYPES, TRANSACTION_TYPES, canonical_body, parse_billing_event
from services.ingest.classify import stream_of
from services.store import log
from services.store.unit_of_work import unit_of_work

AR = "Accounts Receivable"
REVENUE = "Revenue"

#: The event that carries each line type in these tests (the first docs/contract.md §2 row
#: allowing it).
_PREFERRED = ("invoice.posted", "debit_memo.posted", "credit_memo.posted", "credit_memo.applied",
              "payment.applied", "payment.processed", "refund.processed",
              "adjustment.processed", "revenue.recognized", "fx.unrealized_gain_loss")
EVENT_TYPE_OF = {
    line_type: next(e for e in _PREFERRED if line_type in EVENT_LINE_TYPES[e])
    for line_type in TRANSACTION_TYPES
}


def eligible_status(type_id: str) -> str:
    """The status a line of this type needs to be picked up (``posted`` where it is n/a)."""
    return TRANSACTION_TYPES[type_id].required_status or "posted"


def txn(
    type_id: str,
    id_: str,
    day: date,
    amount: str | Decimal,
    *,
    status: str | None = None,
    debit: str = AR,
    credit: str = REVENUE,
    currency: str | None = None,
    segments: dict[str, str] | None = None,
    subtype: str | None = None,
    period: str | None = None,
    rule: str | None = None,
    document: str | None = None,
) -> dict[str, Any]:
    """One transaction line; its status defaults to the one its type requires."""
    line: dict[str, Any] = {
        "id": id_,
        "type": type_id,
        "date": day.isoformat(),
        "status": status or eligible_status(type_id),
        "amount": str(amount),
        "debit_account": debit,
        "credit_account": credit,
    }
    optional = {"currency": currency, "segments": segments, "subtype": subtype,
                "accounting_period": period, "recognition_rule": rule,
                "document_number": document}
    line.update({k: v for k, v in optional.items() if v is not None})
    return line


def billing_event(
    lines: list[dict[str, Any]],
    *,
    org: str | None = None,
    document: str | None = None,
    currency: str = "USD",
    event_type: str | None = None,
) -> dict[str, Any]:
    """A document event carrying ``lines`` (the event type follows the first line's type)."""
    number = document or lines[0].get("document_number") or f"DOC-{lines[0]['id']}"
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type or EVENT_TYPE_OF[lines[0]["type"]],
        "occurred_at": "2024-04-01T12:00:00Z",
        "org": org,
        "schema_version": 1,
        "data": {
            "document": {"number": number, "account_number": "A-001", "currency": currency},
            "transactions": [{**line, "document_number": number} for line in lines],
        },
    }


def status_changed(
    changes: list[tuple[str, str, str]], *, org: str | None = None
) -> dict[str, Any]:
    """``transactions.status_changed`` for (type, id, status) triples."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "transactions.status_changed",
        "occurred_at": "2024-05-02T12:00:00Z",
        "org": org,
        "schema_version": 1,
        "data": {"changes": [{"type": t, "id": i, "status": s} for t, i, s in changes]},
    }


def as_new_event(message: dict[str, Any]) -> log.NewEvent:
    """The event the ingest would append for this message (it must be valid)."""
    event = parse_billing_event(json.dumps(message).encode())
    body = canonical_body(event)
    return log.NewEvent(
        stream=stream_of(event),
        event_id=event.event_id,
        event_type=event.event_type,
        org=event.org,
        payload=body.decode("utf-8"),
        body_hash=hashlib.sha256(body).digest(),
    )


async def store(pool: asyncpg.Pool, *messages: dict[str, Any]) -> None:
    """Append the messages and fold them into the projections, in one transaction."""
    new = [as_new_event(m) for m in messages]
    async with unit_of_work(pool) as uow:
        await uow.record(new)


async def store_lines(pool: asyncpg.Pool, lines: list[dict[str, Any]],
                      *, org: str | None = None) -> None:
    """Each line in its own document event (so any mix of types can be stored at once)."""
    await store(pool, *(billing_event([line], org=org) for line in lines))
