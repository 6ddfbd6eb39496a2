"""Commands that move billing events: publish, serve, status, schema."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

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
from services.config import load_settings
from services.embedded import resolved_servers
from services.errors import NotFound
from services.kafka_io import KAFKA_MESSAGE_CEILING, publish_values
from services.logs import configure_logging
from services.operations.status import status_report
from services.serve import PARTS
from services.serve import serve as run_service


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
    named = [name for name, on in zip(PARTS, (ingest, publisher, api), strict=True)
             if on or everything]
    run_with_store(functools.partial(run_service, parts=named), migrate=True,
                   settings=settings)  # serve migrates at start


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
