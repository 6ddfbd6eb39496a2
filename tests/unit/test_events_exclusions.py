"""docs/domain.md §1 "what is never picked up", and the status a type must have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from events import (
    HOLD_REASON_STATUS,
    TRANSACTION_TYPES,
    BillingDocumentEvent,
    ExclusionReason,
    UnknownTransactionType,
    exclusion_reason,
    parse_billing_event,
    status_eligible,
)
from events.exclusions import recognition_rule_key

REPO = Path(__file__).resolve().parents[2]
# shared/ sits beside the repository (here and in CI); the package keeps a copy as samples.
SEED = next(
    folder
    for folder in (REPO.parent / "shared" / "data", REPO / "services" / "samples")
    if (folder / "seed001-payment.jsonl").exists()
)
PAYMENTS, AR, UNAPPLIED = (
    "Payments - 10002.000.00",
    "Accounts Receivable",
    "Unapplied Payments - 10488.000.00",
)
UPON_INVOICING = "Recognize upon invoicing"


def test_seed001_excludes_exactly_the_two_reclassifications() -> None:
    expected = json.loads((SEED / "seed001-expected.json").read_text())["excluded"]
    excluded: list[tuple[str, ExclusionReason | None]] = []
    journaled: list[tuple[str, ExclusionReason | None]] = []
    for raw in (SEED / "seed001-payment.jsonl").read_bytes().splitlines():
        event = parse_billing_event(raw)
        assert isinstance(event, BillingDocumentEvent)
        for line in event.data.transactions:
            reason = exclusion_reason(
                line.type, line.subtype, line.debit_account, line.credit_account,
                line.recognition_rule,
            )
            (excluded if reason else journaled).append((line.id, reason))
    assert excluded == [(i, ExclusionReason.RECLASSIFICATION) for i in expected]
    assert len(journaled) == 5


@pytest.mark.parametrize(
    "type_id",
    [
        "electronic_payment_application_item",
        "external_payment_application_item",
        "electronic_refund_application_item",
        "electronic_payment_application",
        "external_refund_application",
        "credit_memo_application_item",
    ],
)
def test_reclassification_of_application_records(type_id: str) -> None:
    assert exclusion_reason(type_id, "reclassification", UNAPPLIED, UNAPPLIED, None) == (
        ExclusionReason.RECLASSIFICATION
    )
    assert exclusion_reason(type_id, "Reclassification", AR, PAYMENTS, None) == (
        ExclusionReason.RECLASSIFICATION
    )


@pytest.mark.parametrize("subtype", [None, "unapplied", "invoice_item", "reclass"])
def test_other_application_records_are_journaled(subtype: str | None) -> None:
    type_id = "electronic_payment_application_item"
    assert exclusion_reason(type_id, subtype, AR, UNAPPLIED, None) is None


def test_reclassification_subtype_on_a_non_application_type_is_not_excluded() -> None:
    # docs/domain.md §1: the rule is about application records moving applied <-> unapplied.
    assert exclusion_reason("invoice_item", "reclassification", AR, "Revenue", None) is None


@pytest.mark.parametrize(
    ("debit", "credit"),
    [("", "Revenue"), ("Deferred Revenue", ""), (None, "Revenue"), ("Deferred", None),
     (None, None), ("  ", "Revenue")],
)
def test_revenue_upon_invoicing_with_a_blank_account(debit: str | None, credit: str | None) -> None:
    for rule in (UPON_INVOICING, "recognize upon invoicing", " RECOGNIZE  UPON INVOICING "):
        assert exclusion_reason("revenue_event_item", None, debit, credit, rule) == (
            ExclusionReason.REVENUE_UPON_INVOICING_BLANK_ACCOUNT
        )


def test_revenue_upon_invoicing_with_the_same_account_on_both_sides() -> None:
    assert exclusion_reason("revenue_event_item", None, "Revenue", "Revenue", UPON_INVOICING) == (
        ExclusionReason.REVENUE_SAME_ACCOUNTS
    )
    assert exclusion_reason("revenue_event_item", None, "Revenue ", "Revenue", UPON_INVOICING) == (
        ExclusionReason.REVENUE_SAME_ACCOUNTS
    )


@pytest.mark.parametrize(
    ("rule", "debit", "credit"),
    [
        (UPON_INVOICING, "Deferred Revenue", "Revenue"),  # rule matches, accounts fine
        ("Recognize daily over time", "", "Revenue"),  # blank, but another rule
        ("Recognize daily over time", "Revenue", "Revenue"),  # same, but another rule
        (None, "", ""),  # no rule at all
    ],
)
def test_revenue_items_that_are_journaled(rule: str | None, debit: str, credit: str) -> None:
    assert exclusion_reason("revenue_event_item", None, debit, credit, rule) is None


SPELLINGS = ["Recognize upon invoicing", "RECOGNIZE_UPON_INVOICING", "recognize-upon-invoicing",
             "  Recognize__upon - invoicing\t", "recognize\nupon\r\ninvoicing"]


@pytest.mark.parametrize("rule", SPELLINGS)
def test_every_spelling_of_recognize_upon_invoicing_is_the_rule(rule: str) -> None:
    assert recognition_rule_key(rule) == "recognize upon invoicing"
    assert exclusion_reason("revenue_event_item", None, "", "Revenue", rule) == (
        ExclusionReason.REVENUE_UPON_INVOICING_BLANK_ACCOUNT
    )
    assert exclusion_reason("revenue_event_item", None, "Revenue", "Revenue", rule) == (
        ExclusionReason.REVENUE_SAME_ACCOUNTS
    )
    assert exclusion_reason("revenue_event_item", None, "Deferred", "Revenue", rule) is None


@pytest.mark.parametrize("rule", [
    "recognizeuponinvoicing",  # separators are not optional
    "recognize upon invoicing.",
    "recognize upon invoicing daily",
    "recognİze upon invoicing",  # only ASCII letters fold, as in the SQL mirror
    "recognize\u00a0upon invoicing",  # a no-break space is not a separator there either
])
def test_near_spellings_are_another_rule(rule: str) -> None:
    assert exclusion_reason("revenue_event_item", None, "", "Revenue", rule) is None


def test_lines_of_an_unapplied_credit_memo_are_excluded() -> None:
    # seed 001: credit memo application items of an unapplied credit memo "will not reflect
    # in JE"; the same line carried by credit_memo.applied is journaled.
    line = ("credit_memo_application_item", None, AR, "Credit Memo", None)
    assert exclusion_reason(*line, event_type="credit_memo.unapplied") == (
        ExclusionReason.UNAPPLIED_CREDIT_MEMO
    )
    assert exclusion_reason(*line, event_type="credit_memo.applied") is None
    assert exclusion_reason(*line) is None


def test_a_reclassification_of_an_unapplied_credit_memo_keeps_its_own_reason() -> None:
    assert exclusion_reason("credit_memo_application_item", "reclassification", AR, AR, None,
                            event_type="credit_memo.unapplied") == (
        ExclusionReason.RECLASSIFICATION
    )


def test_account_rules_apply_only_to_revenue_event_items() -> None:
    assert exclusion_reason("invoice_item", None, "Revenue", "Revenue", UPON_INVOICING) is None
    assert exclusion_reason("taxation_item", None, "", "Tax", UPON_INVOICING) is None


def test_exclusion_reasons_are_stable_strings() -> None:
    assert [r.value for r in ExclusionReason] == [
        "reclassification",
        "revenue_upon_invoicing_blank_account",
        "revenue_same_accounts",
        "unapplied_credit_memo",
    ]
    assert HOLD_REASON_STATUS == "status_not_eligible"


@pytest.mark.parametrize(
    ("type_id", "status", "eligible"),
    [
        ("invoice_item", "posted", True),
        ("invoice_item", "draft", False),
        ("invoice_item", "canceled", False),
        ("invoice_item", "processed", False),
        ("electronic_payment_application_item", "processed", True),
        ("electronic_payment_application_item", "posted", False),
        ("credit_memo_application_item", "posted", True),
        ("invoice_adjustment", "processed", True),
        ("invoice_adjustment", "canceled", False),
        ("revenue_event_item", "anything", True),
        ("unrealized_fx_gain_loss", "draft", True),
    ],
)
def test_status_eligible(type_id: str, status: str, eligible: bool) -> None:
    assert status_eligible(type_id, status) is eligible


def test_every_type_with_a_required_status_accepts_exactly_it() -> None:
    for type_id, row in TRANSACTION_TYPES.items():
        if row.required_status is not None:
            assert status_eligible(type_id, row.required_status)
            assert not status_eligible(type_id, "draft")


def test_status_eligible_unknown_type() -> None:
    with pytest.raises(UnknownTransactionType):
        status_eligible("invoice", "posted")
