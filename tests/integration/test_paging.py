"""The DLQ and republish work a page at a time, never holding their whole input: pages follow
each other with no gap and no overlap, and the counts are those of doing it all at once. Page
sizes are made small here so that a few dozen messages take several pages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from events.catalogue import OUTBOUND_TYPES
from events.journal_rules import JournalRunRequest
from services.config import Settings
from services.errors import RejectedInput
from services.ingest.records import InboundRecord, Rejection
from services.ingest.writer import write_batch
from services.journal.entries import cancel_entry
from services.journal.run import create_journal_run
from services.operations.dlq import list_rejected, replay_rejected
from services.operations.republish import republish
from services.samples import invoices, to_lines
from tests.helpers import consume_all, produce
from tests.integration.billing import status_changed
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

NOT_JSON = b"{not json"
NO_ENVELOPE = b'{"hello": "world"}'


async def store(pool: asyncpg.Pool, values: Sequence[bytes], first_offset: int = 0,
                key: bytes = b"K") -> list[Rejection]:
    """Hand ``values`` to the ingest's writer as consecutive records of partition 0."""
    records = [InboundRecord("billing.events", 0, first_offset + i, key, value)
               for i, value in enumerate(values)]
    refused: list[Rejection] = []

    async def to_dlq(rejection: Rejection) -> None:
        refused.append(rejection)

    await write_batch(pool, records, group_id=None, max_bytes=1 << 20,
                      publish_rejection=to_dlq)
    return refused


async def test_dlq_list_pages_in_refusal_order_without_gap_or_overlap(
    pool: asyncpg.Pool,
) -> None:
    values = [NOT_JSON if i % 5 else NO_ENVELOPE for i in range(25)]  # 20 + 5
    assert len(await store(pool, values)) == 25
    everything = await rows(pool, "SELECT event_position, \"offset\", error_code "
                                  "FROM rejected_messages ORDER BY event_position")

    pages = []
    after = 0
    while page := await list_rejected(pool, after=after, limit=10):
        pages.append(page)
        after = page[-1]["position"]
    assert [len(p) for p in pages] == [10, 10, 5]
    listed = [m for page in pages for m in page]
    assert [m["position"] for m in listed] == [r["event_position"] for r in everything]
    assert [m["source"] for m in listed] == [f"billing.events/0/{i}" for i in range(25)]
    assert listed[1]["size"] == len(NOT_JSON) and listed[1]["preview"] == NOT_JSON.decode()

    codes = {m["error_code"] for m in listed}
    assert len(codes) == 2 and "invalid_json" in codes
    (other,) = codes - {"invalid_json"}
    first = await list_rejected(pool, "invalid_json", limit=10)
    second = await list_rejected(pool, "invalid_json", after=first[-1]["position"], limit=10)
    assert [len(first), len(second)] == [10, 10]
    assert [m["source"] for m in first + second] == [
        f"billing.events/0/{i}" for i in range(25) if i % 5]
    assert await list_rejected(pool, "invalid_json", after=second[-1]["position"]) == []
    assert [m["source"] for m in await list_rejected(pool, other, after=listed[4]["position"])
            ] == [f"billing.events/0/{i}" for i in (5, 10, 15, 20)]

    for limit in (0, 10_001):
        with pytest.raises(RejectedInput) as refused:
            await list_rejected(pool, limit=limit)
        assert refused.value.code == "dlq_limit_invalid"


async def test_dlq_replay_judges_every_message_once_a_page_at_a_time(
    pool: asyncpg.Pool,
) -> None:
    """Ten refusals, pages of three: the six status changes whose transactions have arrived
    since are stored, the four that are not JSON stay listed with their positions."""
    invoice = next(invoices(1, lines=6, org=None, seed=81, prefix="PAGED"))
    line_ids = [t["id"] for t in invoice["data"]["transactions"]]
    changes = [json.dumps(status_changed([("invoice_item", i, "canceled")])).encode()
               for i in line_ids]
    values = [v for pair in zip(changes[:4], [NOT_JSON] * 4, strict=True) for v in pair]
    values += changes[4:]
    refused = await store(pool, values)
    assert [r.code for r in refused] == ["unknown_transaction", "invalid_json"] * 4 + [
        "unknown_transaction"] * 2
    before = await list_rejected(pool)
    assert await store(pool, to_lines([invoice]), first_offset=100) == []

    progress: list[tuple[int, int]] = []
    result = await replay_rejected(pool, max_bytes=1 << 20, page=3,
                                   on_progress=lambda done, total: progress.append((done, total)))

    assert result == {"replayed": 10, "stored": 6, "already_stored": 0, "still_rejected": 4,
                      "reasons": ["invalid_json"]}
    assert progress == [(0, 10), (3, 10), (6, 10), (9, 10), (10, 10)]
    left = await list_rejected(pool)
    assert [(m["position"], m["error_code"]) for m in left] == [
        (m["position"], m["error_code"]) for m in before if m["error_code"] == "invalid_json"]
    repairs = await rows(pool, "SELECT event_type, count(*) AS n FROM events WHERE event_type "
                               "LIKE 'rejected_message.%' GROUP BY 1 ORDER BY 1")
    assert repairs == [{"event_type": "rejected_message.resolved", "n": 6},
                       {"event_type": "rejected_message.retried", "n": 4}]
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions "
                              "WHERE status = 'canceled'") == 6


async def test_a_dlq_replay_page_is_cut_by_the_bytes_of_its_messages(pool: asyncpg.Pool) -> None:
    """Pages of at most 250 bytes of values: a page takes messages while those before it
    hold less than that, so 100-byte messages go three to a page, and a message larger than
    the budget still makes a page of its own."""
    values = [b"x" * 100] * 6 + [b"y" * 400] + [b"z" * 100] * 2
    assert len(await store(pool, values)) == 9
    progress: list[int] = []
    result = await replay_rejected(pool, max_bytes=1 << 20, page=1000, page_bytes=250,
                                   on_progress=lambda done, _total: progress.append(done))
    assert (result["replayed"], result["still_rejected"]) == (9, 9)
    assert progress == [0, 3, 6, 7, 9]  # [x x x] [x x x] [y] [z z]

    only = await replay_rejected(pool, max_bytes=1 << 20, error_code="nothing_like_this")
    assert only["replayed"] == 0


async def journal_history(pool: asyncpg.Pool) -> None:
    """Two orgs, each with a run over invoices and a cancelled entry: journal events of four
    types under two keys, with billing events between them in the log."""
    await set_up(pool, settings={"settlement": "invoice_item_settlement", "multi_org": "true"},
                 orgs=("US", "EU"))
    for n, org in enumerate(("US", "EU")):
        documents = to_lines(invoices(12, lines=3, org=org, seed=90 + n, prefix="REPUB"))
        assert await store(pool, documents, first_offset=100 * n, key=org.encode()) == []
        run = await create_journal_run(pool, JournalRunRequest(types=("billing",), org=org,
                                                               period="Apr-2024"))
        await cancel_entry(pool, run["journal_entry_numbers"][0])


async def outbound_events(pool: asyncpg.Pool, run: str | None = None) -> list[dict[str, Any]]:
    """The journal events in the log (of ``run``), in log order."""
    of_run = ("AND (payload->'data'->>'number' = $2 OR payload->'data'->>'journal_run' = $2)"
              if run else "AND $2::text IS NULL")
    return await rows(pool, "SELECT position, event_id, coalesce(org, 'unlabeled') AS key "
                            f"FROM events WHERE event_type = ANY($1) {of_run} ORDER BY position",
                      list(OUTBOUND_TYPES), run)


async def sent_before_a_last_word(settings: Settings, keys: Sequence[str],
                                  expected: int) -> dict[str, list[str]]:
    """The event ids on the journal topic per key, read up to a last record sent after them
    under each key: a repeat would come before it, so none is missed by stopping there."""
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_journal, [b"{}"] * len(keys),
                  keys=[k.encode() for k in keys])
    records = await consume_all(settings.kafka_bootstrap, settings.topic_journal,
                                expected + len(keys))
    assert len(records) == expected + len(keys)
    out: dict[str, list[str]] = {}
    for key in keys:
        values = [json.loads(r.value) for r in records if r.key == key.encode()]
        assert values[-1] == {}, f"{key}: something came after the last word"
        assert all("internal" not in v for v in values)
        out[key] = [v["event_id"] for v in values[:-1]]
    return out


async def test_republish_from_a_position_sends_each_event_once_in_order_per_key(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await journal_history(pool)
    outbound = await outbound_events(pool)
    start = outbound[3]["position"]
    expected = [r for r in outbound if r["position"] >= start]
    assert len(expected) > 3 * 2 and {r["key"] for r in expected} == {"US", "EU"}

    sent: list[int] = []
    totals: list[int] = []
    result = await republish(pool, settings, settings.topic_journal, from_position=start,
                             page=3, on_sent=sent.append, on_total=totals.append)

    assert result == {"republished": len(expected), "first_position": start,
                      "last_position": expected[-1]["position"]}
    assert (sum(sent), totals) == (len(expected), [len(expected)])
    per_key = await sent_before_a_last_word(settings, ["US", "EU"], len(expected))
    for key, ids in per_key.items():
        assert ids == [str(r["event_id"]) for r in expected if r["key"] == key]


async def test_republish_of_a_run_pages_through_its_events_only(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    await journal_history(pool)
    expected = await outbound_events(pool, "JR-00000002")
    assert len(expected) > 2 and {r["key"] for r in expected} == {"EU"}

    result = await republish(pool, settings, settings.topic_journal, run="JR-00000002", page=2)

    assert (result["republished"], result["first_position"], result["last_position"]) == (
        len(expected), expected[0]["position"], expected[-1]["position"])
    per_key = await sent_before_a_last_word(settings, ["EU"], len(expected))
    assert per_key["EU"] == [str(r["event_id"]) for r in expected]
