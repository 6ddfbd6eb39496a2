"""Every route of the HTTP API that has a Zuora counterpart answers what Zuora's published
OpenAPI defines for it (docs/contract.md §4), with the official SDK's models as the oracle.

The routes come from the app itself: a ``/v1`` route must be registered below, either with
the Zuora operation it answers as (and the SDK model of its answer) or as ledger-only, so a
new route cannot slip in unchecked. Each registered operation is then called through the
SDK over real HTTP; the client checks every answer against the model's declared types and
enums (``tests.integration.zuora_client``), and this test checks that no Zuora field is
missing unless it is one the ledger documents as left out (``LEFT_OUT``, which is also the
list in the docs), and that string fields Zuora documents as enums or timestamps hold one.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import pytest
import zuora_sdk
from pydantic import BaseModel
from zuora_sdk import (
    CreateAccountingPeriodRequest,
    CreateJournalRunRequest,
    CreateJournalRunRequestTransactionType,
    JournalRunTransactionType,
    OrganizationLabel,
    TransferredToAccountingStatus,
    UpdateBasicSummaryJournalEntryRequest,
)

from events.transaction_types import TRANSACTION_TYPES
from services.api.app import create_app
from services.api.zuora import NO_ZUORA_RUN_TYPE
from services.commands.orgs import create_org
from services.commands.settings import set_settings
from services.config import Settings
from tests.integration.billing import store_lines, txn
from tests.integration.zuora_client import (
    Exchange,
    ZuoraSdk,
    sdk_call,
    sdk_model,
    sdk_refusal,
)


@dataclass(frozen=True)
class Operation:
    """A Zuora operation: the SDK's API class and method, and the model of its 2xx answer."""

    api: str
    method: str
    answer: str
    status: int = 200  # what the ledger answers when the call is as the test makes it


Route = tuple[str, str]  # (method, path template)

#: Every /v1 route with a Zuora counterpart, by (method, path).
ZUORA_OPERATIONS: dict[Route, Operation] = {
    ("POST", "/v1/journal-runs"):
        Operation("JournalRunsApi", "create_journal_run", "CreateJournalRunResponse"),
    ("GET", "/v1/journal-runs/{jr}"):
        Operation("JournalRunsApi", "get_journal_run", "GetJournalRunResponse"),
    ("PUT", "/v1/journal-runs/{jr}/cancel"):
        Operation("JournalRunsApi", "cancel_journal_run", "CommonResponse"),
    ("DELETE", "/v1/journal-runs/{jr}"):  # refused: the log is append-only
        Operation("JournalRunsApi", "delete_journal_run", "CommonResponse", 409),
    ("GET", "/v1/journal-entries/journal-runs/{jr}"):
        Operation("SummaryJournalEntriesApi", "get_all_summary_journal_entries",
                  "GetJournalEntriesInJournalRunResponse"),
    ("GET", "/v1/journal-entries/{je}"):
        Operation("SummaryJournalEntriesApi", "get_summary_journal_entry",
                  "GetJournalEntryDetailResponse"),
    ("PUT", "/v1/journal-entries/{je}/cancel"):
        Operation("SummaryJournalEntriesApi", "cancel_summary_journal_entry", "CommonResponse"),
    ("PUT", "/v1/journal-entries/{je}/basic-information"):
        Operation("SummaryJournalEntriesApi", "update_basic_summary_journal_entry",
                  "CommonResponse"),
    ("DELETE", "/v1/journal-entries/{je}"):  # refused: the log is append-only
        Operation("SummaryJournalEntriesApi", "delete_summary_journal_entry", "CommonResponse",
                  409),
    ("POST", "/v1/accounting-periods"):
        Operation("AccountingPeriodsApi", "create_accounting_period",
                  "CreateAccountingPeriodResponse"),
    ("GET", "/v1/accounting-periods"):
        Operation("AccountingPeriodsApi", "get_all_accounting_periods",
                  "GetAccountingPeriodsResponse"),
    ("GET", "/v1/accounting-periods/{period_id}"):
        Operation("AccountingPeriodsApi", "get_accounting_period", "GetAccountingPeriodResponse"),
    ("PUT", "/v1/accounting-periods/{period_id}/close"):
        Operation("AccountingPeriodsApi", "close_accounting_period", "CommonResponse"),
    ("PUT", "/v1/accounting-periods/{period_id}/pending-close"):
        Operation("AccountingPeriodsApi", "pending_close_accounting_period", "CommonResponse"),
    ("PUT", "/v1/accounting-periods/{period_id}/reopen"):
        Operation("AccountingPeriodsApi", "reopen_accounting_period", "CommonResponse"),
}

#: /v1 routes Zuora has no operation for.
LEDGER_ONLY = {
    ("GET", "/v1/journal-entries/{je}/transaction-details"),  # CSV of an entry's transactions
    ("POST", "/v1/journal-entries/{je}/reverse"),  # Zuora does not reverse summary entries
    ("GET", "/v1/journal-runs"),  # Zuora does not list runs
    ("GET", "/v1/accounting-periods/{period_id}/summary"),  # the month-end close check
}

_TRIAL_BALANCE = {"runTrialBalanceStatus", "runTrialBalanceStart", "runTrialBalanceEnd",
                  "runTrialBalanceErrorMessage", "fileIds"}

#: Zuora fields the ledger leaves out, by SDK model ("*": every model), and why.
LEFT_OUT: dict[str, set[str]] = {
    "*": {"processId", "requestId",  # Zuora's own tracing ids
          "reasons"},  # only on refusals
    "GetJournalRunResponse": {"segmentationRuleName"},  # no GL segmentation rules
    "GetJournalEntryDetailResponse": {"homeCurrency"},  # no home currency yet
    "GetJournalEntryDetailTypeWithoutSuccess": {"homeCurrency"},
    "GetJournalEntryItemResponse": {"accountingCodeType", "glAccountName",  # no chart of
                                    "glAccountNumber", "glString"},  # accounts yet
    "GetAccountingPeriodResponse": _TRIAL_BALANCE,  # no trial balance
    "GetAccountingPeriodWithoutSuccessResponse": _TRIAL_BALANCE,
    "OrganizationLabel": {"organizationId", "cascadingDown", "excluded"},  # id = name
    "GetJournalEntriesInJournalRunResponse": {"nextPage"},  # absent on the last page
    "GetAccountingPeriodsResponse": {"nextPage"},
}

#: String fields Zuora documents as one of a few values.
STRING_ENUMS: dict[tuple[str, str], set[str]] = {
    ("GetAccountingPeriodResponse", "status"): {"Open", "PendingClose", "Closed"},
    ("GetAccountingPeriodWithoutSuccessResponse", "status"): {"Open", "PendingClose", "Closed"},
}
TIMESTAMPS = {"executedOn", "createdOn", "updatedOn", "transferDateTime"}
ZUORA_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def v1_routes(settings: Settings, pool: asyncpg.Pool) -> list[Route]:
    """Every /v1 operation the app serves, as its OpenAPI document lists them."""
    paths = create_app(settings, pool).openapi()["paths"]
    return [(method.upper(), path) for path, operations in paths.items()
            if path.startswith("/v1/") for method in operations]


def route_of(routes: list[Route], method: str, path: str) -> Route:
    """The route template a request path matches (each parameter is one path segment)."""
    for route in routes:
        pattern = "/".join("[^/]+" if part.startswith("{") else re.escape(part)
                           for part in route[1].split("/"))
        if route[0] == method and re.fullmatch(pattern, path):
            return route
    raise AssertionError(f"no route answers {method} {path}")


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in nested_models(arg)]


def gaps(model: type[BaseModel], data: dict[str, Any], where: str = "") -> list[str]:
    """What in ``data`` falls short of ``model``: a Zuora field missing that is not
    documented as left out, one documented as left out but sent, a documented enum or
    timestamp that holds something else."""
    found: list[str] = []
    left_out = LEFT_OUT["*"] | LEFT_OUT.get(model.__name__, set())
    for name, info in model.model_fields.items():
        key = info.alias or name
        if name == "additional_properties":
            continue
        if key not in data:
            if key not in left_out:
                found.append(f"{where}{key}: missing")
            continue
        value = data[key]
        if key in LEFT_OUT.get(model.__name__, set()) and key != "nextPage":
            found.append(f"{where}{key}: documented as left out, but sent")
        allowed = STRING_ENUMS.get((model.__name__, key))
        if allowed is not None and value not in allowed:
            found.append(f"{where}{key}: {value!r} is not one of {sorted(allowed)}")
        if key in TIMESTAMPS and value is not None and not ZUORA_TIMESTAMP.match(value):
            found.append(f"{where}{key}: {value!r} is not yyyy-mm-dd hh:mm:ss")
        for sub in nested_models(info.annotation):
            for i, item in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(item, dict):
                    found += gaps(sub, item, f"{where}{key}[{i}].")
    return found


def test_every_v1_route_is_a_zuora_operation_or_ledger_only(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    served = set(v1_routes(settings, pool))
    unregistered = served - set(ZUORA_OPERATIONS) - LEDGER_ONLY
    assert not unregistered, (
        f"register these routes in ZUORA_OPERATIONS (with the SDK operation and model they "
        f"answer as) or in LEDGER_ONLY: {sorted(unregistered)}")
    assert set(ZUORA_OPERATIONS) | LEDGER_ONLY <= served
    for operation in ZUORA_OPERATIONS.values():
        assert callable(getattr(getattr(zuora_sdk, operation.api), operation.method))
        assert isinstance(sdk_model(operation.answer), type)


@pytest.fixture
async def month(zuora: ZuoraSdk, pool: asyncpg.Pool) -> str:
    """A US period with three invoice items in two entries' worth of segments; its id."""
    await set_settings(pool, {"settlement": "invoice_settlement", "multi_org": "true"})
    await create_org(pool, "US")
    created = await sdk_call(zuora.periods.create_accounting_period, CreateAccountingPeriodRequest(
        name="Apr-2024", start_date=date(2024, 4, 1), end_date=date(2024, 4, 30),
        fiscal_year=2024, organization_labels=[OrganizationLabel(organization_name="US")]))
    await store_lines(pool, [
        txn("invoice_item", "I-1", date(2024, 4, 2), "10.00", segments={"region": "NA"}),
        txn("invoice_item", "I-2", date(2024, 4, 3), "2.50", segments={"region": "EU"}),
    ], org="US")
    return str(created.id)


async def test_every_zuora_route_answers_what_the_sdk_parses(
    zuora: ZuoraSdk, month: str, settings: Settings, pool: asyncpg.Pool
) -> None:
    runs, entries, periods = zuora.runs, zuora.entries, zuora.periods
    await sdk_call(runs.create_journal_run, CreateJournalRunRequest(
        accounting_period_name="Apr-2024", journal_entry_date=date(2024, 4, 30),
        organization_labels=[OrganizationLabel(organization_name="US")],
        transaction_types=[CreateJournalRunRequestTransactionType(
            type=JournalRunTransactionType.INVOICE_ITEM)]), idempotency_key="k-1")
    await sdk_call(runs.get_journal_run, "JR-00000001")
    await sdk_call(entries.get_all_summary_journal_entries, "JR-00000001", page_size=1)
    await sdk_call(entries.get_all_summary_journal_entries, "JR-00000001", page=2, page_size=1)
    await sdk_call(entries.update_basic_summary_journal_entry, "JE-00000001",
                   UpdateBasicSummaryJournalEntryRequest(
                       transferred_to_accounting=TransferredToAccountingStatus.YES))
    await sdk_call(entries.get_summary_journal_entry, "JE-00000001")  # with transferDateTime
    await sdk_call(entries.get_summary_journal_entry, "JE-00000002")
    await sdk_call(entries.cancel_summary_journal_entry, "JE-00000002")
    assert await sdk_refusal(entries.delete_summary_journal_entry, "JE-00000002") == (
        409, "journal_entry_not_deletable")
    await sdk_call(runs.cancel_journal_run, "JR-00000001")  # keeps the transferred entry
    assert await sdk_refusal(runs.delete_journal_run, "JR-00000001") == (
        409, "journal_run_not_deletable")
    await sdk_call(periods.get_all_accounting_periods, page_size=1)
    await sdk_call(periods.get_all_accounting_periods)
    await sdk_call(periods.get_accounting_period, month)
    await sdk_call(periods.pending_close_accounting_period, month)
    await sdk_call(periods.close_accounting_period, month)
    await sdk_call(periods.reopen_accounting_period, month)
    await sdk_call(periods.get_accounting_period, month)

    routes = v1_routes(settings, pool)
    reached: dict[Route, list[Exchange]] = {}
    for exchange in zuora.client.exchanges:
        reached.setdefault(route_of(routes, exchange.method, exchange.path), []).append(exchange)
    assert set(reached) == set(ZUORA_OPERATIONS), "every Zuora route is exercised, no other"

    problems = []
    for route, operation in ZUORA_OPERATIONS.items():
        for exchange in reached[route]:
            assert exchange.status == operation.status, (route, exchange.body)
            if exchange.status >= 300:
                continue  # refusals: checked by sdk_refusal
            assert exchange.model == operation.answer, (
                f"the SDK reads {route} into {exchange.model}, registered as {operation.answer}")
            problems += [f"{route}: {gap}" for gap in
                         gaps(sdk_model(operation.answer), json.loads(exchange.body))]
    assert problems == [], "\n".join(problems)


def test_every_transaction_type_but_unrealized_fx_is_a_zuora_journal_run_type() -> None:
    zuora_names = {t.value for t in JournalRunTransactionType}
    without = {t.id for t in TRANSACTION_TYPES.values() if t.display_name not in zuora_names}
    assert without == NO_ZUORA_RUN_TYPE == {"unrealized_fx_gain_loss"}

