"""``/console/runs``: journal runs with filters and paging, a run's page with its entries,
and (operators) cancelling a run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from services.console import data
from services.console.forms import CheckedForm
from services.console.pages import PAGE_SIZE, ConsoleRoute, PageContext
from services.errors import LedgerError
from services.journal import entries as entry_commands
from services.journal import views

router = APIRouter(route_class=ConsoleRoute)

PageNumber = Annotated[int, Query(ge=1, le=100_000)]
#: The filter value that means the unlabeled scope (no org may be named so).
UNLABELED = "unlabeled"
RUN_STATUSES = ("completed", "cancelled", "pending", "processing", "error")


def scope_filter(org: str | None) -> str | None:
    """A list's org filter as a view takes it: None all, ``""`` unlabeled, else the org."""
    if not org:
        return None
    return "" if org == UNLABELED else org


@router.get("/runs", summary="Console: journal runs")
async def runs(
    page: PageContext,
    org: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    p: PageNumber = 1,
) -> Response:
    found = await views.list_run_views(page.pool, org=scope_filter(org),
                                       status=status or None, limit=PAGE_SIZE + 1,
                                       offset=(p - 1) * PAGE_SIZE)
    return page.render("runs.html", nav="runs", runs=[r.data.document() for r in found[:PAGE_SIZE]],
                       has_next=len(found) > PAGE_SIZE, p=p, org=org or "",
                       status_filter=status or "", scopes=await data.scopes(page.pool),
                       statuses=RUN_STATUSES, unlabeled=UNLABELED)


@router.get("/runs/{jr}", summary="Console: a journal run")
async def run_page(page: PageContext, jr: str, p: PageNumber = 1) -> Response:
    run = await views.get_run_view(page.pool, jr)
    found = await views.list_entry_views(page.pool, run=jr, limit=PAGE_SIZE + 1,
                                         offset=(p - 1) * PAGE_SIZE)
    return page.render("run.html", nav="runs", run=run.data.document(),
                       executed_at=run.executed_at,
                       entries=[e.data.document() for e in found[:PAGE_SIZE]],
                       has_next=len(found) > PAGE_SIZE, p=p)


@router.post("/runs/{jr}/cancel", summary="Console: cancel a journal run")
async def cancel_run(page: PageContext, _form: CheckedForm, jr: str) -> Response:
    where = f"/console/runs/{jr}"
    try:
        done = await entry_commands.cancel_run(page.pool, jr)
    except LedgerError as error:
        return page.redirect(where, flash=("error", f"Refused: {error.code}: {error.message}"))
    kept = ", ".join(done.kept_entries) or "none"
    return page.redirect(where, flash=(
        "ok", f"{jr}: cancelled {', '.join(done.cancelled_entries) or 'no entry'}; "
              f"kept {kept}; the run is {done.status}."))
