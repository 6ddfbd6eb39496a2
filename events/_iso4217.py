"""ISO 4217 alphabetic currency codes, as a frozenset.

Why not ``pydantic_extra_types.currency_code.ISO4217``: it looks codes up in pycountry on
every validation (slow on the ingest hot path) and pulls a large data package into a module
that consumers import only for the contract. The list below is ISO 4217 list one (current
currencies and funds, including the X-codes for metals, SDR, testing and "no currency"),
plus codes withdrawn recently enough that upstream history can still carry them
(HRK 2023, SLL 2024, ANG 2025, ZWL 2024, CUC 2021, VEF 2018, MRO 2018, STD 2018).
"""

from __future__ import annotations

__all__ = ["ISO_4217_CODES"]

ISO_4217_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRO MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
    SOS SRD SSP STD STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI
    UYU UYW UZS VED VEF VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF
    XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a table of codes reads better than 186 quoted strings
)
