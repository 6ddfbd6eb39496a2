"""How the console shows amounts and times: exact, at the currency's precision, ISO dates.

An amount is shown with at least its currency's minor-unit digits (USD ``1,234.50``, JPY
``500``) and never loses one (``19.625`` stays): the same rule as every other output of the
ledger (docs/domain.md §3), with thousands grouped for reading.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from events.amounts import minor_units


def amount(value: str | Decimal | int | None, currency: str | None = None) -> str:
    """``1234.5`` in USD -> ``1,234.50``; ``19.625`` -> ``19.625``; None -> empty."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return str(value)
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    shown = max(minor_units((currency or "").upper()), places)
    return f"{number:,.{shown}f}"


def iso(value: date | datetime | str | None) -> str:
    """A date as ``2024-04-30``; a time as ``2024-04-30 12:05:09Z`` (UTC)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value
