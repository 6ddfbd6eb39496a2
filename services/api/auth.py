"""Every request needs an API key, but those to the anonymous routes (docs/contract.md §4).

One middleware for the whole app, in front of the router, so no route can be left open by
forgetting a dependency: ``/docs``, ``/openapi.json`` and paths that match no route are
covered too. Anonymous are only ``/healthz`` and ``/readyz`` (and ``/metrics`` when
``LEDGER_METRICS_PUBLIC=true``). Requests under ``/console`` are the console's: they are
authenticated by its session cookie instead (``SessionCheck``, services/console), by the same
live-key lookup and with the same roles.

- no ``Authorization: Bearer TOKEN``, or a token no live key has: 401 ``unauthorized`` with
  ``WWW-Authenticate: Bearer``;
- a ``viewer`` key may GET (and HEAD); any other method needs an ``operator`` key: else 403
  ``forbidden``.

The token's hash is looked up in the database on every request (one unique-index probe on
the API's pool): a key revoked by any process stops working at the next request, in every
server, with no cache to expire. The request then runs as the key's actor
(``services.actor``), which every command event it writes records; the key is also left in
the ASGI scope (``SCOPE_KEY``) for the access log and for ``/readyz``.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from starlette.types import ASGIApp, Receive, Scope, Send

from services.actor import acting_as
from services.api.errors import error_response
from services.api.unavailable import CODE as UNAVAILABLE
from services.api.unavailable import is_away, unavailable_message
from services.commands.api_keys import find_live_key, token_hash

log = logging.getLogger("ledger.api")

ANONYMOUS_ROUTES = frozenset({"/healthz", "/readyz"})
METRICS_ROUTE = "/metrics"
#: Where the console lives: its requests carry a session cookie, not a bearer token.
CONSOLE_PREFIX = "/console"
READ_METHODS = frozenset({"GET", "HEAD"})
OPERATOR = "operator"
#: Where the request's key (or None) is kept in the ASGI scope.
SCOPE_KEY = "ledger.api_key"

#: The database cannot answer (down, overloaded, not migrated): 503, as every route does
#: while PostgreSQL is away.
_STORE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: str

    def may(self, method: str) -> bool:
        return self.role == OPERATOR or method in READ_METHODS


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (the scheme in any case)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


async def live_key(pool: asyncpg.Pool, token: str) -> ApiKey | None:
    """The unrevoked key whose token this is, if any."""
    return await live_key_by_hash(pool, token_hash(token))


async def live_key_by_hash(pool: asyncpg.Pool, hashed: str) -> ApiKey | None:
    """The unrevoked key whose token hashes to ``hashed``, if any (a console session keeps
    the hash, never the token)."""
    found = await find_live_key(pool, hashed)
    return ApiKey(*found) if found is not None else None


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class SessionCheck(Protocol):
    """How requests to the console are let in: by its session cookie (services/console)."""

    async def check(self, scope: Scope) -> tuple[ASGIApp | None, ApiKey | None]:
        """(the refusal to answer with, or None; the signed-in key, or None: anonymous)."""
        ...


def unauthorized(message: str) -> ASGIApp:
    response = error_response(401, [("unauthorized", message)])
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class RequireApiKey:
    def __init__(self, app: ASGIApp, pool: asyncpg.Pool, metrics_public: bool,
                 console: SessionCheck | None = None) -> None:
        self.app = app
        self.pool = pool
        self.anonymous = ANONYMOUS_ROUTES | ({METRICS_ROUTE} if metrics_public else set())
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websocket routes: refuse rather than pass
            await send({"type": "websocket.close", "code": 1008})
            return
        refusal, key = await self.check(scope)
        scope[SCOPE_KEY] = key
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        with acting_as(key.name) if key is not None else nullcontext():
            await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> tuple[ASGIApp | None, ApiKey | None]:
        """(the refusal to answer with, or None; the caller's key, or None: anonymous)."""
        if self.console is not None and is_console_path(scope["path"]):
            return await self.console.check(scope)
        anonymous = scope["path"] in self.anonymous
        token = bearer_token(scope)
        key = None
        if token is not None:
            try:
                key = await live_key(self.pool, token)
            except _STORE_ERRORS as error:
                if anonymous:  # answer as to anyone: a probe must not need the key store
                    return None, None
                if isinstance(error, asyncpg.UndefinedTableError):  # not migrated yet
                    message = "the API keys cannot be checked: the database is not migrated"
                elif is_away(error):
                    message = unavailable_message(error)
                else:
                    raise
                log.warning("API key lookup failed: %s: %s", type(error).__name__, error)
                return error_response(503, [(UNAVAILABLE, message)]), None
        if anonymous:
            return None, key
        if token is None:
            return unauthorized("this route needs an API key: send 'Authorization: Bearer "
                                "TOKEN' (keys come from 'ledger api-keys create')"), None
        if key is None:
            return unauthorized("the API key is unknown or revoked"), None
        if not key.may(scope["method"]):
            return error_response(403, [("forbidden", f"API key {key.name!r} is a {key.role}: "
                                         f"it may only read (GET); {scope['method']} needs an "
                                         "operator key")]), key
        return None, key
