"""The ingest service: a FastStream batch subscriber on ``billing.events`` driving the ingest
component (``services.ingest.component``), which stores what it reads.

Offsets live in PostgreSQL, so the subscriber acks manually (Kafka commits are only
informative) and, on every partition assignment, seeks to the offsets the store holds.
A bad message is never retried: it goes to the DLQ and its offset is stored with the batch,
and so does a message the database refuses for its content (``unstorable``). A database that
is away is different: the batch is retried with backoff, for as long as it takes, and no
offset moves. Any other failure stops the ingest (``services.ingest.failures``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage, Topic

from services.config import Settings
from services.ingest.component import Ingest, IngestTotals, open_ingest
from services.ingest.parse_pool import tune_garbage_collector
from services.ingest.records import InboundRecord
from services.ingest.writer import stored_offsets
from services.kafka_io import FETCH_MAX_BYTES, FETCH_PARTITION_BYTES, KAFKA_MESSAGE_CEILING
from services.kafka_security import faststream_security

log = logging.getLogger("ledger.ingest")


class HasConsumer(Protocol):
    """The subscriber ``broker.subscriber(...)`` returns, as the rebalance listener sees it:
    its aiokafka consumer, there once the broker has started. FastStream exports no type for
    it (its classes live in ``faststream.kafka.subscriber.usecase``, an internal module), and
    hands a listener no consumer, so the listener names only the attribute it uses."""

    consumer: AIOKafkaConsumer | None


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, resume each partition where the store says, not where Kafka says."""

    def __init__(self, pool: asyncpg.Pool, group_id: str, topic: str) -> None:
        self.pool = pool
        self.group_id = group_id
        self.topic = topic
        self.subscriber: HasConsumer | None = None

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
    broker: KafkaBroker, settings: Settings, pool: asyncpg.Pool, ingest: Ingest
) -> None:
    """Register the batch subscriber on ``broker``: each batch it reads goes to ``ingest``,
    and is acked once stored (informative only: the offsets that count are stored with it)."""
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

    @subscriber
    async def ingest_batch(body: Any, msg: KafkaMessage) -> None:
        records = [InboundRecord.from_consumer_record(r) for r in msg.raw_message]
        await ingest.submit(records, then=functools.partial(_ack, msg))


async def _ack(msg: KafkaMessage) -> None:
    with contextlib.suppress(Exception):  # informative only: offsets live in PostgreSQL
        await msg.ack()


async def run_ingest(
    settings: Settings,
    pool: asyncpg.Pool,
    stop: asyncio.Event,
    totals: IngestTotals | None = None,
) -> IngestTotals:
    """Consume until ``stop`` is set, then finish the batches in hand and leave the group.

    A batch that fails for any reason but a transient one (those are retried until stored)
    or a message's content (that message is refused) stops the ingest and is raised here:
    nothing after it can be stored without skipping its records, so a service that read on
    would only look alive. Restarted, the ingest resumes at the offsets stored.
    """
    tune_garbage_collector()

    def stop_reading(error: BaseException) -> None:
        log.error("a batch could not be stored (%s: %s); the ingest stops, and "
                  "resumes at the stored offsets when started again",
                  type(error).__name__, error)
        stop.set()

    async with open_ingest(settings, pool, group_id=settings.consumer_group, attempts=None,
                           on_failure=stop_reading, totals=totals) as ingest:
        broker = build_broker(settings)
        add_ingest_subscriber(broker, settings, pool, ingest)
        async with broker:
            await broker.start()
            await stop.wait()
        await ingest.drain()  # the batches in hand are stored before we return
    return ingest.totals


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT ask for a graceful stop (the batches in hand are finished)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
