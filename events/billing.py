"""Inbound billing events (docs/contract.md §2, topic ``billing.events``), as pydantic
models.

Validation happens once, here, so that everything behind the ingest can trust a line:
known type, exact amount, real date, ISO currency, accounts present. Every model is frozen
and forbids unknown keys, so an upstream typo (``"amout"``) is refused instead of silently
dropped. A ``TransactionLine`` is the line *after* it inherited the document's number,
account and currency: that is the form the store keeps and projections read, so a stored
body re-validates to an equal event.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from events._fields import (
    Amount,
    BoundedText,
    CurrencyCode,
    IsoDate,
    NonBlankText,
    Segments,
    Timestamp,
    TransactionTypeId,
)
from events.exclusions import RECOGNIZE_UPON_INVOICING, recognition_rule_key
from events.transaction_types import TRANSACTION_TYPES

__all__ = [
    "EVENT_LINE_TYPES",
    "INBOUND_EVENT_TYPES",
    "BillingData",
    "BillingDocumentEvent",
    "BillingEvent",
    "Document",
    "Envelope",
    "StatusChange",
    "StatusChangedData",
    "StatusChangedEvent",
    "TransactionLine",
]

STATUS_CHANGED = "transactions.status_changed"

_PAYMENT_APPLICATIONS = frozenset({
    "electronic_payment_application", "external_payment_application",
    "electronic_payment_application_item", "external_payment_application_item",
})  # fmt: skip
_REFUND_APPLICATIONS = frozenset({
    "electronic_refund_application", "external_refund_application",
    "electronic_refund_application_item", "external_refund_application_item",
})  # fmt: skip

# fmt: off
EVENT_LINE_TYPES: Mapping[str, frozenset[str]] = MappingProxyType({
    "invoice.posted": frozenset({"invoice_item", "taxation_item"}),
    "debit_memo.posted": frozenset({"debit_memo_item_charge", "debit_memo_item_tax"}),
    "credit_memo.posted": frozenset({"credit_memo_item_charge", "credit_memo_item_tax"}),
    "credit_memo.applied": frozenset({"credit_memo_application_item"}),
    "credit_memo.unapplied": frozenset({"credit_memo_application_item"}),
    # The application (item) records here are the subtype-``unapplied`` ones; the subtype
    # is not enforced (docs/domain.md leaves subtypes open).
    "payment.processed": frozenset({
        "electronic_payment", "external_payment",
        "electronic_credit_balance_payment", "external_credit_balance_payment",
    }) | _PAYMENT_APPLICATIONS,
    "payment.applied": _PAYMENT_APPLICATIONS,
    "payment.unapplied": _PAYMENT_APPLICATIONS,
    "refund.processed": frozenset({
        "electronic_refund", "external_refund",
        "electronic_credit_balance_refund", "external_credit_balance_refund",
    }) | _REFUND_APPLICATIONS,
    "adjustment.processed": frozenset({
        "invoice_item_adjustment_invoice", "invoice_item_adjustment_tax", "invoice_adjustment",
        "credit_balance_adjustment_applied", "credit_balance_adjustment_transferred",
    }),
    "revenue.recognized": frozenset({"revenue_event_item"}),
    "fx.unrealized_gain_loss": frozenset({"unrealized_fx_gain_loss"}),
    STATUS_CHANGED: frozenset(),  # carries status changes, no lines
})
# fmt: on
"""Inbound event type -> the line type ids it may carry (docs/contract.md §2 table)."""

INBOUND_EVENT_TYPES: frozenset[str] = frozenset(EVENT_LINE_TYPES)

_FROZEN_STRICT = ConfigDict(frozen=True, extra="forbid")

# Fields of every model that ends up in ``canonical_body`` are declared in alphabetical
# order: then pydantic's own (Rust) JSON output already is the sorted-key canonical form,
# about three times faster than sorting with the json module. A test guards the order.


def _rule(detail: str, field: str) -> PydanticCustomError:
    """A rule violation whose ``field`` (relative to the error's location) refines the path."""
    return PydanticCustomError("contract_rule", "{detail}", {"detail": detail, "field": field})


class _EnvelopeFields(BaseModel):
    model_config = _FROZEN_STRICT

    data: Any  # narrowed by each subclass; declared here to keep its (first) place
    event_id: UUID
    event_type: str
    occurred_at: Timestamp
    org: NonBlankText | None = None
    schema_version: Literal[1] = 1


class Envelope(_EnvelopeFields):
    """The envelope with ``data`` left open: what every message shares, whatever its type."""

    data: dict[str, Any]


class Document(BaseModel):
    """The billing document whose lines an event carries (invoice, payment, memo, ...)."""

    model_config = _FROZEN_STRICT

    account_number: BoundedText | None = None
    currency: CurrencyCode
    number: NonBlankText


class TransactionLine(BaseModel):
    """One transaction (docs/domain.md §1), after inheriting from its document.

    Both account keys are required. Only a revenue event item recognized upon invoicing may
    leave them blank: its exclusion rule exists for exactly that case, so the line must
    still be stored. Under any other rule the item is journaled, and an entry line needs an
    account (docs/contract.md §2), so a blank one is refused here rather than published.
    """

    model_config = _FROZEN_STRICT

    account_number: BoundedText | None = None
    accounting_period: BoundedText | None = None
    amount: Amount
    credit_account: BoundedText
    currency: CurrencyCode
    date: IsoDate
    debit_account: BoundedText
    document_number: NonBlankText
    id: NonBlankText
    recognition_rule: BoundedText | None = None
    segments: Segments = Field(default_factory=dict)
    status: NonBlankText
    subtype: BoundedText | None = None
    type: Annotated[str, WithJsonSchema({"type": "string", "enum": list(TRANSACTION_TYPES)})]

    @model_validator(mode="after")
    def _type_rules(self) -> Self:
        # One validator for every per-line rule: a Python call per rule per line would cost
        # more than the rest of the line's validation.
        if self.type not in TRANSACTION_TYPES:
            raise _rule("is not one of the 30 transaction types", "type")
        if self.type == "revenue_event_item":
            if not self.accounting_period or self.accounting_period.isspace():
                raise _rule("is required for a revenue_event_item", "accounting_period")
            if self.recognition_rule is not None and (
                recognition_rule_key(self.recognition_rule) == RECOGNIZE_UPON_INVOICING
            ):
                return self  # excluded when an account is blank: never journaled
            why = ("(only a revenue_event_item recognized upon invoicing may have a blank "
                   "account: it is never journaled)")
        else:
            why = "(only a revenue_event_item may have a blank account)"
        for name, account in (
            ("debit_account", self.debit_account),
            ("credit_account", self.credit_account),
        ):
            if not account or account.isspace():
                raise _rule(f"must not be blank for {self.type} {why}", name)
        return self


def _inherit(
    line: dict[str, Any], number: object, account: object, currency: object
) -> dict[str, Any]:
    """The line with the document's number, account and currency where it leaves them unset.

    Null counts as unset; null accounts become "" (only a revenue event item may keep it).
    """
    merged = {"document_number": number, "account_number": account, "currency": currency, **line}
    if merged["currency"] is None:
        merged["currency"] = currency
    if merged["account_number"] is None:
        merged["account_number"] = account
    if merged["document_number"] is None:
        merged["document_number"] = number
    if merged.get("debit_account", "") is None:
        merged["debit_account"] = ""
    if merged.get("credit_account", "") is None:
        merged["credit_account"] = ""
    return merged


class BillingData(BaseModel):
    """``data`` of a document event: the document and its lines (at least one)."""

    model_config = _FROZEN_STRICT

    document: Document
    transactions: list[TransactionLine] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _lines_inherit_from_document(cls, data: Any) -> Any:
        # Done before validation, on the raw dicts, so that each line is validated once and
        # in its final form; anything oddly shaped is left for the field validation to name.
        if isinstance(data, dict):
            document, lines = data.get("document"), data.get("transactions")
            if isinstance(document, dict) and isinstance(lines, list):
                number = document.get("number")
                account = document.get("account_number")
                currency = document.get("currency")
                data = dict(data)
                data["transactions"] = [
                    _inherit(line, number, account, currency) if isinstance(line, dict) else line
                    for line in lines
                ]
        return data

    @model_validator(mode="after")
    def _lines_belong_to_document(self) -> Self:
        for i, line in enumerate(self.transactions):
            if line.document_number != self.document.number:
                raise _rule(
                    f"is {line.document_number!r} but the line is carried by document "
                    f"{self.document.number!r}",
                    f"transactions[{i}].document_number",
                )
        return self


class BillingDocumentEvent(_EnvelopeFields):
    """Any inbound event that carries a document and its lines."""

    data: BillingData

    @model_validator(mode="after")
    def _line_types_match_event_type(self) -> Self:
        allowed = EVENT_LINE_TYPES.get(self.event_type)
        if not allowed:
            raise _rule(
                f"{self.event_type!r} is not an event type that carries transactions",
                "event_type",
            )
        for i, line in enumerate(self.data.transactions):
            if line.type not in allowed:
                raise _rule(
                    f"line type {line.type} may not be carried by {self.event_type} "
                    f"(allowed: {', '.join(sorted(allowed))})",
                    f"data.transactions[{i}].type",
                )
        return self


class StatusChange(BaseModel):
    """A transaction's status changed upstream (draft -> posted, posted -> canceled, ...)."""

    model_config = _FROZEN_STRICT

    id: NonBlankText
    status: NonBlankText
    type: TransactionTypeId


class StatusChangedData(BaseModel):
    model_config = _FROZEN_STRICT

    changes: list[StatusChange] = Field(min_length=1)


class StatusChangedEvent(_EnvelopeFields):
    """``transactions.status_changed``: status updates for transactions already sent."""

    data: StatusChangedData

    @model_validator(mode="after")
    def _is_status_changed(self) -> Self:
        if self.event_type != STATUS_CHANGED:
            raise _rule(f"must be {STATUS_CHANGED!r} for a list of changes", "event_type")
        return self


BillingEvent = BillingDocumentEvent | StatusChangedEvent
"""What ``parse_billing_event`` returns."""
