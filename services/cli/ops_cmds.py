"""``ledger replay``, ``projections rebuild``, ``republish``, ``dlq``, ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from services.cli.output import JSON_OPTION, console, handles_errors, print_json, table
from services.cli.runtime import run_with_store
from services.config import Settings
from services.errors import RejectedInput
from services.operations.dlq import (
    LIST_LIMIT,
    MAX_LIST_LIMIT,
    count_rejected,
    list_rejected,
    replay_rejected,
)
from services.operations.rebuild import rebuild, select
from services.operations.replay import ReplayStart, replay, replay_summary
from services.operations.republish import republish as republish_events
from services.operations.verify import verify as verify_ledger

projections_app = typer.Typer(help="Read models: rebuild from the event log.")
dlq_app = typer.Typer(help="Rejected inbound messages: list and replay.")


def progress(as_json: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=console, transient=True, disable=as_json)


@handles_errors()
def replay_command(
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    from_timestamp: str | None = typer.Option(None, "--from-timestamp",
                                              help="ISO 8601 with zone, e.g. 2024-05-01T00:00Z"),
    from_offset: str | None = typer.Option(None, "--from-offset", help="PARTITION:OFFSET"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-consume billing.events through the ingest path; stored events are no-ops."""
    start = ReplayStart.parse(from_beginning, from_timestamp, from_offset)

    async def work(settings: Settings, pool: asyncpg.Pool) -> dict[str, int]:
        with progress(as_json) as bar:
            task = bar.add_task("replaying", total=None)
            report = await replay(settings, pool, start,
                                  on_progress=lambda done, total: bar.update(task, completed=done,
                                                                             total=total))
        return replay_summary(report)

    result = run_with_store(work)
    if as_json:
        print_json(result)
    else:
        console.print(table("replay", ["read", "new", "duplicate", "rejected", "skipped (older)"],
                            [[result["read"], result["new"], result["duplicate"],
                              result["rejected"], result["skipped_older"]]]))


@projections_app.command("rebuild")
@handles_errors()
def rebuild_command(
    name: str | None = typer.Argument(None, help="One projection; all when omitted."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Drop and refold projections from the log. Ingest and commands pause until it commits."""
    names = [name] if name else None
    try:
        chosen = [p.name for p in select(names)]
    except ValueError as error:
        raise RejectedInput("projection_unknown", str(error)) from error

    async def work(_s: Settings, pool: asyncpg.Pool) -> int:
        with progress(as_json) as bar:
            task = bar.add_task("rebuilding " + ", ".join(chosen), total=None)
            async with pool.acquire() as conn:
                return await rebuild(conn, names, on_progress=lambda done, total: bar.update(
                    task, completed=done, total=total))

    head = run_with_store(work)
    if as_json:
        print_json({"rebuilt": chosen, "log_head": head})
    else:
        console.print(f"rebuilt {', '.join(chosen)} from {head} events")


@handles_errors()
def republish_command(
    run: str | None = typer.Option(None, "--run"),
    from_position: int | None = typer.Option(None, "--from-position"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send journal events again with their original event_ids."""

    async def work(settings: Settings, pool: asyncpg.Pool) -> dict[str, int]:
        with progress(as_json) as bar:
            task = bar.add_task("republishing", total=None)
            return await republish_events(
                pool, settings, settings.topic_journal, run=run, from_position=from_position,
                on_sent=lambda n: bar.advance(task, n),
                on_total=lambda total: bar.update(task, total=total))

    result = run_with_store(work)
    print_json(result) if as_json else console.print(
        f"republished {result['republished']} journal events")


@dlq_app.command("list")
@handles_errors()
def dlq_list(
    error: str | None = typer.Option(None, "--error", help="Only this error code."),
    limit: int = typer.Option(LIST_LIMIT, "--limit", help=f"At most this many (1 to "
                                                           f"{MAX_LIST_LIMIT})."),
    after: int = typer.Option(0, "--after", help="Start after this position (the last one "
                                                 "of the previous page)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Rejected messages with their reason and source, a page at a time, oldest first."""

    async def work(_s: Settings, pool: asyncpg.Pool) -> tuple[list[dict[str, Any]], int, bool]:
        page = await list_rejected(pool, error, after=after, limit=limit)
        if as_json:
            return page, 0, False
        more = len(page) == limit and bool(
            await list_rejected(pool, error, after=page[-1]["position"], limit=1))
        return page, (await count_rejected(pool, error))[0], more

    found, listed, more = run_with_store(work)
    if as_json:
        print_json(found)
        return
    shown = (f"{found[0]['position']}..{found[-1]['position']}" if found else "none")
    console.print(table(f"rejected messages (positions {shown}; {listed} listed)",
                        ["position", "source", "code", "field", "detail"],
                        [[r["position"], r["source"], r["error_code"], r["error_field"],
                          r["error_detail"]] for r in found]))
    if more:
        code = f" --error {error}" if error else ""
        console.print(f"next page: ledger dlq list --after {found[-1]['position']}"
                      f" --limit {limit}{code}", highlight=False)


@dlq_app.command("replay")
@handles_errors()
def dlq_replay(
    error: str | None = typer.Option(None, "--error", help="Only this error code."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Judge rejected messages again: stored ones leave the list, the rest get their new
    reason."""

    async def work(settings: Settings, pool: asyncpg.Pool) -> dict[str, Any]:
        with progress(as_json) as bar:
            task = bar.add_task("replaying the DLQ", total=None)
            return await replay_rejected(
                pool, max_bytes=settings.max_message_bytes, error_code=error,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total))

    result = run_with_store(work)
    if as_json:
        print_json(result)
    else:
        console.print(f"replayed {result['replayed']}: stored {result['stored']}, already "
                      f"stored {result['already_stored']}, still rejected "
                      f"{result['still_rejected']} {result['reasons']}")


@handles_errors()
def verify_command(
    outbox_max_age: int = typer.Option(5, "--outbox-max-age", help="Minutes."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-derive journals from the log and check every invariant; exit 1 on a violation."""

    async def work(settings: Settings, _pool: asyncpg.Pool) -> dict[str, Any]:
        with progress(as_json) as bar:
            task = bar.add_task("folding the log", total=None)
            return await verify_ledger(
                settings.database_dsn(), outbox_max_age_minutes=outbox_max_age,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total))

    result = run_with_store(work)
    if as_json:
        print_json(result)
    elif result["ok"]:
        console.print(f"[green]ok[/green]: every invariant holds over {result['log_head']} events")
    else:
        console.print(table("violations", ["check", "detail"],
                            [[v["check"], v["detail"]] for v in result["violations"]]))
    if not result["ok"]:
        raise typer.Exit(1)


def asyncapi_command(
    out: Path = typer.Option(Path("docs/asyncapi.yaml"), "--out", "-o"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the AsyncAPI document of the Kafka interface (generated by FastStream)."""
    from services.asyncapi import asyncapi_yaml
    from services.config import load_settings

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(asyncapi_yaml(load_settings()), encoding="utf-8")
    print_json({"written": str(out)}) if as_json else console.print(f"wrote {out}")
