"""The HTTP API of docs/contract.md §4: a plain FastAPI app over the command handlers.

``create_app(settings, pool)`` does not own the pool: whoever made it (``ledger serve``,
a test) closes it. Routes are split by purpose; every rule they enforce is the command
handlers' (the CLI calls the same ones), the API only translates shapes. Two middlewares
wrap every route: ``observe`` (access log, HTTP metrics) around ``auth`` (an API key with a
role for everything but the anonymous routes). The app owns the Kafka client ``/metrics``
reads end offsets with, and closes it when it stops (lifespan). The month-end console
(services/console) is served by the same app under ``/console``: ``auth`` hands its requests
to the console's session check, and its answers get the console's security headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI

from services.api import journal_entries, journal_runs, operations, periods
from services.api.auth import ANONYMOUS_ROUTES, METRICS_ROUTE, READ_METHODS, RequireApiKey
from services.api.errors import install_error_handlers
from services.api.models import ErrorAnswer
from services.api.observe import ObserveRequests
from services.api.unavailable import install_unavailable_handler
from services.config import Settings
from services.console import ConsoleHeaders, install_console
from services.end_offsets import EndOffsets
from services.version import ledger_version

DESCRIPTION = """\
Journal runs, summary journal entries and accounting periods of the billing ledger in the
shapes of Zuora's v1 Finance API, so that Zuora's own clients (the `zuora-sdk`) work
unchanged: camelCase fields, Zuora's enum spellings (`Completed`, `Created`, `Debit`, `Yes`,
`Open`), transaction types by display name ("Invoice Item") or id, numbers `JR-00000001` /
`JE-00000001`, periods by id. Ledger-only data come as extra fields.

Every refusal is `{"success": false, "reasons": [{"code", "message"}]}` with status 400
(rejected: the code names the rule), 404 (not found) or 409 (conflict), and 503
`unavailable` while PostgreSQL is away or no database connection is free in time. Journal
runs and entries are never deleted (the ledger is append-only): `DELETE` answers 409.

Every route but `/healthz` and `/readyz` needs `Authorization: Bearer TOKEN`, an API key
from `ledger api-keys create NAME --role viewer|operator`: without one, or with an unknown
or revoked one, 401 `unauthorized`. A `viewer` key may only read (GET); writing needs an
`operator` key, else 403 `forbidden`. What a request writes is recorded as done by the
key's name.
"""


def create_app(settings: Settings, pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI(
        title="billing-ledger",
        version=ledger_version(),
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "Journal runs"},
            {"name": "Journal entries"},
            {"name": "Accounting periods"},
            {"name": "Operations", "description": "Health, readiness, Prometheus metrics."},
        ],
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.pool = pool
    app.state.end_offsets = EndOffsets(settings)
    install_error_handlers(app)
    install_unavailable_handler(app)
    for module in (journal_runs, journal_entries, periods, operations):
        app.include_router(module.router)
    console = install_console(app, settings, pool)
    app.add_middleware(RequireApiKey, pool=pool, metrics_public=settings.metrics_public,
                       console=console)
    app.add_middleware(ConsoleHeaders)  # around auth: its refusals get the headers too
    app.add_middleware(ObserveRequests)  # added last: outermost, sees refusals too
    _document_openapi(app, anonymous=ANONYMOUS_ROUTES | (
        {METRICS_ROUTE} if settings.metrics_public else set()))
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.end_offsets.close()


#: The name of the bearer scheme in the OpenAPI document.
BEARER = "apiKey"
#: The refusals of the API-key check, documented on every route that needs a key.
AUTH_RESPONSES = {
    "401": ("Unauthorized: no API key, or an unknown or revoked one (`WWW-Authenticate: "
            "Bearer`)."),
    "403": "Forbidden: the key's role may not do this (a viewer may only read).",
}


def _document_openapi(app: FastAPI, anonymous: set[str] | frozenset[str]) -> None:
    """Two corrections to what FastAPI generates.

    - FastAPI documents request validation as 422 ``HTTPValidationError``; this API answers
      400 in the error shape (documented on each route), so the 422s go.
    - The API key is checked by a middleware, which FastAPI cannot see: the bearer scheme
      is declared for every route, its 401 and 403 added, the anonymous routes exempted.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            error = {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{ErrorAnswer.__name__}"}}}
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    if path in anonymous:
                        operation["security"] = []
                        continue
                    for status, description in AUTH_RESPONSES.items():
                        if status == "403" and method.upper() in READ_METHODS:
                            continue  # any key may read
                        responses[status] = {"description": description, "content": error}
            components = schema.setdefault("components", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(name, None)
            components["securitySchemes"] = {BEARER: {
                "type": "http", "scheme": "bearer",
                "description": "An API key's token, from `ledger api-keys create`."}}
            schema["security"] = [{BEARER: []}]
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
