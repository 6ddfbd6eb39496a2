"""``/console/runs/new``: a journal run, step by step (operators).

1. the org (under Multi-Org; GET, so it works without script);
2. types or categories (each category shown with the types the settings enable for it), the
   target (default: the scope's current open period; or a date; or a range) and the JE date;
3. the preview: the dry run, exactly what ``ledger journal-runs create --dry-run`` shows
   (``create_journal_run(..., dry_run=True)``), as debit/credit tables;
4. confirm: the run, then its page. The confirm form carries the preview's fingerprint; the
   result says whether the run made exactly the entries previewed (transactions may have
   arrived in between).

Every rule is the run's own: a refused request comes back to the form with the rule named.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.datastructures import FormData
from starlette.responses import Response

from events.journal_rules import JournalRunRequest
from events.transaction_types import REQUEST_CATEGORIES, TRANSACTION_TYPES, resolve_type_names
from services.commands.periods import list_periods
from services.commands.settings import show_settings
from services.console import data
from services.console.forms import CheckedForm, field
from services.console.pages import ConsoleRoute, Page, PageContext
from services.errors import LedgerError, RejectedInput
from services.journal import views
from services.journal.run import create_journal_run

router = APIRouter(route_class=ConsoleRoute)

TARGETS = ("period", "date", "range")


def fingerprint(entries: list[dict[str, Any]]) -> str:
    """What a preview and a run agree on when they made the same entries: each entry's type,
    currency, segments, count and lines (exact amounts), whatever their numbers."""
    comparable = sorted(
        json.dumps([e["transaction_type"], e["currency"], e["segments"],
                    e["transaction_count"], sorted((x["account"], x["side"],
                                                    str(Decimal(x["amount"])))
                                                   for x in e["lines"])], sort_keys=True)
        for e in entries)
    return hashlib.sha256("\n".join(comparable).encode()).hexdigest()


def parse_day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RejectedInput("date_invalid", f"{name}: {value!r} is not a date (YYYY-MM-DD)"
                            ) from None


def run_request(form: FormData) -> JournalRunRequest:
    """The request the form describes: the same ``JournalRunRequest`` the CLI builds."""
    target = field(form, "target") or "period"
    if target not in TARGETS:
        raise RejectedInput("target_invalid", f"the target is one of {', '.join(TARGETS)}")
    start = parse_day(field(form, "start"), "start") if target == "range" else None
    end = parse_day(field(form, "end"), "end") if target == "range" else None
    return JournalRunRequest(
        types=tuple(t for t in (v.strip() for v in form.getlist("types") if isinstance(v, str))
                    if t),
        org=field(form, "org") or None,
        period=(field(form, "period") or None) if target == "period" else None,
        date=parse_day(field(form, "date"), "date") if target == "date" else None,
        start=start,
        end=end,
        journal_entry_date=parse_day(field(form, "je_date"), "JE date"),
    )


def request_fields(form: FormData) -> dict[str, Any]:
    """The form's values, to fill the form again (after a refusal) or carry to confirm."""
    return {"org": field(form, "org"), "types": [v for v in form.getlist("types")
                                                 if isinstance(v, str)],
            "target": field(form, "target") or "period", "period": field(form, "period"),
            "date": field(form, "date"), "start": field(form, "start"),
            "end": field(form, "end"), "je_date": field(form, "je_date")}


async def choices(page: Page, org: str | None) -> dict[str, Any]:
    """What the form offers: orgs, categories with what they enable, types, periods."""
    ledger = await show_settings(page.pool)
    settlement, harmonization = ledger["settlement"], ledger["harmonization"]

    def runnable(ids: list[str]) -> list[str]:
        # under Multi-Org a category leaves out the legacy types (they carry no org label)
        return [t for t in ids if not (ledger["multi_org"] and TRANSACTION_TYPES[t].legacy)]

    categories = [{"name": name, "types": runnable(resolve_type_names(
        [name], settlement, harmonization))} for name in REQUEST_CATEGORIES]
    enabled = runnable(resolve_type_names(["all"], settlement, harmonization))
    periods = [p for p in await list_periods(page.pool, org) if not p["open_ended"]]
    current = data.current_period(periods)
    return {
        "ledger_settings": ledger,
        "orgs": [o for o in await data.scopes(page.pool) if o is not None],
        "categories": categories,
        "types": [{"id": t, "name": TRANSACTION_TYPES[t].display_name} for t in enabled],
        "periods": periods,
        "current": current,
    }


async def show_form(page: Page, values: dict[str, Any], *, error: str = "",
                    status: int = 200) -> Response:
    org = values.get("org") or None
    offered = await choices(page, org)
    if not values.get("period") and offered["current"] is not None:
        values = values | {"period": offered["current"]["name"]}
    return page.render("run_new.html", http_status=status, nav="new-run", values=values,
                       error=error, **offered)


@router.get("/runs/new", summary="Console: a new journal run")
async def new_run(page: PageContext,
                  org: Annotated[str | None, Query(max_length=255)] = None,
                  period: Annotated[str | None, Query(max_length=255)] = None) -> Response:
    if not page.is_operator:
        return page.render("error.html", title="New journal run",
                           message="Journal runs are made by operators: sign in with an "
                                   "operator key to make one.", status_code=200)
    ledger = await show_settings(page.pool)
    if ledger["multi_org"] and not org:
        return page.render("run_org.html", nav="new-run",
                           orgs=[o for o in await data.scopes(page.pool) if o is not None])
    return await show_form(page, {"org": org or "", "types": [], "target": "period",
                                  "period": period or "", "date": "", "start": "", "end": "",
                                  "je_date": ""})


@router.post("/runs/preview", summary="Console: preview a journal run (dry run)")
async def preview(page: PageContext, form: CheckedForm) -> Response:
    values = request_fields(form)
    try:
        result = await create_journal_run(page.pool, run_request(form), dry_run=True)
    except LedgerError as error:
        return await show_form(page, values, error=f"{error.code}: {error.message}",
                               status=error.http_status)
    shown = result.document()
    return page.render("run_preview.html", nav="new-run", values=values, run=shown,
                       entries=shown["entries"], fingerprint=fingerprint(shown["entries"]))


@router.post("/runs", summary="Console: create a journal run")
async def create(page: PageContext, form: CheckedForm) -> Response:
    values = request_fields(form)
    try:
        run = await create_journal_run(page.pool, run_request(form))
    except LedgerError as error:
        return await show_form(page, values, error=f"{error.code}: {error.message}",
                               status=error.http_status)
    made = await views.list_entries(page.pool, run=run.number)
    same = fingerprint([entry.document() for entry in made]) == field(form, "fingerprint")
    note = ("exactly the entries previewed" if same else
            "not the entries previewed: transactions changed between preview and run")
    return page.redirect(f"/console/runs/{run.number}", flash=(
        "ok" if same else "warn",
        f"{run.number} {run.status}: {len(made)} entries over "
        f"{run.transaction_count} transactions, {note}."))
