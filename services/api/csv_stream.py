"""Stream an entry's transaction-detail CSV from ``export_entry_csv`` to an HTTP response.

The export writes chunks into a bounded ``asyncio.Queue``; the response reads them. When the
client is slower than PostgreSQL the queue fills, the export's ``write`` waits, and asyncpg
stops reading the COPY from the socket: memory stays at a few chunks whatever the entry's
size. The first item is awaited before the response starts, so a refusal (unknown entry,
cancelled entry) is still answered as a JSON error with its status, not as a broken 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
from fastapi.responses import Response, StreamingResponse

from services.journal.entries import export_entry_csv

#: Chunks buffered between the export and the response (asyncpg hands over up to ~64 KiB).
QUEUE_DEPTH = 8

Item = bytes | Exception | None  # a chunk, the export's error, or the end


class CsvExport:
    """The export running as a task, feeding a bounded queue."""

    def __init__(self, pool: asyncpg.Pool, number: str, depth: int = QUEUE_DEPTH) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=depth)
        self.task = asyncio.create_task(self._produce(pool, number), name=f"export {number}")

    async def _produce(self, pool: asyncpg.Pool, number: str) -> None:
        try:
            await export_entry_csv(pool, number, self._put)
        except Exception as error:  # handed to the reader, raised there
            await self.queue.put(error)
        else:
            await self.queue.put(None)

    async def _put(self, chunk: bytes) -> None:
        await self.queue.put(bytes(chunk))  # asyncpg hands over a bytearray: own a copy

    async def next(self) -> bytes | None:
        item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def close(self) -> None:
        """Stop the export (a no-op once it has finished): the COPY is aborted and the
        connection goes back to the pool."""
        self.task.cancel()
        await asyncio.wait([self.task])  # never raises: our own cancellation still can


async def csv_response(pool: asyncpg.Pool, number: str) -> Response:
    export = CsvExport(pool, number)
    try:
        first = await export.next()
    except BaseException:
        await export.close()
        raise
    if first is None:
        await export.close()
        return Response(b"", media_type="text/csv")

    async def body() -> AsyncIterator[bytes]:
        try:
            chunk: bytes | None = first
            while chunk is not None:
                yield chunk
                chunk = await export.next()
        finally:
            await export.close()

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{number}.csv"'},
    )
