"""Stream an entry's transaction-detail CSV from ``export_entry_csv`` to an HTTP response.

The export writes chunks into a bounded ``asyncio.Queue``; the response reads them. When the
client is slower than PostgreSQL the queue fills, the export's ``write`` waits, and asyncpg
stops reading the COPY from the socket: memory stays at a few chunks whatever the entry's
size. The first item is awaited before the response starts, so a refusal (unknown entry,
cancelled entry, no connection free: 503) is still answered as a JSON error with its
status, not as a broken 200.

A download holds one of the API's connections while it runs, so a slow or stalled client
must not hold it for ever (docs/design.md "Isolation"):

- ``idle_limit``: a client that takes no data for this long loses the download (the
  export gives up waiting for room in the queue, the COPY is abandoned and its connection
  dropped; the pool opens a new one when needed);
- ``time_limit``: the whole download, however steadily it trickles, takes at most this long
  (the COPY alone is exempt from the API's short statement timeout).

A client that disconnects stops its export the same way, at the export's next write.

A download cut after its start cannot change its 200: the response ends without its last
chunk and the connection is closed, so the client sees a broken transfer, never a complete
but truncated file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import asyncpg
from fastapi.responses import Response, StreamingResponse
from starlette.types import Send

from services.journal.entries import export_entry_csv

log = logging.getLogger("ledger.api")

#: Chunks buffered between the export and the response (asyncpg hands over up to ~64 KiB).
QUEUE_DEPTH = 8

Item = bytes | Exception | None  # a chunk, the export's error, or the end


class ExportStalled(Exception):
    """The client took no data for the idle limit."""


class ExportClosed(Exception):
    """The response went away (the client disconnected or the download ended early)."""


#: Exports still running after their response ended: referenced until they finish.
_ENDING: set[asyncio.Task[None]] = set()


class CsvExport:
    """The export running as a task, feeding a bounded queue.

    It is stopped from the export's side, never by cancelling its task: asyncpg cannot
    cancel a ``COPY TO STDOUT`` cleanly mid-stream, so the export's ``write`` raises
    instead (closed, or idle too long) and ``export_entry_csv`` drops the connection.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        number: str,
        *,
        time_limit: float | None = None,
        idle_limit: float | None = None,
        depth: int = QUEUE_DEPTH,
    ) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=depth)
        self.idle_limit = idle_limit
        loop = asyncio.get_running_loop()
        self.deadline = None if time_limit is None else loop.time() + time_limit
        self.closed = asyncio.Event()
        self.task = asyncio.create_task(self._produce(pool, number, time_limit),
                                        name=f"export {number}")

    async def _produce(self, pool: asyncpg.Pool, number: str, time_limit: float | None) -> None:
        try:
            await export_entry_csv(pool, number, self._put, time_limit=time_limit)
        except Exception as error:  # handed to the reader, raised there
            self._fail(error)
            return
        # The connection is back already: the end mark waits for room without a limit.
        with contextlib.suppress(ExportClosed):
            await self._offer(None, None)

    def _fail(self, error: Exception) -> None:
        """Queue the error now, even behind a client that takes nothing: what is buffered is
        dropped (the download is broken anyway) so the error never waits for room."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(error)

    async def _put(self, chunk: bytes) -> None:
        """The export's ``write``: it enforces the limits while PostgreSQL waits for us."""
        item = bytes(chunk)  # asyncpg hands over a bytearray: own a copy
        left = None
        if self.deadline is not None:
            left = self.deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("the download took longer than its time limit")
        if left is not None and (self.idle_limit is None or left < self.idle_limit):
            if not await self._offer(item, left):
                raise TimeoutError("the download took longer than its time limit")
        elif not await self._offer(item, self.idle_limit):
            raise ExportStalled(f"the client took no data for {self.idle_limit:g} s")

    async def _offer(self, item: Item, wait: float | None) -> bool:
        """Queue ``item`` as soon as there is room, waiting at most ``wait`` seconds (None:
        no limit); False if there was none in time. ``ExportClosed`` once the response is
        gone."""
        if self.closed.is_set():
            raise ExportClosed("the download was closed")
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(self.queue.put(item))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({put, closed}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not put.done():
                put.cancel()  # the item was not queued
        if put.done() and not put.cancelled():
            return True
        if self.closed.is_set():
            raise ExportClosed("the download was closed")
        return False

    async def next(self) -> bytes | None:
        item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        """Stop the export (a no-op once it has finished): its next write raises, the COPY
        is abandoned and the connection dropped. Does not wait for that to happen."""
        self.closed.set()
        if not self.task.done():
            _ENDING.add(self.task)
            self.task.add_done_callback(_ENDING.discard)


class _Cut(Exception):
    """The export failed after the response started (the error is the cause)."""


class CsvDownload(StreamingResponse):
    """The export's chunks as the body; an export that fails after the start ends the
    response without its last chunk (the server then closes the connection)."""

    def __init__(self, export: CsvExport, first: bytes, number: str,
                 headers: Mapping[str, str]) -> None:
        super().__init__(self._chunks(export, first), media_type="text/csv", headers=headers)
        self.export = export
        self.number = number
        self.sent = 0

    async def _chunks(self, export: CsvExport, first: bytes) -> AsyncIterator[bytes]:
        chunk: bytes | None = first
        while chunk is not None:
            yield chunk
            self.sent += len(chunk)
            try:
                chunk = await export.next()
            except Exception as error:
                raise _Cut() from error

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        except _Cut as cut:
            assert isinstance(cut.__cause__, Exception)
            log.warning("transaction detail of %s cut after %d bytes: %s",
                        self.number, self.sent, _reason(cut.__cause__))
        finally:
            self.export.close()


def _reason(error: Exception) -> str:
    if isinstance(error, ExportStalled):
        return str(error)
    if isinstance(error, TimeoutError):
        return "the download took longer than its limit"
    return f"{type(error).__name__}: {error}"


async def csv_response(
    pool: asyncpg.Pool,
    number: str,
    *,
    time_limit: float | None = None,
    idle_limit: float | None = None,
) -> Response:
    export = CsvExport(pool, number, time_limit=time_limit, idle_limit=idle_limit)
    try:
        first = await export.next()
    except BaseException:
        export.close()
        raise
    if first is None:
        export.close()
        return Response(b"", media_type="text/csv")
    return CsvDownload(export, first, number,
                       {"Content-Disposition": f'attachment; filename="{number}.csv"'})
