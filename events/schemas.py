"""JSON Schemas of every message, for upstream producers and downstream consumers.

Generated from the models, so they cannot drift from what the ingest accepts. Inbound
schemas describe the wire form, which is looser than ``TransactionLine`` in two ways: a
line may leave out ``currency`` and the document fields it inherits, and a revenue event
item may send null accounts. Each inbound schema also narrows the line ``type`` to the
types its event may carry.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from events.billing import (
    EVENT_LINE_TYPES,
    STATUS_CHANGED,
    BillingDocumentEvent,
    Envelope,
    StatusChangedEvent,
)
from events.journal import OUTBOUND_EVENT_TYPES
from events.transaction_types import TRANSACTION_TYPES

__all__ = ["json_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INHERITED = ("currency", "document_number", "account_number")


def json_schemas() -> dict[str, dict[str, Any]]:
    """Schema name -> JSON Schema (draft 2020-12).

    Names: ``envelope``; ``billing.<event_type>`` for each inbound event type (for example
    ``billing.invoice.posted``); ``journal.<event_type>`` for each outbound one (for
    example ``journal.journal_entry.created``).
    """
    schemas: dict[str, dict[str, Any]] = {"envelope": _finish(Envelope.model_json_schema())}
    document_event = BillingDocumentEvent.model_json_schema()
    for event_type, line_types in EVENT_LINE_TYPES.items():
        if event_type == STATUS_CHANGED:
            schema = StatusChangedEvent.model_json_schema()
        else:
            schema = _wire_lines(copy.deepcopy(document_event), event_type, line_types)
        schemas[f"billing.{event_type}"] = _finish(_with_event_type(schema, event_type))
    for event_type, model in OUTBOUND_EVENT_TYPES.items():
        schemas[f"journal.{event_type}"] = _finish(_outbound(event_type, model))
    return schemas


def _with_event_type(schema: dict[str, Any], event_type: str) -> dict[str, Any]:
    schema["properties"]["event_type"] = {"const": event_type, "type": "string"}
    schema["title"] = event_type
    return schema


def _wire_lines(
    schema: dict[str, Any], event_type: str, line_types: frozenset[str]
) -> dict[str, Any]:
    line = schema["$defs"]["TransactionLine"]
    line["description"] = (
        "A transaction line as sent: currency, document_number and account_number are "
        "inherited from data.document unless set."
    )
    line["required"] = [name for name in line["required"] if name not in _INHERITED]
    line["properties"]["type"] = {
        "type": "string",
        "enum": [type_id for type_id in TRANSACTION_TYPES if type_id in line_types],
    }
    if "revenue_event_item" in line_types:
        for name in ("debit_account", "credit_account"):
            text = dict(line["properties"][name])
            title = text.pop("title", None)
            line["properties"][name] = {"anyOf": [text, {"type": "null"}], "title": title}
        line["required"].append("accounting_period")
    return schema


def _outbound(event_type: str, model: type[BaseModel]) -> dict[str, Any]:
    """The envelope with ``data`` replaced by the event's data model."""
    schema = copy.deepcopy(Envelope.model_json_schema())
    data = model.model_json_schema(mode="serialization", by_alias=True)
    schema["$defs"] = {**data.pop("$defs", {}), model.__name__: data}
    schema["properties"]["data"] = {"$ref": f"#/$defs/{model.__name__}"}
    return _with_event_type(schema, event_type)


def _finish(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": _DIALECT, **schema}
