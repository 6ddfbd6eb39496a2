"""``/v1/accounting-periods``: create, list, close, mark pending close, reopen.

A period's id is its name, unique within its scope; the scope is ``?orgName=`` (absent: the
unlabeled scope), as the CLI's ``--org``. So ``PUT /v1/accounting-periods/Apr-2024/close
?orgName=US`` closes the US org's April. Names are path segments: URL-encode them.
"""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query

from events.periods import CLOSED, OPEN, PENDING_CLOSE
from services.api.deps import Pool, one_org
from services.api.errors import ERROR_RESPONSES
from services.api.models import (
    AccountingPeriod,
    AccountingPeriodAnswer,
    AccountingPeriodCreate,
    AccountingPeriodList,
)
from services.commands import periods as period_commands

router = APIRouter(prefix="/v1/accounting-periods", tags=["Accounting periods"],
                   responses=ERROR_RESPONSES)

OrgName = Annotated[
    str | None, Query(alias="orgName", description="The org; absent: the unlabeled scope.")
]


def _with_id(period: dict[str, Any]) -> dict[str, Any]:
    return period | {"id": period["name"]}


@router.post("", response_model=AccountingPeriodAnswer, summary="Create an accounting period")
async def create_period(body: AccountingPeriodCreate, pool: Pool) -> AccountingPeriodAnswer:
    """Periods of a scope are contiguous: each starts the day after the previous ends."""
    period = await period_commands.create_period(
        pool,
        org=one_org([o.organization_name for o in body.organization_labels],
                    "an accounting period"),
        name=body.name,
        start=body.start_date,
        end=body.end_date,
        fiscal_year=body.fiscal_year,
        fiscal_quarter=body.fiscal_quarter,
    )
    return AccountingPeriodAnswer.model_validate(_with_id(period))


@router.get("", response_model=AccountingPeriodList, summary="List accounting periods")
async def list_periods(pool: Pool, org_name: OrgName = None) -> AccountingPeriodList:
    """The scope's periods, oldest first, the open-ended one last."""
    periods = await period_commands.list_periods(pool, org_name)
    return AccountingPeriodList(
        accounting_periods=[AccountingPeriod.model_validate(_with_id(p)) for p in periods]
    )


async def _change(
    pool: asyncpg.Pool, org: str | None, name: str, to: str
) -> AccountingPeriodAnswer:
    period = await period_commands.change_period_status(pool, org=org, name=name, to=to)
    return AccountingPeriodAnswer.model_validate(_with_id(period))


@router.put("/{period_id}/close", response_model=AccountingPeriodAnswer,
            summary="Close an accounting period")
async def close_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    """Only when every earlier period of the scope is closed."""
    return await _change(pool, org_name, period_id, CLOSED)


@router.put("/{period_id}/pending-close", response_model=AccountingPeriodAnswer,
            summary="Mark an accounting period pending close")
async def pending_close_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    return await _change(pool, org_name, period_id, PENDING_CLOSE)


@router.put("/{period_id}/reopen", response_model=AccountingPeriodAnswer,
            summary="Reopen an accounting period")
async def reopen_period(
    period_id: str, pool: Pool, org_name: OrgName = None
) -> AccountingPeriodAnswer:
    """Only the latest closed period of the scope."""
    return await _change(pool, org_name, period_id, OPEN)
