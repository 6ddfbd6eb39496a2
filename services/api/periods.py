"""``/v1/accounting-periods``: create, list, get, close, mark pending close, reopen, as
Zuora's Accounting Periods operations.

A period is named in a path by its ``id`` (unique across scopes), or by its name within a
scope: ``?orgName=`` (absent: the unlabeled scope), as the CLI's ``--org``. So
``PUT /v1/accounting-periods/Apr-2024/close?orgName=US`` closes the US org's April, as does
``PUT /v1/accounting-periods/{its id}/close``. Names are path segments: URL-encode them.

``GET /v1/accounting-periods/{id or name}/summary`` is the ledger's own (Zuora has no such
operation): the month-end close check of ``ledger periods summary``. It takes ``?org=`` as
well as ``?orgName=``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Header, Query

from events.periods import CLOSED, OPEN, PENDING_CLOSE
from services.api.deps import Pool, one_org
from services.api.errors import ERROR_RESPONSES
from services.api.models import (
    AccountingPeriodAnswer,
    AccountingPeriodCreate,
    AccountingPeriodList,
    ListedAccountingPeriod,
    PeriodSummary,
    org_names,
)
from services.commands import periods as period_commands
from services.errors import RejectedInput
from services.period_summary import period_summary

router = APIRouter(prefix="/v1/accounting-periods", tags=["Accounting periods"],
                   responses=ERROR_RESPONSES)

#: The list's page size: Zuora's default and maximum for this operation.
MAX_PAGE_SIZE = 300

OrgName = Annotated[
    str | None,
    Query(alias="orgName", description="The org, when the path names a period by its name; "
                                       "absent: the unlabeled scope. Ignored for an id."),
]


@router.post("", response_model=AccountingPeriodAnswer, summary="Create an accounting period")
async def create_period(body: AccountingPeriodCreate, pool: Pool) -> AccountingPeriodAnswer:
    """Periods of a scope are contiguous: each starts the day after the previous ends. The
    answer carries the new period's ``id``."""
    org = one_org(org_names(body.organization_labels), "an accounting period")
    await period_commands.create_period(
        pool,
        org=org,
        name=body.name,
        start=body.start_date,
        end=body.end_date,
        fiscal_year=body.fiscal_year,
        fiscal_quarter=body.fiscal_quarter,
        notes=body.notes,
    )
    return AccountingPeriodAnswer.of(await period_commands.period_named(pool, org, body.name))


@router.get("", response_model=AccountingPeriodList, summary="List accounting periods")
async def list_periods(
    pool: Pool,
    org_name: Annotated[str | None, Query(
        alias="orgName", description="Only this org's periods.")] = None,
    zuora_org_ids: Annotated[str | None, Header(
        alias="Zuora-Org-Ids",
        description="Comma-separated orgs (an org's id is its name): only their periods. "
                    "orgName, when given, wins.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
) -> AccountingPeriodList:
    """The periods of every scope (each with its ``organizationLabels``; the unlabeled
    scope's have none), by start date, the open-ended ones last."""
    orgs = None
    if org_name is not None:
        orgs = [org_name]
    elif zuora_org_ids is not None:
        orgs = [o.strip() for o in zuora_org_ids.split(",") if o.strip()]
    found = await period_commands.list_period_records(
        pool, orgs=orgs, limit=page_size + 1, offset=(page - 1) * page_size)
    next_page = None
    if len(found) > page_size:
        query = {"page": page + 1, "pageSize": page_size} | (
            {"orgName": org_name} if org_name is not None else {})
        next_page = f"/v1/accounting-periods?{urlencode(query)}"
    return AccountingPeriodList(
        accounting_periods=[ListedAccountingPeriod.of(p) for p in found[:page_size]],
        next_page=next_page,
    )


@router.get("/{period_id}", response_model=AccountingPeriodAnswer,
            summary="Get an accounting period")
async def get_period(period_id: str, pool: Pool, org_name: OrgName = None
                     ) -> AccountingPeriodAnswer:
    return AccountingPeriodAnswer.of(
        await period_commands.find_period(pool, period_id, org_name))


async def _change(
    pool: asyncpg.Pool, key: str, org: str | None, to: str
) -> AccountingPeriodAnswer:
    period = await period_commands.find_period(pool, key, org)
    await period_commands.change_period_status(pool, org=period["org"], name=period["name"],
                                               to=to)
    return AccountingPeriodAnswer.of(await period_commands.find_period(pool, period["id"], None))


@router.put("/{period_id}/close", response_model=AccountingPeriodAnswer,
            summary="Close an accounting period")
async def close_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    """Only when every earlier period of the scope is closed."""
    return await _change(pool, period_id, org_name, CLOSED)


@router.put("/{period_id}/pending-close", response_model=AccountingPeriodAnswer,
            summary="Mark an accounting period pending close")
async def pending_close_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    return await _change(pool, period_id, org_name, PENDING_CLOSE)


@router.put("/{period_id}/reopen", response_model=AccountingPeriodAnswer,
            summary="Reopen an accounting period")
async def reopen_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    """Only the latest closed period of the scope."""
    return await _change(pool, period_id, org_name, OPEN)


@router.get("/{period_id}/summary", response_model=PeriodSummary,
            summary="Summarise an accounting period (ledger-only)")
async def summarise_period(
    period_id: str,
    pool: Pool,
    org_name: OrgName = None,
    org: Annotated[str | None, Query(
        description="The same as orgName (the spelling of docs/contract.md §4).")] = None,
) -> PeriodSummary:
    """Per currency, the debit and credit of every account over the scope's entries dated
    in the period that are not cancelled, with the totals; the entry count; and what is
    still pending, held or excluded in the period: whether it is complete."""
    if org is not None and org_name is not None and org != org_name:
        raise RejectedInput("org_ambiguous",
                            f"orgName {org_name!r} and org {org!r} name different orgs")
    period = await period_commands.find_period(pool, period_id, org_name or org)
    return PeriodSummary.of(await period_summary(pool, period["name"], period["org"]))
