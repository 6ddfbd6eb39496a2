"""Commands that move billing events: publish, serve, status, schema."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import typer
from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from services import jsonl
from services.cli.output import (
    JSON_OPTION,
    console,
    handles_errors,
    print_json,
    table,
)
from services.cli.runtime import run_with_store
from services.config import Settings, load_settings
from services.embedded import resolved_servers
from services.errors import NotFound
from services.ingest.app import install_stop_signals, run_ingest
from services.kafka_io import KAFKA_MESSAGE_CEILING, publish_values
from services.logs import configure_logging
from services.pools import part_pools
from services.publisher import run_publisher
from services.status import status_report

log = logging.getLogger("ledger.serve")


def publish(
    file: Path = typer.Argument(..., help="JSON Lines file, one billing event per line."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send billing events to Kafka, keyed by org (tests, backfills)."""
    _publish(file, as_json=as_json)


@handles_errors()
def _publish(file: Path, as_json: bool) -> None:
    if not file.is_file():
        raise NotFound("file_not_found", f"no such file: {file}")
    with (resolved_servers(load_settings()) as settings,
          file.open("rb", buffering=jsonl.READ_BUFFER) as handle,
          Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                   console=console, transient=True, disable=as_json) as progress):
        task = progress.add_task("publishing", total=file.stat().st_size)
        lines = jsonl.values(handle, KAFKA_MESSAGE_CEILING,
                             on_read=lambda n: progress.advance(task, n))
        sent = asyncio.run(publish_values(settings, settings.topic_billing, lines))
    if as_json:
        print_json({"published": sent, "topic": settings.topic_billing})
    else:
        console.print(f"published {sent} events to {settings.topic_billing}")


def serve(
    ingest: bool = typer.Option(False, "--ingest", help="Consume billing.events."),
    publisher: bool = typer.Option(False, "--publisher", help="Relay the outbox to Kafka."),
    api: bool = typer.Option(False, "--api", help="Serve the HTTP API and /metrics."),
) -> None:
    """Run the service (all parts when none is named) until SIGTERM."""
    _serve(ingest, publisher, api)


@handles_errors()
def _serve(ingest: bool, publisher: bool, api: bool) -> None:
    everything = not (ingest or publisher or api)
    settings = load_settings()
    configure_logging(settings)

    async def work(settings: Settings, pool: asyncpg.Pool) -> None:
        named = {name for name, on in (("ingest", ingest), ("publisher", publisher),
                                       ("api", api)) if on or everything}
        async with part_pools(settings, pool, named) as pools:  # a pool per part
            await serve_parts(settings, pools)

    async def serve_parts(settings: Settings, pools: dict[str, asyncpg.Pool]) -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        parts: dict[str, Coroutine[Any, Any, Any]] = {}
        if ingest or everything:
            parts["ingest"] = run_ingest(settings, pools["ingest"], stop)
        if publisher or everything:
            parts["publisher"] = run_publisher(pools["publisher"], settings,
                                               settings.topic_journal, stop)
        if api or everything:
            from services.api.server import run_api  # FastAPI loads only when serving it

            parts["api"] = run_api(settings, pools["api"], stop)
            log.info("HTTP API and /metrics on %s:%d", settings.http_host, settings.http_port)
        log.info("serving: %s", ", ".join(parts))
        await run_parts(parts, stop)
        log.info("stopped")

    run_with_store(work, migrate=True, settings=settings)  # serve migrates at start


async def run_parts(parts: dict[str, Coroutine[Any, Any, Any]], stop: asyncio.Event) -> None:
    """Run every part until ``stop``; if one fails, stop the others gracefully (they finish
    what they have in hand, as on SIGTERM) and raise its error."""
    tasks = [asyncio.create_task(coro, name=name) for name, coro in parts.items()]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [task for task in done if task.exception() is not None]
        for task in failed:
            log.error("%s failed; stopping the others", task.get_name())
        if failed:
            stop.set()
        outcomes = dict(zip(tasks, await asyncio.gather(*tasks, return_exceptions=True),
                            strict=True))
        for task, outcome in outcomes.items():
            if isinstance(outcome, BaseException) and task not in failed:
                log.error("%s failed while stopping: %r", task.get_name(), outcome)
                failed.append(task)
        if failed:
            raise outcomes[failed[0]]  # the first to fail; the others are in the log
    finally:
        for task in tasks:
            task.cancel()


@handles_errors()
def status(as_json: bool = JSON_OPTION) -> None:
    """Consumer lag, store head, outbox backlog, pending (per org), DLQ, last run per org."""
    report = run_with_store(status_report)
    if as_json:
        print_json(report)
        return
    console.print(
        f"store head [bold]{report['store_head']}[/bold]  lag [bold]{report['lag']}[/bold]  "
        f"pending {report['pending']}  dlq {report['dlq']}  outbox {report['outbox_backlog']}"
    )
    console.print(
        table(
            "billing.events partitions",
            ["partition", "stored offset", "end offset", "lag"],
            [[p["partition"], p["stored_offset"], p["end_offset"], p["lag"]]
             for p in report["partitions"]],
        )
    )
    console.print(table("pending by org label", ["org", "pending"],
                        [[p["org"] or "(unlabeled)", p["pending"]]
                         for p in report["pending_by_org"]]))
    console.print(table("last journal run per org", ["org", "run", "status", "period", "count"],
                        [[r["org"] or "(unlabeled)", r["number"], r["status"], r["period"],
                          r["transaction_count"]] for r in report["last_journal_runs"]]))


def schema(
    out: Path = typer.Option(Path("docs/schemas"), "--out", "-o", help="Folder to write into."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the JSON Schema of every event (inbound and outbound) to a folder."""
    from events import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in sorted(json_schemas().items()):
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(str(path))
    if as_json:
        print_json({"written": written})
    else:
        console.print(f"wrote {len(written)} schemas to {out}")
