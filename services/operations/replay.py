"""``ledger replay``: re-consume the billing topic through the ingest itself.

This module only reads: each batch goes to the ingest component the service's subscriber
drives too (``services.ingest.component``), so it is checked, judged, stored and refused
exactly as there. Already-stored events are recognised by ``event_id`` and cost one lookup
each, so a replay from the beginning is safe at any time. No consumer group is used and no
consumer offsets move: a replay is a repair, not a member of the ingest group. A database
away for longer than a few retries fails the command instead of being waited for for ever.

A timestamp replay does not trust the broker's offset-for-time lookup (Tansu's is wrong):
it reads each partition from the beginning and skips records older than the timestamp by
their own timestamp, which is right on every broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.config import Settings
from services.errors import NotFound, RejectedInput
from services.ingest.component import IngestTotals, open_ingest
from services.ingest.records import InboundRecord
from services.ingest.recovery import COMMAND_ATTEMPTS
from services.kafka_io import FETCH_MAX_BYTES, FETCH_PARTITION_BYTES, topic_partitions
from services.kafka_io import consumer as make_consumer


@dataclass(frozen=True)
class ReplayStart:
    """Where to start: the beginning, a timestamp (ms), or one partition's offset."""

    from_beginning: bool = False
    timestamp_ms: int | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def parse(cls, beginning: bool, timestamp: str | None, offset: str | None) -> ReplayStart:
        if sum([beginning, timestamp is not None, offset is not None]) != 1:
            raise RejectedInput("replay_start_required",
                                "give exactly one of --from-beginning, --from-timestamp, "
                                "--from-offset")
        if timestamp is not None:
            try:
                when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            except ValueError as error:
                raise RejectedInput(
                    "replay_timestamp_invalid",
                    f"--from-timestamp must be ISO 8601, not {timestamp!r}",
                ) from error
            if when.tzinfo is None:
                raise RejectedInput("replay_timestamp_invalid",
                                    "--from-timestamp needs a time zone (e.g. Z)")
            return cls(timestamp_ms=int(when.timestamp() * 1000))
        if offset is not None:
            partition, sep, at = offset.partition(":")
            if not sep or not partition.isdigit() or not at.isdigit():
                raise RejectedInput("replay_offset_invalid",
                                    f"--from-offset is PARTITION:OFFSET, not {offset!r}")
            return cls(partition=int(partition), offset=int(at))
        return cls(from_beginning=True)


def replay_summary(totals: IngestTotals) -> dict[str, int]:
    """``ledger replay --json``: the command's own names for the ingest's totals."""
    return {
        "read": totals.read,
        "new": totals.stored,
        "duplicate": totals.duplicates,
        "rejected": totals.rejected,
        "skipped_older": totals.skipped,
    }


async def replay(
    settings: Settings,
    pool: asyncpg.Pool,
    start: ReplayStart,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    idle_ms: int = 1000,
) -> IngestTotals:
    """Read from ``start`` to the end of the topic, storing what is new."""
    partitions = await _partitions_to_replay(settings, start)
    consumer = make_consumer(
        settings,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
        fetch_max_bytes=FETCH_MAX_BYTES,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topic_billing, p) for p in partitions]
        ends, total = await _seek_to_start(consumer, tps, start)
        async with open_ingest(settings, pool, group_id=None,
                               attempts=COMMAND_ATTEMPTS) as ingest:
            read = 0
            async for records in _batches(consumer, ends, settings.batch_max_records, idle_ms):
                read += len(records)
                if start.timestamp_ms is not None:
                    fresh = [r for r in records if (r.timestamp_ms or 0) >= start.timestamp_ms]
                    ingest.totals.skip(len(records) - len(fresh))
                    records = fresh
                if records:
                    await ingest.submit(records)
                if on_progress:
                    on_progress(read, max(total, read))
            await ingest.drain()
    finally:
        await consumer.stop()
    return ingest.totals


async def _partitions_to_replay(settings: Settings, start: ReplayStart) -> list[int]:
    topic = settings.topic_billing
    partitions = sorted(await topic_partitions(settings, topic))
    if not partitions:
        raise NotFound("topic_not_found", f"topic {topic} does not exist")
    if start.partition is None:
        return partitions
    if start.partition not in partitions:
        raise NotFound("partition_not_found", f"{topic} has no partition {start.partition}")
    return [start.partition]


async def _seek_to_start(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: ReplayStart
) -> tuple[dict[TopicPartition, int], int]:
    """Assign ``tps`` at ``start``; return each one's end offset now, and the records
    between (for the progress bar: a timestamp replay reads them all too)."""
    consumer.assign(tps)
    if start.offset is not None:
        consumer.seek(tps[0], start.offset)
    else:
        await consumer.seek_to_beginning(*tps)
    begins = {tp: await consumer.position(tp) for tp in tps}
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    return ends, sum(max(0, ends[tp] - begins[tp]) for tp in tps)


async def _batches(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], max_records: int,
    idle_ms: int,
) -> AsyncIterator[list[InboundRecord]]:
    """The records of the assigned partitions, a batch at a time, until each partition's
    position reaches its end offset of when the replay started."""
    while True:
        batches = await consumer.getmany(timeout_ms=idle_ms, max_records=max_records)
        records = [
            InboundRecord.from_consumer_record(r)
            for tp_records in batches.values() for r in tp_records
        ]
        if records:
            yield records
        elif all([await consumer.position(tp) >= end for tp, end in ends.items()]):
            return
