"""The settings rules of docs/domain.md §1, as pure functions: what a change may do."""

from __future__ import annotations

import pytest

from events.journal_rules import LedgerSettings
from events.transaction_types import Settlement
from services.commands.settings import (
    MULTI_ORG_UNSUPPORTED,
    apply_changes,
    check_multi_org_switch,
)
from services.errors import RejectedInput

LEGACY, IS, IIS = (Settlement.LEGACY, Settlement.INVOICE_SETTLEMENT,
                   Settlement.INVOICE_ITEM_SETTLEMENT)


def refused(current: LedgerSettings, changes: dict[str, str], **kw: bool) -> tuple[str, str]:
    with pytest.raises(RejectedInput) as caught:
        apply_changes(current, changes, **kw)
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(("start", "to"), [(LEGACY, IS), (LEGACY, IIS), (IS, IIS), (IS, IS)])
def test_settlement_moves_forward(start: Settlement, to: Settlement) -> None:
    assert apply_changes(LedgerSettings(start), {"settlement": to}).settlement is to


@pytest.mark.parametrize(("start", "to"), [(IS, LEGACY), (IIS, IS), (IIS, LEGACY)])
def test_settlement_never_moves_back_once_the_ledger_holds_transactions(
    start: Settlement, to: Settlement
) -> None:
    code, message = refused(LedgerSettings(start), {"settlement": to})
    assert code == "settlement_backwards"
    assert message == (
        "settlement only moves forward (legacy -> invoice_settlement -> "
        f"invoice_item_settlement): the ledger holds transactions under {start}, it cannot "
        f"go back to {to}"
    )


def test_a_ledger_without_transactions_may_still_choose_any_settlement() -> None:
    # A new ledger starts at invoice settlement; a legacy tenant must be able to say so.
    chosen = apply_changes(LedgerSettings(IIS), {"settlement": "legacy"}, has_transactions=False)
    assert chosen == LedgerSettings(LEGACY)


def test_harmonization_may_go_both_ways() -> None:
    on = apply_changes(LedgerSettings(IIS), {"harmonization": "true"})
    assert apply_changes(on, {"harmonization": "off"}) == LedgerSettings(IIS)


# -- turning Multi-Org on -------------------------------------------------------------------

OFF, ON = LedgerSettings(IS, True), LedgerSettings(IS, True, multi_org=True)


def test_the_types_multi_org_does_not_support() -> None:
    assert MULTI_ORG_UNSUPPORTED == (
        "invoice_item_adjustment_invoice", "invoice_item_adjustment_tax", "invoice_adjustment",
        "credit_balance_adjustment_applied", "credit_balance_adjustment_transferred",
        "electronic_credit_balance_payment", "external_credit_balance_payment",
        "electronic_credit_balance_refund", "external_credit_balance_refund",
    )


def test_multi_org_is_refused_while_legacy_transactions_are_unjournaled() -> None:
    waiting = {"invoice_adjustment": 3, "electronic_credit_balance_payment": 1}
    with pytest.raises(RejectedInput) as caught:
        check_multi_org_switch(OFF, ON, waiting, force=False)
    assert caught.value.code == "legacy_transactions_unjournaled"
    assert caught.value.exit_code == 2
    assert "unjournaled: invoice_adjustment 3, electronic_credit_balance_payment 1; run a " \
           "journal run for them first, or --force" in caught.value.message


def test_forcing_multi_org_on_is_reported_as_forced() -> None:
    assert check_multi_org_switch(OFF, ON, {"invoice_adjustment": 3}, force=True) is True


@pytest.mark.parametrize(("current", "new", "waiting"), [
    (OFF, ON, {}),  # nothing waits
    (OFF, ON, {"invoice_adjustment": 0}),
    (ON, ON, {"invoice_adjustment": 3}),  # already on: not a switch
    (OFF, OFF, {"invoice_adjustment": 3}),  # not turning it on
])
def test_nothing_to_force(current: LedgerSettings, new: LedgerSettings,
                          waiting: dict[str, int]) -> None:
    assert check_multi_org_switch(current, new, waiting, force=False) is False
    assert check_multi_org_switch(current, new, waiting, force=True) is False
