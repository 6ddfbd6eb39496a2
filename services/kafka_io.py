"""Small Kafka helpers the CLI and the status report share (aiokafka, plain producers)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.ingest.records import Rejection

#: Producer limits far above ``max_message_bytes`` so an oversized message can still be
#: read, judged ``too_large`` and copied to the DLQ.
KAFKA_MESSAGE_CEILING = 16 * 1024 * 1024

#: How much the ingest fetches ahead, per partition and per request. Small, because every
#: prefetched byte is held in memory until its batch is stored. A record larger than this
#: still arrives: the broker returns a partition's first batch whole, whatever the limit
#: (KIP-74; tests/integration/test_dlq.py reads a 2 MiB message through it on Tansu).
FETCH_PARTITION_BYTES = 1024 * 1024
FETCH_MAX_BYTES = 4 * FETCH_PARTITION_BYTES


def message_key(value: bytes) -> bytes | None:
    """Key by org label, else document number: either keeps one org's events in order."""
    try:
        obj = json.loads(value)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    org = obj.get("org")
    if isinstance(org, str) and org:
        return org.encode()
    data = obj.get("data")
    document = data.get("document") if isinstance(data, dict) else None
    number = document.get("number") if isinstance(document, dict) else None
    return number.encode() if isinstance(number, str) else None


def producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """acks=all, no idempotence (Tansu refuses it), room for oversized messages."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "max_request_size": KAFKA_MESSAGE_CEILING,
        "max_batch_size": 1024 * 1024,
        "linger_ms": 5,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def dlq_sender(dlq: AIOKafkaProducer, topic: str) -> Callable[[Rejection], Awaitable[None]]:
    """Copy a refused message to the DLQ: original bytes and key, ``ledger-error`` headers."""

    async def send(rejection: Rejection) -> None:
        await dlq.send_and_wait(
            topic,
            rejection.record.value,
            key=rejection.record.key,
            headers=[(k, v.encode()) for k, v in rejection.dlq_headers().items()],
        )

    return send


async def publish_values(
    bootstrap: str,
    topic: str,
    values: Iterable[bytes],
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Send values keyed by org, pipelined, waiting for every acknowledgement."""
    sent = 0
    async with producer(bootstrap) as p:
        pending = []
        for value in values:
            pending.append(await p.send(topic, value, key=message_key(value)))
            if len(pending) >= 5000:
                for future in pending:
                    await future
                sent += len(pending)
                if on_sent:
                    on_sent(len(pending))
                pending = []
        for future in pending:
            await future
        sent += len(pending)
        if on_sent and pending:
            on_sent(len(pending))
    return sent


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Log end offset per partition of ``topic`` (empty if the topic does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        ends = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
