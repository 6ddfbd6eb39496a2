"""Bytes from ``billing.events`` -> a validated event, or a ``ContractError`` saying why not.

One JSON parse and one pydantic validation per message: the ingest budget is a few
microseconds per event, so nothing here walks the document twice on the happy path.
JSON numbers are decoded straight to ``Decimal`` (``parse_float=Decimal``): going through a
float would turn ``0.1`` into ``0.1000000000000000055511151231257827...``, and pydantic's
own JSON parser is not used because the document-to-line inheritance has to see the raw
objects. Checks run in the order of the error codes of docs/contract.md §2, so a message gets
the code of its first problem: size, JSON, envelope, event type, payload.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from events.billing import (
    EVENT_LINE_TYPES,
    STATUS_CHANGED,
    BillingDocumentEvent,
    BillingEvent,
    Envelope,
    StatusChangedEvent,
)
from events.errors import (
    INVALID_ENVELOPE,
    INVALID_JSON,
    INVALID_PAYLOAD,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    ContractError,
)

__all__ = ["DEFAULT_MAX_BYTES", "body_hash", "canonical_body", "parse_billing_event"]

DEFAULT_MAX_BYTES = 1_048_576

# NaN/Infinity become non-finite Decimals rather than JSON errors, so that the amount field
# refuses them and the message names the field.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)

_MODEL_BY_EVENT_TYPE: dict[str, type[BillingDocumentEvent] | type[StatusChangedEvent]] = {
    event_type: BillingDocumentEvent for event_type in EVENT_LINE_TYPES
}
_MODEL_BY_EVENT_TYPE[STATUS_CHANGED] = StatusChangedEvent

# Errors located at ``data`` itself are about the envelope (data missing or not an object).
_DATA_SHAPE_ERRORS = frozenset({"missing", "model_type", "dict_type", "model_attributes_type"})
#: What pydantic reports for a string, mapping or list over its ``max_length``.
_LIMIT_ERRORS = frozenset({"string_too_long", "too_long"})
_KEY = "[key]"  # the last part of an error's location when a mapping's key is the problem
_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field here (misspelt?)",
}


def parse_billing_event(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> BillingEvent:
    """Validate one Kafka message value; raise ``ContractError`` with a stable code if bad."""
    if len(raw) > max_bytes:
        raise ContractError(TOO_LARGE, f"message is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(INVALID_JSON, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limit, nesting
        raise ContractError(INVALID_JSON, f"not JSON: {exc}") from None
    if "\\u" in text:  # only an escape can smuggle in NUL or a lone surrogate
        try:
            _check_storable(obj, "")
        except RecursionError:
            raise ContractError(INVALID_JSON, "message is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ContractError(
            INVALID_ENVELOPE, f"message must be a JSON object, not {_json_kind(obj)}"
        )
    event_type = obj.get("event_type")
    model = _MODEL_BY_EVENT_TYPE.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        _raise_if_invalid(Envelope, obj)  # a broken envelope outranks an unknown type
        raise ContractError(
            UNKNOWN_EVENT_TYPE,
            f"event_type: {_abbreviated(repr(event_type))} is not one of "
            f"{', '.join(sorted(EVENT_LINE_TYPES))}",
            field="event_type",
        )
    try:
        event: BillingEvent = model.__pydantic_validator__.validate_python(obj)
    except ValidationError as exc:
        raise _contract_error(exc) from None
    return event


def canonical_body(event: BillingEvent) -> bytes:
    """The event as sorted-key compact UTF-8 JSON, amounts as plain decimal strings.

    It is what the store keeps and what a re-sent ``event_id`` is compared by, so two
    messages that differ only in key order, whitespace, ``"10"`` vs ``10`` or inherited vs
    repeated document fields have the same body. The scale of an amount is kept:
    ``"10.00"`` and ``"10"`` are different bodies.
    """
    # Equal to json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False) because the models declare their fields in sorted order (and sort
    # segments); pydantic's serializer produces it in a third of the time.
    return event.__pydantic_serializer__.to_json(event)


def body_hash(event: BillingEvent) -> bytes:
    """SHA-256 of ``canonical_body``: a fixed-size key for duplicate detection."""
    return hashlib.sha256(canonical_body(event)).digest()


def _raise_if_invalid(model: type[BaseModel], obj: dict[str, Any]) -> None:
    """Raise the envelope's problem, if it has one; a field over a limit is not one (it is
    ``invalid_payload``, which ranks after the event type)."""
    try:
        model.model_validate(obj)
    except ValidationError as exc:
        error = _contract_error(exc)
        if error.code == INVALID_ENVELOPE:
            raise error from None


def _contract_error(exc: ValidationError) -> ContractError:
    """The first problem of the message, envelope problems first, as a ContractError."""
    errors = exc.errors(include_url=False)
    located = [(_field_path(error), error) for error in errors]
    envelope = [(path, error) for path, error in located if _is_envelope_error(path, error)]
    path, error = (envelope or located)[0]
    code = INVALID_ENVELOPE if envelope else INVALID_PAYLOAD
    detail = f"{path or 'message'}: {_describe(error)}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ContractError(code, detail, field=path or None)


def _field_path(error: ErrorDetails) -> str:
    """``('data', 'transactions', 0, 'amount')`` -> ``data.transactions[0].amount``.

    A key that is itself the problem (``(..., 'segments', <name>, '[key]')``) is named by its
    mapping's path, and any other key of the message appears abbreviated: keys come from the
    producer and may be kilobytes long.
    """
    loc = error["loc"]
    if loc and loc[-1] == _KEY:
        loc = loc[:-2]
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _abbreviated(part)
            path += f".{name}" if path else name
    suffix = (error.get("ctx") or {}).get("field")
    if suffix:
        path += suffix if not path or suffix.startswith("[") else f".{suffix}"
    return path


def _is_envelope_error(path: str, error: ErrorDetails) -> bool:
    if error["type"] in _LIMIT_ERRORS:
        return False  # over a limit is invalid_payload wherever it is (docs/contract.md §2)
    if path == "data":
        return error["type"] in _DATA_SHAPE_ERRORS
    return not path.startswith(("data.", "data["))


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[kind]
    if kind in _LIMIT_ERRORS:
        return _over_limit(error)
    message = error["msg"]
    value = error.get("input")
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        shown = repr(value) if not isinstance(value, Decimal) else str(value)
        message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    elif value is None and kind != "contract_rule":
        message += " (got null)"
    return message


def _over_limit(error: ErrorDetails) -> str:
    """``is 6000 characters long; the limit is 255``: the size, never the (huge) value."""
    limit = (error.get("ctx") or {}).get("max_length")
    value = error.get("input")
    size = len(value) if isinstance(value, str | dict | list) else "more"
    if error["type"] != "string_too_long":
        return f"has {size} entries; the limit is {limit}"
    if error["loc"] and error["loc"][-1] == _KEY:
        return f"has a name {size} characters long; the limit is {limit}"
    return f"is {size} characters long; the limit is {limit}"


def _abbreviated(text: str, keep: int = 60) -> str:
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _check_storable(value: object, path: str) -> None:
    """Refuse strings PostgreSQL ``jsonb`` cannot hold: NUL and unpaired surrogates.

    Were they let through, the insert would fail in the database and the ingest would
    take the failure for an outage and retry the same message forever.
    """
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            raise ContractError(
                INVALID_JSON,
                f"{path or 'message'}: string contains \\u0000 or an unpaired surrogate",
                field=path or None,
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, path)
            _check_storable(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_storable(item, f"{path}[{i}]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
