"""The console's rules, over real HTTP without a browser (quick): sessions, CSRF, headers,
roles, escaping. The browser journeys are in tests/browser."""

from __future__ import annotations

import json
import re
from datetime import date

import asyncpg
import httpx
import pytest
from fastapi.routing import iter_route_contexts
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr

from events.journal_rules import JournalRunRequest
from services.api.app import create_app
from services.commands.api_keys import create_api_key, revoke_api_key, token_hash
from services.commands.periods import period_named
from services.config import Settings
from services.console.sessions import CONTENT_SECURITY_POLICY
from services.journal.run import create_journal_run
from services.journal.views import list_entries
from tests.helpers import wait_until
from tests.integration.billing import store_lines, txn
from tests.integration.console_client import (
    console,
    csrf_tokens,
    origin,
    post_form,
    sign_in,
)
from tests.integration.db import rows, scalar
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


def assert_security_headers(answer: httpx.Response, *, cache: str = "no-store") -> None:
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name)
    assert answer.headers["cache-control"] == cache, answer.request.url


def set_cookie(answer: httpx.Response, name: str) -> str:
    found = [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, answer.headers.get_list("set-cookie")
    return found[0]


async def test_signing_in_gives_a_strict_httponly_session_cookie_without_the_token(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    key = await create_api_key(pool, "controller", "viewer")
    async with serving(settings, pool, role=None) as client:
        first = await client.get("/console/periods")
        assert (first.status_code, first.headers["location"]) == (
            303, "/console/login?next=/console/periods")
        signed = await sign_in(client, key["token"])
        assert (signed.status_code, signed.headers["location"]) == (303, "/console/")
        cookie = set_cookie(signed, "ledger_console")
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes
        assert "secure" not in attributes  # plain HTTP here; HTTPS makes it Secure
        assert "Path=/console" in cookie and "SameSite=strict" in cookie
        assert "Max-Age=28800" in cookie  # 8 hours by default
        assert key["token"] not in cookie and key["token"][3:] not in cookie
        assert token_hash(key["token"]) not in signed.text
        page = await client.get("/console/")
        assert page.status_code == 200
        assert ">controller</strong>" in page.text and ">viewer</span>" in page.text


async def test_an_unknown_key_is_refused_and_gets_no_session(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with serving(settings, pool, role=None) as client:
        refused = await sign_in(client, "lk_" + "A" * 43)
        assert refused.status_code == 401
        assert "unknown or revoked" in refused.text
        assert "ledger_console=" not in " ".join(refused.headers.get_list("set-cookie"))
        assert (await client.get("/console/")).status_code == 303


async def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with console(settings, pool, "viewer") as (viewer,):
        copy = viewer.client.cookies["ledger_console"]
        out = await post_form(viewer.client, "/console/", "/console/logout")
        assert (out.status_code, out.headers["location"]) == (303, "/console/login")
        assert (await viewer.client.get("/console/")).status_code == 303
        async with httpx.AsyncClient(base_url=viewer.client.base_url) as stolen:
            stolen.cookies.set("ledger_console", copy, path="/console")
            answer = await stolen.get("/console/")
            assert (answer.status_code, answer.headers["location"]) == (
                303, "/console/login?next=/console/")


async def test_a_revoked_key_ends_its_sessions_at_the_next_request(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with console(settings, pool, "operator") as (operator,):
        assert (await operator.client.get("/console/runs")).status_code == 200
        await revoke_api_key(pool, operator.name)
        assert (await operator.client.get("/console/runs")).status_code == 303


async def test_a_session_expires_after_its_hours(settings: Settings, pool: asyncpg.Pool) -> None:
    short = settings.model_copy(update={"console_session_hours": 1 / 3600})  # one second
    async with console(short, pool, "viewer") as (viewer,):
        async def expired() -> bool:
            return (await viewer.client.get("/console/")).status_code == 303

        await wait_until(expired, timeout=5, message="the session outlived its hour setting")


async def test_form_posts_need_a_fresh_token_of_the_same_session_from_this_origin(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool)
    april = await period_named(pool, None, "Apr-2024")
    page, action = f"/console/periods/{april['id']}", f"/console/periods/{april['id']}/close"
    async with console(settings, pool, "operator", "operator") as (one, other):
        here = {"Origin": origin(one.client)}
        token = csrf_tokens((await one.client.get(page)).text)[0]
        foreign = csrf_tokens((await other.client.get(page)).text)[0]
        refusals = {
            "no token": ({}, here),
            "a forged token": ({"csrf_token": token[:-4] + "AAAA"}, here),
            "another session's token": ({"csrf_token": foreign}, here),
            "another site": ({"csrf_token": token}, {"Origin": "http://evil.example"}),
            "no origin nor referer": ({"csrf_token": token}, {}),
        }
        for what, (data, headers) in refusals.items():
            answer = await one.client.post(action, data=data, headers=headers)
            assert answer.status_code == 403, what
            assert_security_headers(answer)
        assert (await period_named(pool, None, "Apr-2024"))["status"] == "open"

        done = await one.client.post(action, data={"csrf_token": token}, headers=here)
        assert (done.status_code, done.headers["location"]) == (303, page)
        assert (await period_named(pool, None, "Apr-2024"))["status"] == "closed"
        shown = await one.client.get(page)
        assert "Apr-2024 is now closed." in shown.text

        replayed = await one.client.post(f"/console/periods/{april['id']}/reopen",
                                         data={"csrf_token": token}, headers=here)
        assert replayed.status_code == 403 and "already sent once" in replayed.text
        referer = {"Referer": f"{origin(one.client)}{page}"}
        fresh = csrf_tokens(shown.text)[0]
        reopened = await one.client.post(f"/console/periods/{april['id']}/reopen",
                                         data={"csrf_token": fresh}, headers=referer)
        assert reopened.status_code == 303
        assert (await period_named(pool, None, "Apr-2024"))["status"] == "open"
        spent = await scalar(pool, "SELECT count(*) FROM console_spent_ids "
                                   "WHERE id LIKE 'csrf:%'")
        assert spent == 2 + 2  # the two sign-ins and the two accepted posts


async def test_a_refused_action_shows_the_rule(settings: Settings, pool: asyncpg.Pool) -> None:
    await set_up(pool)
    may = await period_named(pool, None, "May-2024")
    async with console(settings, pool, "operator") as (operator,):
        page = f"/console/periods/{may['id']}"
        answer = await post_form(operator.client, page, f"{page}/close")
        assert answer.status_code == 303
        shown = await operator.client.get(page)
        assert "Refused: period_earlier_not_closed: " in shown.text
        assert "Refused" not in (await operator.client.get(page)).text  # shown once
        assert (await period_named(pool, None, "May-2024"))["status"] == "open"


async def test_a_viewer_sees_no_action_and_its_posts_are_refused(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool)
    april = await period_named(pool, None, "Apr-2024")
    page = f"/console/periods/{april['id']}"
    async with console(settings, pool, "viewer", "operator") as (viewer, operator):
        as_viewer = await viewer.client.get(page)
        as_operator = await operator.client.get(page)
        for marker in ('id="action-close"', 'id="nav-new-run"', 'id="run-for-period"'):
            assert marker not in as_viewer.text and marker in as_operator.text
        # a token of the viewer's own session, from this origin: still not an operator
        token = csrf_tokens(as_viewer.text)[0]  # its sign-out form
        refused = await viewer.client.post(f"{page}/close", data={"csrf_token": token},
                                           headers={"Origin": origin(viewer.client)})
        assert refused.status_code == 403 and "a viewer may look, not act" in refused.text
        assert_security_headers(refused)
        assert (await period_named(pool, None, "Apr-2024"))["status"] == "open"
        wizard = await viewer.client.get("/console/runs/new")
        assert wizard.status_code == 200 and 'id="preview"' not in wizard.text
        assert "Journal runs are made by operators" in wizard.text
        # and signing out is for everyone
        out = await viewer.client.post("/console/logout", data={"csrf_token": token},
                                       headers={"Origin": origin(viewer.client)})
        assert out.status_code == 303


async def test_every_console_answer_carries_the_security_headers(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with console(settings, pool, "viewer") as (viewer,):
        anonymous = httpx.AsyncClient(base_url=viewer.client.base_url)
        try:
            answers = [
                await anonymous.get("/console/login"),
                await anonymous.get("/console/"),  # the redirect to sign in
                await anonymous.post("/console/runs", data={}),  # 401
                await viewer.client.get("/console/"),
                await viewer.client.get("/console/periods"),
                await viewer.client.get("/console/entries/JE-99999999"),  # 404 page
            ]
            assert [a.status_code for a in answers] == [200, 303, 401, 200, 200, 404]
            for answer in answers:
                assert_security_headers(answer)
            css = await anonymous.get("/console/static/console.css")
            assert css.status_code == 200 and "tabular-nums" in css.text
            assert_security_headers(css, cache="no-cache")
            assert "<script>" not in (await viewer.client.get("/console/")).text
        finally:
            await anonymous.aclose()


async def test_upstream_strings_are_escaped(settings: Settings, pool: asyncpg.Pool) -> None:
    await set_up(pool)
    evil = '<script>alert("pwned")</script>'
    await store_lines(pool, [
        txn("invoice_item", "I-1", date(2024, 4, 3), "12.50", debit=evil,
            segments={"region": '<img src=x onerror="alert(1)">'}, document="<b>INV-1</b>"),
        txn("invoice_item", "I-2", date(2024, 4, 4), "7.25", status="draft", debit=evil),
    ])
    run = await create_journal_run(pool, JournalRunRequest(types=("billing",),
                                                           period="Apr-2024"))
    (entry,) = await list_entries(pool, run=run["number"])
    april = await period_named(pool, None, "Apr-2024")
    async with console(settings, pool, "viewer") as (viewer,):
        for path in (f"/console/entries/{entry['number']}", f"/console/periods/{april['id']}",
                     f"/console/runs/{run['number']}"):
            page = await viewer.client.get(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        shown = (await viewer.client.get(f"/console/entries/{entry['number']}")).text
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in shown
        assert "region=&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in shown
        assert ">12.50</td>" in shown
        csv = await viewer.client.get(f"/console/entries/{entry['number']}"
                                      "/transaction-details.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert "<b>INV-1</b>" in csv.text and "I-1" in csv.text


async def test_the_signing_secret_is_shared_through_the_database_unless_set(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with console(settings, pool, "viewer") as (viewer,):
        cookie = viewer.client.cookies["ledger_console"]
    secret = await scalar(pool, "SELECT secret FROM console_secret")
    data = URLSafeTimedSerializer(secret, salt="ledger-console-session").loads(cookie)
    assert set(data) == {"k", "h", "s"} and data["k"] == viewer.name
    configured = settings.model_copy(update={"console_secret": SecretStr("another secret")})
    async with serving(configured, pool, role=None) as client:
        client.cookies.set("ledger_console", cookie, path="/console")
        assert (await client.get("/console/")).status_code == 303  # not signed by this one
    async with serving(settings, pool, role=None) as client:  # another server, same database
        client.cookies.set("ledger_console", cookie, path="/console")
        assert (await client.get("/console/")).status_code == 200
    assert len(await rows(pool, "SELECT * FROM console_secret")) == 1


async def test_what_the_console_does_is_recorded_as_done_by_the_key(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool)
    april = await period_named(pool, None, "Apr-2024")
    async with console(settings, pool, "operator") as (operator,):
        page = f"/console/periods/{april['id']}"
        assert (await post_form(operator.client, page, f"{page}/close")).status_code == 303
    written = await rows(pool, "SELECT metadata FROM events WHERE event_type = "
                               "'period.status_changed' ORDER BY position")
    assert [json.loads(e["metadata"]) for e in written] == [{"actor": operator.name}]


@pytest.mark.parametrize("path", ["/console/login?next=//evil.example/x",
                                  "/console/login?next=https://evil.example/"])
async def test_sign_in_never_sends_the_browser_to_another_site(
    settings: Settings, pool: asyncpg.Pool, path: str
) -> None:
    key = await create_api_key(pool, "someone", "viewer")
    async with serving(settings, pool, role=None) as client:
        form = await client.get(path)
        assert 'name="next" value="/console/"' in form.text
        answer = await client.post("/console/login", headers={"Origin": origin(client)}, data={
            "csrf_token": csrf_tokens(form.text)[0], "token": key["token"],
            "next": "//evil.example/x"})
        assert answer.headers["location"] == "/console/"


def test_the_console_is_mounted_on_the_api_app(settings: Settings) -> None:
    app = create_app(settings, pool=None)  # type: ignore[arg-type]  # routes only
    paths = {str(r.path) for r in iter_route_contexts(app.routes)}
    assert {"/console/", "/console/login", "/console/periods/{period_id}",
            "/console/entries/{je}", "/console/dlq"} <= paths


async def test_the_runs_and_entries_lists_filter_by_every_scope_and_keep_the_choice(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await set_up(pool, settings={"multi_org": "true"}, orgs=("EU", "US"))
    async with console(settings, pool, "viewer") as (viewer,):
        for path in ("/console/runs", "/console/entries"):
            for chosen, selected in (("US", "US"), ("unlabeled", "(unlabeled)"), ("", "all")):
                page = await viewer.client.get(path, params={"org": chosen})
                assert page.status_code == 200, (path, chosen)
                options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>',
                                     page.text.split('id="f-org"')[1].split("</select>")[0])
                assert [(value, label) for value, _, label in options] == [
                    ("", "all"), ("EU", "EU"), ("US", "US"), ("unlabeled", "(unlabeled)")], path
                assert [label for _, mark, label in options if mark] == (
                    [] if chosen == "" else [selected]), (path, chosen)
