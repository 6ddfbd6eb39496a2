"""Appending to the log: COPY straight into ``events``, stream versions counted by the writer,
positions read back exactly, and a copy written meanwhile by another writer refused."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from projections import pending
from services.ingest.records import InboundRecord
from services.ingest.writer import BatchResult, write_batch
from services.samples import invoices, to_lines
from services.store import log
from services.store.unit_of_work import unit_of_work
from tests.integration.db import rows, scalar


def new_event(stream: str, n: int = 0) -> log.NewEvent:
    event_id = uuid.uuid4()
    payload = f'{{"event_id":"{event_id}","n":{n}}}'
    return log.NewEvent(stream=stream, event_id=event_id, event_type="test.appended",
                        org=None, payload=payload,
                        body_hash=hashlib.sha256(payload.encode()).digest())


async def append(pool: asyncpg.Pool, events: Sequence[log.NewEvent]) -> dict[uuid.UUID, int]:
    async with unit_of_work(pool) as uow:
        return await log.append(uow.conn, events)


async def stored(pool: asyncpg.Pool, events: Sequence[log.NewEvent]) -> dict[uuid.UUID, Any]:
    found = await rows(pool, "SELECT event_id, position, stream, version FROM events "
                             "WHERE event_id = ANY($1::uuid[])", [e.event_id for e in events])
    return {r["event_id"]: r for r in found}


async def test_versions_count_on_from_each_streams_last_one(pool: asyncpg.Pool) -> None:
    first = [new_event("doc:A"), new_event("doc:B"), new_event("doc:A")]
    then = [new_event("doc:B"), new_event("doc:C"), new_event("doc:A"), new_event("doc:B")]
    await append(pool, first)
    positions = await append(pool, then)
    got = await stored(pool, first + then)
    assert [(got[e.event_id]["stream"], got[e.event_id]["version"]) for e in first + then] == [
        ("doc:A", 1), ("doc:B", 1), ("doc:A", 2),
        ("doc:B", 2), ("doc:C", 1), ("doc:A", 3), ("doc:B", 3),
    ]
    assert positions == {e.event_id: got[e.event_id]["position"] for e in then}
    assert sorted(positions.values()) == [4, 5, 6, 7]  # no position skipped


async def test_positions_are_exact_while_another_writer_draws_from_the_sequence(
    pool: asyncpg.Pool,
) -> None:
    # Two writers append at once, so their positions interleave: append must then look its
    # positions up instead of assuming a contiguous run. Rounds go on until that happened.
    interleaved = 0
    for round_no in range(50):
        batches = [[new_event(f"writer{w}:{round_no}:{i % 7}", i) for i in range(400)]
                   for w in (1, 2)]
        results = await asyncio.gather(*(append(pool, batch) for batch in batches))
        for batch, positions in zip(batches, results, strict=True):
            got = await stored(pool, batch)
            assert positions == {e.event_id: got[e.event_id]["position"] for e in batch}
            in_order = [positions[e.event_id] for e in batch]
            assert in_order == sorted(in_order)  # appended in the batch's order
            span = max(positions.values()) - min(positions.values()) + 1
            interleaved += span != len(batch)
        if interleaved:
            break
    assert interleaved, "the two writers never overlapped in 50 rounds"
    assert await scalar(pool, "SELECT count(*) FROM events") == 800 * (round_no + 1)


async def test_an_id_stored_meanwhile_fails_the_append_and_writes_nothing(
    pool: asyncpg.Pool,
) -> None:
    taken = new_event("doc:X")
    await append(pool, [taken])
    with pytest.raises(asyncpg.UniqueViolationError):
        await append(pool, [new_event("doc:Y"), taken])
    assert await scalar(pool, "SELECT count(*) FROM events") == 1


def invoice_records(count: int, seed: int) -> list[InboundRecord]:
    values = to_lines(invoices(count, org="US", seed=seed))
    return [InboundRecord("billing.events", 0, offset, b"US", v)
            for offset, v in enumerate(values)]


async def write(pool: asyncpg.Pool, batch: list[InboundRecord]) -> BatchResult:
    return await write_batch(pool, batch, group_id="g", max_bytes=1 << 20,
                             publish_rejection=refuse_nothing)


async def refuse_nothing(rejection: Any) -> None:
    raise AssertionError(f"nothing is refused here, got {rejection}")


async def test_an_event_another_writer_stored_after_judging_is_judged_again_a_duplicate(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = invoice_records(3, seed=5)
    await write(pool, records[:1])  # "another writer" stores the first invoice
    # ... but only after this batch was judged: the first judging sees none of it.
    real_hashes, real_known = log.stored_hashes, pending.known_transactions
    judged = 0

    async def hashes(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[Any, bytes]:
        nonlocal judged
        judged += 1
        return {} if judged == 1 else await real_hashes(conn, ids)

    async def known(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> set[Any]:
        return set() if judged == 1 else await real_known(conn, keys)

    monkeypatch.setattr(log, "stored_hashes", hashes)
    monkeypatch.setattr(pending, "known_transactions", known)
    result = await write(pool, records)

    assert (judged, result.stored, result.duplicates, result.rejected) == (2, 2, 1, 0)
    assert await scalar(pool, "SELECT count(*) FROM events") == 3
    assert await scalar(pool, "SELECT count(*) FROM pending_transactions") == 3
    assert await scalar(pool, "SELECT next_offset FROM consumer_offsets "
                              "WHERE group_id = 'g' AND partition = 0") == 3


async def test_a_batch_that_keeps_losing_fails_after_a_few_attempts(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = invoice_records(2, seed=6)
    await write(pool, records[:1])

    async def no_hashes(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[Any, bytes]:
        return {}

    async def no_keys(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> set[Any]:
        return set()

    monkeypatch.setattr(log, "stored_hashes", no_hashes)
    monkeypatch.setattr(pending, "known_transactions", no_keys)
    with pytest.raises(asyncpg.UniqueViolationError):
        await write(pool, records)
    assert await scalar(pool, "SELECT count(*) FROM events") == 1
    assert await scalar(pool, "SELECT next_offset FROM consumer_offsets "
                              "WHERE group_id = 'g' AND partition = 0") == 1
