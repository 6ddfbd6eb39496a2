"""The HTTP API served by uvicorn in the test's event loop, on the settings' free port, and
an httpx client talking to it over real HTTP, with an API key of the role asked for."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.api.server import api_server
from services.commands.api_keys import create_api_key
from services.config import Settings
from tests.helpers import wait_until


async def bearer(pool: asyncpg.Pool, role: str, name: str | None = None) -> dict[str, str]:
    """The ``Authorization`` header of a new key (named after its role unless ``name``)."""
    key = await create_api_key(pool, name or f"{role}-{uuid.uuid4().hex[:8]}", role)
    return {"Authorization": f"Bearer {key['token']}"}


@asynccontextmanager
async def serving(
    settings: Settings, pool: asyncpg.Pool, role: str | None = "operator",
    name: str | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """``uvicorn.Server(config).serve()`` as a task until the block ends; the client's base
    URL is the server's, and it sends a new key of ``role`` (None: no key), named ``name``
    (default: after its role)."""
    async with serving_app(settings, pool, role, name) as (client, _app):
        yield client


@asynccontextmanager
async def serving_app(
    settings: Settings, pool: asyncpg.Pool, role: str | None = "operator",
    name: str | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """``serving``, and the app being served (to look at what it owns)."""
    headers = await bearer(pool, role, name) if role is not None else {}
    server = api_server(settings, pool)
    task = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(
        base_url=f"http://{settings.http_host}:{settings.http_port}", timeout=30,
        headers=headers,
    ) as client:

        async def healthy() -> bool:
            if task.done():
                task.result()  # raise why it stopped
                raise AssertionError("the API server stopped")
            try:
                return (await client.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            await wait_until(healthy, timeout=15, message="API /healthz")
            yield client, server.config.app
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)


async def metric_values(client: httpx.AsyncClient) -> dict[tuple[str, tuple[str, ...]], float]:
    """Every sample of ``GET /metrics``: (name, sorted label pairs) -> value."""
    answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    values: dict[tuple[str, tuple[str, ...]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = tuple(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[(sample.name, labels)] = sample.value
    return values
