"""``/console/periods``: every scope's periods with their close-status bars; a period's page
(its summary, what is pending, held or excluded and why, its entries) and, for operators,
pending-close, close and reopen, with the rule shown when one is refused."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from events.periods import CLOSED, OPEN, PENDING_CLOSE
from services.commands import periods as period_commands
from services.console import data
from services.console.forms import CheckedForm
from services.console.pages import PAGE_SIZE, ConsoleRoute, PageContext
from services.console.summary import period_summary
from services.errors import LedgerError
from services.reports import pending_report

router = APIRouter(route_class=ConsoleRoute)

PageNumber = Annotated[int, Query(ge=1, le=100_000)]

#: What an operator may ask of a period, by its status: (action, target status, label).
ACTIONS = {
    OPEN: [("pending-close", PENDING_CLOSE, "Mark pending close"), ("close", CLOSED, "Close")],
    PENDING_CLOSE: [("close", CLOSED, "Close"), ("reopen", OPEN, "Reopen")],
    CLOSED: [("reopen", OPEN, "Reopen")],
}
TARGETS = {action: to for actions in ACTIONS.values() for action, to, _ in actions}


@router.get("/periods", summary="Console: accounting periods")
async def periods(page: PageContext, p: PageNumber = 1) -> Response:
    found = await period_commands.list_period_records(
        page.pool, limit=PAGE_SIZE + 1, offset=(p - 1) * PAGE_SIZE)
    pending = await pending_report(page.pool)
    rows: list[dict[str, Any]] = []
    for period in found[:PAGE_SIZE]:
        bar = None
        if not period["open_ended"]:
            bar = await data.period_close_status(page.pool, period["org"], period["name"],
                                                 pending)
        rows.append({"period": period, "bar": bar})
    by_scope: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        by_scope.setdefault(row["period"]["org"], []).append(row)
    return page.render("periods.html", nav="periods", by_scope=by_scope, p=p,
                       has_next=len(found) > PAGE_SIZE)


@router.get("/periods/{period_id}", summary="Console: an accounting period")
async def period_page(page: PageContext, period_id: str, p: PageNumber = 1) -> Response:
    period = await period_commands.find_period(page.pool, period_id, None)
    org, name = period["org"], period["name"]
    pending = [r for r in await pending_report(page.pool) if r["org"] == org
               and r["period"] == name]
    entries = await data.period_entries(page.pool, org, name)
    bar = data.close_status(org, name, pending, entries)
    shown = entries[(p - 1) * PAGE_SIZE:p * PAGE_SIZE]
    summary = await period_summary(page.pool, org, name)
    return page.render(
        "period.html", nav="periods", period=period, close=bar, pending=pending,
        entries=[e.data.document() for e in shown], p=p, has_next=len(entries) > p * PAGE_SIZE,
        summary=summary, actions=ACTIONS.get(period["status"], []),
    )


@router.post("/periods/{period_id}/{action}", summary="Console: change a period's status")
async def change_status(page: PageContext, form: CheckedForm, period_id: str, action: str
                        ) -> Response:
    period = await period_commands.find_period(page.pool, period_id, None)
    where = f"/console/periods/{period['id']}"
    if action not in TARGETS:
        return page.redirect(where, flash=("error", f"unknown action {action!r}"))
    try:
        changed = await period_commands.change_period_status(
            page.pool, org=period["org"], name=period["name"], to=TARGETS[action])
    except LedgerError as error:
        return page.redirect(where, flash=("error", f"Refused: {error.code}: {error.message}"))
    return page.redirect(where, flash=("ok", f"{changed['name']} is now {changed['status']}."))
