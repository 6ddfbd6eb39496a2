"""No input stalls the ingest: a field over the contract's limits is refused before it reaches
the database, and a message the database refuses all the same is found by splitting its batch,
refused as ``unstorable``, and its neighbours are stored. On real PostgreSQL and Tansu."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.config import Settings
from services.ingest.app import run_ingest
from services.ingest.classify import parse_all
from services.ingest.records import InboundRecord, Rejection
from services.ingest.writer import write_batch
from services.operations.dlq import list_rejected, replay_rejected
from services.operations.replay import ReplayStart, replay
from services.samples import invoices
from tests.helpers import consume_all, produce, wait_until
from tests.integration.billing import status_changed
from tests.integration.conftest import IngestRunner
from tests.integration.db import billing_event_count, log_ends, rows, scalar, stored_offsets

Event = dict[str, Any]
sizes = random.Random(12)


def incompressible(chars: int | None = None) -> str:
    """Random bytes as base64: 2-10 KB of text that no page compression shrinks."""
    size = chars or sizes.randint(2048, 10240)
    return base64.b64encode(os.urandom(size))[:size].decode()


def good(n: int) -> Event:
    return next(invoices(1, org="US", seed=700 + n, prefix=f"GOOD{n}"))


def dumps(event: Event) -> bytes:
    return json.dumps(event).encode()


def line(event: Event) -> dict[str, Any]:
    found: dict[str, Any] = event["data"]["transactions"][0]
    return found


def set_document(name: str) -> Callable[[Event, str], str]:
    def put(event: Event, text: str) -> str:
        event["data"]["document"][name] = text
        return f"data.document.{name}"
    return put


def set_line(name: str) -> Callable[[Event, str], str]:
    def put(event: Event, text: str) -> str:
        line(event)[name] = text
        return f"data.transactions[0].{name}"
    return put


def set_org(event: Event, text: str) -> str:
    event["org"] = text
    return "org"


def set_segment_name(event: Event, text: str) -> str:
    line(event)["segments"] = {text: "NA"}
    return "data.transactions[0].segments"


def set_segment_value(event: Event, text: str) -> str:
    line(event)["segments"] = {"region": text}
    return "data.transactions[0].segments.region"


#: kind of poison -> put it into an event, return the field path the refusal must name
POISONS: dict[str, Callable[[Event, str], str]] = {
    "document number": set_document("number"),
    "account number": set_document("account_number"),
    "line id": set_line("id"),
    "debit account": set_line("debit_account"),
    "credit account": set_line("credit_account"),
    "subtype": set_line("subtype"),
    "recognition rule": set_line("recognition_rule"),
    "org label": set_org,
    "segment name": set_segment_name,
    "segment value": set_segment_value,
}


def dlq_by_source(records: list[Any]) -> dict[str, dict[str, str]]:
    return {dict(r.headers)["ledger-source"].decode(): {
        k: v.decode() for k, v in dict(r.headers).items()} | {"value": r.value}
        for r in records}


async def test_poison_fields_of_every_kind_are_refused_and_the_ingest_carries_on(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner
) -> None:
    poisons: list[tuple[bytes, str, str]] = []  # value, field, detail it must start with
    for n, (kind, put) in enumerate(POISONS.items()):
        text = incompressible()
        event = good(100 + n)
        field = put(event, text)
        what = "has a name" if kind == "segment name" else "is"
        poisons.append((dumps(event), field,
                        f"{field}: {what} {len(text)} characters long; the limit is 255"))
    many = good(200)
    line(many)["segments"] = {f"s{i:02}": incompressible(200) for i in range(33)}
    poisons.append((dumps(many), "data.transactions[0].segments",
                    "data.transactions[0].segments: has 33 entries; the limit is 32"))
    goods = [dumps(good(n)) for n in range(len(poisons) + 1)]
    values: list[bytes] = []
    for n, (poison, _, _) in enumerate(poisons):
        values += [goods[n], poison]
    values.append(goods[-1])
    keys = [b"US", b"EU", b"APAC"] * len(values)
    assert settings.kafka_bootstrap
    await ingest.feed(values, stored=len(goods), keys=keys[:len(values)])

    async def all_refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == len(poisons)

    await wait_until(all_refused, message="every poison message refused")
    originals = await consume_all(settings.kafka_bootstrap, settings.topic_billing, len(values))
    source_of = {r.value: f"{r.topic}/{r.partition}/{r.offset}" for r in originals}
    dlq_records = await consume_all(settings.kafka_bootstrap, settings.topic_dlq, len(poisons))
    assert len(dlq_records) == len(poisons)  # each refusal sent once (read to the end)
    dlq = dlq_by_source(dlq_records)
    table = {f"{r['topic']}/{r['partition']}/{r['offset']}": r for r in await rows(
        pool, 'SELECT topic, partition, "offset", error_code, error_field, error_detail '
              "FROM rejected_messages")}
    assert len(dlq) == len(table) == len(poisons)
    for poison, field, detail in poisons:
        sent, kept = dlq[source_of[poison]], table[source_of[poison]]
        assert (sent["ledger-error"], sent["value"]) == ("invalid_payload", poison)
        assert sent["ledger-error-detail"].startswith(detail), sent["ledger-error-detail"]
        assert (kept["error_code"], kept["error_field"]) == ("invalid_payload", field)
        assert kept["error_detail"] == sent["ledger-error-detail"]

    assert await billing_event_count(pool) == len(goods)
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == len(goods)

    async def lag_is_zero() -> bool:
        got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
        return got == log_ends(originals)

    await wait_until(lag_is_zero, message="stored offsets at the log end")


# -- a message the database refuses -----------------------------------------------------------

POISON_DOCUMENT = "POISON-1"
REFUSE_ONE_DOCUMENT = f"""
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.document_number = '{POISON_DOCUMENT}' THEN
        RAISE EXCEPTION 'injected: document % cannot be stored', NEW.document_number
            USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON pending_transactions
    FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""
INJECTED = ("the database refused it: injected: document POISON-1 cannot be stored "
            "(SQLSTATE 22023)")


@pytest.fixture
async def refused_document(pool: asyncpg.Pool) -> AsyncIterator[bytes]:
    """The database refuses (SQLSTATE 22023, a data exception) every line of document
    POISON-1, which passes the contract; yields that message."""
    async with pool.acquire() as conn:
        await conn.execute(REFUSE_ONE_DOCUMENT)
    event = good(999)
    event["data"]["document"]["number"] = POISON_DOCUMENT
    line(event)["id"] = f"{POISON_DOCUMENT}-0"
    yield dumps(event)


def unstorable_count() -> float:
    return REGISTRY.get_sample_value("ledger_ingest_unstorable_total") or 0.0


def around(poison: bytes, goods: int = 20, at: int = 13) -> list[bytes]:
    values = [dumps(good(n)) for n in range(goods)]
    return values[:at] + [poison] + values[at:]


async def test_write_batch_finds_the_message_the_database_refuses_and_stores_the_rest(
    pool: asyncpg.Pool, refused_document: bytes
) -> None:
    """The search itself, on one batch: 20 good messages, one the database refuses and one
    the contract refuses. Each refusal is sent once, in order, however often the search
    rolled back the part holding it."""
    values = around(refused_document, at=13)
    values.insert(4, b"not json")
    records = [InboundRecord("billing.events", 0, offset, b"US", value)
               for offset, value in enumerate(values)]
    sent: list[Rejection] = []

    async def to_dlq(rejection: Rejection) -> None:
        sent.append(rejection)

    before = unstorable_count()
    result = await write_batch(pool, records, group_id="g", max_bytes=1 << 20,
                               publish_rejection=to_dlq, parsed=parse_all(records, 1 << 20))

    assert (result.read, result.stored, result.duplicates, result.rejected) == (22, 20, 0, 2)
    assert [(r.record.offset, r.code) for r in sent] == [(4, "invalid_json"),
                                                          (14, "unstorable")]
    assert sent[1].detail == INJECTED
    assert unstorable_count() - before == 1
    assert await billing_event_count(pool) == 20
    assert await rows(pool, 'SELECT "offset", error_code, error_detail FROM rejected_messages '
                            'ORDER BY "offset"') == [
        {"offset": 4, "error_code": "invalid_json", "error_detail": sent[0].detail},
        {"offset": 14, "error_code": "unstorable", "error_detail": INJECTED},
    ]
    assert await scalar(pool, "SELECT next_offset FROM consumer_offsets WHERE group_id = 'g'"
                        ) == 22
    again = await write_batch(pool, records, group_id="g", max_bytes=1 << 20,
                              publish_rejection=to_dlq)
    assert (again.stored, again.duplicates, again.rejected, len(sent)) == (0, 22, 0, 2)


async def test_the_ingest_refuses_the_message_the_database_refuses_and_stores_its_neighbours(
    settings: Settings, pool: asyncpg.Pool, ingest: IngestRunner, refused_document: bytes
) -> None:
    values = around(refused_document)
    before = unstorable_count()
    await ingest.feed(values, stored=20, keys=[b"US"] * len(values))

    async def refused() -> bool:
        return await scalar(pool, "SELECT count(*) FROM rejected_messages") == 1

    await wait_until(refused, message="the refused document recorded")
    assert settings.kafka_bootstrap
    [sent] = await consume_all(settings.kafka_bootstrap, settings.topic_dlq, 1)
    headers = {k: v.decode() for k, v in sent.headers}
    assert (headers["ledger-error"], headers["ledger-error-detail"], sent.value) == (
        "unstorable", INJECTED, refused_document)
    assert await rows(pool, "SELECT error_code, error_detail FROM rejected_messages") == [
        {"error_code": "unstorable", "error_detail": INJECTED}]
    assert unstorable_count() - before == 1
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 20
    ends = log_ends(await consume_all(settings.kafka_bootstrap, settings.topic_billing, 21))

    async def caught_up() -> bool:
        got = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
        return got == ends

    await wait_until(caught_up, message="offsets past every message, the refused one too")
    assert ingest.stats.retries == 0


async def test_a_failure_that_is_neither_transient_nor_content_stops_the_ingest(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """A database error that says neither "try again" nor "not this message" (here a trigger
    raising P0001) is a bug: nothing of the batch is stored, no message is refused, and the
    ingest stops with the error."""
    async with pool.acquire() as conn:
        await conn.execute(REFUSE_ONE_DOCUMENT.replace("'22023'", "'P0001'"))
    event = good(999)
    event["data"]["document"]["number"] = POISON_DOCUMENT
    values = around(dumps(event))
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    stop = asyncio.Event()
    running = asyncio.create_task(run_ingest(settings, pool, stop))

    with pytest.raises(asyncpg.RaiseError, match="injected"):
        await asyncio.wait_for(running, timeout=60)
    assert stop.is_set()
    stored = await billing_event_count(pool)
    assert stored < 20  # the batch holding the poison is not stored, nor any after it
    assert await scalar(pool, "SELECT count(*) FROM rejected_messages") == 0
    offsets = await stored_offsets(pool, settings.consumer_group, settings.topic_billing)
    assert sum(offsets.values()) == stored  # one partition: resumes right at the poison


async def test_replay_uses_the_same_search(
    settings: Settings, pool: asyncpg.Pool, refused_document: bytes
) -> None:
    values = around(refused_document, at=7)
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values,
                  keys=[b"US"] * len(values))
    before = unstorable_count()

    report = await replay(settings, pool, ReplayStart(from_beginning=True))

    assert (report.read, report.stored, report.duplicates, report.rejected) == (21, 20, 0, 1)
    assert unstorable_count() - before == 1
    [sent] = await consume_all(settings.kafka_bootstrap, settings.topic_dlq, 1)
    assert (dict(sent.headers)["ledger-error"], sent.value) == (b"unstorable", refused_document)
    assert [(r["error_code"], r["error_detail"]) for r in await list_rejected(pool)] == [
        ("unstorable", INJECTED)]


async def test_dlq_replay_uses_the_same_search_and_stores_the_message_once_it_can(
    settings: Settings, pool: asyncpg.Pool, refused_document: bytes
) -> None:
    """Three refused messages replayed at once: one the database still refuses (it stays,
    unstorable), one that can be stored now, one that is still not JSON."""
    invoice = good(500)
    change = status_changed([("invoice_item", line(invoice)["id"], "canceled")])
    values = [dumps(change), refused_document, b"not json"]
    assert settings.kafka_bootstrap
    await produce(settings.kafka_bootstrap, settings.topic_billing, values, keys=[b"US"] * 3)
    await replay(settings, pool, ReplayStart(from_beginning=True))
    assert [r["error_code"] for r in await list_rejected(pool)] == [
        "unknown_transaction", "unstorable", "invalid_json"]
    await produce(settings.kafka_bootstrap, settings.topic_billing, [dumps(invoice)],
                  keys=[b"US"])
    await replay(settings, pool, ReplayStart(from_beginning=True))  # the transaction arrives

    result = await replay_rejected(pool, max_bytes=settings.max_message_bytes)

    assert result == {"replayed": 3, "stored": 1, "already_stored": 0, "still_rejected": 2,
                      "reasons": ["invalid_json", "unstorable"]}
    left = await list_rejected(pool)
    assert [r["error_code"] for r in left] == ["unstorable", "invalid_json"]
    assert left[0]["error_detail"] == INJECTED
    assert await scalar(pool, "SELECT status FROM pending_transactions WHERE id = $1",
                        line(invoice)["id"]) == "canceled"

    async with pool.acquire() as conn:
        await conn.execute("DROP TRIGGER refuse_poison ON pending_transactions")
    fixed = await replay_rejected(pool, max_bytes=settings.max_message_bytes,
                                  error_code="unstorable")
    assert (fixed["stored"], fixed["still_rejected"]) == (1, 0)
    assert [r["error_code"] for r in await list_rejected(pool)] == ["invalid_json"]
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions "
                              "WHERE document_number = $1", POISON_DOCUMENT) == 1


async def test_a_refused_message_whose_header_key_holds_nul_is_stored_and_replayable(
    pool: asyncpg.Pool,
) -> None:
    """A header key may hold NUL, which PostgreSQL text cannot: the refusal keeps the key
    with U+FFFD instead of being unstorable itself (which would stop the ingest), and a
    null header value survives a DLQ replay."""
    headers = (("trace\x00id", b"abc"), ("empty", None))
    records = [InboundRecord("billing.events", 0, 0, b"US", dumps(good(1))),
               InboundRecord("billing.events", 0, 1, b"US", b"not json", headers),
               InboundRecord("billing.events", 0, 2, b"US", dumps(good(2)))]
    sent: list[Rejection] = []

    async def to_dlq(rejection: Rejection) -> None:
        sent.append(rejection)

    result = await write_batch(pool, records, group_id="g", max_bytes=1 << 20,
                               publish_rejection=to_dlq)

    assert (result.stored, result.rejected, [r.code for r in sent]) == (2, 1, ["invalid_json"])
    assert json.loads(await scalar(pool, "SELECT headers FROM rejected_messages")) == [
        ["trace\ufffdid", base64.b64encode(b"abc").decode()], ["empty", None]]
    again = await replay_rejected(pool, max_bytes=1 << 20)
    assert (again["replayed"], again["reasons"]) == (1, ["invalid_json"])
