"""Memory benchmark: the bulk commands stay flat in memory on large inputs.

    .venv/bin/python -m bench.memory [--publish-mb 2048] [--republish 1000000] [--dlq 1000000]

Each command runs as its own process, as an operator runs it, and is measured from outside
(``bench.peak_rss.run_process``: peak RSS of the process and its children, sampled every
20 ms; wall time from spawn to exit):

(a) ``ledger publish FILE --json`` of a JSON Lines file of ~1 KB ``invoice.posted`` events
    (``--publish-mb``, 2 GiB by default), generated into a temporary folder as it is
    written, to a fresh 4-partition topic;
(b) ``ledger republish --from-position N --json`` of ``--republish`` journal_entry.created
    events (copies of a real run's entry, set-based, in the log and the outbox);
(c) paging through ``--dlq`` refused messages (``bench.dlq_pager``: the keyset pages
    ``ledger dlq list --after`` reads, 1000 a page), one ``ledger dlq list`` of the first
    and of the last page, then ``ledger dlq replay --json`` of them all once the org they
    name exists (each is stored: a billing event, its lines, a resolution).

Target: peak RSS under 150 MB for each. Servers: PostgreSQL from ``LEDGER_BENCH_DATABASE_URL``,
else 127.0.0.1:5432 user postgres (a schema per dataset, dropped at the end unless
``--keep``); Kafka from ``LEDGER_BENCH_KAFKA_BOOTSTRAP``, else Tansu (embedded, memory) on a
free port. Results: a Rich table, JSON in ``bench/results/memory-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.ingest import LOCAL_DATABASE_URL, REPO, _git, clean_env, delete_topics, with_search_path
from bench.memory_data import LATE_ORG, load_journal_events, load_refusals, write_events_file
from bench.peak_rss import ProcessRun, run_process
from bench.report import RESULTS_DIR
from bench.workloads import create_topic
from services.commands.orgs import create_org
from services.embedded import embedded_kafka
from services.store.pool import create_pool

TARGET_RSS_MB = 150.0
MiB = 1024 * 1024
console = Console(width=None if sys.stdout.isatty() else 130)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publish-mb", type=int, default=2048,
                        help="size of the published file in MiB (0 skips it)")
    parser.add_argument("--republish", type=int, default=1_000_000,
                        help="journal events to republish (0 skips it)")
    parser.add_argument("--dlq", type=int, default=1_000_000,
                        help="refused messages to list and replay (0 skips it)")
    parser.add_argument("--keep", action="store_true", help="keep the schemas (to dig in)")
    return parser.parse_args(argv)


class Bench:
    """The servers, where logs go, and how a ``ledger`` command is run and measured."""

    def __init__(self, pg_url: str, bootstrap: str, logs: Path, scratch: Path) -> None:
        self.pg_url, self.bootstrap, self.logs, self.scratch = pg_url, bootstrap, logs, scratch
        self.run_id = uuid.uuid4().hex[:10]

    def env(self, url: str, **ledger: str) -> dict[str, str]:
        return clean_env(database_url=url, kafka_bootstrap=self.bootstrap,
                         data_dir=str(self.scratch / "ledger-data"), **ledger)

    async def ledger(self, name: str, env: dict[str, str], *args: str) -> tuple[ProcessRun, Any]:
        """Run ``ledger ARGS --json``; (measurement, its JSON answer)."""
        console.print(f"  ledger {' '.join(args)} ...")
        run = await run_process([sys.executable, "-m", "services.cli", *args, "--json"],
                                env=env, cwd=REPO, log_path=self.logs / f"{name}.log")
        if run.exit_code != 0:
            raise SystemExit(f"ledger {' '.join(args)} exited {run.exit_code}: "
                             f"{run.stdout[-2000:]!r}; see {self.logs / name}.log")
        return run, json.loads(run.stdout)

    async def in_schema(self, name: str, work: Callable[[str], Awaitable[dict[str, Any]]],
                        keep: bool) -> dict[str, Any]:
        """Run ``work(url)`` in a fresh, migrated schema of its own."""
        schema = f"bench_{self.run_id}_{name}"
        admin = await asyncpg.connect(self.pg_url)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = with_search_path(self.pg_url, schema)
            pool = await create_pool(url, max_size=1, run_migrations=True)
            await pool.close()
            return {"schema": schema} | await work(url)
        finally:
            if not keep:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await admin.close()


def measured(run: ProcessRun, items: int, nbytes: int | None = None) -> dict[str, Any]:
    out = {"items": items, "seconds": run.seconds, "items_per_s": items / run.seconds,
           "peak_rss_mb": run.peak_rss_mb, "cpu_s": run.cpu_s}
    if nbytes is not None:
        out |= {"bytes": nbytes, "mb_per_s": nbytes / MiB / run.seconds}
    return out


async def publish_file(bench: Bench, mib: int) -> dict[str, Any]:
    path = bench.scratch / "events.jsonl"
    console.print(f"(a) writing {mib:,} MiB of invoices to {path}")
    started = time.perf_counter()
    events, size = write_events_file(path, mib * MiB)
    generated = time.perf_counter() - started
    topic = f"bench.{bench.run_id}.billing"
    await create_topic(bench.bootstrap, topic)
    try:
        run, answer = await bench.ledger("publish", bench.env(bench.pg_url, topic_billing=topic),
                                         "publish", str(path))
    finally:
        await delete_topics(bench.bootstrap, [topic])  # frees the broker's memory
        path.unlink()
    if answer["published"] != events:
        raise SystemExit(f"published {answer['published']} of {events} events")
    return {"generate_s": generated, "publish": measured(run, events, size)}


async def republish_events(bench: Bench, count: int, keep: bool) -> dict[str, Any]:
    async def work(url: str) -> dict[str, Any]:
        console.print(f"(b) loading {count:,} journal events")
        started = time.perf_counter()
        pool = await create_pool(url, max_size=2)
        try:
            first = await load_journal_events(pool, count, on_loaded=lambda n: console.print(
                f"  {n:,} loaded ({time.perf_counter() - started:.0f}s)"))
        finally:
            await pool.close()
        loaded = time.perf_counter() - started
        topic = f"bench.{bench.run_id}.journal"
        await create_topic(bench.bootstrap, topic)
        try:
            run, answer = await bench.ledger("republish", bench.env(url, topic_journal=topic),
                                             "republish", "--from-position", str(first))
        finally:
            await delete_topics(bench.bootstrap, [topic])
        if answer["republished"] != count:
            raise SystemExit(f"republished {answer['republished']} of {count} events")
        return {"load_s": loaded, "republish": measured(run, count)}

    return await bench.in_schema("republish", work, keep)


async def dlq(bench: Bench, count: int, keep: bool) -> dict[str, Any]:
    async def work(url: str) -> dict[str, Any]:
        console.print(f"(c) loading {count:,} refused messages")
        started = time.perf_counter()
        pool = await create_pool(url, max_size=2)
        try:
            await load_refusals(pool, count, on_loaded=lambda n: console.print(
                f"  {n:,} loaded ({time.perf_counter() - started:.0f}s)"))
            last_page_after = await pool.fetchval(
                "SELECT event_position FROM rejected_messages ORDER BY event_position DESC "
                "OFFSET 100 LIMIT 1")
        finally:
            await pool.close()
        out: dict[str, Any] = {"load_s": time.perf_counter() - started}
        env = bench.env(url)
        console.print("  paging through the listing (bench.dlq_pager, 1000 a page) ...")
        paged = await run_process(
            [sys.executable, "-m", "bench.dlq_pager", "--database-url", url, "--limit", "1000"],
            env=env, cwd=REPO, log_path=bench.logs / "dlq-pager.log")
        report = json.loads(paged.stdout)
        if report["messages"] != count:
            raise SystemExit(f"paged through {report['messages']} of {count} messages")
        out["list_all"] = measured(paged, count) | {
            k: v for k, v in report.items() if k not in ("messages", "seconds")}
        first, answer = await bench.ledger("dlq-list-first", env, "dlq", "list")
        last, tail = await bench.ledger("dlq-list-last", env, "dlq", "list", "--after",
                                        str(last_page_after or 0))
        if len(answer) != 100 or len(tail) != 100:
            raise SystemExit(f"dlq list pages of {len(answer)} and {len(tail)}, not 100")
        out["list_first_page"] = measured(first, 100)
        out["list_last_page"] = measured(last, 100)
        pool = await create_pool(url, max_size=1)
        try:
            await create_org(pool, LATE_ORG)  # the cause fixed: every refusal can be stored
        finally:
            await pool.close()
        replayed, result = await bench.ledger("dlq-replay", env, "dlq", "replay")
        if (result["replayed"], result["stored"]) != (count, count):
            raise SystemExit(f"dlq replay: {result}")
        out["replay"] = measured(replayed, count)
        return out

    return await bench.in_schema("dlq", work, keep)


def report(result: dict[str, Any]) -> None:
    t = Table(title=f"bounded memory (target: peak RSS < {TARGET_RSS_MB:.0f} MB each; load "
                    f"average {result['loadavg_before'][0]:.1f} on {os.cpu_count()} cores)")
    for column in ("command", "items", "seconds", "items/s", "MB/s", "peak RSS MB"):
        t.add_column(column, justify="left" if column == "command" else "right")

    def row(label: str, m: dict[str, Any] | None) -> None:
        if m is None:
            return
        colour = "green" if m["peak_rss_mb"] < TARGET_RSS_MB else "red"
        t.add_row(label, f"{m['items']:,}", f"{m['seconds']:.1f}", f"{m['items_per_s']:,.0f}",
                  f"{m['mb_per_s']:.1f}" if "mb_per_s" in m else "",
                  f"[{colour}]{m['peak_rss_mb']:.0f}[/]")

    publish = result.get("publish", {})
    row(f"(a) ledger publish ({publish.get('publish', {}).get('bytes', 0) / MiB:,.0f} MiB file)",
        publish.get("publish"))
    row("(b) ledger republish --from-position", result.get("republish", {}).get("republish"))
    dlq_result = result.get("dlq", {})
    row("(c) DLQ listing paged through (1000 a page)", dlq_result.get("list_all"))
    row("(c) ledger dlq list (first page)", dlq_result.get("list_first_page"))
    row("(c) ledger dlq list --after (last page)", dlq_result.get("list_last_page"))
    row("(c) ledger dlq replay (all stored)", dlq_result.get("replay"))
    console.print(t)
    if "list_all" in dlq_result:
        paged = dlq_result["list_all"]
        console.print(f"DLQ pages of 1000: first {paged['first_page_ms']:.1f} ms, last "
                      f"{paged['last_page_ms']:.1f} ms, median {paged['median_page_ms']:.1f} "
                      f"ms, slowest {paged['max_page_ms']:.1f} ms; a `ledger dlq list` "
                      "command is mostly its start-up")


async def run_all(args: argparse.Namespace, bench: Bench, result: dict[str, Any]) -> None:
    conn = await asyncpg.connect(bench.pg_url)
    try:
        result["postgres"] = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    if args.publish_mb:
        result["publish"] = await publish_file(bench, args.publish_mb)
    if args.republish:
        result["republish"] = await republish_events(bench, args.republish, args.keep)
    if args.dlq:
        result["dlq"] = await dlq(bench, args.dlq, args.keep)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pg_url = os.environ.get("LEDGER_BENCH_DATABASE_URL") or LOCAL_DATABASE_URL
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS_DIR / f"logs-memory-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "benchmark": "memory", "started_at": stamp, "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")), "python": platform.python_version(),
        "cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), "args": vars(args),
        "target_rss_mb": TARGET_RSS_MB, "logs": str(logs),
    }
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-memory-")))
        bootstrap = os.environ.get("LEDGER_BENCH_KAFKA_BOOTSTRAP")
        result["kafka"] = f"external {bootstrap}"
        if not bootstrap:
            bootstrap = stack.enter_context(embedded_kafka(scratch / "tansu"))
            result["kafka"] = f"tansu (embedded, memory) {bootstrap}"
        asyncio.run(run_all(args, Bench(pg_url, bootstrap, logs, scratch), result))
    result["loadavg_after"] = os.getloadavg()
    report(result)
    path = RESULTS_DIR / f"memory-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
