"""Run a consumer as a separate process and measure it from outside.

- time: from just before the process is spawned until the consumer's stored offsets (polled
  every 0.05 s) cover the expected count of records; also from the first poll that sees one
  to the last one (excludes start-up and group join), and the exact span between the first
  and last row's ``recorded_at`` (``clock_timestamp()`` at insert). Both consumers store
  their offsets in the transaction that stores the rows, so the offsets say what is stored,
  and reading them costs the same at the first poll as at the last; ``count(*)`` over the
  table, checked once at the end, took 40 ms per poll by 180k events, a tenth of a core
  taken from whichever consumer was using both;
- memory: the peak of the RSS of the process and all its children, polled every 0.1 s, and
  their CPU time (user+system), which other load on the machine disturbs less than time;
- the whole machine's CPU time between the first and the last stored record: the consumer,
  PostgreSQL and the broker all run on this box, so it is what a stored event costs in all,
  and divided by the span it says how many cores the consumer kept busy. A consumer that
  keeps every core busy is CPU-bound: it goes no faster than cores / CPU per event;
- optionally a py-spy profile (raw collapsed stacks and a flame graph) of the steady state,
  attached when the first row appears.

The process is stopped with SIGTERM once everything is stored (SIGKILL after 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

POLL_STORED_S = 0.05  # 0.2 s steps were 5% of the bare pipe's 3.6 s on 100k events
POLL_RSS_S = 0.1
STOP_GRACE_S = 30.0


@dataclass(slots=True)
class Measurement:
    events: int
    stored: int
    total_s: float  # spawn -> all records stored (offsets poll)
    first_row_s: float  # spawn -> first record stored
    span_s: float  # first record stored -> all records stored
    db_span_s: float  # min(recorded_at) -> max(recorded_at)
    peak_rss_mb: float
    cpu_s: float  # user+system CPU of the process and its children, spawn -> all stored
    first_stored: int  # records stored when the first poll saw any
    machine_cpu_span_s: float  # CPU of every process on the machine, first -> last stored
    load_before: float  # 1-minute load average when spawned: other work on the machine?
    exit_code: int | None
    log: str
    profile: str | None = None

    def rate(self, seconds: float) -> float:
        return self.events / seconds if seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events_per_s_total"] = self.rate(self.total_s)
        out["events_per_s_span"] = self.rate(self.span_s)
        out["events_per_s_db_span"] = self.rate(self.db_span_s)
        out["cpu_us_per_event"] = 1e6 * self.cpu_s / self.events if self.events else 0.0
        out["machine_cpu_us_per_event"] = self.machine_cpu_us_per_event
        out["cores_busy"] = self.cores_busy
        return out

    @property
    def machine_cpu_us_per_event(self) -> float:
        """Every process's CPU per event stored, from first to last (start-up excluded)."""
        stored = self.events - self.first_stored
        return 1e6 * self.machine_cpu_span_s / stored if stored > 0 else 0.0

    @property
    def cores_busy(self) -> float:
        return self.machine_cpu_span_s / self.span_s if self.span_s > 0 else 0.0


def machine_cpu_s() -> float:
    """CPU seconds every process on the machine has used since boot: user and system time,
    interrupts included; idle, I/O wait and a virtual machine's stolen time are not work."""
    times = psutil.cpu_times()
    return float(sum(getattr(times, name, 0.0)
                     for name in ("user", "nice", "system", "irq", "softirq")))


class ConsumerFailed(RuntimeError):
    """The measured process exited or did not store everything in time."""


async def _sample(pid: int, done: asyncio.Event) -> tuple[float, float]:
    """Peak RSS (MB) of ``pid`` and its children, and their CPU seconds at the last sample."""
    peak = 0
    cpu = 0.0
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    while not done.is_set():
        total = 0
        used = 0.0
        try:
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    used += times.user + times.system
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total)
        cpu = max(cpu, used)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), POLL_RSS_S)
    return peak / (1024 * 1024), cpu


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


async def _start_profiler(pid: int, out: Path) -> asyncio.subprocess.Process | None:
    py_spy = _py_spy()
    if py_spy is None:
        print("py-spy not found: install it with .venv/bin/pip install py-spy (no profile)")
        return None
    return await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--rate", "200", "--idle", "--format", "raw",
        "--output", str(out), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _stop(proc: asyncio.subprocess.Process) -> int | None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return await proc.wait()
    return proc.returncode


async def measure(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    database_url: str,
    table: str,
    stored_records: tuple[str, str, str],
    expected: int,
    log_path: Path,
    timeout_s: float,
    profile_path: Path | None = None,
) -> Measurement:
    """Spawn ``argv`` and time it until its offsets cover ``expected`` records, then count
    the rows of ``table``.

    ``stored_records`` is (offsets table, group, topic): where the consumer stores the next
    offset of each partition. The topic is new, so the offsets add up to the records stored.
    """
    conn = await asyncpg.connect(database_url)
    offsets_table, group, topic = stored_records
    progress_sql = (f"SELECT coalesce(sum(next_offset), 0) FROM {offsets_table} "
                    "WHERE group_id = $1 AND topic = $2")
    profiler: asyncio.subprocess.Process | None = None
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    done = asyncio.Event()
    sampler = asyncio.create_task(_sample(proc.pid, done))
    load_before = os.getloadavg()[0]
    first_seen: float | None = None
    first_stored = 0
    cpu_at_first = cpu_at_last = 0.0
    covered = 0
    try:
        tick = 0
        while True:
            covered = int(await conn.fetchval(progress_sql, group, topic))
            now = time.perf_counter()
            if covered and first_seen is None:
                first_seen, first_stored, cpu_at_first = now, covered, machine_cpu_s()
                if profile_path is not None:
                    profiler = await _start_profiler(proc.pid, profile_path)
            if covered >= expected:
                cpu_at_last = machine_cpu_s()
                break
            if proc.returncode is not None:
                raise ConsumerFailed(f"{argv[2]} exited with {proc.returncode}; see {log_path}")
            if now - started > timeout_s:
                raise ConsumerFailed(
                    f"{covered}/{expected} records after {timeout_s}s; see {log_path}"
                )
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * POLL_STORED_S - time.perf_counter()))
        finished = now
        done.set()
        peak_mb, cpu_s = await sampler
        if profiler is not None:
            with contextlib.suppress(ProcessLookupError):
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            await asyncio.wait_for(profiler.wait(), 60)
        stored, db_span = await conn.fetchrow(
            "SELECT count(*), extract(epoch FROM max(recorded_at) - min(recorded_at)) "
            f"FROM {table}"
        )
        if stored != expected:
            raise ConsumerFailed(f"{stored} rows in {table} for {expected} records; see {log_path}")
    finally:
        done.set()
        with contextlib.suppress(Exception):
            await sampler
        exit_code = await _stop(proc)
        if profiler is not None and profiler.returncode is None:
            profiler.kill()
            await profiler.wait()
        await conn.close()
    assert first_seen is not None
    return Measurement(
        events=expected,
        stored=stored,
        total_s=finished - started,
        first_row_s=first_seen - started,
        span_s=finished - first_seen,
        db_span_s=float(db_span or 0.0),
        peak_rss_mb=peak_mb,
        cpu_s=cpu_s,
        first_stored=first_stored,
        machine_cpu_span_s=cpu_at_last - cpu_at_first,
        load_before=load_before,
        exit_code=exit_code,
        log=str(log_path),
        profile=str(profile_path) if profiler is not None else None,
    )
