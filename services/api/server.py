"""Serving the API with uvicorn inside the ledger's own event loop (``ledger serve``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import uvicorn

from services.api.app import create_app
from services.config import Settings

log = logging.getLogger("ledger.api")


class ApiServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host: ``ledger serve`` stops every part
    through one stop event, and tests stop it with ``should_exit``."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(settings: Settings, pool: asyncpg.Pool) -> ApiServer:
    """Bound to ``http_host`` (loopback unless told otherwise) and ``http_port``."""
    config = uvicorn.Config(
        create_app(settings, pool),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the host's logging configuration
        access_log=False,
        lifespan="on",  # the app closes its Kafka client when it stops
    )
    return ApiServer(config)


async def run_api(settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Serve on ``http_host``:``http_port`` until ``stop`` is set; finish requests in
    flight."""
    server = api_server(settings, pool)
    serving = asyncio.create_task(_serve(server, settings.http_host, settings.http_port))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
    await serving


async def _serve(server: ApiServer, host: str, port: int) -> None:
    try:
        await server.serve()
    except SystemExit as error:  # uvicorn exits when it cannot bind: fail this part only
        raise RuntimeError(f"the HTTP API could not start on {host}:{port}") from error
