"""Every request, refused ones included: one access-log line and the HTTP metrics.

The outermost middleware of the app (plain ASGI, so it adds no task or thread), around the
API-key check: a request refused with 401 is logged and counted like any other. The line
names the method, the path as the client sent it (percent-encoded, without the query
string: no line can be forged by a crafted path, and query values stay out of the log), the
status, the duration and the actor (the API key's name, or ``-``). Never a header, so never
a token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import metrics
from services.api.auth import SCOPE_KEY

ACCESS_LOG = logging.getLogger("ledger.api.access")

#: The route label of a request no route matched (404s of every path share it).
UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    template: str
    pattern: re.Pattern[str]


def route_templates(routes: Sequence[BaseRoute]) -> list[RouteTemplate]:
    """Every route of the app with its path template, in the router's order (routers that
    were included are walked into)."""
    return [RouteTemplate(str(r.path), r.path_regex) for r in iter_route_contexts(routes)
            if r.path is not None]


def template_of(templates: Sequence[RouteTemplate], path: str) -> str:
    for route in templates:
        if route.pattern.match(path):
            return route.template
    return UNMATCHED


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: list[RouteTemplate] | None = None

    def template(self, scope: Scope) -> str:
        if self._templates is None:  # the routes are complete once requests arrive
            self._templates = route_templates(scope["app"].routes)
        return template_of(self._templates, scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an error escaping the app becomes a 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_http_request(scope["method"], self.template(scope), status, seconds)
            log_access(scope, status, seconds)


def log_access(scope: Scope, status: int, seconds: float) -> None:
    raw: Any = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    path = path.partition("?")[0]
    key = scope.get(SCOPE_KEY)
    actor = key.name if key is not None else "-"
    ACCESS_LOG.info(
        "%s %s %d %.1fms %s", scope["method"], path, status, seconds * 1000, actor,
        extra={"method": scope["method"], "path": path, "status": status,
               "duration_ms": round(seconds * 1000, 1), "actor": actor},
    )
