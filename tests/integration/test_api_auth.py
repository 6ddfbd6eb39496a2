"""API keys on the HTTP API over real HTTP (docs/contract.md §4): every route but /healthz and
/readyz needs a key, a viewer may only read, a revoked key stops working at the next request
in every running server, and each request leaves one access-log line and its metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi.routing import iter_route_contexts

from projections import api_keys
from services.api.app import create_app
from services.api.auth import is_console_path
from services.api.server import run_api
from services.commands.api_keys import create_api_key, revoke_api_key
from services.config import Settings
from services.embedded import free_port
from services.store.pool import create_pool
from tests.helpers import wait_until
from tests.integration.console_client import console, csrf_tokens, origin
from tests.integration.db import rows
from tests.integration.http_api import bearer, metric_values, serving

ANONYMOUS = {"/healthz", "/readyz"}
READS = {"GET", "HEAD"}
#: What every path parameter is filled with: no such run, entry or period.
PLACEHOLDER = "X-1"


def every_route(settings: Settings, pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, its own (docs, OpenAPI) included, path
    parameters filled: taken from the app itself, so a route added later is checked too."""
    app = create_app(settings, pool)
    return [(method, re.sub(r"\{[^}]+\}", PLACEHOLDER, str(route.path)))
            for route in iter_route_contexts(app.routes)
            for method in sorted(route.methods or ())]


def refusal(answer: httpx.Response) -> tuple[int, str]:
    body = answer.json()
    assert body["success"] is False and len(body["reasons"]) == 1, body
    return answer.status_code, body["reasons"][0]["code"]


async def test_every_route_needs_a_key_and_a_viewer_may_only_read(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    routes = [r for r in every_route(settings, pool) if not is_console_path(r[1])]
    assert {("GET", "/docs"), ("GET", "/openapi.json"), ("POST", "/v1/journal-runs"),
            ("PUT", f"/v1/journal-entries/{PLACEHOLDER}/cancel"), ("GET", "/metrics"),
            ("DELETE", f"/v1/journal-runs/{PLACEHOLDER}"),
            ("GET", "/healthz")} <= set(routes)
    assert len(routes) >= 22
    viewer, operator = await bearer(pool, "viewer"), await bearer(pool, "operator")
    gone = await create_api_key(pool, "gone", "operator")
    await revoke_api_key(pool, "gone")
    refused_keys = {
        "no key": {},
        "unknown key": {"Authorization": "Bearer lk_" + "A" * 43},
        "revoked key": {"Authorization": f"Bearer {gone['token']}"},
        "not a bearer token": {"Authorization": "Basic dXNlcjpwYXNz"},
        "an empty bearer token": {"Authorization": "Bearer"},
    }
    async with serving(settings, pool, role=None) as client:
        for method, path in [*routes, ("GET", "/v1/no-such-route"), ("POST", "/nowhere")]:
            body = {} if method in ("POST", "PUT") else None
            for what, headers in refused_keys.items():
                answer = await client.request(method, path, json=body, headers=headers)
                where = (method, path, what)
                if path in ANONYMOUS:
                    assert answer.status_code == 200, where
                    continue
                assert answer.status_code == 401, where
                assert answer.headers["www-authenticate"] == "Bearer", where
                if method != "HEAD":
                    assert refusal(answer) == (401, "unauthorized"), where
            as_viewer = await client.request(method, path, json=body, headers=viewer)
            if method in READS or path in ANONYMOUS:
                assert as_viewer.status_code not in (401, 403), (method, path, as_viewer.text)
            else:
                assert refusal(as_viewer) == (403, "forbidden"), (method, path)
            as_operator = await client.request(method, path, json=body, headers=operator)
            assert as_operator.status_code not in (401, 403), (method, path, as_operator.text)
        # the handler's own answers behind the check: a case-insensitive scheme works
        lower = {"Authorization": operator["Authorization"].replace("Bearer", "bearer")}
        answer = await client.get(f"/v1/journal-runs/{PLACEHOLDER}", headers=lower)
        assert refusal(answer) == (404, "journal_run_not_found")


#: The console's anonymous routes: the sign-in form (its POST checks its own token).
CONSOLE_ANONYMOUS = {"/console/login"}
LOGOUT = ("POST", "/console/logout")


async def test_every_console_route_needs_a_session_and_a_viewer_may_only_read(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """The console authenticates by its session cookie, not a bearer token: without one a
    page redirects to the sign-in form and a post is 401; a viewer's post is 403; an
    operator's post without a form token is 403 too, with one it reaches the handler."""
    routes = [r for r in every_route(settings, pool) if is_console_path(r[1])]
    assert {("GET", "/console/"), ("GET", "/console/login"), ("POST", "/console/login"),
            ("POST", f"/console/periods/{PLACEHOLDER}/{PLACEHOLDER}"),
            ("GET", f"/console/entries/{PLACEHOLDER}/transaction-details.csv"),
            ("POST", "/console/runs/preview"), ("POST", "/console/dlq/replay"),
            LOGOUT} <= set(routes)
    async with console(settings, pool, "viewer", "operator") as (viewer, operator):
        bearer_only = {"Authorization": f"Bearer {operator.token}"}
        anonymous = httpx.AsyncClient(base_url=viewer.client.base_url, headers=bearer_only)
        try:
            for method, path in routes:
                where = (method, path)
                answer = await anonymous.request(method, path)
                if path in CONSOLE_ANONYMOUS:
                    assert answer.status_code == (200 if method == "GET" else 403), where
                elif method == "GET":
                    assert answer.status_code == 303, where
                    assert answer.headers["location"].startswith("/console/login?next="), where
                else:
                    assert answer.status_code == 401, where
                if path in CONSOLE_ANONYMOUS or where == LOGOUT:
                    continue
                as_viewer = await viewer.client.request(method, path)
                as_operator = await operator.client.request(method, path)
                if method == "GET":
                    assert as_viewer.status_code not in (303, 401, 403), where
                    assert as_operator.status_code not in (303, 401, 403), where
                    continue
                page = await viewer.client.get("/console/")
                with_token = {"csrf_token": csrf_tokens(page.text)[0]}
                here = {"Origin": origin(viewer.client)}
                as_viewer = await viewer.client.post(path, data=with_token, headers=here)
                assert as_viewer.status_code == 403, where
                assert as_operator.status_code == 403, where  # no form token
                page = await operator.client.get("/console/")
                answer = await operator.client.post(
                    path, data={"csrf_token": csrf_tokens(page.text)[0]}, headers=here)
                assert answer.status_code not in (401, 403), (where, answer.text)
        finally:
            await anonymous.aclose()


async def test_metrics_are_anonymous_only_when_made_public(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    public = settings.model_copy(update={"metrics_public": True})
    async with serving(public, pool, role=None) as client:
        answer = await client.get("/metrics")
        assert answer.status_code == 200 and "ledger_http_requests_total" in answer.text
        assert refusal(await client.get("/v1/accounting-periods")) == (401, "unauthorized")
        assert refusal(await client.get("/openapi.json")) == (401, "unauthorized")
        spec = (await client.get("/openapi.json", headers=await bearer(pool, "viewer"))).json()
        assert spec["paths"]["/metrics"]["get"]["security"] == []


@asynccontextmanager
async def api_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """``run_api`` as ``ledger serve --api`` runs it, on a pool of its own (as a separate
    server process would have), until the block ends."""
    pool = await create_pool(settings.database_dsn(), max_size=2)
    stop = asyncio.Event()
    task = asyncio.create_task(run_api(settings, pool, stop))
    try:
        async with httpx.AsyncClient(
            base_url=f"http://{settings.http_host}:{settings.http_port}", timeout=30
        ) as client:
            async def up() -> bool:
                assert not task.done(), task
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, timeout=15, message="API /healthz")
            yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await pool.close()


async def test_a_revoked_key_stops_working_at_the_next_request_in_every_server(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    key = await create_api_key(pool, "ci", "viewer")
    headers = {"Authorization": f"Bearer {key['token']}"}
    first = settings.model_copy(update={"http_port": free_port()})
    second = settings.model_copy(update={"http_port": free_port()})
    async with api_process(first) as one, api_process(second) as two:
        for server in (one, two):
            answer = await server.get("/v1/accounting-periods", headers=headers)
            assert answer.status_code == 200, answer.text
        await revoke_api_key(pool, "ci")  # the CLI's command, on another connection
        for server in (one, two):  # at once: no waiting, no cache to expire
            answer = await server.get("/v1/accounting-periods", headers=headers)
            assert refusal(answer) == (401, "unauthorized")
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_what_a_request_writes_records_the_key_name_as_its_actor(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    headers = await bearer(pool, "operator", name="gl-integration")
    async with serving(settings, pool, role=None) as client:
        created = await client.post("/v1/accounting-periods", headers=headers, json={
            "name": "Apr-2024", "startDate": "2024-04-01", "endDate": "2024-04-30",
            "fiscalYear": 2024})
        assert created.status_code == 200, created.text
        closed = await client.put("/v1/accounting-periods/Apr-2024/close", headers=headers)
        assert closed.status_code == 200, closed.text
    written = await rows(pool, "SELECT event_type, metadata FROM events "
                               "WHERE event_type LIKE 'period.%' AND payload -> 'data' ->> "
                               "'name' = 'Apr-2024' ORDER BY position")
    assert [(e["event_type"], json.loads(e["metadata"])) for e in written] == [
        ("period.created", {"actor": "gl-integration"}),
        ("period.status_changed", {"actor": "gl-integration"})]


async def test_one_access_log_line_per_request_and_metrics_by_route_template(
    settings: Settings, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    headers = await bearer(pool, "viewer", name="dashboards")
    token = headers["Authorization"].removeprefix("Bearer ")
    caplog.set_level(logging.INFO, logger="ledger.api.access")
    async with serving(settings, pool, role=None) as anonymous, httpx.AsyncClient(
            base_url=anonymous.base_url, headers=headers) as viewer:
        before = await metric_values(viewer)
        await viewer.get("/v1/journal-runs/JR-00000042?page=2&secret=x")
        await viewer.get("/v1/journal-runs/JR-00000043")
        await viewer.post("/v1/journal-runs", json={})
        await anonymous.get("/v1/journal-runs/JR-00000044")
        await viewer.get("/no/such/path%0Aforged")  # a decoded newline must not split the line
        after = await metric_values(viewer)

    lines = [r.getMessage() for r in caplog.records if r.name == "ledger.api.access"]
    pattern = re.compile(r"(\S+) (\S+) (\d{3}) \d+\.\dms (\S+)")
    parsed = [pattern.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [m.groups() for m in parsed if m and not m.group(2).startswith(("/healthz",
                                                                           "/metrics"))] == [
        ("GET", "/v1/journal-runs/JR-00000042", "404", "dashboards"),
        ("GET", "/v1/journal-runs/JR-00000043", "404", "dashboards"),
        ("POST", "/v1/journal-runs", "403", "dashboards"),
        ("GET", "/v1/journal-runs/JR-00000044", "401", "-"),
        ("GET", "/no/such/path%0Aforged", "404", "dashboards"),
    ]
    assert token not in caplog.text and "secret" not in caplog.text

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(f"{k}={v}" for k, v in sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    template = "/v1/journal-runs/{jr}"
    assert delta("ledger_http_requests_total", method="GET", route=template,
                 status="404") == 2
    assert delta("ledger_http_requests_total", method="GET", route=template,
                 status="401") == 1
    assert delta("ledger_http_requests_total", method="POST", route="/v1/journal-runs",
                 status="403") == 1
    assert delta("ledger_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert delta("ledger_http_request_seconds_count", method="GET", route=template) == 3
    assert not [labels for (_, labels) in after if any("JR-0000004" in x for x in labels)]


async def test_keys_keep_working_while_a_rebuild_refolds_them(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    headers = await bearer(pool, "viewer")
    async with serving(settings, pool, role=None) as client, pool.acquire() as rebuilding:
        transaction = rebuilding.transaction()
        await transaction.start()
        try:  # what a rebuild does first, its commit still minutes away
            await api_keys.PROJECTION.reset(rebuilding)
            answer = await asyncio.wait_for(
                client.get("/v1/accounting-periods", headers=headers), timeout=5)
            assert answer.status_code == 200, answer.text
        finally:
            await transaction.rollback()
