"""``/console/entries``: entries with filters and paging; an entry's page with its lines as
a debit/credit table, its totals, its transfer status (operators set it), cancel or
reverse as the rules allow, and the transaction-detail CSV."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from events.journal import TRANSFER_STATUSES
from services.api.csv_stream import csv_response
from services.console import data
from services.console.forms import CheckedForm, field
from services.console.pages import PAGE_SIZE, ConsoleRoute, PageContext
from services.console.routes.runs import UNLABELED, scope_filter
from services.errors import LedgerError, RejectedInput
from services.journal import entries as entry_commands
from services.journal import views
from services.journal.reversal import reverse_entry

router = APIRouter(route_class=ConsoleRoute)

PageNumber = Annotated[int, Query(ge=1, le=100_000)]
Filter = Annotated[str | None, Query(max_length=255)]


@router.get("/entries", summary="Console: journal entries")
async def entries(page: PageContext, run: Filter = None, org: Filter = None,
                  period: Filter = None, p: PageNumber = 1) -> Response:
    found = await views.list_entry_views(
        page.pool, run=run or None, org=scope_filter(org), period=period or None,
        limit=PAGE_SIZE + 1, offset=(p - 1) * PAGE_SIZE)
    return page.render("entries.html", nav="entries", entries=[e.data.document()
                                                               for e in found[:PAGE_SIZE]],
                       has_next=len(found) > PAGE_SIZE, p=p, run=run or "", org=org or "",
                       period=period or "", scopes=await data.scopes(page.pool),
                       unlabeled=UNLABELED)


@router.get("/entries/{je}", summary="Console: a journal entry")
async def entry_page(page: PageContext, je: str) -> Response:
    view = await views.get_entry_view(page.pool, je)
    entry = view.data.document()
    lines = entry["lines"]
    return page.render(
        "entry.html", nav="entries", entry=entry, view=view,
        debits=[x for x in lines if x["side"] == "debit"],
        credits=[x for x in lines if x["side"] == "credit"],
        balanced=Decimal(entry["total_debit"]) == Decimal(entry["total_credit"]),
        transfer_statuses=TRANSFER_STATUSES,
        may_cancel=(entry["status"] == "created"
                    and entry["transfer_status"] not in entry_commands.LOCKED_BY_TRANSFER),
        may_reverse=entry["status"] == "created" and entry["transfer_status"] == "yes",
    )


@router.get("/entries/{je}/transaction-details.csv",
            summary="Console: an entry's transaction detail (CSV)")
async def transaction_details(page: PageContext, je: str) -> Response:
    """The API's download, with its limits: a stalled reader cannot hold a connection."""
    settings = page.settings
    return await csv_response(page.pool, je, time_limit=settings.api_export_timeout_ms / 1000,
                              idle_limit=settings.api_export_idle_timeout_ms / 1000)


def _refused(error: LedgerError) -> tuple[str, str]:
    return "error", f"Refused: {error.code}: {error.message}"


@router.post("/entries/{je}/transfer", summary="Console: set an entry's transfer status")
async def transfer(page: PageContext, form: CheckedForm, je: str) -> Response:
    where = f"/console/entries/{je}"
    try:
        changed = await entry_commands.set_transfer_status(page.pool, je,
                                                           field(form, "status"))
    except LedgerError as error:
        return page.redirect(where, flash=_refused(error))
    return page.redirect(where, flash=(
        "ok", f"{je}: transfer status {changed.from_} -> {changed.to}."))


@router.post("/entries/{je}/cancel", summary="Console: cancel an entry")
async def cancel(page: PageContext, _form: CheckedForm, je: str) -> Response:
    where = f"/console/entries/{je}"
    try:
        done = await entry_commands.cancel_entry(page.pool, je)
    except LedgerError as error:
        return page.redirect(where, flash=_refused(error))
    return page.redirect(where, flash=(
        "ok", f"{je} cancelled: {done.released_transaction_count} transactions are "
              "pending again."))


@router.post("/entries/{je}/reverse", summary="Console: reverse a transferred entry")
async def reverse(page: PageContext, form: CheckedForm, je: str) -> Response:
    where = f"/console/entries/{je}"
    try:
        text = field(form, "date")
        try:
            on = date.fromisoformat(text) if text else None
        except ValueError:
            raise RejectedInput("date_invalid", f"{text!r} is not a date (YYYY-MM-DD)"
                                ) from None
        done = await reverse_entry(page.pool, je, on)
    except LedgerError as error:
        return page.redirect(where, flash=_refused(error))
    new = done.reversed.reversed_by
    return page.redirect(f"/console/entries/{new}", flash=("ok", f"{je} reversed by {new}."))
