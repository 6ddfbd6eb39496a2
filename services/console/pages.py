"""Rendering console pages: Jinja2 templates shipped in the package, escaped by default.

Every route takes a ``Page`` (``PageContext``): the signed-in key, the request, a fresh
CSRF token per form (``page.csrf()``), the one-shot message left by the previous action,
and ``render`` / ``redirect``. Console routes use ``ConsoleRoute``: a refusal by a command
handler (``LedgerError``) or by a form's validation becomes an HTML page with its status,
not the API's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, cast
from urllib.parse import urlencode

import asyncpg
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from events.amounts import minor_units
from services.api.auth import SCOPE_KEY, ApiKey
from services.config import Settings
from services.console.formatting import amount, iso
from services.console.security import (
    COOKIE_PATH,
    FLASH_COOKIE,
    FLASH_SECONDS,
    SESSION_SCOPE,
    SecretSource,
    Session,
    Signing,
)
from services.console.summary import balanced
from services.errors import LedgerError

TEMPLATES = Environment(
    loader=PackageLoader("services.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["amount"] = amount
TEMPLATES.filters["iso"] = iso
TEMPLATES.globals["minor_units"] = minor_units
TEMPLATES.globals["balanced"] = balanced

#: Rows per page of every list.
PAGE_SIZE = 25


def query(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    given = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


TEMPLATES.globals["query"] = query


def render_html(template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("key", None)
    context.setdefault("flash", None)
    context.setdefault("csrf", lambda: "")
    context.setdefault("nav", "")
    key = context["key"]
    context.setdefault("is_operator", key is not None and key.role == "operator")
    return HTMLResponse(TEMPLATES.get_template(template).render(**context),
                        status_code=http_status)


def error_page(status: int, title: str, message: str, key: ApiKey | None = None) -> HTMLResponse:
    """A refusal as a page (the security headers are added on the way out)."""
    return render_html("error.html", http_status=status, title=title, message=message,
                       key=key, status_code=status)


@dataclass
class ConsoleState:
    """What the console's routes share: kept on ``app.state.console``."""

    settings: Settings
    pool: asyncpg.Pool
    secrets: SecretSource


@dataclass
class Page:
    """One request to a console page."""

    request: Request
    state: ConsoleState
    signing: Signing
    key: ApiKey | None
    session: Session | None
    flash: tuple[str, str] | None = None
    _flash_read: bool = field(default=False, repr=False)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.state.pool

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def is_operator(self) -> bool:
        return self.key is not None and self.key.role == "operator"

    def csrf(self) -> str:
        """A new one-time token for one form of this session."""
        if self.session is None:
            return ""
        return self.signing.csrf_token(self.session.session_id)

    def render(self, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        response = render_html(template, http_status=http_status, request=self.request,
                               key=self.key,
                               is_operator=self.is_operator, csrf=self.csrf,
                               flash=self.flash, **context)
        if self._flash_read:
            self.forget_flash(response)
        return response

    def redirect(self, url: str, flash: tuple[str, str] | None = None) -> RedirectResponse:
        """303 to ``url`` (after a POST: the browser GETs it), with a message to show there."""
        response = RedirectResponse(url, status_code=303)
        if flash is not None:
            response.set_cookie(FLASH_COOKIE, self.signing.flash(*flash), max_age=FLASH_SECONDS,
                                path=COOKIE_PATH, httponly=True, samesite="strict",
                                secure=self.secure_cookies)
        return response

    @staticmethod
    def forget_flash(response: Response) -> None:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH, httponly=True,
                               samesite="strict")

    @property
    def secure_cookies(self) -> bool:
        return self.request.url.scheme == "https" or self.settings.console_cookie_secure


async def _page(request: Request) -> Page:
    state = cast(ConsoleState, request.app.state.console)
    signing = await state.secrets.signing()
    page = Page(request, state, signing, cast(ApiKey | None, request.scope.get(SCOPE_KEY)),
                cast(Session | None, request.scope.get(SESSION_SCOPE)))
    if request.method == "GET" and FLASH_COOKIE in request.cookies:
        page.flash = signing.read_flash(request.cookies[FLASH_COOKIE])
        page._flash_read = True
    return page


PageContext = Annotated[Page, Depends(_page)]


class ConsoleRoute(APIRoute):
    """A console route: refusals are pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            key = cast(ApiKey | None, request.scope.get(SCOPE_KEY))
            try:
                return await handler(request)
            except LedgerError as error:
                return error_page(error.http_status, "Refused",
                                  f"{error.code}: {error.message}", key)
            except RequestValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                    for e in error.errors())
                return error_page(400, "Invalid request", problems, key)

        return handle
