"""A TCP proxy a test can cut and restore: a real database outage without stopping PostgreSQL.

The server behind it is reached over TCP or over a Unix socket (``TcpProxy.to_unix_socket``:
embedded PostgreSQL listens on one only), so the outage can be made on every test path;
``postgres_endpoint`` and ``through`` turn a PostgreSQL URL into the proxy's target and back.

It can also terminate TLS (``ssl``: the server side's context) and hold each connection at a
``gate`` before piping it (the SASL authentication of ``tests.kafka_sasl``): with both, a
PLAINTEXT Kafka broker behind it speaks TLS and SASL to its clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as _ssl
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

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
        self.target_socket: str | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    def to_unix_socket(cls, path: str, *, port: int = 0) -> TcpProxy:
        """A proxy listening on TCP in front of the Unix socket at ``path``."""
        proxy = cls("", 0, port=port)
        proxy.target_socket = path
        return proxy

    @classmethod
    def to_postgres(cls, url: str) -> TcpProxy:
        """A proxy in front of the server a PostgreSQL URL names (TCP or Unix socket)."""
        endpoint = postgres_endpoint(url)
        if isinstance(endpoint, str):
            return cls.to_unix_socket(endpoint)
        return cls(*endpoint)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.target_socket is not None:
            return await asyncio.open_unix_connection(self.target_socket)
        return await asyncio.open_connection(self.target_host, self.target_port)

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
            up_reader, up_writer = await self._open_upstream()
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


def postgres_endpoint(url: str) -> tuple[str, int] | str:
    """Where a PostgreSQL URL connects: ``(host, port)`` over TCP, or a Unix socket's path.

    The host is the URL's, or its ``host`` query parameter (``?host=/dir``, as embedded
    PostgreSQL's URL has it); a host starting with ``/`` is the socket's directory, where
    the socket file is ``.s.PGSQL.<port>``.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    address = parts.netloc.rpartition("@")[2]
    host, port_text = address, ""
    if address.startswith("["):  # [IPv6]:port
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif ":" in address:
        host, _, port_text = address.rpartition(":")
    host = query.get("host") or unquote(host)
    port = int(query.get("port") or port_text or 5432)
    if not host:
        raise ValueError(f"no host in the PostgreSQL URL {parts._replace(netloc='').geturl()}")
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}"
    return host, port


def through(url: str, port: int) -> str:
    """``url`` pointed at a proxy on 127.0.0.1:``port`` (user, password, database and
    other parameters kept; ``host`` and ``port`` parameters dropped)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ("host", "port")]
    netloc = f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
