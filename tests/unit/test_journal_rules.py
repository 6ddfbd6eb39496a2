"""A journal-run request checked against every rule of docs/domain.md §3, before anything is
written.

Each test names one rule; the request around it is otherwise valid, so the rule under test is
the one that answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.journal_rules import JournalRunRequest, LedgerSettings, RunPlan, plan_journal_run
from events.periods import OPEN_ENDED_NAME, Period
from events.transaction_types import Settlement
from events.violations import RuleViolation

IS = LedgerSettings()
IIS = LedgerSettings(Settlement.INVOICE_ITEM_SETTLEMENT)
LEGACY = LedgerSettings(Settlement.LEGACY)
IS_HARMONIZED = LedgerSettings(Settlement.INVOICE_SETTLEMENT, harmonization=True)
IIS_HARMONIZED = LedgerSettings(Settlement.INVOICE_ITEM_SETTLEMENT, harmonization=True)
MULTI_ORG = LedgerSettings(Settlement.INVOICE_SETTLEMENT, multi_org=True)
MULTI_ORG_HARMONIZED = LedgerSettings(Settlement.INVOICE_SETTLEMENT, True, True)

APR = Period("", "Apr-2024", date(2024, 4, 1), date(2024, 4, 30), fiscal_year=2024)
MAY = Period("", "May-2024", date(2024, 5, 1), date(2024, 5, 31), fiscal_year=2024)
OPEN_ENDED = Period("", OPEN_ENDED_NAME, None, None, open_ended=True)
PERIODS = [APR, MAY, OPEN_ENDED]

APRIL = JournalRunRequest(types=("invoice_item",), period="Apr-2024")


def plan(
    request: JournalRunRequest = APRIL,
    settings: LedgerSettings = IS,
    orgs: frozenset[str] = frozenset(),
    periods: list[Period] | None = None,
) -> RunPlan:
    return plan_journal_run(request, settings, orgs, PERIODS if periods is None else periods)


def refused(request: JournalRunRequest, settings: LedgerSettings = IS,
            orgs: frozenset[str] = frozenset(), periods: list[Period] | None = None) -> str:
    """The code of the rule the request breaks (it must break one)."""
    with pytest.raises(RuleViolation) as caught:
        plan(request, settings, orgs, periods)
    return caught.value.code


# -- types -----------------------------------------------------------------------------------


def test_types_required() -> None:
    assert refused(replace(APRIL, types=())) == "types_required"


def test_types_required_when_the_categories_named_enable_none() -> None:
    # Unrealized FX gain/loss does not exist under legacy settlement.
    assert refused(replace(APRIL, types=("unrealized_fx",)), LEGACY) == "types_required"


@pytest.mark.parametrize("name", ["invoice", "Invoice Items", "billing,cash", ""])
def test_transaction_type_unknown(name: str) -> None:
    assert refused(replace(APRIL, types=(name,))) == "transaction_type_unknown"


@pytest.mark.parametrize("name", ["invoice_adjustment", "electronic_credit_balance_payment",
                                  "Credit Balance Adjustment (Applied from Credit Balance)"])
def test_legacy_type_under_multi_org(name: str) -> None:
    request = replace(APRIL, types=(name,), org="US")
    assert refused(request, MULTI_ORG_HARMONIZED, frozenset({"US"})) == (
        "legacy_type_under_multi_org"
    )


@pytest.mark.parametrize(("name", "settings"), [
    ("invoice_adjustment", IS),
    ("electronic_payment_application_item", IS),
    ("electronic_payment_application", IIS),
    ("debit_memo_item_charge", LEGACY),
    ("unrealized_fx_gain_loss", LEGACY),
])
def test_transaction_type_not_enabled(name: str, settings: LedgerSettings) -> None:
    assert refused(replace(APRIL, types=(name,)), settings) == "transaction_type_not_enabled"


def test_types_are_resolved_by_id_or_display_name_deduplicated_in_table_order() -> None:
    request = replace(APRIL, types=("Taxation Item", "invoice_item", "INVOICE ITEM"))
    assert plan(request).types == ("invoice_item", "taxation_item")


@pytest.mark.parametrize(("category", "settings", "expected"), [
    ("cash", IS, ("electronic_payment_application", "external_payment_application",
                  "electronic_refund_application", "external_refund_application")),
    ("cash", IIS, ("electronic_payment_application_item", "external_payment_application_item",
                   "electronic_refund_application_item", "external_refund_application_item")),
    ("cash", LEGACY, ("electronic_payment", "external_payment", "electronic_refund",
                      "external_refund", "electronic_credit_balance_payment",
                      "external_credit_balance_payment", "electronic_credit_balance_refund",
                      "external_credit_balance_refund")),
    ("billing", IS, ("invoice_item", "taxation_item", "debit_memo_item_charge",
                     "debit_memo_item_tax", "credit_memo_item_charge", "credit_memo_item_tax",
                     "credit_memo_application_item")),
    ("billing", LEGACY, ("invoice_item", "taxation_item", "invoice_item_adjustment_invoice",
                         "invoice_item_adjustment_tax", "invoice_adjustment",
                         "credit_balance_adjustment_applied",
                         "credit_balance_adjustment_transferred")),
    ("revenue", IS, ("revenue_event_item",)),
    ("unrealized_fx", IIS, ("unrealized_fx_gain_loss",)),
])
def test_a_category_expands_to_the_types_the_settings_enable(
    category: str, settings: LedgerSettings, expected: tuple[str, ...]
) -> None:
    assert plan(replace(APRIL, types=(category,)), settings).types == expected


def test_all_under_harmonization_is_the_settlement_types_and_the_legacy_ones_none_twice() -> None:
    types = plan(replace(APRIL, types=("all", "cash")), IS_HARMONIZED).types
    assert len(types) == 26 and len(set(types)) == 26
    assert "electronic_payment_application" in types
    assert "electronic_payment_application_item" not in types


@pytest.mark.parametrize(("settings", "expected"), [
    (IIS_HARMONIZED, ("electronic_payment", "external_payment", "electronic_refund",
                      "external_refund", "electronic_credit_balance_payment",
                      "external_credit_balance_payment", "electronic_credit_balance_refund",
                      "external_credit_balance_refund", "electronic_payment_application_item",
                      "external_payment_application_item", "electronic_refund_application_item",
                      "external_refund_application_item")),
    (IS_HARMONIZED, ("electronic_payment", "external_payment", "electronic_refund",
                     "external_refund", "electronic_credit_balance_payment",
                     "external_credit_balance_payment", "electronic_credit_balance_refund",
                     "external_credit_balance_refund", "electronic_payment_application",
                     "external_payment_application", "electronic_refund_application",
                     "external_refund_application")),
])
def test_cash_under_harmonization_never_holds_both_application_kinds(
    settings: LedgerSettings, expected: tuple[str, ...]
) -> None:
    assert plan(replace(APRIL, types=("cash",)), settings).types == expected


def test_an_application_named_under_item_settlement_with_harmonization_is_not_enabled() -> None:
    request = replace(APRIL, types=("electronic_payment_application",))
    assert refused(request, IIS_HARMONIZED) == "transaction_type_not_enabled"


def test_the_credit_balance_category() -> None:
    assert plan(replace(APRIL, types=("credit_balance",)), IS_HARMONIZED).types == (
        "credit_balance_adjustment_applied", "credit_balance_adjustment_transferred",
        "electronic_credit_balance_payment", "external_credit_balance_payment",
        "electronic_credit_balance_refund", "external_credit_balance_refund",
    )
    # none of them exists without harmonization, and Multi-Org supports none of them
    assert refused(replace(APRIL, types=("credit_balance",)), IS) == "types_required"
    request = replace(APRIL, types=("credit_balance",), org="US")
    assert refused(request, MULTI_ORG_HARMONIZED, frozenset({"US"})) == "types_required"


def test_under_multi_org_a_category_leaves_out_the_legacy_types_it_cannot_journal() -> None:
    request = replace(APRIL, types=("billing",), org="US")
    assert plan(request, MULTI_ORG_HARMONIZED, frozenset({"US"})).types == (
        "invoice_item", "taxation_item", "debit_memo_item_charge", "debit_memo_item_tax",
        "credit_memo_item_charge", "credit_memo_item_tax", "credit_memo_application_item",
    )
    everything = plan(replace(request, types=("all",)), MULTI_ORG_HARMONIZED, frozenset({"US"}))
    assert len(everything.types) == 26 - 9


# -- scope -----------------------------------------------------------------------------------


def test_org_required_under_multi_org() -> None:
    assert refused(APRIL, MULTI_ORG, frozenset({"US"})) == "org_required"


def test_org_not_allowed_without_multi_org() -> None:
    assert refused(replace(APRIL, org="US"), IS, frozenset({"US"})) == "org_not_allowed"


def test_org_unknown_is_not_found() -> None:
    with pytest.raises(RuleViolation) as caught:
        plan(replace(APRIL, org="EU"), MULTI_ORG, frozenset({"US"}))
    assert (caught.value.code, caught.value.kind) == ("org_unknown", "not_found")


def test_the_scope_is_the_org_under_multi_org_else_unlabeled() -> None:
    labelled = plan(replace(APRIL, org="US"), MULTI_ORG, frozenset({"US"}))
    assert (labelled.scope, labelled.org) == ("US", "US")
    unlabeled = plan(APRIL)
    assert (unlabeled.scope, unlabeled.org) == ("", None)


# -- target ----------------------------------------------------------------------------------


# -- no target: the scope's earliest open period (seed 001: "by default, the current, open
#    accounting period is selected")

JUN = Period("", "Jun-2024", date(2024, 6, 1), date(2024, 6, 30), fiscal_year=2024)
NO_TARGET = replace(APRIL, period=None)


@pytest.mark.parametrize(("statuses", "expected"), [
    (("open", "open", "open"), APR),
    (("closed", "open", "open"), MAY),
    (("closed", "pending_close", "open"), JUN),
    (("pending_close", "open", "open"), MAY),
    (("closed", "closed", "open"), JUN),
])
def test_no_target_is_the_earliest_open_period(
    statuses: tuple[str, str, str], expected: Period
) -> None:
    periods = [replace(p, status=s) for p, s in zip((APR, MAY, JUN), statuses, strict=True)]
    result = plan(NO_TARGET, periods=[OPEN_ENDED, *reversed(periods)])
    assert (result.target, result.period.name, result.start, result.end) == (
        "period", expected.name, expected.start, expected.end)
    assert result.journal_entry_date == expected.end


@pytest.mark.parametrize("periods", [
    [replace(APR, status="closed"), replace(MAY, status="pending_close"), OPEN_ENDED],
    [OPEN_ENDED],  # the open-ended period is open, but never a target
    [],
])
def test_target_required_when_no_period_is_open(periods: list[Period]) -> None:
    assert refused(NO_TARGET, periods=periods) == "target_required"


def test_a_default_target_is_a_whole_period_so_revenue_may_use_it() -> None:
    result = plan(replace(NO_TARGET, types=("revenue", "unrealized_fx")))
    assert (result.target, result.period) == ("period", APR)


@pytest.mark.parametrize("extra", [
    {"date": date(2024, 4, 3)},
    {"start": date(2024, 4, 3), "end": date(2024, 4, 4)},
    {"end": date(2024, 4, 4)},
])
def test_target_ambiguous(extra: dict[str, Any]) -> None:
    assert refused(replace(APRIL, **extra)) == "target_ambiguous"


def test_target_ambiguous_with_a_date_and_a_range() -> None:
    request = JournalRunRequest(types=("invoice_item",), date=date(2024, 4, 3),
                                start=date(2024, 4, 1))
    assert refused(request) == "target_ambiguous"


def test_period_not_found_is_not_found() -> None:
    with pytest.raises(RuleViolation) as caught:
        plan(replace(APRIL, period="Jun-2024"))
    assert (caught.value.code, caught.value.kind) == ("period_not_found", "not_found")


@pytest.mark.parametrize("target", [
    {"period": OPEN_ENDED_NAME},
    {"period": None, "date": date(2024, 6, 1)},
    {"period": None, "start": date(2024, 6, 1), "end": date(2024, 6, 3)},
    {"period": None, "start": date(2024, 5, 30), "end": date(2024, 6, 2)},
])
def test_target_open_ended(target: dict[str, Any]) -> None:
    assert refused(replace(APRIL, **target)) == "target_open_ended"


def test_every_date_is_open_ended_while_no_period_is_defined() -> None:
    request = replace(APRIL, period=None, date=date(2024, 4, 3))
    assert refused(request, periods=[OPEN_ENDED]) == "target_open_ended"


@pytest.mark.parametrize("target", [
    {"date": date(2024, 3, 31)},
    {"start": date(2024, 3, 30), "end": date(2024, 4, 2)},
])
def test_target_outside_periods(target: dict[str, Any]) -> None:
    assert refused(replace(APRIL, period=None, **target)) == "target_outside_periods"


@pytest.mark.parametrize("target", [{"start": date(2024, 4, 3)}, {"end": date(2024, 4, 3)}])
def test_target_range_incomplete(target: dict[str, Any]) -> None:
    assert refused(replace(APRIL, period=None, **target)) == "target_range_incomplete"


def test_target_range_inverted() -> None:
    request = replace(APRIL, period=None, start=date(2024, 4, 5), end=date(2024, 4, 4))
    assert refused(request) == "target_range_inverted"


def test_target_across_periods() -> None:
    request = replace(APRIL, period=None, start=date(2024, 4, 30), end=date(2024, 5, 1))
    assert refused(request) == "target_across_periods"


@pytest.mark.parametrize("types", [("revenue_event_item",), ("revenue",),
                                   ("unrealized_fx_gain_loss",), ("unrealized_fx",),
                                   ("invoice_item", "Revenue Event Item"), ("all",)])
@pytest.mark.parametrize("target", [
    {"date": date(2024, 4, 3)},
    {"start": date(2024, 4, 1), "end": date(2024, 4, 30)},
])
def test_target_requires_period(types: tuple[str, ...], target: dict[str, Any]) -> None:
    assert refused(JournalRunRequest(types=types, **target)) == "target_requires_period"


def test_revenue_and_unrealized_fx_may_target_a_whole_period() -> None:
    result = plan(replace(APRIL, types=("revenue", "unrealized_fx")))
    assert result.types == ("revenue_event_item", "unrealized_fx_gain_loss")


def test_the_first_rule_broken_answers_types_before_scope_before_target() -> None:
    request = JournalRunRequest(types=("nope",), org="US")
    assert refused(request) == "transaction_type_unknown"
    assert refused(replace(request, types=("invoice_item",))) == "org_not_allowed"


# -- the plan --------------------------------------------------------------------------------


def test_a_period_target_covers_the_whole_period() -> None:
    result = plan(replace(APRIL, period="May-2024"))
    assert (result.target, result.period, result.start, result.end) == (
        "period", MAY, date(2024, 5, 1), date(2024, 5, 31))


def test_a_date_target_is_that_one_day_of_its_period() -> None:
    result = plan(replace(APRIL, period=None, date=date(2024, 4, 21)))
    assert (result.target, result.period, result.start, result.end) == (
        "date", APR, date(2024, 4, 21), date(2024, 4, 21))


def test_a_time_period_target_is_its_start_to_end_inside_one_period() -> None:
    result = plan(replace(APRIL, period=None, start=date(2024, 5, 2), end=date(2024, 5, 9)))
    assert (result.target, result.period, result.start, result.end) == (
        "range", MAY, date(2024, 5, 2), date(2024, 5, 9))


@pytest.mark.parametrize("target", [
    {"period": "May-2024"},
    {"period": None, "date": date(2024, 5, 9)},
    {"period": None, "start": date(2024, 5, 1), "end": date(2024, 5, 1)},
])
def test_the_journal_entry_date_defaults_to_the_end_of_the_targets_period(
    target: dict[str, Any]
) -> None:
    request = replace(APRIL, **target)
    assert plan(request).journal_entry_date == date(2024, 5, 31)


def test_a_journal_entry_date_given_is_kept() -> None:
    request = replace(APRIL, journal_entry_date=date(2024, 5, 2))
    assert plan(request).journal_entry_date == date(2024, 5, 2)


def test_a_closed_period_is_still_a_target() -> None:
    closed = replace(APR, status="closed")
    assert plan(periods=[closed, MAY, OPEN_ENDED]).period == closed
