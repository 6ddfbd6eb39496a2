"""Peak RSS: of this process while a block runs (``PeakRss``, for the benchmarks that work
in-process), or of a command run to its end (``run_process``, measured from outside)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class PeakRss:
    """This process's peak RSS, sampled every 20 ms from a thread, and at both ends."""

    def __init__(self) -> None:
        self.peak = psutil.Process().memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, me.memory_info().rss)

    @property
    def mb(self) -> float:
        return self.peak / 2**20

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, psutil.Process().memory_info().rss)


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """A command run to its end, measured from outside."""

    exit_code: int
    stdout: bytes
    seconds: float  # spawn -> exit
    peak_rss_mb: float  # the process and its children, sampled every SAMPLE_S
    cpu_s: float  # their user + system CPU time at the last sample


SAMPLE_S = 0.02


async def run_process(argv: Sequence[str], *, env: dict[str, str], cwd: Path,
                      log_path: Path) -> ProcessRun:
    """Run ``argv`` to its end; stdout is kept, stderr goes to ``log_path``."""
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=log)
        sampler = asyncio.create_task(_sample_tree(proc.pid))
        out, _ = await proc.communicate()
        seconds = time.perf_counter() - started
    peak, cpu = await sampler
    assert proc.returncode is not None
    return ProcessRun(proc.returncode, out, seconds, peak / 2**20, cpu)


async def _sample_tree(pid: int) -> tuple[int, float]:
    """Peak RSS (bytes) of ``pid`` and its children until it exits, and their CPU time."""
    peak, cpu = 0, 0.0
    try:
        root = psutil.Process(pid)
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            total, used = 0, 0.0
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    used += times.user + times.system
            peak, cpu = max(peak, total), max(cpu, used)
            await asyncio.sleep(SAMPLE_S)  # a sampling period, not synchronisation
    except psutil.NoSuchProcess:
        pass
    return peak, cpu
