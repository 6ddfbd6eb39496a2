"""Operator commands from the command line, each a subprocess with ``--json``: ``orgs list``,
``dlq replay``, ``republish --from-position`` and ``verify --outbox-max-age``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from typing import Any

import asyncpg

from events.catalogue import OUTBOUND_TYPES
from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.journal.run import create_journal_run
from services.kafka_io import producer
from services.operations.replay import ReplayStart, replay
from services.publisher import relay_once
from services.samples import invoices, to_lines
from tests.helpers import consume_all, process_env, produce
from tests.integration.billing import status_changed
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up


async def ledger(settings: Settings, *args: str) -> tuple[int, Any]:
    """``ledger ARGS --json``: its exit code and its one JSON document."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, "--json", env=process_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert out.strip(), err.decode(errors="replace")[-2000:]
    return proc.returncode, json.loads(out)


async def test_orgs_list_shows_every_org_by_name(settings: Settings, pool: asyncpg.Pool) -> None:
    assert await ledger(settings, "orgs", "list") == (0, [])
    created = await asyncio.gather(*(ledger(settings, "orgs", "create", name)
                                     for name in ("US", "EU", "APAC")))
    assert created == [(0, {"name": "US"}), (0, {"name": "EU"}), (0, {"name": "APAC"})]
    assert await ledger(settings, "orgs", "list") == (
        0, [{"name": "APAC"}, {"name": "EU"}, {"name": "US"}])


async def test_dlq_replay_stores_what_now_can_be_and_keeps_the_rest(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    invoice = next(invoices(1, org="US", seed=57, prefix="LATE"))
    line_id = invoice["data"]["transactions"][0]["id"]
    early = json.dumps(status_changed([("invoice_item", line_id, "cancelled")], org="US"))
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing,
                  [early.encode(), b"not json"], keys=[b"US"] * 2)
    first = await replay(settings, pool, ReplayStart(from_beginning=True))
    assert (first.stored, first.rejected) == (0, 2)
    refusals = await rows(pool, 'SELECT error_code FROM rejected_messages ORDER BY "offset"')
    assert [r["error_code"] for r in refusals] == ["unknown_transaction", "invalid_json"]

    # The transaction arrives; the status change can now be stored. Only that code: the
    # malformed message is not even looked at.
    await produce(settings.kafka_bootstrap, settings.topic_billing, to_lines([invoice]),
                  keys=[b"US"])
    second = await replay(settings, pool, ReplayStart(from_beginning=True))
    assert second.stored == 1
    assert await ledger(settings, "dlq", "replay", "--error", "unknown_transaction") == (0, {
        "replayed": 1, "stored": 1, "already_stored": 0, "still_rejected": 0, "reasons": []})
    assert await scalar(pool, "SELECT status FROM pending_transactions WHERE id = $1",
                        line_id) == "cancelled"
    # All that is left, replayed: still refused, for the same reason.
    assert await ledger(settings, "dlq", "replay") == (0, {
        "replayed": 1, "stored": 0, "already_stored": 0, "still_rejected": 1,
        "reasons": ["invalid_json"]})
    assert [r["error_code"] for r in await rows(pool, "SELECT error_code FROM "
                                                      "rejected_messages")] == ["invalid_json"]
    assert await ledger(settings, "dlq", "replay", "--error", "unknown_transaction") == (0, {
        "replayed": 0, "stored": 0, "already_stored": 0, "still_rejected": 0, "reasons": []})


async def journal_history(settings: Settings, pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Two runs of US invoices (April, then May); the outbound events in log order."""
    await set_up(pool, orgs=("US",), settings={"multi_org": "true"})
    values = to_lines(invoices(40, org="US", seed=58, start=date(2024, 4, 1), days=61))
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    report = await replay(settings, pool, ReplayStart(from_beginning=True))
    assert report.stored == 40
    for period in ("Apr-2024", "May-2024"):
        await create_journal_run(pool, JournalRunRequest(types=("invoice_item",), org="US",
                                                         period=period))
    return await rows(pool, "SELECT position, event_id::text FROM events "
                            "WHERE event_type = ANY($1::text[]) ORDER BY position",
                      sorted(OUTBOUND_TYPES))


async def test_republish_from_a_position_sends_every_journal_event_from_there_once(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    outbound = await journal_history(settings, pool)
    start = await scalar(  # where the May run's events begin
        pool, "SELECT min(position) FROM events WHERE payload -> 'data' ->> 'journal_run' = $1 "
              "OR payload -> 'data' ->> 'number' = $1", "JR-00000002")
    expected = [e for e in outbound if e["position"] >= start]
    assert 0 < len(expected) < len(outbound)
    head = await scalar(pool, "SELECT max(position) FROM events")

    code, sent = await ledger(settings, "republish", "--from-position", str(start))
    assert (code, sent) == (0, {"republished": len(expected), "first_position": start,
                                "last_position": expected[-1]["position"]})
    # Nothing else sends to the journal topic here (no relay runs): it holds exactly these.
    assert settings.kafka_bootstrap
    published = await consume_all(settings.kafka_bootstrap, settings.topic_journal,
                                  len(expected))
    assert [json.loads(r.value)["event_id"] for r in published] == [
        e["event_id"] for e in expected]
    assert {r.key for r in published} == {b"US"}

    beyond, neither = await asyncio.gather(
        ledger(settings, "republish", "--from-position", str(head + 1)),
        ledger(settings, "republish"))
    assert beyond == (0, {"republished": 0, "first_position": 0, "last_position": 0})
    assert neither[0] == 2 and neither[1]["error"]["code"] == "republish_target_required"


async def test_verify_flags_an_outbox_older_than_the_age_given(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await journal_history(settings, pool)
    unsent = await scalar(pool, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    assert unsent > 0
    head = await scalar(pool, "SELECT max(position) FROM events")
    (fresh_code, fresh), (stale_code, stale) = await asyncio.gather(
        ledger(settings, "verify"),  # 5 minutes by default: these rows are seconds old
        ledger(settings, "verify", "--outbox-max-age", "0"),
    )
    assert (fresh_code, fresh) == (0, {"ok": True, "log_head": head, "violations": []})
    assert stale_code == 1
    assert (stale["ok"], stale["log_head"]) == (False, head)
    [violation] = stale["violations"]
    assert violation["check"] == "outbox_fresh"
    assert violation["detail"].startswith(
        f"{unsent} outbox rows unsent for more than 0 minutes (oldest ")

    async with producer(settings) as relay:
        assert await relay_once(pool, relay, settings.topic_journal) == unsent
    assert await ledger(settings, "verify", "--outbox-max-age", "0") == (
        0, {"ok": True, "log_head": head, "violations": []})
