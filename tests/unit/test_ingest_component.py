"""The ingest component: what the service's subscriber and ``ledger replay`` hand their
batches to. Batches are stored in the order they were submitted, each counted once in the
totals; a transient failure is retried by the reader's policy, any other is final.

The store here is a fake that judges by event id in memory, so these run without servers;
the real writer is exercised through both readers in tests/integration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence

import pytest

from services.ingest.classify import Parsed
from services.ingest.component import Ingest, IngestTotals
from services.ingest.parse_pool import ParsePool
from services.ingest.records import InboundRecord
from services.ingest.writer import BatchResult
from services.samples import invoices, to_lines

MAX_BYTES = 64 * 1024
WAIT_S = 5.0


def records(values: Sequence[bytes], first_offset: int) -> list[InboundRecord]:
    return [InboundRecord("billing.events", 0, first_offset + i, b"US", value)
            for i, value in enumerate(values)]


class MemoryStore:
    """A batch writer that keeps event ids in memory: what it saw before is a duplicate, a
    message that did not parse is refused. It notes each batch's first offset as it stores
    it, and ``fail_first`` failures are raised before it stores anything."""

    def __init__(self, fail_first: Sequence[BaseException] = ()) -> None:
        self.event_ids: set[object] = set()
        self.batches: list[int] = []
        self.failures = list(fail_first)

    async def __call__(
        self, batch: Sequence[InboundRecord], parsed: list[Parsed]
    ) -> BatchResult:
        await asyncio.sleep(0)  # as a real store would, let the next batch's parse run
        if self.failures:
            raise self.failures.pop(0)
        refused = [p for p in parsed if p.event is None]
        ids = [p.event.event_id for p in parsed if p.event is not None]
        new = [i for i in ids if i not in self.event_ids]
        self.event_ids.update(ids)
        self.batches.append(batch[0].offset)
        return BatchResult(read=len(batch), stored=len(new), duplicates=len(ids) - len(new),
                           rejected=len(refused))


@pytest.fixture
def parser() -> Iterator[ParsePool]:
    pool = ParsePool(workers=0, max_bytes=MAX_BYTES)  # checked in this process
    yield pool
    pool.close()


def noting(log: list[str], entry: str) -> Callable[[], Awaitable[None]]:
    async def note() -> None:
        log.append(entry)

    return note


async def test_batches_are_stored_in_order_and_each_counted_once(parser: ParsePool) -> None:
    first = to_lines(invoices(30, org="US", seed=5))
    second = [*to_lines(invoices(19, org="US", seed=6)), b"{not json"]
    store = MemoryStore()
    ingest = Ingest(parser, store, max_delay=0.01, attempts=None)
    acked: list[str] = []

    await ingest.submit(records(first, 0), then=noting(acked, "first"))
    await ingest.submit(records(second, 30), then=noting(acked, "second"))
    await ingest.submit(records(first, 50), then=noting(acked, "first again"))
    await ingest.drain()

    assert store.batches == [0, 30, 50]
    assert acked == ["first", "second", "first again"]
    assert ingest.totals == IngestTotals(batches=3, read=80, stored=49, duplicates=30,
                                         rejected=1, retries=0, skipped=0)


async def test_a_transient_failure_is_retried_and_counted_until_the_batch_is_stored(
    parser: ParsePool,
) -> None:
    """The service's policy: no bound. The database away twice, then back."""
    store = MemoryStore(fail_first=[ConnectionResetError("gone"), ConnectionRefusedError()])
    ingest = Ingest(parser, store, max_delay=0.01, attempts=None)

    await ingest.submit(records(to_lines(invoices(10, org="US", seed=7)), 0))
    await ingest.drain()

    assert store.batches == [0]
    assert (ingest.totals.retries, ingest.totals.batches, ingest.totals.stored) == (2, 1, 10)


async def test_a_bounded_ingest_gives_up_after_its_attempts(parser: ParsePool) -> None:
    """A one-off command's policy (``ledger replay``): the failure after the last attempt
    is raised, and nothing is counted as stored."""
    store = MemoryStore(fail_first=[ConnectionResetError(f"gone {n}") for n in range(3)])
    ingest = Ingest(parser, store, max_delay=0.01, attempts=3)

    await ingest.submit(records(to_lines(invoices(10, org="US", seed=8)), 0))
    with pytest.raises(ConnectionResetError, match="gone 2"):
        await ingest.drain()

    assert store.batches == []
    assert (ingest.totals.retries, ingest.totals.batches, ingest.totals.read) == (2, 0, 0)


async def test_a_failure_that_is_not_transient_is_final(parser: ParsePool) -> None:
    """Not retried; the owner hears of it once, nothing submitted after it is stored, and
    every later submit raises it."""
    store = MemoryStore(fail_first=[RuntimeError("a bug")])
    heard: list[BaseException] = []
    ingest = Ingest(parser, store, max_delay=0.01, attempts=None, on_failure=heard.append)
    acked: list[str] = []

    await ingest.submit(records(to_lines(invoices(5, org="US", seed=9)), 0),
                        then=noting(acked, "first"))
    await ingest.submit(records(to_lines(invoices(5, org="US", seed=10)), 5),
                        then=noting(acked, "second"))
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(ingest.drain(), WAIT_S)
    with pytest.raises(RuntimeError, match="a bug"):
        await ingest.submit(records(to_lines(invoices(5, org="US", seed=11)), 10))

    assert [str(error) for error in heard] == ["a bug"]
    assert (store.batches, acked) == ([], [])
    assert ingest.totals == IngestTotals()


def test_a_readers_skipped_records_count_as_read() -> None:
    totals = IngestTotals()
    totals.add(BatchResult(read=20, stored=15, duplicates=4, rejected=1))
    totals.skip(30)

    assert (totals.read, totals.skipped, totals.batches) == (50, 30, 1)
    assert totals.read == totals.stored + totals.duplicates + totals.rejected + totals.skipped
