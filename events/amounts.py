"""How an amount is shown: at its currency's precision, never rounded (docs/domain.md §3).

A finance reader expects USD ``12.50``, not ``12.5``, and JPY ``500``; an amount more
precise than its currency (an upstream ``19.625`` USD) must still show every digit it has,
because the ledger is exact and a rounded figure would not add up. So showing an amount
only ever *adds* zeros: up to the currency's ISO 4217 minor-unit digits, never fewer
digits than the value has, never an exponent. The value is unchanged: ``Decimal(shown)``
equals the amount.

PostgreSQL's ``format_amount(numeric, text)`` (migration 0015) is the same rule for what
the database writes itself (event payloads built in SQL, the CSV export); a test keeps the
two equal over every code and awkward amounts.
"""

from __future__ import annotations

from decimal import Decimal

from events._iso4217 import DEFAULT_MINOR_UNITS, MINOR_UNITS

__all__ = ["at_minor_units", "format_amount", "minor_units"]


def minor_units(currency: str) -> int:
    """The digits after the point that ``currency`` (an upper-case ISO 4217 code) always
    shows: USD 2, JPY 0, BHD 3, CLF 4; 0 for the codes without a minor unit (XAU, XDR);
    2 for a code the table does not know."""
    return MINOR_UNITS.get(currency, DEFAULT_MINOR_UNITS)


def at_minor_units(amount: Decimal, currency: str) -> Decimal:
    """The same value with at least ``currency``'s minor-unit digits: ``Decimal("12.5")``
    USD -> ``Decimal("12.50")``; ``19.625`` stays as it is. Zero loses its sign.

    Models that carry amounts store them so (``events.journal``), which makes their plain
    JSON form the shown form without a serializer that needs the currency.
    """
    if not amount.is_finite():
        raise ValueError(f"an amount is a finite number, not {amount}")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    if amount.is_zero():
        sign = 0
    wanted = -minor_units(currency)
    if exponent > wanted:
        digits += (0,) * (exponent - wanted)
        exponent = wanted
    return Decimal((sign, digits, exponent))


def format_amount(amount: Decimal, currency: str) -> str:
    """``amount`` as a plain decimal string with at least ``currency``'s minor-unit digits.

    USD 12.5 -> ``"12.50"``, JPY 500 -> ``"500"``, JPY 500.5 -> ``"500.5"``, BHD 1.25 ->
    ``"1.250"``, USD 19.625 -> ``"19.625"``, USD -0.5 -> ``"-0.50"``. Never an exponent.
    Zero has no sign (PostgreSQL's numeric has no negative zero, and the two must agree).
    """
    return format(at_minor_units(amount, currency), "f")
