"""Every kind of bad input lands in the DLQ with its code and source; the good ones around it
are stored."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg

from services.config import Settings
from services.samples import invoices
from tests.helpers import consume_all, produce, wait_until
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, rows, scalar


def good(n: int) -> dict[str, Any]:
    return next(invoices(1, org="US", seed=100 + n, prefix=f"GOOD{n}"))


def with_line(n: int, **changes: Any) -> dict[str, Any]:
    event = good(n)
    line = event["data"]["transactions"][0]
    for key, value in changes.items():
        if value is None:
            line.pop(key, None)
        else:
            line[key] = value
    return event


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def bad_inputs() -> list[tuple[str, bytes]]:
    missing_id = good(1)
    del missing_id["event_id"]
    bad_uuid = good(2) | {"event_id": "not-a-uuid"}
    unknown_type = good(3) | {"event_type": "invoice.exploded"}
    wrong_line = with_line(4, type="electronic_payment")
    conflict = good(5)
    conflict["data"]["transactions"][0]["amount"] = "999.99"
    oversized = good(6)
    oversized["data"]["document"]["padding"] = "x" * (2 * 1024 * 1024)
    return [
        ("invalid_json", b"this is not json {"),
        ("invalid_envelope", b"[1, 2, 3]"),
        ("invalid_envelope", dumps(missing_id)),
        ("invalid_envelope", dumps(bad_uuid)),
        ("unknown_event_type", dumps(unknown_type)),
        ("invalid_payload", dumps(wrong_line)),
        ("invalid_payload", dumps(with_line(7, amount="12,50"))),
        ("invalid_payload", dumps(with_line(8, debit_account=None))),
        ("invalid_payload", dumps(with_line(9, date="2024-13-01"))),
        ("invalid_payload", dumps(with_line(10, currency="XXY"))),
        ("duplicate_conflict", dumps(conflict)),
        ("too_large", dumps(oversized)),
    ]


async def test_each_bad_input_goes_to_the_dlq_with_its_code_and_the_good_ones_are_stored(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    exact = with_line(11)
    exact_text = json.dumps(exact).replace(
        json.dumps(exact["data"]["transactions"][0]["amount"]), "1234567890.123456789012"
    )
    goods = [dumps(good(i)) for i in range(1, 11)] + [exact_text.encode()]
    # the original of the conflicting event (same event_id as good(5)) is goods[4]
    bads = bad_inputs()
    values: list[bytes] = []
    for i, (_, bad) in enumerate(bads):
        values += [goods[i % len(goods)] if i < len(goods) else goods[-1], bad]
    values += goods  # the rest, and duplicates of some: stored once
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    ingest.start()

    async def all_rejected() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == len(bads)

    await wait_until(all_rejected, timeout=60, message="12 rejections recorded")
    dlq = await consume_all(settings.kafka_bootstrap, settings.topic_dlq, len(bads))
    assert [dict(r.headers)["ledger-error"].decode() for r in dlq] == [c for c, _ in bads]
    assert [r.value for r in dlq] == [b for _, b in bads]
    sources = [dict(r.headers)["ledger-source"].decode() for r in dlq]
    originals = await consume_all(settings.kafka_bootstrap, settings.topic_billing, len(values))
    by_value_offset = {r.offset: r for r in originals}
    for source, (_, bad) in zip(sources, bads, strict=True):
        topic, partition, offset = source.rsplit("/", 2)
        assert topic == settings.topic_billing
        assert by_value_offset[int(offset)].value == bad
        assert by_value_offset[int(offset)].partition == int(partition)
    assert all(dict(r.headers)["ledger-error-detail"] for r in dlq)

    table = await rows(pool, 'SELECT error_code, value FROM rejected_messages ORDER BY "offset"')
    assert [r["error_code"] for r in table] == [c for c, _ in bads]
    assert [bytes(r["value"]) for r in table] == [b for _, b in bads]

    assert await billing_event_count(pool) == len(goods)
    amount = await scalar(
        pool, "SELECT amount FROM pending_transactions WHERE id = $1",
        exact["data"]["transactions"][0]["id"],
    )
    assert amount == Decimal("1234567890.123456789012")


async def test_under_multi_org_an_unknown_org_label_is_refused_and_known_ones_stored(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    from services.commands.orgs import create_org
    from services.commands.settings import set_settings

    await set_settings(pool, {"multi_org": "true"})
    await create_org(pool, "US")
    us = next(invoices(1, org="US", seed=300))
    fr = next(invoices(1, org="FR", seed=301))
    unlabeled = next(invoices(1, org=None, seed=302))
    values = [dumps(us), dumps(fr), dumps(unlabeled)]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values, keys=[b"K"] * 3)
    ingest.start()

    async def judged() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(judged, message="the FR event refused")
    refused = await rows(pool, "SELECT error_code, error_field, value FROM rejected_messages")
    assert refused == [{"error_code": "unknown_org", "error_field": "org", "value": dumps(fr)}]

    async def both_stored() -> bool:
        return await billing_event_count(pool) == 2

    await wait_until(both_stored, message="US and unlabeled events stored")
    orgs = await rows(pool, "SELECT DISTINCT org FROM pending_transactions ORDER BY org")
    assert orgs == [{"org": "US"}, {"org": None}]
