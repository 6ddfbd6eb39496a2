"""Benchmark input: generated ``invoice.posted`` events, pre-produced to a fresh topic.

Events are keyed by org label, as upstream does, and the labels are chosen so that murmur2
(the Java and aiokafka default partitioner) spreads them evenly over the partitions: every
partition carries the same share of the load, so neither consumer is bound by one hot
partition. Records are sent as pre-built batches (pipelined, acks=all, no idempotence):
producing is not what is measured, so it should take as little of the run as possible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from services.samples import invoices, to_lines

MiB = 1024 * 1024
PARTITIONS = 4
ORG_COUNT = 8
BATCH_BYTES = 1 * MiB


@dataclass(frozen=True, slots=True)
class Workload:
    """``events`` invoices of ``lines`` lines each."""

    name: str
    events: int
    lines: int

    @property
    def total_lines(self) -> int:
        return self.events * self.lines


@dataclass(frozen=True, slots=True)
class Produced:
    topic: str
    events: int
    bytes: int
    per_partition: dict[int, int]
    generate_s: float
    produce_s: float


def partition_of(key: bytes, partitions: int = PARTITIONS) -> int:
    """The partition a keyed record lands on with the default (murmur2) partitioner."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def balanced_orgs(count: int = ORG_COUNT, partitions: int = PARTITIONS) -> list[str]:
    """``count`` org labels whose keys hash evenly over ``partitions`` partitions."""
    per_partition = -(-count // partitions)
    chosen: list[str] = []
    filled = dict.fromkeys(range(partitions), 0)
    n = 0
    while len(chosen) < count:
        label = f"ORG{n:02d}"
        n += 1
        p = partition_of(label.encode(), partitions)
        if filled[p] < per_partition:
            filled[p] += 1
            chosen.append(label)
    return chosen


def generate(workload: Workload, orgs: list[str]) -> dict[str, list[bytes]]:
    """The workload's message values, per org label (deterministic for a given workload)."""
    out: dict[str, list[bytes]] = {}
    base, extra = divmod(workload.events, len(orgs))
    prefix = workload.name.upper()[:3]
    for i, org in enumerate(orgs):
        count = base + (1 if i < extra else 0)
        out[org] = to_lines(
            list(invoices(count, lines=workload.lines, org=org, seed=i + 1, prefix=prefix))
        )
    return out


async def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=topic, num_partitions=partitions, replication_factor=1)]
        )
        for name, code, *_ in response.topic_errors:
            if code != 0:
                raise RuntimeError(f"create topic {name}: error code {code}")
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, workload: Workload) -> Produced:
    """Generate the workload and send it to a new ``PARTITIONS``-partition ``topic``."""
    started = time.perf_counter()
    by_org = generate(workload, balanced_orgs())
    generated = time.perf_counter()
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,  # Tansu refuses idempotent producers
        max_request_size=16 * MiB,
        max_batch_size=BATCH_BYTES,
        linger_ms=5,
        request_timeout_ms=120_000,
    )
    await producer.start()
    per_partition = dict.fromkeys(range(PARTITIONS), 0)
    total_bytes = 0
    try:
        futures = []
        for org, values in by_org.items():
            key = org.encode()
            partition = partition_of(key)
            batch = producer.create_batch()
            for value in values:
                while batch.append(key=key, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                per_partition[partition] += 1
                total_bytes += len(value)
            if batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        for future in futures:
            await future
    finally:
        await producer.stop()
    return Produced(
        topic=topic,
        events=sum(per_partition.values()),
        bytes=total_bytes,
        per_partition=per_partition,
        generate_s=generated - started,
        produce_s=time.perf_counter() - generated,
    )
