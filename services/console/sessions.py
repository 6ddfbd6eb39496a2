"""Who may see which console page: the app-wide key middleware hands ``/console`` requests
here (``services.api.auth.SessionCheck``).

- The sign-in page and the static assets are anonymous.
- Everything else needs a session cookie that is intact, not expired, not signed out, and
  whose key is still live: the key is looked up on every request, as the API's bearer check
  does, so a revoked key ends its sessions at once, in every server.
- Without one, a page (GET) is redirected to the sign-in page (303) and anything else is
  refused with 401. A viewer may read; a POST needs an operator (403), as in the API.

The session is left in the ASGI scope (``SESSION_SCOPE``) for the CSRF check, which every
POST route runs (``services.console.forms``).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import asyncpg
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth import READ_METHODS, ApiKey, is_console_path, live_key_by_hash
from services.console.pages import error_page
from services.console.security import SESSION_COOKIE, SESSION_SCOPE, SecretSource, Session
from services.store.console_state import is_spent

log = logging.getLogger("ledger.console")

LOGIN_PATH = "/console/login"
#: Any signed-in key may sign out (a POST, which otherwise needs an operator).
LOGOUT_PATH = "/console/logout"
STATIC_PREFIX = "/console/static/"

#: The database cannot answer: 503, as the API answers then.
_STORE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def session_spent_id(session_id: str) -> str:
    """The id a signed-out session is recorded under."""
    return f"session:{session_id}"


def cookie(scope: Scope, name: str) -> str | None:
    for part in Headers(scope=scope).getlist("cookie"):
        for pair in part.split(";"):
            key, _, value = pair.strip().partition("=")
            if key == name:
                return value
    return None


class ConsoleSessions:
    def __init__(self, pool: asyncpg.Pool, secrets: SecretSource) -> None:
        self.pool = pool
        self.secrets = secrets

    async def check(self, scope: Scope) -> tuple[ASGIApp | None, ApiKey | None]:
        path = scope["path"]
        if path == LOGIN_PATH or path.startswith(STATIC_PREFIX):
            return None, None
        try:
            session, key = await self.signed_in(scope)
        except _STORE_ERRORS as error:
            log.warning("console session check failed: %s: %s", type(error).__name__, error)
            return error_page(503, "Unavailable",
                              "The sign-in cannot be checked now: the database is unavailable."
                              ), None
        if session is None or key is None:
            if scope["method"] in READ_METHODS:
                target = quote(path, safe="/")
                return RedirectResponse(f"{LOGIN_PATH}?next={target}", status_code=303), None
            return error_page(401, "Not signed in",
                              "Sign in with an API key first (your session may have ended)."
                              ), None
        scope[SESSION_SCOPE] = session
        if not key.may(scope["method"]) and path != LOGOUT_PATH:
            return error_page(403, "Not allowed",
                              f"{key.name} is a {key.role}: a viewer may look, not act."), key
        return None, key

    async def signed_in(self, scope: Scope) -> tuple[Session | None, ApiKey | None]:
        signing = await self.secrets.signing()
        session = signing.read_session(cookie(scope, SESSION_COOKIE))
        if session is None:
            return None, None
        key = await live_key_by_hash(self.pool, session.token_hash)
        if key is None or key.name != session.key_name:
            return None, None
        if await is_spent(self.pool, session_spent_id(session.session_id)):
            return None, None  # signed out
        return session, key


#: Only the console's own assets; no inline script or style anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
#: Set here whatever a route set.
_REPLACED = frozenset({*(name for name, _ in SECURITY_HEADERS), b"cache-control"})


class ConsoleHeaders:
    """Every console answer, refusals and redirects included, carries the security headers;
    pages are ``Cache-Control: no-store`` (they show live data and whom they were rendered
    for); static assets ``no-cache`` (kept, but checked against their ETag before use, so a
    new release's CSS is seen at once)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIX)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in _REPLACED]
                headers += SECURITY_HEADERS
                headers.append((b"cache-control",
                                b"no-cache" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)

