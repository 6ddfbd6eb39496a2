"""The ingest: one component that the Kafka subscriber and ``ledger replay`` both drive.

Whoever reads the records (the FastStream subscriber of ``services.ingest.app``, the replay
loop of ``services.operations.replay``) hands each batch to ``Ingest.submit`` and, when it
stops, calls ``Ingest.drain``; everything between is here, once: the batch is checked by the
parse pool while the batches before it are stored (``StorePipeline``), stored in one
transaction (``write_batch``), its refusals sent to the DLQ, a transient failure retried by
the reader's policy (for ever in the service, a bounded number of times in a one-off
command), and counted in one ``IngestTotals``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from services.config import Settings
from services.ingest.classify import Parsed
from services.ingest.parse_pool import ParsePool
from services.ingest.pipeline import StorePipeline
from services.ingest.records import InboundRecord, Rejection
from services.ingest.recovery import retry_transient
from services.ingest.writer import BatchResult, PublishRejection, write_batch
from services.kafka_io import producer

__all__ = ["Ingest", "IngestTotals", "StoreBatch", "dlq_sender", "open_ingest"]

#: Stores one checked batch in one transaction (``write_batch`` with the reader's group and
#: DLQ); a failure is raised for the ingest's retry policy to judge.
StoreBatch = Callable[[Sequence[InboundRecord], list[Parsed]], Awaitable[BatchResult]]


@dataclass
class IngestTotals:
    """What an ingest did, for status output, ``ledger replay``'s report, tests and metrics.

    ``read`` counts every record read: ``stored + duplicates + rejected + skipped``.
    ``skipped`` are records the reader read and did not hand in (a replay from a timestamp
    skips the older ones); the service skips none.
    """

    batches: int = 0
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    skipped: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.read += result.read
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.rejected += result.rejected

    def skip(self, records: int) -> None:
        self.read += records
        self.skipped += records


class Ingest:
    """Batches of inbound records, checked ahead and stored in the order they were submitted.

    ``attempts`` bounds the tries of a batch that fails transiently (None: for ever, nothing
    is skipped while the database is away). Any other failure is final (``StorePipeline``):
    ``on_failure`` hears of it at once, and every later ``submit`` and ``drain`` raises it.
    """

    def __init__(
        self,
        parser: ParsePool,
        store: StoreBatch,
        *,
        max_delay: float,
        attempts: int | None,
        on_failure: Callable[[BaseException], None] | None = None,
        totals: IngestTotals | None = None,
    ) -> None:
        self.totals = totals if totals is not None else IngestTotals()
        self.attempts = attempts
        self.max_delay = max_delay
        self._parser = parser
        self._store = store
        self._pipeline = StorePipeline(on_failure=on_failure)

    async def submit(
        self,
        records: Sequence[InboundRecord],
        *,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Start checking ``records`` now and store them after the batches submitted before;
        ``then`` runs once they are stored (the subscriber acks there). Waits while the
        pipeline is full; an earlier batch's failure is raised here."""
        await self._pipeline.submit(
            self._parser.parse(records), functools.partial(self._store_checked, records, then)
        )

    async def drain(self) -> None:
        """Wait until every batch submitted is stored; raise the first failure."""
        await self._pipeline.drain()

    async def _store_checked(
        self,
        records: Sequence[InboundRecord],
        then: Callable[[], Awaitable[None]] | None,
        parsed: list[Parsed],
    ) -> None:
        result = await retry_transient(
            lambda: self._store(records, parsed),
            max_delay=self.max_delay, attempts=self.attempts, on_retry=self._count_retry,
        )
        self.totals.add(result)
        if then is not None:
            await then()

    def _count_retry(self, _error: BaseException) -> None:
        self.totals.retries += 1


@asynccontextmanager
async def open_ingest(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    group_id: str | None,
    attempts: int | None,
    on_failure: Callable[[BaseException], None] | None = None,
    totals: IngestTotals | None = None,
) -> AsyncIterator[Ingest]:
    """An ``Ingest`` storing into ``pool`` with its own parse pool and DLQ producer, both
    closed on the way out (after the caller's ``drain``: the batches in hand may still refuse
    a message after the reader has stopped).

    ``group_id`` is the consumer group whose offsets each batch stores with its events;
    None stores none (a replay is a repair, not a member of the group).
    """
    async with producer(settings) as dlq:
        parser = ParsePool(settings.parse_workers, settings.max_message_bytes)
        try:
            to_dlq = dlq_sender(dlq, settings.topic_dlq)

            def store(
                records: Sequence[InboundRecord], parsed: list[Parsed]
            ) -> Awaitable[BatchResult]:
                return write_batch(pool, records, group_id=group_id,
                                   max_bytes=settings.max_message_bytes,
                                   publish_rejection=to_dlq, parsed=parsed)

            yield Ingest(parser, store, max_delay=settings.db_retry_max_seconds,
                         attempts=attempts, on_failure=on_failure, totals=totals)
        finally:
            parser.close()


def dlq_sender(dlq: AIOKafkaProducer, topic: str) -> PublishRejection:
    """Copy a refused message to the DLQ: original bytes and key, ``ledger-error`` headers."""

    async def send(rejection: Rejection) -> None:
        await dlq.send_and_wait(
            topic,
            rejection.record.value,
            key=rejection.record.key,
            headers=[(k, v.encode()) for k, v in rejection.dlq_headers().items()],
        )

    return send
