"""The ingest service: a FastStream batch subscriber on ``billing.events``.

Offsets live in PostgreSQL, so the subscriber acks manually (Kafka commits are only
informative) and, on every partition assignment, seeks to the offsets the store holds.
A bad message is never retried: it goes to the DLQ and its offset is stored with the batch,
and so does a message the database refuses for its content (``unstorable``). A database that
is away is different: the batch is retried with backoff and no offset moves. Any other
failure stops the ingest (``services.ingest.failures``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage, Topic
from faststream.kafka.subscriber.usecase import LogicSubscriber

from services.config import Settings
from services.ingest.classify import Parsed
from services.ingest.parse_pool import ParsePool, tune_garbage_collector
from services.ingest.pipeline import StorePipeline
from services.ingest.records import InboundRecord
from services.ingest.recovery import retry_transient
from services.ingest.writer import BatchResult, PublishRejection, stored_offsets, write_batch
from services.kafka_io import (
    FETCH_MAX_BYTES,
    FETCH_PARTITION_BYTES,
    KAFKA_MESSAGE_CEILING,
    dlq_sender,
    producer,
)
from services.kafka_security import faststream_security

log = logging.getLogger("ledger.ingest")


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, resume each partition where the store says, not where Kafka says."""

    def __init__(self, pool: asyncpg.Pool, group_id: str, topic: str) -> None:
        self.pool = pool
        self.group_id = group_id
        self.topic = topic
        self.subscriber: LogicSubscriber[Any] | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        consumer = self.subscriber.consumer if self.subscriber is not None else None
        if consumer is None or not assigned:
            return
        offsets = await stored_offsets(self.pool, self.group_id, self.topic)
        fresh = []
        for tp in assigned:
            if tp.partition in offsets:
                consumer.seek(tp, offsets[tp.partition])
            else:
                fresh.append(tp)
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        log.info(
            "assigned partitions %s of %s, resuming at stored offsets %s",
            ",".join(str(tp.partition) for tp in sorted(assigned)),
            self.topic,
            offsets,
        )


@dataclass
class IngestStats:
    """Running totals, for status output, tests and metrics."""

    batches: int = 0
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.read += result.read
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.rejected += result.rejected


def build_broker(settings: Settings) -> KafkaBroker:
    """A broker whose producer waits for all replicas and can carry any message we read;
    its consumers, producer and admin client connect with the configured TLS/SASL."""
    assert settings.kafka_bootstrap, "kafka_bootstrap must be resolved before building a broker"
    return KafkaBroker(
        settings.kafka_bootstrap,
        security=faststream_security(settings),
        acks="all",
        enable_idempotence=False,
        max_request_size=KAFKA_MESSAGE_CEILING,
        max_batch_size=KAFKA_MESSAGE_CEILING,
        graceful_timeout=30.0,
        log_level=logging.DEBUG,  # per-batch "Received/Processed" lines: debug only
    )


async def _raw_bodies(msg: Any) -> Any:
    """Skip FastStream's JSON decoding: the ingest parses (and judges) the bytes itself."""
    return msg.body


def add_ingest_subscriber(
    broker: KafkaBroker,
    settings: Settings,
    pool: asyncpg.Pool,
    publish_rejection: PublishRejection,
    stats: IngestStats,
    parser: ParsePool,
    on_failure: Callable[[BaseException], None] | None = None,
) -> StorePipeline:
    """Register the batch subscriber on ``broker``; refusals go to ``publish_rejection``.

    Returns the pipeline holding the batches in hand, for the caller to drain on stop;
    ``on_failure`` hears of the first batch that could not be stored.
    """
    listener = SeekToStoredOffsets(pool, settings.consumer_group, settings.topic_billing)
    subscriber = broker.subscriber(
        Topic(settings.topic_billing, num_partitions=settings.topic_partitions),
        batch=True,
        group_id=settings.consumer_group,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
        fetch_max_bytes=FETCH_MAX_BYTES,
        listener=listener,
        decoder=_raw_bodies,
        title="billing.events",
        description=("Inbound billing events (docs/contract.md §2), stored exactly once by "
                     "event_id."),
    )
    listener.subscriber = subscriber

    pipeline = StorePipeline(on_failure=on_failure)

    async def store(records: list[InboundRecord], msg: Any, parsed: list[Parsed]) -> None:
        result = await retry_until_stored(
            lambda: write_batch(
                pool,
                records,
                group_id=settings.consumer_group,
                max_bytes=settings.max_message_bytes,
                publish_rejection=publish_rejection,
                parsed=parsed,
            ),
            stats,
            settings.db_retry_max_seconds,
        )
        stats.add(result)
        with contextlib.suppress(Exception):  # informative only: offsets live in PostgreSQL
            await msg.ack()

    @subscriber
    async def ingest_batch(body: Any, msg: KafkaMessage) -> None:
        records = [InboundRecord.from_consumer_record(r) for r in msg.raw_message]
        await pipeline.submit(parser.parse(records), functools.partial(store, records, msg))

    return pipeline


async def retry_until_stored(
    attempt: Callable[[], Awaitable[BatchResult]], stats: IngestStats, max_delay: float
) -> BatchResult:
    """Retry a batch while the database (or the DLQ's broker) is away: nothing is skipped.

    Only a transient failure is retried; a message the database refuses is found and
    refused by the writer itself, and any other failure is raised: the ingest stops.
    """

    def count(_error: BaseException) -> None:
        stats.retries += 1

    return await retry_transient(attempt, max_delay=max_delay, on_retry=count)


async def run_ingest(
    settings: Settings,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
    stats: IngestStats | None = None,
) -> IngestStats:
    """Consume until ``stop`` is set, then finish the batches in hand and leave the group.

    A batch that fails for any reason but a transient one (those are retried until stored)
    or a message's content (that message is refused) stops the ingest and is raised here:
    nothing after it can be stored without skipping its records, so a service that read on
    would only look alive. Restarted, the ingest resumes at the offsets stored.
    """
    tune_garbage_collector()
    # The DLQ producer outlives the broker: the batches in hand may still refuse a message
    # after the subscriber has stopped.
    async with producer(settings) as dlq:

        stats = stats or IngestStats()
        broker = build_broker(settings)
        parser = ParsePool(settings.parse_workers, settings.max_message_bytes)
        try:
            def stop_reading(error: BaseException) -> None:
                log.error("a batch could not be stored (%s: %s); the ingest stops, and "
                          "resumes at the stored offsets when started again",
                          type(error).__name__, error)
                stop.set()

            pipeline = add_ingest_subscriber(
                broker, settings, pool, dlq_sender(dlq, settings.topic_dlq), stats, parser,
                on_failure=stop_reading,
            )
            async with broker:
                await broker.start()
                await stop.wait()
            await pipeline.drain()  # the batches in hand are stored before we return
        finally:
            parser.close()
    return stats


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask for a graceful stop (the batches in hand are finished)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
