"""The projections: status changes, and a rebuild from the log equal to the inline result."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.config import Settings
from services.operations.rebuild import rebuild
from services.samples import invoices, seed001_lines, to_lines
from tests.helpers import produce, wait_until
from tests.integration.billing import status_changed
from tests.integration.conftest import IngestRunner
from tests.integration.db import rows, scalar


def status_change(changes: list[tuple[str, str, str]], org: str = "US") -> bytes:
    return json.dumps(status_changed(changes, org=org)).encode()


def drafts(count: int) -> list[dict[str, Any]]:
    events = list(invoices(count, lines=2, org="US", seed=77, prefix="DRAFT"))
    for event in events:
        for line in event["data"]["transactions"]:
            line["status"] = "draft"
    return events


SNAPSHOTS = {
    "pending_transactions": "SELECT * FROM pending_transactions ORDER BY type, id",
    "rejected_messages": "SELECT * FROM rejected_messages ORDER BY event_id",
}


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {name: await rows(pool, sql) for name, sql in SNAPSHOTS.items()}


async def test_status_changes_apply_in_order_and_unknown_transactions_are_refused(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    docs = drafts(3)
    first = docs[0]["data"]["transactions"][0]["id"]
    second = docs[1]["data"]["transactions"][1]["id"]
    values = to_lines(docs) + [
        status_change([("invoice_item", first, "posted"), ("invoice_item", second, "posted")]),
        status_change([("invoice_item", second, "canceled")]),
        status_change([("invoice_item", "NO-SUCH-LINE", "posted")]),
    ] + seed001_lines()
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    ingest.start()

    async def done() -> bool:
        return await scalar(pool, "SELECT count(*) FROM events") == len(values)

    await wait_until(done, message="every message stored or rejected")
    statuses = {
        r["id"]: r["status"]
        for r in await rows(pool, "SELECT id, status FROM pending_transactions "
                                  "WHERE type = 'invoice_item'")
    }
    assert statuses[first] == "posted"
    assert statuses[second] == "canceled"
    assert sum(1 for s in statuses.values() if s == "draft") == 4
    refused = await rows(pool, "SELECT error_code, error_field FROM rejected_messages")
    assert refused == [{"error_code": "unknown_transaction", "error_field": "data.changes[0]"}]
    excluded = await rows(
        pool,
        "SELECT id FROM pending_transactions WHERE exclusion_reason = 'reclassification' "
        "ORDER BY id",
    )
    assert [r["id"] for r in excluded] == [
        "8a368aeb8f00478f018f01469e545f5d",
        "8a3694f18f4d3ea5018f5de45f797664",
    ]


async def test_rebuilding_the_projections_gives_exactly_the_inline_rows(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    docs = drafts(20)
    ids = [line["id"] for d in docs for line in d["data"]["transactions"]]
    values = (
        to_lines(docs)
        + to_lines(invoices(200, lines=3, org="EU", seed=8, currencies=("EUR", "GBP")))
        + [status_change([("invoice_item", i, "posted") for i in ids[:15]])]
        + [status_change([("invoice_item", ids[3], "canceled")])]
        + [b"{broken", status_change([("invoice_item", "missing", "posted")])]
        + seed001_lines()
    )
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"K"] * len(values))
    ingest.start()

    async def done() -> bool:
        return await scalar(pool, "SELECT count(*) FROM events") == len(values)

    await wait_until(done, message="history stored")
    await ingest.stop()
    live = await snapshot(pool)
    assert len(live["pending_transactions"]) == 40 + 600 + 7
    assert len(live["rejected_messages"]) == 2

    async with pool.acquire() as conn:
        head = await rebuild(conn, page=37)
    assert head == len(values)
    assert await snapshot(pool) == live
