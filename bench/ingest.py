"""Ingest benchmark: the real ledger ingest against a bare aiokafka→COPY pipe.

    .venv/bin/python -m bench.ingest [--events N] [--invoices M] [--lines L]

Two workloads (200,000 one-line invoices; 50,000 ten-line invoices by default), each in a
fresh schema ``bench_<hex>`` (dropped at the end) and a fresh 4-partition topic filled
before any timing. Each consumer runs as its own process, measured from outside
(``bench.measure``): ``python -m services.cli serve --ingest``, then ``python -m
bench.bare_pipe`` on the same topic with a fresh group.

Servers: PostgreSQL from ``LEDGER_BENCH_DATABASE_URL``, else 127.0.0.1:5432 user postgres;
Kafka from ``LEDGER_BENCH_KAFKA_BOOTSTRAP``, else Tansu (embedded, memory) on a free port.
Results: Rich tables on stdout, JSON in ``bench/results/ingest-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from bench.bare_pipe import create_tables
from bench.measure import Measurement, measure
from bench.report import RESULTS_DIR, WorkloadResult, print_result, write_json
from bench.workloads import Workload, produce
from services.config import Settings
from services.embedded import embedded_kafka
from services.store.migrate import migrate

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REPO = Path(__file__).resolve().parent.parent
BARE_TABLE = "bench_raw"
BARE_OFFSETS = "bench_offsets"

console = Console(width=None if sys.stdout.isatty() else 120)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000,
                        help="one-line invoices in the first workload (0 skips it)")
    parser.add_argument("--invoices", type=int, default=50_000,
                        help="invoices in the second workload (0 skips it)")
    parser.add_argument("--lines", type=int, default=10, help="lines per invoice (2nd workload)")
    parser.add_argument("--batch-max-records", type=int, default=None,
                        help="LEDGER_BATCH_MAX_RECORDS for the ingest and max_records for the "
                             "bare pipe (default: the ledger's own default)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds a consumer may take to store a workload")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy record the ingest's steady state into DIR")
    return parser.parse_args(argv)


def with_search_path(url: str, schema: str) -> str:
    """asyncpg passes unknown query parameters as server settings: every connection made from
    this URL, here or in a subprocess, works in ``schema``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "search_path"]
    query.append(("search_path", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def clean_env(**ledger: str) -> dict[str, str]:
    """This environment without any LEDGER_* of the caller's, plus ``ledger`` as LEDGER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({f"LEDGER_{k.upper()}": v for k, v in ledger.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def checkpoint(url: str) -> None:
    """Start each timed run with no dirty buffers left over from the previous one."""
    conn = await asyncpg.connect(url)
    try:
        with contextlib.suppress(asyncpg.PostgresError):  # needs superuser / pg_checkpoint
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {
            table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
            for table in ("events", "pending_transactions", "rejected_messages", BARE_TABLE)
        }
    finally:
        await conn.close()


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    except Exception as exc:  # best effort: the topics are unique to this run anyway
        console.print(f"[yellow]could not delete topics {topics}: {exc}[/yellow]")
    finally:
        await admin.close()


async def run_workload(
    args: argparse.Namespace, pg_url: str, bootstrap: str, workload: Workload, logs: Path
) -> WorkloadResult:
    run_id = uuid.uuid4().hex[:12]
    schema = f"bench_{run_id}"
    topic, dlq, group = f"bench.{run_id}.{workload.name}", f"bench.{run_id}.dlq", f"bench-{run_id}"
    url = with_search_path(pg_url, schema)
    admin = await asyncpg.connect(pg_url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        conn = await asyncpg.connect(url)
        try:  # schema ready before timing, as in production: start-up is not charged DDL
            await migrate(conn)
            await create_tables(conn, BARE_TABLE, BARE_OFFSETS)
        finally:
            await conn.close()
        console.print(f"[bold]{workload.name}[/bold]: producing {workload.events:,} events "
                      f"to {topic} (schema {schema})")
        produced = await produce(bootstrap, topic, workload)
        max_records = args.batch_max_records  # None: the ingest's own default, for both
        same_batches = max_records or Settings.model_fields["batch_max_records"].default
        ledger_env = {
            "database_url": url, "kafka_bootstrap": bootstrap, "topic_billing": topic,
            "topic_dlq": dlq, "consumer_group": group, "session_timeout_ms": "2000",
            "heartbeat_interval_ms": "300", "data_dir": str(logs / "ledger-data"),
        }
        if max_records is not None:
            ledger_env["batch_max_records"] = str(max_records)
        common: dict[str, Any] = {
            "cwd": REPO, "database_url": url, "expected": workload.events,
            "timeout_s": args.timeout,
        }
        await checkpoint(url)
        console.print(f"  ledger ingest ({workload.events:,} events) ...")
        profile = args.profile / f"ingest-{workload.name}.txt" if args.profile else None
        ingest: Measurement = await measure(
            [sys.executable, "-m", "services.cli", "serve", "--ingest"],
            env=clean_env(**ledger_env), table="events",
            stored_records=("consumer_offsets", group, topic),
            log_path=logs / f"ingest-{workload.name}.log", profile_path=profile, **common,
        )
        await checkpoint(url)
        console.print("  bare pipe ...")
        bare = await measure(
            [sys.executable, "-m", "bench.bare_pipe", "--bootstrap", bootstrap, "--topic", topic,
             "--group", f"{group}-bare", "--database-url", url, "--table", BARE_TABLE,
             "--offsets-table", BARE_OFFSETS, "--max-records", str(same_batches)],
            env=clean_env(), table=BARE_TABLE,
            stored_records=(BARE_OFFSETS, f"{group}-bare", topic),
            log_path=logs / f"bare-{workload.name}.log", **common,
        )
        console.print("  replay of the stored events ...")
        replayed = await replay_stored(ledger_env, logs / f"replay-{workload.name}.log")
        checks = await counts(url)
        if checks["pending_transactions"] != workload.total_lines or checks["rejected_messages"]:
            console.print(f"[red]unexpected store contents: {checks}[/red]")
        if replayed["new"] or replayed["read"] != workload.events:
            console.print(f"[red]replay stored something or missed events: {replayed}[/red]")
        return WorkloadResult(workload, produced, ingest, bare, checks, replayed)
    finally:
        await admin.execute("SET lock_timeout = '10s'")
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
        await delete_topics(bootstrap, [topic, dlq])


async def replay_stored(ledger_env: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Time ``ledger replay --from-beginning`` over events that are all stored already."""
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "replay", "--from-beginning", "--json",
            env=clean_env(**ledger_env), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
        )
        out, _ = await proc.communicate()
        seconds = time.perf_counter() - started
    report: dict[str, Any] = json.loads(out)
    return report | {"seconds": seconds, "exit_code": proc.returncode}


def _git(*argv: str) -> str:
    try:
        out = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


async def server_version(pg_url: str) -> str:
    conn = await asyncpg.connect(pg_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def run_all(args: argparse.Namespace, pg_url: str, bootstrap: str, kafka: str) -> Path:
    workloads = [
        w for w in (Workload("events", args.events, 1), Workload("invoices", args.invoices,
                                                                 args.lines))
        if w.events > 0
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS_DIR / f"logs-{stamp}"
    logs.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "benchmark": "ingest",
        "started_at": stamp,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        # identifies uncommitted changes to the measured code (others edit it concurrently)
        "code_diff_sha256": hashlib.sha256(
            _git("diff", "HEAD", "--", "events", "projections", "services").encode()
        ).hexdigest()[:16],
        "batch_max_records": args.batch_max_records
        or Settings.model_fields["batch_max_records"].default,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "postgres": await server_version(pg_url),
        "kafka": kafka,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "logs": str(logs),
    }
    results = []
    for workload in workloads:
        result = await run_workload(args, pg_url, bootstrap, workload, logs)
        print_result(console, result)
        results.append(result)
    return write_json(meta, results)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pg_url = os.environ.get("LEDGER_BENCH_DATABASE_URL") or LOCAL_DATABASE_URL
    with ExitStack() as stack:
        bootstrap = os.environ.get("LEDGER_BENCH_KAFKA_BOOTSTRAP")
        kafka = f"external {bootstrap}"
        if not bootstrap:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
            bootstrap = stack.enter_context(embedded_kafka(tmp))
            kafka = f"tansu (embedded, memory) {bootstrap}"
        path = asyncio.run(run_all(args, pg_url, bootstrap, kafka))
    console.print(f"results written to {path}")


if __name__ == "__main__":
    main()
