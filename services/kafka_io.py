"""The ledger's aiokafka clients and small helpers the CLI and the status report share.

Every producer, consumer and admin client is made here, from the ``Settings``, so each one
connects with the configured TLS and SASL (``services.kafka_security``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest

from services.config import Settings
from services.kafka_security import client_options

#: Producer limits far above ``max_message_bytes`` so an oversized message can still be
#: read, judged ``too_large`` and copied to the DLQ.
KAFKA_MESSAGE_CEILING = 16 * 1024 * 1024

#: How much the ingest fetches ahead, per partition and per request. Small, because every
#: prefetched byte is held in memory until its batch is stored. A record larger than this
#: still arrives: the broker returns a partition's first batch whole, whatever the limit
#: (KIP-74; tests/integration/test_dlq.py reads a 2 MiB message through it on Tansu).
FETCH_PARTITION_BYTES = 1024 * 1024
FETCH_MAX_BYTES = 4 * FETCH_PARTITION_BYTES

#: Kafka's error code TOPIC_ALREADY_EXISTS: creating a topic that is there is fine.
TOPIC_EXISTS = 36


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


def producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """acks=all, no idempotence (Tansu refuses it), room for oversized messages."""
    options: dict[str, Any] = {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": False,
        "max_request_size": KAFKA_MESSAGE_CEILING,
        "max_batch_size": 1024 * 1024,
        "linger_ms": 5,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def consumer(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    """A consumer on the configured brokers (``options``: group, offsets, fetch sizes)."""
    return AIOKafkaConsumer(**client_options(settings), **options)


def admin_client(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client on the configured brokers (topic creation and deletion)."""
    return AIOKafkaAdminClient(**client_options(settings), **options)


def bootstrap_servers(settings: Settings) -> list[tuple[str, int]]:
    """``kafka_bootstrap`` as ``(host, port)`` pairs (``[v6]:port`` too)."""
    servers = []
    for address in filter(None, (a.strip() for a in (settings.kafka_bootstrap or "").split(","))):
        host, _, port = address.rpartition(":")
        servers.append((host.strip("[]") or "localhost", int(port)))
    return servers


async def request_metadata(
    settings: Settings, host: str, port: int, request_timeout_ms: int
) -> None:
    """Connect to one broker as every client does (TLS handshake, SASL authentication) and
    have it answer a Metadata request; raise what went wrong (the readiness probe)."""
    options = client_options(settings)
    del options["bootstrap_servers"]
    conn = await create_conn(host, port, client_id="ledger-readiness",
                             request_timeout_ms=request_timeout_ms, **options)
    try:
        await conn.send(MetadataRequest([]))
    finally:
        conn.close()


#: Sends awaiting the broker's acknowledgement, at most: past either bound the sender waits
#: for the oldest to be acknowledged, so memory stays flat whatever the size of the input.
MAX_IN_FLIGHT = 5000
MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024


class SendWindow:
    """The sends not acknowledged yet, oldest first, bounded in count and in bytes.

    aiokafka's ``send`` returns as soon as the record is in its batch: without a bound a
    sender would hold a future (and the batch its value) for every record of its input. When
    either bound is passed, the window waits for the oldest sends until it is half empty, and
    reports what was acknowledged in one ``on_sent`` call (not one per record).
    """

    def __init__(
        self,
        on_sent: Callable[[int], None] | None = None,
        *,
        max_sends: int = MAX_IN_FLIGHT,
        max_bytes: int = MAX_IN_FLIGHT_BYTES,
    ) -> None:
        self._pending: deque[tuple[asyncio.Future[Any], int]] = deque()
        self._bytes = 0
        self._on_sent = on_sent
        self._max_sends = max_sends
        self._max_bytes = max_bytes
        self.acknowledged = 0

    async def add(self, sent: asyncio.Future[Any], size: int) -> None:
        """Hold ``sent`` (a record of ``size`` bytes); wait if the window is full."""
        self._pending.append((sent, size))
        self._bytes += size
        if len(self._pending) > self._max_sends or self._bytes > self._max_bytes:
            await self._wait_until(self._max_sends // 2, self._max_bytes // 2)

    async def drain(self) -> None:
        """Wait for every send still in flight."""
        await self._wait_until(0, 0)

    async def _wait_until(self, sends: int, size: int) -> None:
        before = self.acknowledged
        try:
            while self._pending and (len(self._pending) > sends or self._bytes > size):
                future, nbytes = self._pending[0]
                await future  # a failed send raises here: nothing after it counts as sent
                self._pending.popleft()
                self._bytes -= nbytes
                self.acknowledged += 1
        finally:
            if self._on_sent is not None and self.acknowledged > before:
                self._on_sent(self.acknowledged - before)


async def publish_values(
    settings: Settings,
    topic: str,
    values: Iterable[bytes],
    on_sent: Callable[[int], None] | None = None,
    *,
    max_in_flight: int = MAX_IN_FLIGHT,
    max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES,
) -> int:
    """Send values keyed by org, pipelined, and wait for every acknowledgement.

    ``values`` is consumed lazily (a generator reading a file is never held whole), with at
    most ``max_in_flight`` records or ``max_in_flight_bytes`` unacknowledged at a time.
    """
    window = SendWindow(on_sent, max_sends=max_in_flight, max_bytes=max_in_flight_bytes)
    async with producer(settings) as p:
        for value in values:
            await window.add(await p.send(topic, value, key=message_key(value)), len(value))
        await window.drain()
    return window.acknowledged


async def topic_partitions(settings: Settings, topic: str) -> set[int]:
    """The partitions of ``topic``; none if it does not exist (nothing is created).

    Asked of the cluster through the admin client's metadata of every topic: a consumer
    holds only what its metadata cache happens to hold (aiokafka has no public way to
    refresh it), and a metadata request naming the topic would create it on a broker that
    creates topics on first use.
    """
    admin = admin_client(settings)
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return {
        p["partition"]
        for t in described if t["topic"] == topic and t["error_code"] == 0
        for p in t["partitions"]
    }


async def create_topics(settings: Settings, names: list[str], partitions: int) -> dict[str, int]:
    """Create ``names`` with ``partitions`` each (one replica; existing ones are fine); answer
    the Kafka error code of each that could not be created (none: every one is there)."""
    admin = admin_client(settings)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        await admin.close()
    return {name: code for name, code, *_ in response.topic_errors
            if code not in (0, TOPIC_EXISTS)}


async def delete_topics(settings: Settings, names: list[str]) -> None:
    """Delete ``names``, best effort: one already gone, or a refusal, is no error."""
    admin = admin_client(settings)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """Log end offset per partition of ``topic`` (empty if the topic does not exist)."""
    partitions = await topic_partitions(settings, topic)
    if not partitions:
        return {}
    reader = consumer(settings, enable_auto_commit=False)
    try:
        await reader.start()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await reader.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await reader.stop()
