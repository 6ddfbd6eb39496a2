"""``/console/dlq``: the dead letters with code, detail and source; one message's raw look
(value, key, headers, all escaped); replay by code (operators), as ``ledger dlq replay``."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from services.console.forms import CheckedForm, field
from services.console.pages import PAGE_SIZE, ConsoleRoute, PageContext
from services.errors import LedgerError
from services.operations.dlq import get_rejected, list_rejected, rejected_counts, replay_rejected

router = APIRouter(route_class=ConsoleRoute)

Cursor = Annotated[int, Query(ge=0)]


def readable(raw: bytes | None) -> str:
    """Bytes as text to look at: indented when it is JSON, else decoded as it is (invalid
    UTF-8 shown as replacement characters)."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@router.get("/dlq", summary="Console: dead letters")
async def dead_letters(page: PageContext,
                       code: Annotated[str | None, Query(max_length=64)] = None,
                       after: Cursor = 0) -> Response:
    """Keyset pages, as ``ledger dlq list --after``: the next page starts after the last
    message shown, however deep the list is."""
    found = await list_rejected(page.pool, code or None, after=after, limit=PAGE_SIZE + 1)
    shown = found[:PAGE_SIZE]
    return page.render("dlq.html", nav="dlq", messages=shown, after=after,
                       next_after=shown[-1]["position"] if len(found) > PAGE_SIZE else None,
                       code=code or "", counts=await rejected_counts(page.pool))


@router.get("/dlq/{event_id}", summary="Console: one dead letter, raw")
async def dead_letter(page: PageContext, event_id: str) -> Response:
    message: dict[str, Any] = await get_rejected(page.pool, event_id)
    return page.render("dlq_message.html", nav="dlq", message=message,
                       value=readable(message["value"]),
                       key_text=readable(message["key"]),
                       headers=[(name, readable(value)) for name, value in message["headers"]])


@router.post("/dlq/replay", summary="Console: replay dead letters")
async def replay(page: PageContext, form: CheckedForm) -> Response:
    code = field(form, "code") or None
    try:
        done = await replay_rejected(page.pool, max_bytes=page.settings.max_message_bytes,
                                     error_code=code)
    except LedgerError as error:
        return page.redirect("/console/dlq", flash=("error", f"Refused: {error.code}: "
                                                             f"{error.message}"))
    reasons = ", ".join(done["reasons"]) or "none"
    return page.redirect("/console/dlq", flash=(
        "ok", f"replayed {done['replayed']} ({code or 'every code'}): {done['stored']} stored, "
              f"{done['already_stored']} already stored, {done['still_rejected']} still "
              f"refused (reasons: {reasons})."))
