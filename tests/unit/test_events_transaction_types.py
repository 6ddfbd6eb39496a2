"""DOMAIN.md §1 transaction-type table: this test's table is the spec, the module must match."""

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

ALL = "L IS IIS ISH"
LEGACY = "L ISH"
MEMO = "IS IIS ISH"
APP = "IS ISH"
APP_ITEM = "IIS ISH"

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


# Types whose membership differs between settings, and where each one is enabled.
PROBES = [
    "invoice_item",
    "invoice_item_adjustment_invoice",
    "electronic_payment",
    "debit_memo_item_charge",
    "electronic_payment_application",
    "electronic_payment_application_item",
    "revenue_event_item",
    "unrealized_fx_gain_loss",
]
ENABLED = {
    ("legacy", False): {"invoice_item", "invoice_item_adjustment_invoice",
                        "electronic_payment", "revenue_event_item"},
    ("legacy", True): {"invoice_item", "invoice_item_adjustment_invoice",
                       "electronic_payment", "revenue_event_item"},
    ("invoice_settlement", False): {"invoice_item", "debit_memo_item_charge",
                                    "electronic_payment_application", "revenue_event_item",
                                    "unrealized_fx_gain_loss"},
    ("invoice_settlement", True): {"invoice_item", "invoice_item_adjustment_invoice",
                                   "electronic_payment", "debit_memo_item_charge",
                                   "electronic_payment_application",
                                   "electronic_payment_application_item",
                                   "revenue_event_item", "unrealized_fx_gain_loss"},
    ("invoice_item_settlement", False): {"invoice_item", "debit_memo_item_charge",
                                         "electronic_payment_application_item",
                                         "revenue_event_item", "unrealized_fx_gain_loss"},
    ("invoice_item_settlement", True): {"invoice_item", "invoice_item_adjustment_invoice",
                                        "electronic_payment", "debit_memo_item_charge",
                                        "electronic_payment_application",
                                        "electronic_payment_application_item",
                                        "revenue_event_item", "unrealized_fx_gain_loss"},
}
SIZES = {
    ("legacy", False): 16, ("legacy", True): 16,
    ("invoice_settlement", False): 13, ("invoice_settlement", True): 30,
    ("invoice_item_settlement", False): 13, ("invoice_item_settlement", True): 30,
}


@pytest.mark.parametrize(("settlement", "harmonization"), list(ENABLED), ids=str)
def test_enabled_types(settlement: str, harmonization: bool) -> None:
    enabled = enabled_types(settlement, harmonization)
    assert {t for t in PROBES if t in enabled} == ENABLED[settlement, harmonization]
    assert len(enabled) == SIZES[settlement, harmonization]
    assert enabled == enabled_types(Settlement(settlement), harmonization)


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


def test_resolve_unknown_name() -> None:
    with pytest.raises(UnknownTransactionType) as caught:
        resolve_type_names(["invoice_item", "Invoice Itme"], "legacy", False)
    assert caught.value.name == "Invoice Itme"
    assert isinstance(caught.value, ValueError)


def test_type_by_display_name_unknown() -> None:
    with pytest.raises(UnknownTransactionType):
        type_by_display_name("invoice_item")
