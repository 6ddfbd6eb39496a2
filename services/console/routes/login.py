"""Sign in with an API key, sign out.

The sign-in form has one field, ``token``. Its own CSRF token is bound to a random nonce in a
short-lived pre-session cookie (there is no session yet). A live key's token gives a session
cookie: signed, HttpOnly, ``SameSite=Strict``, ``Path=/console``, ``Secure`` over HTTPS (or
with ``LEDGER_CONSOLE_COOKIE_SECURE``), for ``LEDGER_CONSOLE_SESSION_HOURS``. Signing out
records the session as ended (every server refuses its cookie from then on).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.api.auth import live_key
from services.commands.api_keys import token_hash
from services.console.forms import CheckedForm, check_origin, field, spend_token
from services.console.pages import ConsoleRoute, Page, PageContext
from services.console.security import (
    COOKIE_PATH,
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
)
from services.console.sessions import LOGIN_PATH, session_spent_id
from services.store.console_state import spend

router = APIRouter(route_class=ConsoleRoute)

HOME = "/console/"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if (not target or not target.startswith("/console") or target.startswith("//")
            or "\\" in target or "//" in target):
        return HOME
    return target


def login_form(page: Page, *, next_path: str, error: str = "", status: int = 200) -> Response:
    """The form, with a new pre-session nonce and a token bound to it."""
    cookie, nonce = page.signing.new_login_nonce()
    response = page.render("login.html", http_status=status, nav="login",
                           login_token=page.signing.csrf_token(f"login:{nonce}"),
                           next_path=next_path, error=error)
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=LOGIN_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=page.secure_cookies)
    return response


@router.get("/login", summary="Console: sign in")
async def login_page(page: PageContext, next: str | None = None) -> Response:
    return login_form(page, next_path=safe_next(next))


@router.post("/login", summary="Console: sign in with an API key")
async def login(request: Request, page: PageContext) -> Response:
    check_origin(request)
    form = await request.form()
    nonce = page.signing.read_login_nonce(request.cookies.get(LOGIN_COOKIE))
    token = form.get(CSRF_FIELD)
    checked = (page.signing.read_csrf(token, f"login:{nonce}")
               if nonce is not None and isinstance(token, str) else None)
    await spend_token(page, checked)
    next_path = safe_next(field(form, "next"))
    api_token = field(form, "token")
    key = await live_key(page.pool, api_token) if api_token else None
    if key is None:
        return login_form(page, next_path=next_path, status=401,
                          error="That API key is unknown or revoked.")
    value, _ = page.signing.new_session(key.name, token_hash(api_token))
    response = page.redirect(next_path)
    response.set_cookie(SESSION_COOKIE, value, max_age=int(page.signing.session_seconds),
                        path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=page.secure_cookies)
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/logout", summary="Console: sign out")
async def logout(page: PageContext, _form: CheckedForm) -> Response:
    assert page.session is not None  # the session check let the request in
    await spend(page.pool, session_spent_id(page.session.session_id), page.session.expires_at)
    response = page.redirect(LOGIN_PATH, flash=("ok", "Signed out."))
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
