"""The 30 transaction types of docs/domain.md §1, as data.

One row per type, in the table's order, so that this file reads like the spec: category,
the date a type is judged by, the status it must have to be picked up, the settlement modes
in which it exists, and whether Multi-Org supports it. Everything that depends on the table
(which types a journal run may select, what a category expands to, which types carry no org
label) is derived from these rows, never restated elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "REQUEST_CATEGORIES",
    "TRANSACTION_TYPES",
    "Category",
    "Mode",
    "Settlement",
    "TransactionType",
    "UnknownTransactionType",
    "enabled_types",
    "resolve_type_names",
    "type_by_display_name",
]


class Category(StrEnum):
    """Transaction category; a journal-run request may name one instead of types."""

    BILLING = "billing"
    CASH = "cash"
    REVENUE = "revenue"
    UNREALIZED_FX = "unrealized_fx"


class Settlement(StrEnum):
    """Tenant settlement setting (docs/domain.md §1 Settings), in the only order it may move:
    legacy -> invoice settlement -> invoice item settlement."""

    LEGACY = "legacy"
    INVOICE_SETTLEMENT = "invoice_settlement"
    INVOICE_ITEM_SETTLEMENT = "invoice_item_settlement"


class Mode(StrEnum):
    """Settlement modes of the table's "modes" column.

    ISH (harmonization) marks the types that stay enabled beside IS or IIS when the tenant
    turns harmonization on: the legacy ones ("L, +ISH"). It never carries an IS-only type
    over to IIS or an IIS-only one over to IS (seed 002's table).
    """

    L = "L"
    IS = "IS"
    IIS = "IIS"
    ISH = "ISH"


@dataclass(frozen=True, slots=True)
class TransactionType:
    """One row of the docs/domain.md §1 transaction-type table."""

    id: str
    display_name: str
    category: Category
    date_basis: str
    required_status: str | None
    modes: frozenset[Mode]
    multi_org: bool

    @property
    def legacy(self) -> bool:
        """True for the types Multi-Org does not support: they carry no org label."""
        return not self.multi_org


class UnknownTransactionType(ValueError):
    """A name that is neither a type id, a display name nor a category."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown transaction type or category: {name!r}")
        self.name = name


_B, _C, _R, _FX = Category.BILLING, Category.CASH, Category.REVENUE, Category.UNREALIZED_FX
# The "modes" column, spelled as in the spec's table.
_ALL = frozenset(Mode)  # all
_L_ISH = frozenset({Mode.L, Mode.ISH})  # L, +ISH
_IS_IIS = frozenset({Mode.IS, Mode.IIS})  # IS, IIS
_IS = frozenset({Mode.IS})  # IS
_IIS = frozenset({Mode.IIS})  # IIS
_POSTED, _PROCESSED = "posted", "processed"

# fmt: off
_ROWS: tuple[TransactionType, ...] = tuple(TransactionType(*row) for row in (
    # id, display name, category, date basis, required status, modes, multi-org
    ("invoice_item", "Invoice Item", _B, "invoice date", _POSTED, _ALL, True),
    ("taxation_item", "Taxation Item", _B, "invoice date", _POSTED, _ALL, True),
    ("invoice_item_adjustment_invoice", "Invoice Item Adjustment (Invoice)", _B,
     "adjustment date", _PROCESSED, _L_ISH, False),
    ("invoice_item_adjustment_tax", "Invoice Item Adjustment (Tax)", _B,
     "adjustment date", _PROCESSED, _L_ISH, False),
    ("invoice_adjustment", "Invoice Adjustment", _B,
     "adjustment date", _PROCESSED, _L_ISH, False),
    ("credit_balance_adjustment_applied",
     "Credit Balance Adjustment (Applied from Credit Balance)", _B,
     "CBA date", _PROCESSED, _L_ISH, False),
    ("credit_balance_adjustment_transferred",
     "Credit Balance Adjustment (Transferred to Credit Balance)", _B,
     "CBA date", _PROCESSED, _L_ISH, False),
    ("debit_memo_item_charge", "Debit Memo Item (Charge)", _B,
     "debit memo date", _POSTED, _IS_IIS, True),
    ("debit_memo_item_tax", "Debit Memo Item (Tax)", _B,
     "debit memo date", _POSTED, _IS_IIS, True),
    ("credit_memo_item_charge", "Credit Memo Item (Charge)", _B,
     "credit memo date", _POSTED, _IS_IIS, True),
    ("credit_memo_item_tax", "Credit Memo Item (Tax)", _B,
     "credit memo date", _POSTED, _IS_IIS, True),
    ("credit_memo_application_item", "Credit Memo Application Item", _B,
     "application date", _POSTED, _IS_IIS, True),
    ("electronic_payment", "Electronic Payment", _C, "payment date", _PROCESSED, _L_ISH, True),
    ("external_payment", "External Payment", _C, "payment date", _PROCESSED, _L_ISH, True),
    ("electronic_refund", "Electronic Refund", _C, "refund date", _PROCESSED, _L_ISH, True),
    ("external_refund", "External Refund", _C, "refund date", _PROCESSED, _L_ISH, True),
    ("electronic_credit_balance_payment", "Electronic Credit Balance Payment", _C,
     "payment date", _PROCESSED, _L_ISH, False),
    ("external_credit_balance_payment", "External Credit Balance Payment", _C,
     "payment date", _PROCESSED, _L_ISH, False),
    ("electronic_credit_balance_refund", "Electronic Credit Balance Refund", _C,
     "refund date", _PROCESSED, _L_ISH, False),
    ("external_credit_balance_refund", "External Credit Balance Refund", _C,
     "refund date", _PROCESSED, _L_ISH, False),
    ("electronic_payment_application", "Electronic Payment Application", _C,
     "application date", _PROCESSED, _IS, True),
    ("external_payment_application", "External Payment Application", _C,
     "application date", _PROCESSED, _IS, True),
    ("electronic_refund_application", "Electronic Refund Application", _C,
     "application date", _PROCESSED, _IS, True),
    ("external_refund_application", "External Refund Application", _C,
     "application date", _PROCESSED, _IS, True),
    ("electronic_payment_application_item", "Electronic Payment Application Item", _C,
     "application date", _PROCESSED, _IIS, True),
    ("external_payment_application_item", "External Payment Application Item", _C,
     "application date", _PROCESSED, _IIS, True),
    ("electronic_refund_application_item", "Electronic Refund Application Item", _C,
     "application date", _PROCESSED, _IIS, True),
    ("external_refund_application_item", "External Refund Application Item", _C,
     "application date", _PROCESSED, _IIS, True),
    ("revenue_event_item", "Revenue Event Item", _R, "accounting period", None, _ALL, True),
    ("unrealized_fx_gain_loss", "Unrealized FX Gain Loss", _FX,
     "period end", None, _IS_IIS, True),
))
# fmt: on

TRANSACTION_TYPES: Mapping[str, TransactionType] = MappingProxyType({t.id: t for t in _ROWS})
"""Type id -> row, in table order (iteration order is the order journal runs report in)."""

REQUEST_CATEGORIES: Mapping[str, Callable[[TransactionType], bool]] = MappingProxyType({
    "billing": lambda t: t.category is Category.BILLING,
    "cash": lambda t: t.category is Category.CASH,
    # Seed 001's "Credit Balance" column: the credit balance adjustment, payment and refund
    # types. Each keeps its own category (billing or cash) in the table; this is a second
    # way of naming them, not a third category.
    "credit_balance": lambda t: "Credit Balance" in t.display_name,
    "revenue": lambda t: t.category is Category.REVENUE,
    "unrealized_fx": lambda t: t.category is Category.UNREALIZED_FX,
    "all": lambda t: True,
})
"""The names a journal-run request may use instead of types, each a test over the rows.

A request category expands to the rows it accepts that the settings enable.
"""

_ORDER = {t.id: i for i, t in enumerate(_ROWS)}
_BY_DISPLAY_NAME = {t.display_name.casefold(): t for t in _ROWS}

_BASE_MODE = {
    Settlement.LEGACY: Mode.L,
    Settlement.INVOICE_SETTLEMENT: Mode.IS,
    Settlement.INVOICE_ITEM_SETTLEMENT: Mode.IIS,
}


def enabled_types(settlement: Settlement | str, harmonization: bool) -> frozenset[str]:
    """Ids of the types that exist under the tenant's settlement settings.

    Legacy: the types marked L (harmonization is meaningless there). IS / IIS: the types
    marked IS / IIS, plus, when harmonization is on, the types marked ISH (the legacy ones).
    So IS + ISH = IS + L types and IIS + ISH = IIS + L types: payment and refund
    applications and their application items are never enabled together, as a payment
    sent both ways would otherwise be journaled twice.
    """
    mode = _BASE_MODE[Settlement(settlement)]
    with_ish = harmonization and mode is not Mode.L
    return frozenset(
        t.id for t in _ROWS if mode in t.modes or (with_ish and Mode.ISH in t.modes)
    )


def type_by_display_name(name: str) -> TransactionType:
    """The type whose Zuora display name is ``name`` (case-insensitive)."""
    try:
        return _BY_DISPLAY_NAME[name.strip().casefold()]
    except KeyError:
        raise UnknownTransactionType(name) from None


def resolve_type_names(
    names: Iterable[str], settlement: Settlement | str, harmonization: bool
) -> list[str]:
    """Expand a journal-run request's type names to type ids, de-duplicated, in table order.

    Accepts type ids, display names (both case-insensitive) and the names of
    ``REQUEST_CATEGORIES`` (``billing``, ``cash``, ``credit_balance``, ``revenue``,
    ``unrealized_fx``, ``all``). A category expands to its types that are enabled by the
    settings. A type named explicitly is returned even when the settings disable it:
    rejecting that is the caller's rule, with its own message.
    """
    enabled = enabled_types(settlement, harmonization)
    ids: set[str] = set()
    for name in names:
        key = name.strip().casefold()
        if key in REQUEST_CATEGORIES:
            accepts = REQUEST_CATEGORIES[key]
            ids.update(t.id for t in _ROWS if t.id in enabled and accepts(t))
        elif key in TRANSACTION_TYPES:
            ids.add(key)
        else:
            ids.add(type_by_display_name(name).id)
    return sorted(ids, key=_ORDER.__getitem__)
