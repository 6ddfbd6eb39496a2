"""Every console POST is a form that proves it came from a page this session was shown.

``CheckedForm`` (a dependency of every POST route) refuses with 403, before the route
runs, a post whose ``Origin`` (or ``Referer``) is not this server, whose CSRF token is
missing, forged, expired or of another session, or whose token was already used once (the
ids of used tokens are kept in PostgreSQL until they expire, so a replay is refused by
every server). The sign-in form does the same with the token bound to its pre-session
cookie (``services.console.routes.login``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.console.pages import Page, PageContext
from services.console.security import CSRF_FIELD, CsrfToken, same_origin
from services.errors import LedgerError
from services.store.console_state import spend


class FormRefused(LedgerError):
    """A form post the console will not act on (403)."""

    http_status = 403


def check_origin(request: Request) -> None:
    headers = {k: request.headers[k] for k in ("origin", "referer") if k in request.headers}
    if not same_origin(headers, request.url.scheme, request.headers.get("host", "")):
        raise FormRefused("csrf_origin", "the form was not posted from a page of this console "
                                         "(Origin/Referer of another site, or none)")


async def spend_token(page: Page, checked: CsrfToken | None) -> None:
    if checked is None:
        raise FormRefused("csrf_invalid", "the form's token is missing, invalid, expired or "
                                          "belongs to another session: reload the page")
    if not await spend(page.pool, f"csrf:{checked.token_id}", checked.expires_at):
        raise FormRefused("csrf_replayed", "this form was already sent once: reload the page "
                                           "to act again")


async def _checked_form(request: Request, page: PageContext) -> FormData:
    check_origin(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    session_id = page.session.session_id if page.session is not None else ""
    checked = (page.signing.read_csrf(token, session_id)
               if isinstance(token, str) and session_id else None)
    await spend_token(page, checked)
    return form


CheckedForm = Annotated[FormData, Depends(_checked_form)]


def field(form: FormData, name: str) -> str:
    """A text field's value, stripped ('' when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
