"""The envelope every event the ledger writes is stored and emitted in (docs/contract.md §2):
one function, so a command's event and an outbound message cannot differ in it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

__all__ = ["envelope"]

SCHEMA_VERSION = 1


def envelope(
    event_type: str,
    org: str | None,
    data: BaseModel,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """``data`` (a model, written as JSON by its aliases) in the envelope, ready for
    ``json.dumps``. ``occurred_at`` (default now) must be timezone-aware; it is written in
    UTC with ``Z``. ``event_id`` defaults to a random one."""
    when = occurred_at if occurred_at is not None else datetime.now(UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    return {
        "event_id": str(event_id if event_id is not None else uuid4()),
        "event_type": event_type,
        "occurred_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "org": org,
        "schema_version": SCHEMA_VERSION,
        "data": data.model_dump(mode="json", by_alias=True),
    }
