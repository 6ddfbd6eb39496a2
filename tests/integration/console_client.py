"""Talking to the console over real HTTP as a browser would, with httpx: sign in through the
form, read the one-time tokens out of the pages, post forms from this server's origin."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx

from services.commands.api_keys import create_api_key
from services.config import Settings
from tests.integration.http_api import serving

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_tokens(html: str) -> list[str]:
    return CSRF.findall(html)


def origin(client: httpx.AsyncClient) -> str:
    return f"{client.base_url.scheme}://{client.base_url.netloc.decode()}"


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    return await client.post("/console/login", headers={"Origin": origin(client)}, data={
        "csrf_token": csrf_tokens(form.text)[0], "token": token, "next": "/console/"})


async def post_form(client: httpx.AsyncClient, page: str, action: str,
                    data: dict[str, str] | None = None) -> httpx.Response:
    """Post to ``action`` with a token from ``page``, as its form would."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    tokens = csrf_tokens(shown.text)
    assert tokens, f"no form on {page}"
    return await client.post(action, headers={"Origin": origin(client)},
                             data={"csrf_token": tokens[0], **(data or {})})


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    name: str
    role: str
    token: str


@asynccontextmanager
async def console(settings: Settings, pool: asyncpg.Pool, *roles: str
                  ) -> AsyncIterator[list[SignedIn]]:
    """The app served on the settings' port, and one signed-in client per role asked for
    (each its own cookie jar)."""
    async with serving(settings, pool, role=None) as anonymous:
        signed: list[SignedIn] = []
        clients: list[httpx.AsyncClient] = []
        try:
            for role in roles:
                key = await create_api_key(pool, f"{role}-{uuid.uuid4().hex[:6]}", role)
                client = httpx.AsyncClient(base_url=anonymous.base_url, timeout=30)
                clients.append(client)
                answer = await sign_in(client, key["token"])
                assert answer.status_code == 303, answer.text
                signed.append(SignedIn(client, key["name"], role, key["token"]))
            yield signed
        finally:
            for client in clients:
                await client.aclose()
