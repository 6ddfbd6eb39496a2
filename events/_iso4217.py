"""ISO 4217 alphabetic currency codes and their minor-unit digits, as data.

Why not ``pydantic_extra_types.currency_code.ISO4217``: it looks codes up in pycountry on
every validation (slow on the ingest hot path) and pulls a large data package into a module
that consumers import only for the contract. The list below is ISO 4217 list one (current
currencies and funds, including the X-codes for metals, SDR, testing and "no currency"),
plus codes withdrawn recently enough that upstream history can still carry them
(HRK 2023, SLL 2024, ANG 2025, ZWL 2024, CUC 2021, VEF 2018, MRO 2018, STD 2018).

Minor units are list one's ``CcyMnrUnts`` (the withdrawn codes keep the digits they had).
The codes whose minor unit list one gives as "N.A." (precious metals, SDR, the bond-market
units, the testing and "no currency" codes) are given 0 here: nothing is added to their
amounts, and every digit an amount has is still shown (docs/domain.md §3 "Amounts").
PostgreSQL's ``currency_minor_units`` (migration 0015) holds the same table; a test keeps
the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_MINOR_UNITS", "ISO_4217_CODES", "MINOR_UNITS", "NO_MINOR_UNIT"]

# SIM905 below: tables of codes read better than hundreds of quoted strings.
_TWO_DIGITS = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS
    INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
    MAD MDL MGA MKD MMK MNT MOP MRO MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL
    SOS SRD SSP STD STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN
    UYU UZS VED VEF VES WST XCD XCG YER ZAR ZMW ZWG ZWL
""".split()  # noqa: SIM905
_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()  # noqa: SIM905
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND".split()  # noqa: SIM905
_FOUR_DIGITS = "CLF UYW".split()  # noqa: SIM905

NO_MINOR_UNIT: frozenset[str] = frozenset(
    "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX".split()  # noqa: SIM905
)
"""Codes whose minor unit ISO 4217 gives as "N.A."; ``MINOR_UNITS`` maps them to 0."""

MINOR_UNITS: Mapping[str, int] = MappingProxyType(dict(sorted(
    [(code, 2) for code in _TWO_DIGITS] + [(code, 0) for code in _ZERO_DIGITS]
    + [(code, 3) for code in _THREE_DIGITS] + [(code, 4) for code in _FOUR_DIGITS]
    + [(code, 0) for code in NO_MINOR_UNIT]
)))
"""ISO 4217 code -> the digits of its minor unit (USD 2, JPY 0, BHD 3, CLF 4)."""

DEFAULT_MINOR_UNITS = 2
"""The digits assumed for a code not in the table (none passes validation; kept total so
that showing an amount never fails)."""

ISO_4217_CODES: frozenset[str] = frozenset(MINOR_UNITS)
