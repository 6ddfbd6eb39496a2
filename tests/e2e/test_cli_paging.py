"""``ledger publish`` streams its file and ``ledger dlq list`` pages, as an operator runs them:
``python -m services.cli ...`` on the test's PostgreSQL and Tansu."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

from services.config import Settings
from services.kafka_io import KAFKA_MESSAGE_CEILING
from services.samples import invoices, to_lines
from tests.e2e.test_cli import Ledger, error_code
from tests.helpers import consume_all, process_env
from tests.integration.test_paging import (
    NO_ENVELOPE,
    NOT_JSON,
    journal_history,
    outbound_events,
    store,
)

ORGS = ("US", "EU", "APAC")


async def test_publish_sends_every_non_blank_line_as_it_is_in_order_per_key(
    settings: Settings, tmp_path: Path
) -> None:
    per_org = {org: to_lines(invoices(1000, org=org, seed=40 + i, prefix="STREAM"))
               for i, org in enumerate(ORGS)}
    lines: list[bytes] = []
    for n in range(1000):  # interleaved, with blank lines and CRLF endings among them
        lines += [per_org[org][n] + (b"\r" if n % 7 == 0 else b"") for org in ORGS]
        if n % 100 == 0:
            lines += [b"", b"   \t", b"\r"]
    lines.insert(1500, NOT_JSON)  # sent as it is: the ingest refuses it to the DLQ
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(lines) + b"\n")

    ledger = Ledger(settings)
    assert await ledger("publish", str(file)) == {"published": 3001,
                                                 "topic": settings.topic_billing}

    assert settings.kafka_bootstrap
    records = await consume_all(settings.kafka_bootstrap, settings.topic_billing, 3001)
    assert len(records) == 3001
    for org in ORGS:
        assert [r.value for r in records if r.key == org.encode()] == per_org[org]
    assert [(r.key, r.value) for r in records if r.key is None] == [(None, NOT_JSON)]

    too_long = tmp_path / "too-long.jsonl"
    too_long.write_bytes(b"x" * (KAFKA_MESSAGE_CEILING + 1) + b"\n")
    refused = await ledger("publish", str(too_long), code=2)
    assert error_code(refused) == "publish_line_too_large"


async def text_of(settings: Settings, *args: str) -> str:
    """What ``ledger ARGS`` prints for a person (no --json)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env=process_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_dlq_list_pages_with_limit_and_after_and_says_where_the_next_page_starts(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    assert len(await store(pool, [NOT_JSON if i % 5 else NO_ENVELOPE for i in range(25)])) == 25
    ledger = Ledger(settings)

    first, rest, codes, too_many = await ledger.many(
        ("dlq", "list", "--limit", "10"),
        ("dlq", "list", "--limit", "100"),
        ("dlq", "list", "--error", "invalid_json", "--limit", "30"),
        ("dlq", "list", "--limit", "10001", 2),
    )
    assert [m["source"] for m in first] == [f"billing.events/0/{i}" for i in range(10)]
    assert len(rest) == 25 and rest[:10] == first
    positions = [m["position"] for m in rest]
    assert positions == sorted(set(positions))
    assert [m["source"] for m in codes] == [f"billing.events/0/{i}" for i in range(25) if i % 5]
    assert error_code(too_many) == "dlq_limit_invalid"
    second = await ledger("dlq", "list", "--limit", "10", "--after", str(first[-1]["position"]))
    assert second == rest[10:20]

    page = await text_of(settings, "dlq", "list", "--limit", "10", "--after",
                         str(second[-1]["position"]))
    assert f"(positions {rest[20]['position']}..{rest[24]['position']}; 25 listed)" in page
    assert "next page" not in page  # the last five
    page = await text_of(settings, "dlq", "list", "--limit", "10")
    assert f"next page: ledger dlq list --after {first[-1]['position']} --limit 10" in page

    assert await ledger("dlq", "replay", "--error", "invalid_json") == {
        "replayed": 20, "stored": 0, "already_stored": 0, "still_rejected": 20,
        "reasons": ["invalid_json"]}


async def test_republish_from_a_position_on_the_command_line_counts_what_it_sent(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await journal_history(pool)
    outbound = await outbound_events(pool)
    start = outbound[2]["position"]
    sent = await Ledger(settings)("republish", "--from-position", str(start))
    assert sent == {"republished": len(outbound) - 2, "first_position": start,
                    "last_position": outbound[-1]["position"]}
