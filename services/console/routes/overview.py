"""``/console/``: the pipeline, and each org's current open period with its close-status bar."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from services.console import data
from services.console.pages import ConsoleRoute, PageContext

router = APIRouter(route_class=ConsoleRoute)


@router.get("", include_in_schema=False)
async def console_root() -> Response:
    return RedirectResponse("/console/", status_code=307)


@router.get("/", summary="Console: overview")
async def overview(page: PageContext) -> Response:
    shown = await data.overview(page.settings, page.pool)
    return page.render("overview.html", nav="overview", **shown)
