"""Request and response bodies of the HTTP API, Zuora v1 Finance shaped: camelCase fields.

Responses carry exactly the fields of the command handlers' answers (for runs and entries,
the outbound event ``data`` of CONTRACT.md §2), renamed to camelCase, plus ``success``.
They are validated from the handlers' snake_case dicts by field name and written by alias.
Requests accept camelCase only and refuse unknown fields (a field the ledger would ignore
must not look accepted).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# -- bases -------------------------------------------------------------------------------------


class ApiModel(BaseModel):
    """A response part: built from snake_case handler output, written as camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )


class Answer(ApiModel):
    """Every successful answer says so."""

    success: bool = True


class RequestBody(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False,
        extra="forbid",
    )


class Reason(BaseModel):
    code: str = Field(description="Stable code of the rule refused, e.g. target_open_ended.")
    message: str


class ErrorAnswer(BaseModel):
    success: bool = False
    reasons: list[Reason]


# -- requests ----------------------------------------------------------------------------------


class TransactionTypeName(RequestBody):
    type: str = Field(description='Display name ("Invoice Item"), id ("invoice_item") or '
                                  "category (billing, cash, revenue, unrealized_fx, all).")


class OrganizationLabel(RequestBody):
    organization_name: str


class JournalRunCreate(RequestBody):
    """One target: ``accountingPeriodName``, or ``targetStartDate`` + ``targetEndDate``
    (the same date twice is a specific-date target)."""

    accounting_period_name: str | None = None
    target_start_date: date | None = None
    target_end_date: date | None = None
    journal_entry_date: date | None = Field(
        default=None, description="Defaults to the end date of the target's period.")
    transaction_types: list[TransactionTypeName]
    organization_labels: list[OrganizationLabel] = Field(
        default_factory=list, description="The org of the run (at most one); required "
                                          "under Multi-Org, refused without it.")


class BasicInformation(RequestBody):
    transferred_to_accounting: str = Field(
        description="No, Processing, Yes, Error or Ignore (case-insensitive).")


class AccountingPeriodCreate(RequestBody):
    name: str
    start_date: date
    end_date: date
    fiscal_year: int
    fiscal_quarter: int | None = None
    organization_labels: list[OrganizationLabel] = Field(
        default_factory=list, description="The org whose period this is (at most one); "
                                          "none: the unlabeled scope.")


# -- responses ---------------------------------------------------------------------------------


class Target(ApiModel):
    period: str
    start_date: date
    end_date: date


class JournalRun(Answer):
    journal_run_number: str
    number: str
    org: str | None
    target: Target
    journal_entry_date: date
    transaction_types: list[str]
    status: str
    journal_entry_numbers: list[str]
    transaction_count: int


class JournalRunCancellation(Answer):
    number: str
    cancelled_entries: list[str]
    kept_entries: list[str]
    status: str = Field(description="cancelled, or completed when transferred entries were "
                                    "kept (partial cancel).")


class JournalEntryLine(ApiModel):
    account: str
    side: str
    amount: str


class JournalEntry(ApiModel):
    number: str
    journal_run: str
    org: str | None
    accounting_period: str
    journal_entry_date: date
    transaction_type: str
    currency: str
    segments: dict[str, Any]
    lines: list[JournalEntryLine]
    total_debit: str
    total_credit: str
    transaction_count: int
    status: str
    transfer_status: str


class JournalEntryAnswer(JournalEntry, Answer):
    pass


class JournalEntriesPage(Answer):
    journal_entries: list[JournalEntry]
    next_page: str | None = Field(description="Path of the next page; null on the last one.")


class JournalEntryCancellation(Answer):
    number: str
    journal_run: str
    released_transaction_count: int


class TransferStatusChange(Answer):
    number: str
    from_: str = Field(alias="from")
    to: str


class AccountingPeriod(ApiModel):
    id: str = Field(description="The period's name: unique within its scope (org).")
    name: str
    org: str | None
    start_date: date | None
    end_date: date | None
    fiscal_year: int | None
    fiscal_quarter: int | None
    status: str
    open_ended: bool


class AccountingPeriodAnswer(AccountingPeriod, Answer):
    pass


class AccountingPeriodList(Answer):
    accounting_periods: list[AccountingPeriod]


class Health(Answer):
    status: str = "up"


class Readiness(Answer):
    checks: dict[str, str]
