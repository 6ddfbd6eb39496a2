"""A TCP proxy a test can cut and restore: a real database outage without stopping PostgreSQL.

It can also terminate TLS (``ssl``: the server side's context) and hold each connection at a
``gate`` before piping it (the SASL authentication of ``tests.kafka_sasl``): with both, a
PLAINTEXT Kafka broker behind it speaks TLS and SASL to its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as _ssl
from collections.abc import Awaitable, Callable

#: Runs on a new connection before it is piped: ``(client, upstream)`` streams; False drops it.
Gate = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamWriter],
    Awaitable[bool],
]


class TcpProxy:
    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        port: int = 0,
        ssl: _ssl.SSLContext | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = port
        self.ssl = ssl
        self.gate = gate
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                  ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        try:
            admitted = self.gate is None or await self.gate(reader, writer, up_reader, up_writer)
        except (OSError, asyncio.IncompleteReadError):
            admitted = False
        if admitted:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        else:
            for end in (writer, up_writer):
                with contextlib.suppress(OSError):
                    end.close()
        self._writers.discard(writer)
        self._writers.discard(up_writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()
