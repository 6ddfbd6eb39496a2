"""What a journal run never picks up (DOMAIN.md §1, "exclusions"), as pure functions.

Each rule has a name, because an excluded transaction stays visible in the reports with the
reason it was left out. The "already in an active journal entry" rule is not here: it is
a fact of the store, not of the transaction.
"""

from __future__ import annotations

from enum import StrEnum

from events.transaction_types import TRANSACTION_TYPES, UnknownTransactionType

__all__ = ["HOLD_REASON_STATUS", "ExclusionReason", "exclusion_reason", "status_eligible"]

HOLD_REASON_STATUS = "status_not_eligible"
"""Reason shown for a transaction held back because its status is not the required one.

It is a hold, not an exclusion: a later status change can make the transaction eligible.
"""

RECOGNIZE_UPON_INVOICING = "recognize upon invoicing"
RECLASSIFICATION = "reclassification"

_APPLICATION_TYPES = frozenset(
    type_id
    for type_id in TRANSACTION_TYPES
    if type_id.endswith(("_application", "_application_item"))
)
"""Payment, refund and credit memo application records: the ones that can reclassify."""


class ExclusionReason(StrEnum):
    """Why a transaction is never journaled."""

    RECLASSIFICATION = "reclassification"
    """Moves an amount between the applied and unapplied state of the same payment or
    credit memo without changing its balance (seed 001: the -10 and +10 records)."""
    REVENUE_UPON_INVOICING_BLANK_ACCOUNT = "revenue_upon_invoicing_blank_account"
    """Revenue event item, rule "recognize upon invoicing", a blank debit or credit account."""
    REVENUE_SAME_ACCOUNTS = "revenue_same_accounts"
    """Revenue event item, rule "recognize upon invoicing", debit account = credit account."""


def exclusion_reason(
    type_id: str,
    subtype: str | None,
    debit_account: str | None,
    credit_account: str | None,
    recognition_rule: str | None,
) -> ExclusionReason | None:
    """The rule that keeps this transaction out of every journal run, or None.

    Reclassification applies to application records only (payment, refund and credit memo
    application items and applications), matched on ``subtype`` case-insensitively. The
    account rules apply only to revenue event items whose recognition rule is "recognize
    upon invoicing" (case-insensitive); a blank account wins over "same accounts" when both
    are blank.
    """
    if (
        type_id in _APPLICATION_TYPES
        and subtype is not None
        and subtype.strip().casefold() == RECLASSIFICATION
    ):
        return ExclusionReason.RECLASSIFICATION
    if (
        type_id == "revenue_event_item"
        and recognition_rule is not None
        and " ".join(recognition_rule.split()).casefold() == RECOGNIZE_UPON_INVOICING
    ):
        debit, credit = (debit_account or "").strip(), (credit_account or "").strip()
        if not debit or not credit:
            return ExclusionReason.REVENUE_UPON_INVOICING_BLANK_ACCOUNT
        if debit == credit:
            return ExclusionReason.REVENUE_SAME_ACCOUNTS
    return None


def status_eligible(type_id: str, status: str) -> bool:
    """Whether ``status`` is the one the type must have to be picked up.

    Compared exactly (statuses are lower-case on the wire, CONTRACT.md §2), so that this
    agrees with a plain SQL equality in the projections. Types whose required status is
    n/a (revenue event items, unrealized FX) are always eligible.
    """
    try:
        required = TRANSACTION_TYPES[type_id].required_status
    except KeyError:
        raise UnknownTransactionType(type_id) from None
    return required is None or status == required
