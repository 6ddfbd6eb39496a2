"""Test helpers: polling, Kafka produce/consume/create, settings as environment.

Tests synchronise by polling a condition with a deadline (``wait_until``), never by sleeping.
The Kafka helpers take a bootstrap address (PLAINTEXT) or the ``Settings`` (then they connect
with its TLS/SASL, as the ledger's own clients do).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import RecordMetadata
from pydantic import SecretStr

from services.config import Settings
from services.kafka_security import client_options

MiB = 1024 * 1024
MAX_RECORD_BYTES = 16 * MiB
"""Largest record the helpers produce or fetch (the broker may still refuse less)."""

Header = tuple[str, bytes]

#: Where the helpers connect: ``host:port`` in PLAINTEXT, or the Settings' brokers and security.
Kafka = str | Settings


def connection(kafka: Kafka) -> dict[str, Any]:
    """aiokafka connection options for ``kafka``."""
    if isinstance(kafka, Settings):
        return client_options(kafka)
    return {"bootstrap_servers": kafka}


async def wait_until(
    predicate: Callable[[], Awaitable[bool]],
    timeout: float = 30,  # noqa: ASYNC109 (a deadline, the documented interface)
    interval: float = 0.05,
    message: str = "",
) -> None:
    """Poll ``predicate`` until it returns true; AssertionError with ``message`` on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await predicate():
            return
        if loop.time() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def producer_config(bootstrap: Kafka) -> dict[str, Any]:
    """Plain producer settings that work on Tansu and Apache Kafka, records up to 16 MiB."""
    return {
        **connection(bootstrap),
        "acks": "all",
        "enable_idempotence": False,  # Tansu: no idempotent/transactional producers
        "max_request_size": MAX_RECORD_BYTES,
        "max_batch_size": 1 * MiB,
        "linger_ms": 5,
    }


async def produce(
    bootstrap: Kafka,
    topic: str,
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[Sequence[Header]] | Sequence[Header] | None = None,
    timestamps: Sequence[int] | None = None,
) -> list[RecordMetadata]:
    """Send ``values`` (with ``keys``) to ``topic``; return each record's metadata, in order.

    ``timestamps`` (ms) sets each record's own timestamp (replay-from-time tests).

    ``headers`` is either one header list per record or one header list for all records.
    Sends everything, then flushes once (fast), and waits for every acknowledgement.
    """
    if keys is not None and len(keys) != len(values):
        raise ValueError("keys and values differ in length")
    per_record = _headers_per_record(headers, len(values))
    producer = AIOKafkaProducer(**producer_config(bootstrap))
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                value,
                key=keys[i] if keys is not None else None,
                headers=per_record[i],
                timestamp_ms=timestamps[i] if timestamps is not None else None,
            )
            for i, value in enumerate(values)
        ]
        await producer.flush()
        return [await future for future in futures]
    finally:
        await producer.stop()


def _headers_per_record(
    headers: Sequence[Sequence[Header]] | Sequence[Header] | None, count: int
) -> list[list[Header] | None]:
    if not headers:
        return [None] * count
    first = headers[0]
    if isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], str):
        same = list(cast(Sequence[Header], headers))  # one list for every record
        return [same] * count
    if len(headers) != count:
        raise ValueError("headers and values differ in length")
    return [list(cast(Sequence[Header], h)) for h in headers]


def consumer_config(bootstrap: Kafka) -> dict[str, Any]:
    """Group-less consumer settings for reading records up to 16 MiB."""
    return {
        **connection(bootstrap),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": MAX_RECORD_BYTES,
        "fetch_max_bytes": 4 * MAX_RECORD_BYTES,
    }


async def consume_all(
    bootstrap: Kafka,
    topic: str,
    expected: int,
    timeout: float = 30,  # noqa: ASYNC109
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` (all partitions, from the beginning, no group) to its end: until at
    least ``expected`` records have arrived *and* every partition has been read up to its
    end offset, or ``timeout`` passes. Return every record read (order kept per partition),
    so a duplicate behind the ``expected`` ones is there for the test to see. Waits for the
    topic to exist.

    The end offset is the high watermark the broker sends with each fetch answer, not
    ``end_offsets`` (Tansu's ListOffsets answer is short after a multi-record batch).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    consumer = AIOKafkaConsumer(**consumer_config(bootstrap))
    await consumer.start()
    try:
        partitions: set[int] | None = None

        async def topic_known() -> bool:
            nonlocal partitions
            # topics() fetches metadata but does not update the consumer's own cluster view
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(topic)
            return bool(partitions)

        await wait_until(topic_known, timeout=timeout, message=f"topic {topic} does not exist")
        assert partitions is not None
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)

        async def at_end() -> bool:
            for tp in assignment:
                end = consumer.highwater(tp)  # None until a fetch answer for it arrived
                if end is None or await consumer.position(tp) < end:
                    return False
            return True

        records: list[ConsumerRecord[bytes, bytes]] = []
        while not (len(records) >= expected and await at_end()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for tp_records in batches.values():
                records.extend(tp_records)
        return records
    finally:
        await consumer.stop()


async def create_topic(
    bootstrap: Kafka, topic: str, partitions: int = 4, configs: dict[str, str] | None = None
) -> None:
    """Create ``topic`` (replication 1, optional topic ``configs`` such as
    ``max.message.bytes``); an existing topic is left as it is."""
    admin = AIOKafkaAdminClient(**connection(bootstrap))
    await admin.start()
    try:
        new_topic = NewTopic(
            name=topic,
            num_partitions=partitions,
            replication_factor=1,
            topic_configs=configs or {},
        )
        response = await admin.create_topics([new_topic])
        for name, code, *_ in response.topic_errors:
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"create topic {name}: error code {code}")
    finally:
        await admin.close()


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment with ``settings`` (and ``extra`` LEDGER_* values) over it:
    what a ``python -m services.cli ...`` child needs to work on the test's servers."""
    return {**os.environ, **settings_env(settings), **extra}


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``LEDGER_*`` environment that reproduces ``settings`` in a subprocess
    (merge it over ``os.environ``)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):  # the child needs the real value
            value = value.get_secret_value()
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        env[f"LEDGER_{name.upper()}"] = text
    return env
