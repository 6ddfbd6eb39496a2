"""One unit of work per batch: events, projections and Kafka offsets in one transaction.

That single transaction is what turns at-least-once Kafka into exactly-once effect: if the
process dies anywhere, the batch is read again from the stored offsets and every event in
it is recognised by its ``event_id``. A batch the database refuses for the content of one
of its messages is split until that message is found (``services.ingest.recovery``): then
each part is one such transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from projections import pending
from services import metrics
from services.ingest.classify import (
    Classified,
    Parsed,
    classify,
    drop_refused_before,
    parse_all,
)
from services.ingest.records import InboundRecord, Rejection
from services.ingest.recovery import store_isolating
from services.store import log
from services.store.unit_of_work import unit_of_work

PublishRejection = Callable[[Rejection], Awaitable[None]]

logger = logging.getLogger("ledger.ingest")

#: Times a batch is judged again after losing a race: another writer (a second ingest
#: process during a rebalance, a replay) stored one of its events or transactions after it
#: was judged, and a unique key of the log or of a projection refused the copy.
LOST_RACE_ATTEMPTS = 5

_STORE_OFFSETS = """
INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)
SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
ON CONFLICT (group_id, topic, partition) DO UPDATE
SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset),
    updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class BatchResult:
    read: int
    stored: int
    duplicates: int
    rejected: int

    @classmethod
    def total(cls, parts: Sequence[BatchResult]) -> BatchResult:
        """One result for a batch that was stored in parts."""
        return cls(*(sum(column) for column in zip(
            *((r.read, r.stored, r.duplicates, r.rejected) for r in parts), strict=True)))


@metrics.times_ingest_batches
async def write_batch(
    pool: asyncpg.Pool,
    records: Sequence[InboundRecord],
    *,
    group_id: str | None,
    max_bytes: int,
    publish_rejection: PublishRejection,
    parsed: list[Parsed] | None = None,
) -> BatchResult:
    """Store a batch; refusals go to the DLQ before the commit, so a crash can repeat but
    never lose one.

    ``group_id`` None stores no consumer offsets (a replay is not a consumer group). A
    batch that lost a race is rolled back and judged again: what the other writer stored
    is then a duplicate. A batch the database refuses for a message's content is stored in
    parts, that message refused as ``unstorable``; a transient failure is raised for the
    caller to retry (``services.ingest.recovery.retry_transient``), anything else too.
    """
    if parsed is None:
        parsed = parse_all(records, max_bytes)

    async def store(part: Sequence[Parsed]) -> BatchResult:
        return await _write_judging_again(pool, part, group_id, publish_rejection)

    parts = await store_isolating(parsed, store)
    return parts[0] if len(parts) == 1 else BatchResult.total(parts)


async def _write_judging_again(
    pool: asyncpg.Pool,
    parsed: Sequence[Parsed],
    group_id: str | None,
    publish_rejection: PublishRejection,
) -> BatchResult:
    attempt = 1
    while True:
        try:
            return await _write_once(pool, parsed, group_id, publish_rejection)
        except asyncpg.UniqueViolationError as error:
            if attempt == LOST_RACE_ATTEMPTS:
                raise
            attempt += 1
            logger.info("batch judged again: another writer stored part of it (%s)",
                        error.constraint_name)


async def _write_once(
    pool: asyncpg.Pool,
    parsed: Sequence[Parsed],
    group_id: str | None,
    publish_rejection: PublishRejection,
) -> BatchResult:
    records = [p.record for p in parsed]
    async with unit_of_work(pool) as uow:
        outcome = await judge(uow.conn, parsed)
        await uow.record(outcome.new_events + [r.to_event() for r in outcome.rejections])
        if group_id is not None:
            await store_offsets(uow.conn, group_id, records)
        # Last before the commit: a batch the database refuses has sent nothing, so the
        # search for the message at fault does not send its refused neighbours twice.
        for rejection in outcome.rejections:
            await publish_rejection(rejection)
    metrics.count_stored_batch((e.event_type for e in outcome.new_events),
                               (r.code for r in outcome.rejections), outcome.duplicates)
    return BatchResult(
        read=len(records),
        stored=len(outcome.new_events),
        duplicates=outcome.duplicates,
        rejected=len(outcome.rejections),
    )


async def judge(
    conn: asyncpg.Connection,
    parsed: Sequence[Parsed],
    *,
    retrying_rejections: bool = False,
) -> Classified:
    """Judge parsed records against the store: one round trip per lookup, not per record.

    ``retrying_rejections`` (DLQ repair) judges a message refused before afresh instead of
    recognising it as already refused.
    """
    ids = [p.event.event_id for p in parsed if p.event is not None]
    keys = [key for p in parsed if p.event is not None for key in p.event.keys]
    stored = await log.stored_hashes(conn, ids)
    known = await pending.known_transactions(conn, keys)
    outcome = classify(parsed, stored, known, await labelled_orgs(conn))
    if outcome.rejections and not retrying_rejections:
        refused = await log.stored_hashes(conn, [r.event_id for r in outcome.rejections])
        drop_refused_before(outcome, set(refused))
    return outcome


async def labelled_orgs(conn: asyncpg.Connection) -> frozenset[str] | None:
    """The orgs a label may name, under Multi-Org; None when labels are not checked."""
    multi_org = await conn.fetchval("SELECT multi_org FROM ledger_settings")
    if not multi_org:
        return None
    return frozenset(r["name"] for r in await conn.fetch("SELECT name FROM orgs"))


async def store_offsets(
    conn: asyncpg.Connection, group_id: str, records: Sequence[InboundRecord]
) -> None:
    """Record, per partition, the offset after the last record of the batch."""
    nexts: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        nexts[key] = max(nexts.get(key, 0), r.offset + 1)
    if not nexts:
        return
    topics, partitions, offsets = zip(*((t, p, o) for (t, p), o in nexts.items()), strict=True)
    await conn.execute(_STORE_OFFSETS, group_id, list(topics), list(partitions), list(offsets))


async def stored_offsets(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: str, topic: str
) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2",
        group_id,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}
