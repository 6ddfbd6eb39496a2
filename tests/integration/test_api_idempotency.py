"""``Idempotency-Key`` on ``POST /v1/journal-runs`` (docs/contract.md §4), over real HTTP and
PostgreSQL: a retry gets the first run, never a second one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from services.config import Settings
from tests.integration.billing import store_lines, txn
from tests.integration.db import scalar
from tests.integration.http_api import serving
from tests.integration.ledger_setup import set_up

RUNS = "/v1/journal-runs"
APRIL = {"accountingPeriodName": "Apr-2024", "journalEntryDate": "2024-04-30",
         "transactionTypes": [{"type": "Invoice Item"}]}


@pytest.fixture
async def api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    await set_up(pool)
    await store_lines(pool, [txn("invoice_item", f"I-{i}", date(2024, 4, 2 + i), "5.00")
                             for i in range(3)])
    async with serving(settings, pool) as client:
        yield client


async def post(api: httpx.AsyncClient, body: dict[str, Any], key: str) -> httpx.Response:
    return await api.post(RUNS, json=body, headers={"Idempotency-Key": key})


async def run_count(pool: asyncpg.Pool) -> int:
    return int(await scalar(pool, "SELECT count(*) FROM journal_runs"))


async def test_the_same_key_and_body_answer_with_the_first_run(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    first = await post(api, APRIL, "close-april")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    # the same JSON value: other key order and spacing hash the same
    retried = await api.post(RUNS, content=b'{"transactionTypes": [{"type": "Invoice Item"}],'
                                           b' "journalEntryDate": "2024-04-30",'
                                           b'"accountingPeriodName":"Apr-2024"}',
                             headers={"Idempotency-Key": "close-april",
                                      "Content-Type": "application/json"})
    assert retried.status_code == 200
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
    assert (first.json()["journalRunNumber"], first.json()["transactionCount"]) == (
        "JR-00000001", 3)
    assert await run_count(pool) == 1

    other_key = await post(api, APRIL, "close-april-again")  # a new request: a new run
    assert (other_key.json()["journalRunNumber"], other_key.json()["transactionCount"]) == (
        "JR-00000002", 0)
    assert await run_count(pool) == 2


async def test_the_same_key_with_another_body_is_a_conflict(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    assert (await post(api, APRIL, "k")).status_code == 200
    reused = await post(api, APRIL | {"journalEntryDate": "2024-05-01"}, "k")
    assert reused.status_code == 409
    reason = reused.json()["reasons"][0]
    assert reason["code"] == "idempotency_key_reused"
    assert "JR-00000001" in reason["message"]
    assert await run_count(pool) == 1


async def test_a_refused_request_leaves_its_key_free(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    refused = await post(api, APRIL | {"accountingPeriodName": "Open-Ended"}, "k")
    assert (refused.status_code, refused.json()["reasons"][0]["code"]) == (
        400, "target_open_ended")
    corrected = await post(api, APRIL, "k")
    assert (corrected.status_code, corrected.json()["journalRunNumber"]) == (200, "JR-00000001")
    assert await scalar(pool, "SELECT journal_run FROM journal_run_idempotency_keys "
                              "WHERE key = 'k'") == "JR-00000001"


async def test_concurrent_identical_requests_make_one_run(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    answers = await asyncio.gather(*(post(api, APRIL, "once") for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert {a.json()["journalRunNumber"] for a in answers} == {"JR-00000001"}
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == [
        "", "true", "true", "true"]
    assert await run_count(pool) == 1
    assert await scalar(pool, "SELECT count(*) FROM journaled_transactions") == 3


async def test_keys_are_forgotten_after_24_hours_and_bounded_in_length(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    assert (await post(api, APRIL, "old")).status_code == 200
    async with pool.acquire() as conn:
        await conn.execute("UPDATE journal_run_idempotency_keys "
                           "SET created_at = now() - interval '24 hours 1 second'")
    later = await post(api, APRIL | {"journalEntryDate": "2024-05-01"}, "old")
    assert (later.status_code, later.json()["journalRunNumber"]) == (200, "JR-00000002")
    assert await scalar(pool, "SELECT count(*) FROM journal_run_idempotency_keys") == 1

    for key in ("x" * 256, ""):
        invalid = await post(api, APRIL, key)
        assert (invalid.status_code, invalid.json()["reasons"][0]["code"]) == (
            400, "idempotency_key_invalid")
    assert await run_count(pool) == 2
