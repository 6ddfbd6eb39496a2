"""``ledger replay``: re-consume the billing topic through the same ingest path.

Already-stored events are recognised by ``event_id`` and cost one lookup each, so a replay
from the beginning is safe at any time. No consumer group is used and no consumer offsets
move: a replay is a repair, not a member of the ingest group. Failures are handled as the
ingest handles them (``services.ingest.recovery``), except that a database away for longer
than a few retries fails the command instead of waiting for ever.

A timestamp replay does not trust the broker's offset-for-time lookup (Tansu's is wrong):
it reads each partition from the beginning and skips records older than the timestamp by
their own timestamp, which is right on every broker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import TopicPartition

from services.config import Settings
from services.errors import NotFound, RejectedInput
from services.ingest.classify import Parsed
from services.ingest.parse_pool import ParsePool
from services.ingest.pipeline import StorePipeline
from services.ingest.records import InboundRecord
from services.ingest.recovery import COMMAND_ATTEMPTS, retry_transient
from services.ingest.writer import write_batch
from services.kafka_io import FETCH_MAX_BYTES, FETCH_PARTITION_BYTES, dlq_sender, producer
from services.kafka_io import consumer as make_consumer


@dataclass
class ReplayReport:
    read: int = 0
    new: int = 0
    duplicate: int = 0
    rejected: int = 0
    skipped_older: int = 0


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


async def replay(
    settings: Settings,
    pool: asyncpg.Pool,
    start: ReplayStart,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    idle_ms: int = 1000,
) -> ReplayReport:
    """Read from ``start`` to the end of the topic, storing what is new."""
    consumer = make_consumer(
        settings,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
        fetch_max_bytes=FETCH_MAX_BYTES,
    )
    await consumer.start()
    report = ReplayReport()
    parser = ParsePool(settings.parse_workers, settings.max_message_bytes)
    pipeline = StorePipeline()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        partitions = sorted(cluster.partitions_for_topic(settings.topic_billing) or ())
        if not partitions:
            raise NotFound("topic_not_found", f"topic {settings.topic_billing} does not exist")
        if start.partition is not None:
            if start.partition not in partitions:
                raise NotFound("partition_not_found",
                               f"{settings.topic_billing} has no partition {start.partition}")
            partitions = [start.partition]
        tps = [TopicPartition(settings.topic_billing, p) for p in partitions]
        consumer.assign(tps)
        if start.offset is not None:
            consumer.seek(tps[0], start.offset)
        else:
            await consumer.seek_to_beginning(*tps)
        begins = {tp: await consumer.position(tp) for tp in tps}
        ends = await consumer.end_offsets(tps)
        total = sum(max(0, ends[tp] - begins[tp]) for tp in tps)
        async with producer(settings) as dlq:
            to_dlq = dlq_sender(dlq, settings.topic_dlq)

            async def store(records: list[InboundRecord], parsed: list[Parsed]) -> None:
                result = await retry_transient(
                    lambda: write_batch(pool, records, group_id=None,
                                        max_bytes=settings.max_message_bytes,
                                        publish_rejection=to_dlq, parsed=parsed),
                    max_delay=settings.db_retry_max_seconds, attempts=COMMAND_ATTEMPTS)
                report.new += result.stored
                report.duplicate += result.duplicates
                report.rejected += result.rejected

            while True:
                batches = await consumer.getmany(timeout_ms=idle_ms,
                                                 max_records=settings.batch_max_records)
                records = [
                    InboundRecord.from_consumer_record(r)
                    for tp_records in batches.values() for r in tp_records
                ]
                if not records:
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= ends[tp] for tp in tps):
                        break
                    continue
                report.read += len(records)
                if start.timestamp_ms is not None:
                    fresh = [r for r in records if (r.timestamp_ms or 0) >= start.timestamp_ms]
                    report.skipped_older += len(records) - len(fresh)
                    records = fresh
                if records:  # as in the ingest: parsed while the batches before are stored
                    await pipeline.submit(parser.parse(records), functools.partial(store, records))
                if on_progress:
                    on_progress(report.read, max(total, report.read))
            await pipeline.drain()
    finally:
        parser.close()
        await consumer.stop()
    return report
