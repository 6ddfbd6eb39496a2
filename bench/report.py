"""Results of the ingest benchmark: one Rich table per workload, and a JSON file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.measure import Measurement
from bench.workloads import Produced, Workload

RATIO_TARGET = 0.6
REPLAY_RATIO_TARGET = 0.8
RSS_TARGET_MB = 300.0
RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(slots=True)
class WorkloadResult:
    workload: Workload
    produced: Produced
    ingest: Measurement
    bare: Measurement
    checks: dict[str, int]
    #: ``ledger replay --from-beginning`` over the already-stored events: its report + seconds
    replay: dict[str, Any] | None = None

    def replay_ratio(self) -> float:
        """Replay events/s over ingest events/s, both from process start to done."""
        if not self.replay or not self.replay["seconds"]:
            return 0.0
        replay_rate = float(self.replay["read"]) / float(self.replay["seconds"])
        return replay_rate / self.ingest.rate(self.ingest.total_s)

    def ratio(self, which: str) -> float:
        ingest, bare = _seconds(self.ingest, which), _seconds(self.bare, which)
        return bare / ingest if ingest > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "events": self.workload.events,
            "lines_per_event": self.workload.lines,
            "produced": {
                "topic": self.produced.topic,
                "events": self.produced.events,
                "bytes": self.produced.bytes,
                "per_partition": self.produced.per_partition,
                "generate_s": self.produced.generate_s,
                "produce_s": self.produced.produce_s,
            },
            "ingest": self.ingest.as_dict(),
            "bare_pipe": self.bare.as_dict(),
            "ratio_total": self.ratio("total"),
            "ratio_span": self.ratio("span"),
            "ratio_db_span": self.ratio("db_span"),
            "ratio_target": RATIO_TARGET,
            "ingest_peak_rss_target_mb": RSS_TARGET_MB,
            "checks": self.checks,
            "replay": self.replay,
            "replay_ratio_to_ingest": self.replay_ratio(),
            "replay_ratio_target": REPLAY_RATIO_TARGET,
        }


def _seconds(m: Measurement, which: str) -> float:
    value: float = getattr(m, f"{which}_s")
    return value


def _mark(ok: bool) -> str:
    return "[green]✓[/green]" if ok else "[red]✗[/red]"


def _ratio_cell(ratio: float) -> str:
    return f"{ratio:.2f} {_mark(ratio >= RATIO_TARGET)}"


def workload_table(result: WorkloadResult) -> Table:
    w, ingest, bare = result.workload, result.ingest, result.bare
    table = Table(
        title=(
            f"{w.name}: {w.events:,} events x {w.lines} line(s) = {w.total_lines:,} lines, "
            f"{result.produced.bytes / 2**20:,.0f} MiB on {len(result.produced.per_partition)} "
            "partitions"
        ),
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("ledger ingest", justify="right")
    table.add_column("bare pipe", justify="right")
    table.add_column(f"ingest/bare (target ≥ {RATIO_TARGET})", justify="right")
    for label, which in (
        ("spawn → all stored", "total"),
        ("first → last stored (offsets polled)", "span"),
        ("first → last row (recorded_at)", "db_span"),
    ):
        si, sb = _seconds(ingest, which), _seconds(bare, which)
        table.add_row(
            f"events/s, {label}",
            f"{ingest.rate(si):,.0f}",
            f"{bare.rate(sb):,.0f}",
            _ratio_cell(result.ratio(which)),
        )
    if w.lines > 1:
        table.add_row(
            "lines/s, first → last stored (offsets polled)",
            f"{ingest.rate(ingest.span_s) * w.lines:,.0f}",
            f"{bare.rate(bare.span_s) * w.lines:,.0f}",
            "",
        )
    table.add_row(
        "consumer CPU µs/event (process only, not PostgreSQL)",
        f"{1e6 * ingest.cpu_s / w.events:,.0f}",
        f"{1e6 * bare.cpu_s / w.events:,.0f}",
        "",
    )
    table.add_row(
        "machine CPU µs/event, first → last stored (consumer, PostgreSQL, broker)",
        f"{ingest.machine_cpu_us_per_event:,.0f}",
        f"{bare.machine_cpu_us_per_event:,.0f}",
        "",
    )
    cores = os.cpu_count() or 1
    table.add_row(
        f"cores busy, first → last stored (of {cores})",
        f"{ingest.cores_busy:.2f}",
        f"{bare.cores_busy:.2f}",
        "",
    )
    ceiling = cpu_bound_rate(ingest, cores)
    table.add_row(
        "events/s with every core busy (cores ÷ machine CPU per event); ratio: its best",
        f"{ceiling:,.0f}",
        f"{cpu_bound_rate(bare, cores):,.0f}",
        f"≤ {ceiling / bare.rate(bare.span_s):.2f}" if bare.span_s > 0 else "",
    )
    table.add_row("seconds, spawn → all stored", f"{ingest.total_s:.2f}", f"{bare.total_s:.2f}", "")
    table.add_row(
        "seconds, spawn → first stored", f"{ingest.first_row_s:.2f}", f"{bare.first_row_s:.2f}", ""
    )
    if result.replay:
        ratio = result.replay_ratio()
        table.add_row(
            f"replay of the stored events, events/s (replay/ingest, target ≥ "
            f"{REPLAY_RATIO_TARGET})",
            f"{result.replay['read'] / result.replay['seconds']:,.0f}",
            "",
            f"{ratio:.2f} {_mark(ratio >= REPLAY_RATIO_TARGET)}",
        )
    table.add_row(
        f"peak RSS MB (ingest target < {RSS_TARGET_MB:.0f})",
        f"{ingest.peak_rss_mb:,.0f} {_mark(ingest.peak_rss_mb < RSS_TARGET_MB)}",
        f"{bare.peak_rss_mb:,.0f}",
        "",
    )
    return table


def cpu_bound_rate(measured: Measurement, cores: int) -> float:
    """The rate a consumer would reach were it to keep every core busy at its measured CPU
    per event: an upper bound, since no pipeline of processes overlaps perfectly."""
    per_event = measured.machine_cpu_us_per_event
    return cores * 1e6 / per_event if per_event > 0 else 0.0


def print_result(console: Console, result: WorkloadResult) -> None:
    console.print(workload_table(result))
    p = result.produced
    console.print(
        f"  produced in {p.produce_s:.1f}s (generated in {p.generate_s:.1f}s), per partition "
        f"{p.per_partition}; checks {result.checks}; load average before ingest "
        f"{result.ingest.load_before:.2f}, before bare pipe {result.bare.load_before:.2f}"
    )
    if result.ingest.profile:
        console.print(f"  ingest profile (py-spy raw): {result.ingest.profile}")


def write_json(meta: dict[str, Any], results: list[WorkloadResult]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"ingest-{stamp}.json"
    document = {**meta, "workloads": [r.as_dict() for r in results]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path
