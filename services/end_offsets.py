"""Log end offsets of a topic through one long-lived Kafka client.

``ledger status`` opens a consumer for its one look. ``/metrics`` is scraped every few
seconds for the life of the process, and a client per scrape would cost a connection,
a bootstrap and a metadata round trip each time, so the API app owns one ``EndOffsets``:
its consumer (no group, no subscription) starts on the first read and stops with the app.
A failed read stops it too, and the next read starts a new one: a broker that restarted or
moved is found again.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.config import Settings
from services.kafka_io import consumer


def offsets_client(settings: Settings) -> AIOKafkaConsumer:
    """The consumer that reads end offsets (TLS and SASL as configured, like every client)."""
    return consumer(settings, group_id=None, enable_auto_commit=False)


class EndOffsets:
    """``read(topic)``: end offset per partition; reads are serialised on one client."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        #: Clients started so far: one for the life of the app while the broker answers.
        self.clients_started = 0

    async def read(self, topic: str) -> dict[int, int]:
        """End offset per partition of ``topic`` (empty if it does not exist)."""
        async with self._lock:
            try:
                consumer = await self._started()
                return await _end_offsets(consumer, topic)
            except BaseException:
                await self._stop()
                raise

    async def close(self) -> None:
        async with self._lock:
            await self._stop()

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = offsets_client(self._settings)
            self._consumer = consumer  # stopped by _stop even if start fails half-way
            self.clients_started += 1
            await consumer.start()
        return self._consumer

    async def _stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


async def _end_offsets(consumer: AIOKafkaConsumer, topic: str) -> dict[int, int]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:  # a topic created since the last metadata refresh
        # aiokafka 0.14 has no public way to refresh a consumer's metadata (``topics()``
        # fetches without updating the cache); an admin lookup would cost this long-lived
        # client's point, a connection per scrape. Only reached while the topic is unknown.
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        return {}
    ends = await consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
    return {tp.partition: offset for tp, offset in ends.items()}
