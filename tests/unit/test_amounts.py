"""An amount is shown at its currency's precision and never rounded (docs/domain.md §3)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from events import format_amount, minor_units
from events._iso4217 import ISO_4217_CODES, MINOR_UNITS, NO_MINOR_UNIT
from events.amounts import at_minor_units


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("12.5", "USD", "12.50"),  # the minor-unit digits are added
    ("12", "USD", "12.00"),
    ("500", "JPY", "500"),  # JPY has none
    ("500.5", "JPY", "500.5"),  # and a digit it has is never dropped
    ("1.25", "BHD", "1.250"),  # three-digit dinars
    ("1", "KWD", "1.000"),
    ("1.5", "CLF", "1.5000"),  # four-digit fund
    ("19.625", "USD", "19.625"),  # over-precise: every digit stays
    ("10.000", "USD", "10.000"),  # the amount's own scale is kept too
    ("-0.5", "USD", "-0.50"),  # the sign stays
    ("-3.25", "EUR", "-3.25"),
    ("-1E+3", "JPY", "-1000"),  # never an exponent
    ("1E+2", "USD", "100.00"),
    ("1E-10", "USD", "0.0000000001"),
    ("0", "USD", "0.00"),
    ("0", "JPY", "0"),
    ("-0", "USD", "0.00"),  # zero has no sign (nor has PostgreSQL's)
    ("-0E-12", "USD", "0.000000000000"),
    ("12345678901234567890.1", "USD", "12345678901234567890.10"),
    ("99999999999999999999999999999999999999", "BHD",
     "99999999999999999999999999999999999999.000"),  # 38 digits, beyond float and context
    ("1.5", "XAU", "1.5"),  # no minor unit (ISO "N.A."): nothing added, nothing lost
    ("7", "XDR", "7"),
    ("1.5", "ZZZ", "1.50"),  # a code the table does not know: two digits
])
def test_format_amount(amount: str, currency: str, shown: str) -> None:
    assert format_amount(Decimal(amount), currency) == shown
    assert Decimal(shown) == Decimal(amount)  # formatting only adds zeros


def test_at_minor_units_keeps_the_value_and_sets_the_digits() -> None:
    padded = at_minor_units(Decimal("12.5"), "USD")
    assert (padded, str(padded), padded.as_tuple().exponent) == (Decimal("12.5"), "12.50", -2)
    assert str(at_minor_units(Decimal("19.625"), "USD")) == "19.625"
    assert str(at_minor_units(Decimal("-0"), "JPY")) == "0"


def test_non_finite_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        format_amount(Decimal("NaN"), "USD")
    with pytest.raises(ValueError, match="finite"):
        format_amount(Decimal("-Infinity"), "USD")


def test_minor_units_follow_iso_4217() -> None:
    assert {code: minor_units(code) for code in ("USD", "EUR", "GBP", "JPY", "KRW", "CLP",
                                                 "BHD", "KWD", "OMR", "JOD", "TND", "IQD",
                                                 "LYD", "CLF", "UYW", "XAU", "XXX")} == {
        "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "CLP": 0,
        "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
        "CLF": 4, "UYW": 4, "XAU": 0, "XXX": 0,
    }
    assert set(MINOR_UNITS) == ISO_4217_CODES
    assert len(ISO_4217_CODES) == 186
    counts = {digits: sum(1 for d in MINOR_UNITS.values() if d == digits) for digits in range(5)}
    # 17 currencies without minor unit and 13 "N.A." codes; the 7 dinars; CLF and UYW
    assert counts == {0: 17 + len(NO_MINOR_UNIT), 1: 0, 2: 147, 3: 7, 4: 2}
    assert len(NO_MINOR_UNIT) == 13
