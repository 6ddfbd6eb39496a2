"""Check batches in worker processes, so validation runs beside the store, not in its way.

Checking a message (contract validation, canonical body, hash) is pure CPU, and on one
event loop it competes with the batch being stored: every millisecond spent parsing was a
millisecond PostgreSQL waited for its next statement. A worker process parses batch N+1 on
another core while this process stores batch N. Only bytes go out, and what comes back is
packed by column (``pack_checked``), so the hand-over costs little.

``workers=0`` checks in this process instead, in slices that yield to the event loop. A
worker that dies (killed, out of memory) is replaced and the batch is checked here, so a
broken pool never skips a batch.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from asyncpg.pgproto.pgproto import UUID as StoreUUID

from events import ContractError
from services.ingest.classify import CheckedEvent, Parsed, check_values, pair
from services.ingest.records import InboundRecord

log = logging.getLogger("ledger.ingest")

#: Records checked between two yields to the event loop when there is no worker.
INLINE_SLICE = 250
#: How often a worker looks whether its parent is still there.
PARENT_CHECK_S = 0.5


def _worker_init() -> None:
    """Ctrl-C reaches the whole process group, and so does a service manager's SIGTERM
    (systemd's default); the parent decides when to stop and shuts the pool down after the
    batch in hand, so a worker ignores both. A parent killed with SIGKILL closes nothing a
    worker would notice, so each one watches its parent and leaves with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    tune_garbage_collector()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def tune_garbage_collector() -> None:
    """Parsing a batch allocates ~100k short-lived objects; with the default thresholds the
    collector ran 50 full passes per 200k events (15% of the ingest's time). Freezing what
    start-up allocated and collecting young objects less often cut that to ~2%."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _check_packed(values: list[bytes], max_bytes: int) -> bytes:
    """``check_values``, packed here: the pool's result thread then receives one bytes
    object, and the thousands of small objects are built where they are used and freed, on
    the event loop's thread, instead of on the result thread."""
    return pack_checked(check_values(values, max_bytes))


def pack_checked(checked: Sequence[CheckedEvent | ContractError]) -> bytes:
    """``check_values``' results as one pickle of columns, refusals apart by index.

    A list of named tuples pickles each tuple and each ``UUID`` (a Python-level reduce) on
    its own: 5.8 us per event to pickle and 3.3 to unpickle, against 2.3 to pack and 1.2 to
    unpack (named tuples and ids rebuilt) by column.
    """
    events = [c for c in checked if not isinstance(c, ContractError)]
    refusals = {i: c for i, c in enumerate(checked) if isinstance(c, ContractError)}
    ids, *rest = zip(*events, strict=True) if events else [()] * len(CheckedEvent._fields)
    columns = (len(checked), refusals, [event_id.bytes for event_id in ids], *rest)
    return pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_checked(packed: bytes) -> list[CheckedEvent | ContractError]:
    """What ``pack_checked`` packed, in order. Event ids come back as asyncpg's ``UUID`` (a
    ``uuid.UUID`` subclass, what the store returns for every uuid), made from bytes in C."""
    count, refusals, ids, *rest = pickle.loads(packed)
    events = map(CheckedEvent._make, zip(map(StoreUUID, ids), *rest, strict=True))
    if not refusals:
        return list(events)
    return [refusals[i] if i in refusals else next(events) for i in range(count)]


class ParsePool:
    """``await pool.parse(records)``: rule 1 of ``classify`` for a batch, off the event loop."""

    def __init__(self, workers: int, max_bytes: int) -> None:
        self.workers = workers
        self.max_bytes = max_bytes
        self._executor: ProcessPoolExecutor | None = None
        if workers > 0:
            self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent runs an event loop and client libraries with threads.
        executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )
        for _ in range(self.workers):  # start (and import) now, not under the first batch
            executor.submit(check_values, [], self.max_bytes)
        return executor

    async def parse(self, records: Sequence[InboundRecord]) -> list[Parsed]:
        if self._executor is None or not records:
            return await self._parse_here(records)
        values = [r.value for r in records]
        loop = asyncio.get_running_loop()
        size = -(-len(values) // self.workers)
        try:
            parts = await asyncio.gather(*(
                loop.run_in_executor(self._executor, _check_packed, values[i:i + size],
                                     self.max_bytes)
                for i in range(0, len(values), size)
            ))
        except BrokenProcessPool:
            log.warning("a parse worker died; starting new ones, this batch is parsed here")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            return await self._parse_here(records)
        return pair(records, [checked for part in parts for checked in unpack_checked(part)])

    async def _parse_here(self, records: Sequence[InboundRecord]) -> list[Parsed]:
        parsed: list[Parsed] = []
        for start in range(0, len(records), INLINE_SLICE):
            chunk = records[start:start + INLINE_SLICE]
            parsed += pair(chunk, check_values([r.value for r in chunk], self.max_bytes))
            await asyncio.sleep(0)
        return parsed

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
