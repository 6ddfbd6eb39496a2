"""Every event type the log holds, in one registry: its name, the model of its ``data``, and
where it comes from.

- ``inbound``: billing events consumed from Kafka (``events.billing``);
- ``outbound``: journal events the ledger publishes (``events.journal``);
- ``ledger``: the ledger's own command events (``events.ledger_events``) and its record of
  refused messages (``events.rejections``).

Code that writes, folds or relays events names them by the constants of ``events.names``
(never by a string of its own), and a command's event is made from its data model, whose
type the registry knows: ``event_type_of``. A stored event's ``data`` validates as its model
(``data_model``), which is what the outbox checks before an outbound event is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple
from uuid import UUID

from pydantic import BaseModel

from events._envelope import envelope
from events.billing import EVENT_LINE_TYPES, STATUS_CHANGED, BillingData, StatusChangedData
from events.journal import OUTBOUND_EVENT_TYPES
from events.ledger_events import LEDGER_EVENT_TYPES
from events.rejections import REJECTION_EVENT_TYPES

__all__ = [
    "EVENT_TYPES",
    "INBOUND_TYPES",
    "OUTBOUND_TYPES",
    "EventKind",
    "Origin",
    "UnknownEventType",
    "data_model",
    "event_envelope",
    "event_type_of",
]

Origin = Literal["inbound", "outbound", "ledger"]


class EventKind(NamedTuple):
    """One registered event type."""

    event_type: str
    data: type[BaseModel]
    origin: Origin


class UnknownEventType(KeyError):
    """An event type, or a data model, the registry does not hold."""


def _kinds() -> dict[str, EventKind]:
    kinds: dict[str, EventKind] = {}
    for event_type in EVENT_LINE_TYPES:
        billing: type[BaseModel] = (
            StatusChangedData if event_type == STATUS_CHANGED else BillingData)
        kinds[event_type] = EventKind(event_type, billing, "inbound")
    for event_type, outbound in OUTBOUND_EVENT_TYPES.items():
        kinds[event_type] = EventKind(event_type, outbound, "outbound")
    for registry in (LEDGER_EVENT_TYPES, REJECTION_EVENT_TYPES):
        for event_type, own in registry.items():
            kinds[event_type] = EventKind(event_type, own, "ledger")
    return kinds


EVENT_TYPES: Mapping[str, EventKind] = MappingProxyType(_kinds())
"""Event type -> its kind; every type the log may hold."""

#: The types the outbox relays to ``ledger.journal-entries``, in the contract's order.
OUTBOUND_TYPES: tuple[str, ...] = tuple(OUTBOUND_EVENT_TYPES)
#: The billing types the ingest accepts.
INBOUND_TYPES: tuple[str, ...] = tuple(EVENT_LINE_TYPES)

#: The type each outbound or ledger model is the data of (each is the data of one type;
#: billing data is shared by the inbound types, which the ledger never writes itself).
_TYPE_OF: Mapping[type[BaseModel], str] = MappingProxyType(
    {kind.data: kind.event_type for kind in EVENT_TYPES.values() if kind.origin != "inbound"})


def data_model(event_type: str) -> type[BaseModel]:
    """The model of ``event_type``'s data."""
    kind = EVENT_TYPES.get(event_type)
    if kind is None:
        raise UnknownEventType(f"{event_type!r} is not a registered event type")
    return kind.data


def event_type_of(data: BaseModel) -> str:
    """The event type whose data ``data`` is (an outbound or a ledger model)."""
    event_type = _TYPE_OF.get(type(data))
    if event_type is None:
        raise UnknownEventType(f"{type(data).__name__} is not the data of a registered event")
    return event_type


def event_envelope(
    data: BaseModel,
    org: str | None,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The envelope of the event whose data ``data`` is (its type from the registry)."""
    return envelope(event_type_of(data), org, data, event_id, occurred_at)
