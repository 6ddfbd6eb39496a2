"""``/v1/journal-runs``: create, read, cancel (and refuse to delete) journal runs, as Zuora's
Journal Runs operations, and list them (ledger-only: Zuora has no list of runs).

Every rule is the command handlers': the body is only translated into the
``JournalRunRequest`` the CLI builds too.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Response

from events.journal_rules import JournalRunRequest
from services.api.deps import Pool, one_org
from services.api.errors import ERROR_RESPONSES
from services.api.models import (
    ErrorAnswer,
    JournalRun,
    JournalRunCancellation,
    JournalRunCreate,
    JournalRunCreated,
    JournalRunsPage,
    ListedJournalRun,
    org_names,
)
from services.errors import Conflict
from services.journal import entries as entry_commands
from services.journal import views
from services.journal.idempotency import AlreadyRun, RequestKey
from services.journal.run import create_journal_run

router = APIRouter(prefix="/v1/journal-runs", tags=["Journal runs"], responses=ERROR_RESPONSES)

#: Set on the answer to a retried request: the run is the one the key's first request made.
REPLAYED_HEADER = "Idempotent-Replayed"

#: The run list's page size: default and maximum.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def run_request(body: JournalRunCreate) -> JournalRunRequest:
    """The handler's request: the same start and end date is a specific-date target."""
    start, end = body.target_start_date, body.target_end_date
    single_date = start is not None and start == end
    return JournalRunRequest(
        types=tuple(t.type for t in body.transaction_types),
        org=one_org(org_names(body.organization_labels), "a journal run"),
        period=body.accounting_period_name,
        date=start if single_date else None,
        start=None if single_date else start,
        end=None if single_date else end,
        journal_entry_date=body.journal_entry_date,
    )


@router.post("", response_model=JournalRunCreated, summary="Create a journal run")
async def create_run(
    body: JournalRunCreate,
    pool: Pool,
    response: Response,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key",
        description="Retrying with the same key and body answers with the run the first "
                    "request made (for 24 hours); another body is 409 "
                    "idempotency_key_reused.")] = None,
) -> JournalRunCreated:
    """Journal the pending transactions of one scope, types and target, in one transaction,
    and answer with the completed run. A refused request writes nothing and consumes no
    number."""
    key = None
    if idempotency_key is not None:
        key = RequestKey.of(idempotency_key,
                            body.model_dump(mode="json", by_alias=True, exclude_unset=True))
    try:
        number = (await create_journal_run(pool, run_request(body), idempotency=key)).number
    except AlreadyRun as replay:
        number = replay.number
        response.headers[REPLAYED_HEADER] = "true"
    return JournalRunCreated.of(await views.get_run_view(pool, number),
                                journal_run_number=number)


@router.get("", response_model=JournalRunsPage, summary="List journal runs (ledger-only)")
async def list_runs(
    pool: Pool,
    org_name: Annotated[str | None, Query(
        alias="orgName", description="Only this org's runs.")] = None,
    accounting_period_name: Annotated[str | None, Query(
        alias="accountingPeriodName", description="Only runs targeting this period.")] = None,
    status: Annotated[str | None, Query(
        description="Only runs in this status (Completed, Cancelled, ...; any case).")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = (
        DEFAULT_PAGE_SIZE),
) -> JournalRunsPage:
    """Runs in number order, ``pageSize`` at a time; ``nextPage`` is the path of the next
    page (with the same filters), absent on the last."""
    found = await views.list_run_views(
        pool, org=org_name, period=accounting_period_name,
        status=status.strip().lower() if status is not None else None,
        limit=page_size + 1, offset=(page - 1) * page_size)
    next_page = None
    if len(found) > page_size:
        filters = {"orgName": org_name, "accountingPeriodName": accounting_period_name,
                   "status": status}
        query = {k: v for k, v in filters.items() if v is not None} | {
            "page": page + 1, "pageSize": page_size}
        next_page = f"/v1/journal-runs?{urlencode(query)}"
    return JournalRunsPage(
        journal_runs=[ListedJournalRun.of(view) for view in found[:page_size]],
        next_page=next_page)


@router.get("/{jr}", response_model=JournalRun, summary="Get a journal run")
async def get_run(jr: str, pool: Pool) -> JournalRun:
    return JournalRun.of(await views.get_run_view(pool, jr))


@router.put("/{jr}/cancel", response_model=JournalRunCancellation,
            summary="Cancel a journal run")
async def cancel_run(jr: str, pool: Pool) -> JournalRunCancellation:
    """Cancel every entry that may be; entries transferred (Yes, Processing) are kept and
    the run stays Completed."""
    return JournalRunCancellation.of(await entry_commands.cancel_run(pool, jr))


@router.delete("/{jr}", status_code=409, response_model=ErrorAnswer,
               summary="Delete a journal run (refused: runs are kept for audit)")
async def delete_run(jr: str, pool: Pool) -> ErrorAnswer:
    """Always 409 ``journal_run_not_deletable`` for a run that exists (404 otherwise): the
    ledger's log is append-only, so a run, cancelled or not, stays on record. Cancel it
    to release its transactions."""
    run = await views.get_run(pool, jr)
    hint = "" if run.status == "cancelled" else "; cancel it to release its transactions"
    raise Conflict("journal_run_not_deletable",
                   f"{jr} is {run.status}: journal runs are kept for audit and never "
                   f"deleted{hint}")
