"""What a journal run never picks up (docs/domain.md §1, "exclusions"), as pure functions.

Each rule has a name, because an excluded transaction stays visible in the reports with the
reason it was left out. The "already in an active journal entry" rule is not here: it is
a fact of the store, not of the transaction.
"""

from __future__ import annotations

import re
from enum import StrEnum

from events.transaction_types import TRANSACTION_TYPES, UnknownTransactionType

__all__ = [
    "HOLD_REASON_STATUS",
    "ExclusionReason",
    "exclusion_reason",
    "recognition_rule_key",
    "status_eligible",
]

HOLD_REASON_STATUS = "status_not_eligible"
"""Reason shown for a transaction held back because its status is not the required one.

It is a hold, not an exclusion: a later status change can make the transaction eligible.
"""

RECOGNIZE_UPON_INVOICING = "recognize upon invoicing"
RECLASSIFICATION = "reclassification"
CREDIT_MEMO_UNAPPLIED = "credit_memo.unapplied"
"""The inbound event whose lines (credit memo application items) never reflect in a journal
entry (seed 001)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SEPARATORS = re.compile(r"[\s_-]+", re.ASCII)

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
    UNAPPLIED_CREDIT_MEMO = "unapplied_credit_memo"
    """A line of a ``credit_memo.unapplied`` event: the credit memo application items of an
    unapplied credit memo "will not reflect in JE" (seed 001)."""


def recognition_rule_key(rule: str) -> str:
    """A recognition rule name as compared: ASCII letters lower-cased, every run of ``_``,
    ``-`` and whitespace one space, trimmed ("RECOGNIZE-UPON_INVOICING" -> "recognize upon
    invoicing").

    Only ASCII is folded, in both directions of the mirror: the SQL function does the same
    under the "C" collation, where the database's locale cannot make a character a letter
    or a space that Python does not (or the other way round).
    """
    return _SEPARATORS.sub(" ", rule.translate(_ASCII_LOWER)).strip(" ")


def exclusion_reason(
    type_id: str,
    subtype: str | None,
    debit_account: str | None,
    credit_account: str | None,
    recognition_rule: str | None,
    *,
    event_type: str | None = None,
) -> ExclusionReason | None:
    """The rule that keeps this transaction out of every journal run, or None.

    ``event_type`` is the inbound event that carried the line (None when unknown): every
    line of a ``credit_memo.unapplied`` event is excluded. Reclassification applies to
    application records only (payment, refund and credit memo application items and
    applications), matched on ``subtype`` case-insensitively, and answers first, also for a
    reclassification record of an unapplied credit memo. The account rules apply only to
    revenue event items whose recognition rule is "recognize upon invoicing" in any
    spelling ``recognition_rule_key`` folds to it; a blank account wins over "same
    accounts" when both are blank.
    """
    if (
        type_id in _APPLICATION_TYPES
        and subtype is not None
        and subtype.strip().casefold() == RECLASSIFICATION
    ):
        return ExclusionReason.RECLASSIFICATION
    if event_type == CREDIT_MEMO_UNAPPLIED:
        return ExclusionReason.UNAPPLIED_CREDIT_MEMO
    if (
        type_id == "revenue_event_item"
        and recognition_rule is not None
        and recognition_rule_key(recognition_rule) == RECOGNIZE_UPON_INVOICING
    ):
        debit, credit = (debit_account or "").strip(), (credit_account or "").strip()
        if not debit or not credit:
            return ExclusionReason.REVENUE_UPON_INVOICING_BLANK_ACCOUNT
        if debit == credit:
            return ExclusionReason.REVENUE_SAME_ACCOUNTS
    return None


def status_eligible(type_id: str, status: str) -> bool:
    """Whether ``status`` is the one the type must have to be picked up.

    Compared exactly (statuses are lower-case on the wire, docs/contract.md §2), so that this
    agrees with a plain SQL equality in the projections. Types whose required status is
    n/a (revenue event items, unrealized FX) are always eligible.
    """
    try:
        required = TRANSACTION_TYPES[type_id].required_status
    except KeyError:
        raise UnknownTransactionType(type_id) from None
    return required is None or status == required
