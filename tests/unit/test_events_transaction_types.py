"""docs/domain.md §1 transaction-type table: this test's table is the spec, the module must
match."""

from __future__ import annotations

import pytest

from events import (
    TRANSACTION_TYPES,
    Category,
    Mode,
    Settlement,
    UnknownTransactionType,
    enabled_types,
    resolve_type_names,
    type_by_display_name,
)
from events.transaction_types import REQUEST_CATEGORIES

# The spec's "modes" column: all | L, +ISH | IS, IIS | IS | IIS
ALL = "L IS IIS ISH"
LEGACY = "L ISH"
MEMO = "IS IIS"
APP = "IS"
APP_ITEM = "IIS"

# fmt: off
TABLE = [
    # id, display name, category, required status, modes, multi-org, date basis
    ("invoice_item", "Invoice Item", "billing", "posted", ALL, True, "invoice date"),
    ("taxation_item", "Taxation Item", "billing", "posted", ALL, True, "invoice date"),
    ("invoice_item_adjustment_invoice", "Invoice Item Adjustment (Invoice)", "billing",
     "processed", LEGACY, False, "adjustment date"),
    ("invoice_item_adjustment_tax", "Invoice Item Adjustment (Tax)", "billing",
     "processed", LEGACY, False, "adjustment date"),
    ("invoice_adjustment", "Invoice Adjustment", "billing",
     "processed", LEGACY, False, "adjustment date"),
    ("credit_balance_adjustment_applied",
     "Credit Balance Adjustment (Applied from Credit Balance)", "billing",
     "processed", LEGACY, False, "CBA date"),
    ("credit_balance_adjustment_transferred",
     "Credit Balance Adjustment (Transferred to Credit Balance)", "billing",
     "processed", LEGACY, False, "CBA date"),
    ("debit_memo_item_charge", "Debit Memo Item (Charge)", "billing",
     "posted", MEMO, True, "debit memo date"),
    ("debit_memo_item_tax", "Debit Memo Item (Tax)", "billing",
     "posted", MEMO, True, "debit memo date"),
    ("credit_memo_item_charge", "Credit Memo Item (Charge)", "billing",
     "posted", MEMO, True, "credit memo date"),
    ("credit_memo_item_tax", "Credit Memo Item (Tax)", "billing",
     "posted", MEMO, True, "credit memo date"),
    ("credit_memo_application_item", "Credit Memo Application Item", "billing",
     "posted", MEMO, True, "application date"),
    ("electronic_payment", "Electronic Payment", "cash",
     "processed", LEGACY, True, "payment date"),
    ("external_payment", "External Payment", "cash",
     "processed", LEGACY, True, "payment date"),
    ("electronic_refund", "Electronic Refund", "cash",
     "processed", LEGACY, True, "refund date"),
    ("external_refund", "External Refund", "cash",
     "processed", LEGACY, True, "refund date"),
    ("electronic_credit_balance_payment", "Electronic Credit Balance Payment", "cash",
     "processed", LEGACY, False, "payment date"),
    ("external_credit_balance_payment", "External Credit Balance Payment", "cash",
     "processed", LEGACY, False, "payment date"),
    ("electronic_credit_balance_refund", "Electronic Credit Balance Refund", "cash",
     "processed", LEGACY, False, "refund date"),
    ("external_credit_balance_refund", "External Credit Balance Refund", "cash",
     "processed", LEGACY, False, "refund date"),
    ("electronic_payment_application", "Electronic Payment Application", "cash",
     "processed", APP, True, "application date"),
    ("external_payment_application", "External Payment Application", "cash",
     "processed", APP, True, "application date"),
    ("electronic_refund_application", "Electronic Refund Application", "cash",
     "processed", APP, True, "application date"),
    ("external_refund_application", "External Refund Application", "cash",
     "processed", APP, True, "application date"),
    ("electronic_payment_application_item", "Electronic Payment Application Item", "cash",
     "processed", APP_ITEM, True, "application date"),
    ("external_payment_application_item", "External Payment Application Item", "cash",
     "processed", APP_ITEM, True, "application date"),
    ("electronic_refund_application_item", "Electronic Refund Application Item", "cash",
     "processed", APP_ITEM, True, "application date"),
    ("external_refund_application_item", "External Refund Application Item", "cash",
     "processed", APP_ITEM, True, "application date"),
    ("revenue_event_item", "Revenue Event Item", "revenue",
     None, ALL, True, "accounting period"),
    ("unrealized_fx_gain_loss", "Unrealized FX Gain Loss", "unrealized_fx",
     None, MEMO, True, "period end"),
]
# fmt: on


@pytest.mark.parametrize(
    ("type_id", "display", "category", "status", "modes", "multi_org", "date_basis"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_row(
    type_id: str,
    display: str,
    category: str,
    status: str | None,
    modes: str,
    multi_org: bool,
    date_basis: str,
) -> None:
    row = TRANSACTION_TYPES[type_id]
    assert row.id == type_id
    assert row.display_name == display
    assert row.category is Category(category)
    assert row.required_status == status
    assert row.modes == frozenset(Mode(m) for m in modes.split())
    assert row.multi_org is multi_org
    assert row.legacy is (not multi_org)
    assert row.date_basis == date_basis
    assert type_by_display_name(display) is row
    assert type_by_display_name(display.upper()) is row


def test_table_has_exactly_the_30_types_in_order() -> None:
    assert list(TRANSACTION_TYPES) == [row[0] for row in TABLE]
    assert len(TRANSACTION_TYPES) == 30


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSACTION_TYPES["x"] = TRANSACTION_TYPES["invoice_item"]  # type: ignore[index]


# The enabled-type table of docs/domain.md §1, in full: what each settlement mode enables,
# and what harmonization adds (the legacy types, and nothing of the other settlement mode).
BOTH = {"invoice_item", "taxation_item", "revenue_event_item"}
LEGACY_BILLING = {"invoice_item_adjustment_invoice", "invoice_item_adjustment_tax",
                  "invoice_adjustment", "credit_balance_adjustment_applied",
                  "credit_balance_adjustment_transferred"}
LEGACY_CASH = {"electronic_payment", "external_payment", "electronic_refund", "external_refund",
               "electronic_credit_balance_payment", "external_credit_balance_payment",
               "electronic_credit_balance_refund", "external_credit_balance_refund"}
MEMOS = {"debit_memo_item_charge", "debit_memo_item_tax", "credit_memo_item_charge",
         "credit_memo_item_tax", "credit_memo_application_item", "unrealized_fx_gain_loss"}
APPLICATIONS = {"electronic_payment_application", "external_payment_application",
                "electronic_refund_application", "external_refund_application"}
APPLICATION_ITEMS = {"electronic_payment_application_item", "external_payment_application_item",
                     "electronic_refund_application_item", "external_refund_application_item"}
L_TYPES = BOTH | LEGACY_BILLING | LEGACY_CASH
IS_TYPES = BOTH | MEMOS | APPLICATIONS
IIS_TYPES = BOTH | MEMOS | APPLICATION_ITEMS
ENABLED = {
    ("legacy", False): L_TYPES,
    ("legacy", True): L_TYPES,
    ("invoice_settlement", False): IS_TYPES,
    ("invoice_settlement", True): IS_TYPES | L_TYPES,
    ("invoice_item_settlement", False): IIS_TYPES,
    ("invoice_item_settlement", True): IIS_TYPES | L_TYPES,
}
SIZES = {
    ("legacy", False): 16, ("legacy", True): 16,
    ("invoice_settlement", False): 13, ("invoice_settlement", True): 26,
    ("invoice_item_settlement", False): 13, ("invoice_item_settlement", True): 26,
}


@pytest.mark.parametrize(("settlement", "harmonization"), list(ENABLED), ids=str)
def test_enabled_types(settlement: str, harmonization: bool) -> None:
    enabled = enabled_types(settlement, harmonization)
    assert enabled == ENABLED[settlement, harmonization]
    assert len(enabled) == SIZES[settlement, harmonization]
    assert enabled == enabled_types(Settlement(settlement), harmonization)


def test_the_groups_above_partition_the_table() -> None:
    groups = [BOTH, LEGACY_BILLING, LEGACY_CASH, MEMOS, APPLICATIONS, APPLICATION_ITEMS]
    assert sum(len(g) for g in groups) == 30
    assert set().union(*groups) == set(TRANSACTION_TYPES)


@pytest.mark.parametrize(("settlement", "harmonization"), list(ENABLED), ids=str)
def test_applications_and_application_items_are_never_enabled_together(
    settlement: str, harmonization: bool
) -> None:
    # A payment sent both as applications and as application items would be journaled twice.
    enabled = enabled_types(settlement, harmonization)
    assert not (enabled & APPLICATIONS and enabled & APPLICATION_ITEMS)


def test_enabled_types_rejects_unknown_settlement() -> None:
    with pytest.raises(ValueError):
        enabled_types("harmonized", False)


def test_resolve_category_expands_to_enabled_types_in_table_order() -> None:
    assert resolve_type_names(["cash"], "invoice_item_settlement", False) == [
        "electronic_payment_application_item",
        "external_payment_application_item",
        "electronic_refund_application_item",
        "external_refund_application_item",
    ]
    assert resolve_type_names(["revenue", "unrealized_fx"], "legacy", False) == [
        "revenue_event_item"
    ]


def test_resolve_all_is_every_enabled_type() -> None:
    resolved = resolve_type_names(["all"], "invoice_settlement", False)
    enabled = enabled_types("invoice_settlement", False)
    assert resolved == [t for t in TRANSACTION_TYPES if t in enabled]


def test_resolve_mixes_ids_display_names_and_categories_without_duplicates() -> None:
    resolved = resolve_type_names(
        ["Electronic Payment Application Item", "invoice_item", "BILLING", "invoice item"],
        Settlement.INVOICE_ITEM_SETTLEMENT,
        False,
    )
    assert resolved == [
        "invoice_item",
        "taxation_item",
        "debit_memo_item_charge",
        "debit_memo_item_tax",
        "credit_memo_item_charge",
        "credit_memo_item_tax",
        "credit_memo_application_item",
        "electronic_payment_application_item",
    ]


def test_resolve_keeps_explicitly_named_disabled_types() -> None:
    assert resolve_type_names(["Invoice Adjustment"], "invoice_settlement", False) == [
        "invoice_adjustment"
    ]


CREDIT_BALANCE = ["credit_balance_adjustment_applied", "credit_balance_adjustment_transferred",
                  "electronic_credit_balance_payment", "external_credit_balance_payment",
                  "electronic_credit_balance_refund", "external_credit_balance_refund"]


@pytest.mark.parametrize(("settlement", "harmonization", "expected"), [
    ("legacy", False, CREDIT_BALANCE),
    ("invoice_settlement", True, CREDIT_BALANCE),
    ("invoice_item_settlement", True, CREDIT_BALANCE),
    ("invoice_settlement", False, []),
    ("invoice_item_settlement", False, []),
])
def test_the_credit_balance_category_is_the_credit_balance_types_the_settings_enable(
    settlement: str, harmonization: bool, expected: list[str]
) -> None:
    assert resolve_type_names([" Credit_Balance "], settlement, harmonization) == expected


def test_credit_balance_types_keep_their_own_category() -> None:
    assert [TRANSACTION_TYPES[t].category.value for t in CREDIT_BALANCE] == [
        "billing", "billing", "cash", "cash", "cash", "cash"]
    assert "credit_balance" not in {c.value for c in Category}
    assert set(resolve_type_names(["billing", "cash"], "legacy", False)) >= set(CREDIT_BALANCE)


def test_the_request_categories_are_the_specs() -> None:
    assert list(REQUEST_CATEGORIES) == [
        "billing", "cash", "credit_balance", "revenue", "unrealized_fx", "all"]


def test_cash_under_item_settlement_with_harmonization_has_no_applications() -> None:
    assert resolve_type_names(["cash"], "invoice_item_settlement", True) == [
        "electronic_payment", "external_payment", "electronic_refund", "external_refund",
        "electronic_credit_balance_payment", "external_credit_balance_payment",
        "electronic_credit_balance_refund", "external_credit_balance_refund",
        "electronic_payment_application_item", "external_payment_application_item",
        "electronic_refund_application_item", "external_refund_application_item",
    ]


def test_resolve_unknown_name() -> None:
    with pytest.raises(UnknownTransactionType) as caught:
        resolve_type_names(["invoice_item", "Invoice Itme"], "legacy", False)
    assert caught.value.name == "Invoice Itme"
    assert isinstance(caught.value, ValueError)


def test_type_by_display_name_unknown() -> None:
    with pytest.raises(UnknownTransactionType):
        type_by_display_name("invoice_item")
