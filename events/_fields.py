"""Field types shared by the inbound and outbound models.

They exist because pydantic's defaults are too lenient for money and dates on the wire:
lax ``Decimal`` accepts ``"1_000"``, ``" 1.5 "`` and binary floats, lax ``date`` accepts
Unix timestamps and ``"2024-04-21T00:00:00"``. A ledger must refuse anything it would have
to guess about, so these types accept exactly one spelling and say which in the error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from events._iso4217 import ISO_4217_CODES
from events.transaction_types import TRANSACTION_TYPES

__all__ = [
    "DECIMAL_PATTERN",
    "MAX_SEGMENTS",
    "MAX_TEXT_LENGTH",
    "Amount",
    "BoundedText",
    "CurrencyCode",
    "IsoDate",
    "IsoOffset",
    "IsoZ",
    "NonBlankStr",
    "NonBlankText",
    "Segments",
    "Timestamp",
    "TransactionTypeId",
    "plain_decimal",
]

MAX_AMOUNT_DIGITS = 38
"""Total significant digits an amount may have (integer plus fraction, exponent expanded).

Bounds the work ``format(amount, "f")`` and PostgreSQL ``numeric`` do: without it,
``"1e999999999"`` is a valid decimal that expands to a gigabyte of zeros.
"""

# The JSON number grammar, minus its ban on leading zeros; ASCII digits only.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_DECIMAL_STRING = re.compile(DECIMAL_PATTERN)


def _exact_decimal(value: object) -> Decimal:
    """Turn the wire forms of an amount into a finite, bounded ``Decimal``, never via float.

    ``parse_billing_event`` decodes JSON numbers straight to ``Decimal`` (and NaN/Infinity
    to non-finite Decimals, refused here with the field's name), so a float can only come
    from Python code, and it is refused: its value is already rounded to binary. This is a
    plain validator (pydantic's own Decimal checks are skipped) because pydantic checks
    ``max_digits`` in Python and that alone cost more than the rest of a line.
    """
    if isinstance(value, str):
        if not _DECIMAL_STRING.fullmatch(value):
            raise PydanticCustomError(
                "decimal_string",
                'must be a decimal string such as "-12.50" '
                "(no spaces, separators, NaN or Infinity)",
            )
        if len(value) <= MAX_AMOUNT_DIGITS and "e" not in value and "E" not in value:
            return Decimal(value)  # the usual case: too short to break a bound
        return _bounded(Decimal(value))
    if isinstance(value, Decimal):
        return _bounded(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _bounded(Decimal(value))
    if isinstance(value, float):
        raise PydanticCustomError(
            "decimal_not_float", "must be a decimal string or JSON number, never a binary float"
        )
    raise PydanticCustomError("decimal_type", "must be a decimal string or a JSON number")


def _bounded(amount: Decimal) -> Decimal:
    if not amount.is_finite():
        raise PydanticCustomError("decimal_finite", "must be a finite number, not NaN or Infinity")
    _sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite, so not 'n'/'N'/'F'
    total = len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)
    if total > MAX_AMOUNT_DIGITS:
        raise PydanticCustomError(
            "decimal_digits", "must have at most {max} digits", {"max": MAX_AMOUNT_DIGITS}
        )
    return amount


def plain_decimal(value: Decimal) -> str:
    """A decimal as a plain string: keeps the scale (``"10.00"``), never uses an exponent."""
    return format(value, "f")


Amount = Annotated[
    Decimal,
    PlainValidator(_exact_decimal),
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_PATTERN}]},
        mode="validation",
    ),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN}, mode="serialization"),
]
"""Signed exact money amount; JSON output is a plain decimal string."""


def _iso_date(value: object) -> date:
    """Accept only ``YYYY-MM-DD`` (or a ``date``, not a datetime, from Python code)."""
    if isinstance(value, str):
        if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise PydanticCustomError("date_value", "is not a calendar date") from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise PydanticCustomError("date_format", "must be a date written YYYY-MM-DD")


IsoDate = Annotated[
    date,
    PlainValidator(_iso_date),
    # Explicit: PlainValidator's default serializer warns about its own output in JSON mode.
    PlainSerializer(date.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date"}),
]
"""A calendar date; the wire form is exactly ``YYYY-MM-DD``."""


def _timestamp_text(value: object) -> object:
    """Refuse numbers: pydantic would guess whether they are seconds or milliseconds."""
    if isinstance(value, str | datetime):
        return value
    raise PydanticCustomError("timestamp_format", "must be an RFC 3339 timestamp string")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text)]
"""A timezone-aware instant, written as an RFC 3339 string on the wire."""


def iso_z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


IsoZ = Annotated[
    AwareDatetime,
    PlainSerializer(iso_z, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An instant written in UTC with ``Z``, microseconds only when it has any (as the API
keys' events have always written their times)."""

IsoOffset = Annotated[
    AwareDatetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An instant written with its offset (``+00:00``), as refusals have always been written."""


def _iso_4217(value: str) -> str:
    code = value.upper()
    if code not in ISO_4217_CODES:
        raise PydanticCustomError("currency_code", "is not an ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3),
    AfterValidator(_iso_4217),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217"}),
]
"""ISO 4217 alphabetic code, upper-cased (``"usd"`` is stored as ``"USD"``)."""

NonBlankStr = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
"""A string with at least one non-space character (ids, numbers, statuses)."""

MAX_TEXT_LENGTH = 255
"""Characters a text field of an inbound message may hold (docs/contract.md §2, "Rejected").

Every such field ends up in a column of the store, some in a btree key (the document number
in the event stream's name, the line id in the pending set's key). PostgreSQL refuses a key
entry above about 2.7 KB, and a message it cannot store must never reach it: refused here,
it is an ``invalid_payload`` naming the field, instead of a batch the database rejects.
"""
MAX_SEGMENTS = 32
"""Segments a line may carry (docs/contract.md §2); each name and value is a bounded text."""

# Checked by pydantic-core (Rust) with the type check itself: no Python call per field.
BoundedText = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]
"""A text field of an inbound message: at most ``MAX_TEXT_LENGTH`` characters."""
NonBlankText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH, pattern=r"\S")
]
"""A bounded text with at least one non-space character (ids, numbers, statuses)."""


def _sorted(segments: dict[str, str]) -> dict[str, str]:
    """Segments in key order, so that the canonical body does not depend on upstream's order."""
    return segments if len(segments) < 2 else dict(sorted(segments.items()))


Segments = Annotated[
    dict[BoundedText, BoundedText], Field(max_length=MAX_SEGMENTS), AfterValidator(_sorted)
]
"""A line's segments (name -> value), at most ``MAX_SEGMENTS``, kept in name order."""


def _known_type(type_id: str) -> str:
    if type_id not in TRANSACTION_TYPES:
        raise PydanticCustomError("transaction_type", "is not one of the 30 transaction types")
    return type_id


TransactionTypeId = Annotated[
    str,
    AfterValidator(_known_type),
    WithJsonSchema({"type": "string", "enum": list(TRANSACTION_TYPES)}),
]
"""A type id of the docs/domain.md §1 table."""
