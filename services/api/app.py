"""The HTTP API of docs/contract.md §4: a plain FastAPI app over the command handlers.

``create_app(settings, pool)`` does not own the pool: whoever made it (``ledger serve``,
a test) closes it. Routes are split by purpose; every rule they enforce is the command
handlers' (the CLI calls the same ones), the API only translates shapes. The app owns the
Kafka client ``/metrics`` reads end offsets with, and closes it when it stops (lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI

from services.api import journal_entries, journal_runs, operations, periods
from services.api.errors import install_error_handlers
from services.api.unavailable import install_unavailable_handler
from services.config import Settings
from services.end_offsets import EndOffsets

DESCRIPTION = """\
Journal runs, summary journal entries and accounting periods of the billing ledger, shaped
like Zuora's v1 Finance API: camelCase fields, transaction types by display name
("Invoice Item") or id, numbers `JR-00000001` / `JE-00000001`.

Every refusal is `{"success": false, "reasons": [{"code", "message"}]}` with status 400
(rejected: the code names the rule), 404 (not found) or 409 (conflict), and 503
`unavailable` while PostgreSQL is away or no database connection is free in time. Journal
runs and entries are never deleted (the ledger is append-only): `DELETE` answers 409.
"""


def create_app(settings: Settings, pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI(
        title="billing-ledger",
        version="1",
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
    _document_400_not_422(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.end_offsets.close()


def _document_400_not_422(app: FastAPI) -> None:
    """FastAPI documents request validation as 422 ``HTTPValidationError``; this API answers
    400 in the error shape (documented on each route), so drop the 422s from the document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
