"""The peak RSS of this process while a block runs (the benchmarks that work in-process)."""

from __future__ import annotations

import threading

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
