"""``ledger journal-runs``, ``ledger journal-entries``, ``ledger pending``, ``ledger unlabeled``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import typer

from events.journal import (
    JournalEntryCreated,
    JournalEntryPreview,
    JournalRunCompleted,
    JournalRunPreview,
    utc_timestamp,
)
from events.journal_rules import JournalRunRequest
from services.cli.output import JSON_OPTION, console, handles_errors, print_json, table
from services.cli.runtime import run_with_store
from services.cli.setup_cmds import ORG_OPTION, parse_date
from services.config import Settings
from services.errors import RejectedInput
from services.journal import entries as entry_commands
from services.journal import views
from services.journal.reversal import reverse_entry
from services.journal.run import create_journal_run
from services.reports import pending_report, unlabeled_report

runs_app = typer.Typer(help="Journal runs: turn pending transactions into summary entries.")
entries_app = typer.Typer(help="Summary journal entries.")


def print_entries(
    entries: Sequence[JournalEntryCreated | JournalEntryPreview], title: str = "journal entries"
) -> None:
    rows: list[list[Any]] = []
    for e in (entry.document() for entry in entries):
        for i, line in enumerate(e["lines"]):
            head = i == 0
            rows.append([
                e["number"] if head else "", e["transaction_type"] if head else "",
                e["currency"] if head else "", e["transaction_count"] if head else "",
                line["account"],
                line["amount"] if line["side"] == "debit" else "",
                line["amount"] if line["side"] == "credit" else "",
                e["status"] if head else "",
            ])
    console.print(table(title, ["entry", "type", "currency", "count", "account", "debit",
                                "credit", "status"], rows))


def print_run(
    shown: JournalRunCompleted | JournalRunPreview, view: views.RunView | None = None
) -> None:
    run = shown.document()
    target = run["target"]
    created = "" if not run["number"] else (
        f"  created {run['created_at']} by {run['created_by'] or '(unknown)'}")
    console.print(
        f"[bold]{run['number'] or '(dry run)'}[/bold] {run['status']}  org "
        f"{run['org'] or '(unlabeled)'}  {target['period']} {target['start_date']}.."
        f"{target['end_date']}  JE date {run['journal_entry_date']}  "
        f"{run['transaction_count']} transactions  entries "
        f"{', '.join(run['journal_entry_numbers']) or '-'}{created}"
    )
    if view is not None and view.cancelled_at is not None:
        console.print(f"  cancelled {utc_timestamp(view.cancelled_at)} by "
                      f"{view.cancelled_by or '(unknown)'}")


def print_history(view: views.EntryView) -> None:
    """Who did what to an entry, and when: the audit lines under its table."""
    entry = view.data
    if entry.reverses:
        console.print(f"{entry.number} reverses {entry.reverses}")
    if view.transferred_at is not None:
        console.print(f"transferred (yes) {utc_timestamp(view.transferred_at)} by "
                      f"{view.transferred_by or '(unknown)'}")
    if view.cancelled_at is not None:
        console.print(f"cancelled {utc_timestamp(view.cancelled_at)} by "
                      f"{view.cancelled_by or '(unknown)'}")
    if view.reversed_at is not None:
        console.print(f"reversed by {view.reversal_entry} {utc_timestamp(view.reversed_at)} by "
                      f"{view.reversed_by or '(unknown)'}")


@runs_app.command("create")
@handles_errors()
def runs_create(
    types: str = typer.Option(..., "--types", help="Types or categories, comma-separated."),
    org: str | None = typer.Option(None, "--org"),
    period: str | None = typer.Option(
        None, "--period", help="Default: the scope's earliest open period."),
    on_date: str | None = typer.Option(None, "--date"),
    start: str | None = typer.Option(None, "--start"),
    end: str | None = typer.Option(None, "--end"),
    je_date: str | None = typer.Option(None, "--je-date"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the entries; write nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a journal run over one target: a period, a date, or a start..end range;
    with none, the scope's earliest open period."""
    request = JournalRunRequest(
        types=tuple(t.strip() for t in types.split(",") if t.strip()),
        org=org,
        period=period,
        date=parse_date(on_date, "--date") if on_date else None,
        start=parse_date(start, "--start") if start else None,
        end=parse_date(end, "--end") if end else None,
        journal_entry_date=parse_date(je_date, "--je-date") if je_date else None,
    )

    async def work(
        _s: Settings, pool: asyncpg.Pool
    ) -> tuple[JournalRunCompleted | JournalRunPreview, list[JournalEntryCreated]]:
        result = await create_journal_run(pool, request, dry_run=dry_run)
        if isinstance(result, JournalRunPreview):
            return result, []
        return result, await views.list_entries(pool, run=result.number)

    result, made = run_with_store(work)
    if as_json:
        print_json(result)  # a dry run's with its entries
        return
    print_run(result)
    entries = result.entries if isinstance(result, JournalRunPreview) else made
    if entries:
        print_entries(entries)


@runs_app.command("show")
@handles_errors()
def runs_show(number: str, as_json: bool = JSON_OPTION) -> None:
    """Show one journal run."""
    view = run_with_store(lambda _s, pool: views.get_run_view(pool, number))
    print_json(view.data) if as_json else print_run(view.data, view)


@runs_app.command("list")
@handles_errors()
def runs_list(
    org: str | None = typer.Option(None, "--org", help="Only this org's runs."),
    period: str | None = typer.Option(None, "--period", help="Only runs targeting it."),
    status: str | None = typer.Option(
        None, "--status", help="Only runs in this status (completed, cancelled, ...)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List journal runs in number order."""
    found = run_with_store(lambda _s, pool: views.list_run_views(
        pool, org=org, period=period, status=status))
    if as_json:
        print_json([view.data for view in found])
    else:
        for view in found:
            print_run(view.data, view)


@runs_app.command("cancel")
@handles_errors()
def runs_cancel(number: str, as_json: bool = JSON_OPTION) -> None:
    """Cancel a run's entries; transferred entries are kept and named."""
    result = run_with_store(lambda _s, pool: entry_commands.cancel_run(pool, number))
    if as_json:
        print_json(result)
    else:
        done = result.document()
        console.print(f"{number}: cancelled {', '.join(result.cancelled_entries) or 'none'}; "
                      f"kept {', '.join(result.kept_entries) or 'none'}; run {result.status}"
                      f" ({done['at']} by {done['by']})")


@entries_app.command("list")
@handles_errors()
def entries_list(
    run: str | None = typer.Option(None, "--run"),
    org: str | None = ORG_OPTION,
    period: str | None = typer.Option(
        None, "--period", help="Default: the scope's earliest open period."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List journal entries."""
    found = run_with_store(
        lambda _s, pool: views.list_entries(pool, run=run, org=org, period=period)
    )
    print_json(found) if as_json else print_entries(found)


@entries_app.command("show")
@handles_errors()
def entries_show(number: str, as_json: bool = JSON_OPTION) -> None:
    """Show one journal entry with its lines, and who transferred, cancelled or reversed
    it, when."""
    view = run_with_store(lambda _s, pool: views.get_entry_view(pool, number))
    if as_json:
        print_json(view.data)
        return
    print_entries([view.data], title=number)
    print_history(view)


@entries_app.command("cancel")
@handles_errors()
def entries_cancel(number: str, as_json: bool = JSON_OPTION) -> None:
    """Cancel an entry; its transactions go back to pending."""
    result = run_with_store(lambda _s, pool: entry_commands.cancel_entry(pool, number)).document()
    if as_json:
        # Keys in name order, as this command has always printed them (the stored event's).
        print_json(dict(sorted(result.items())))
    else:
        console.print(f"{number} cancelled; {result['released_transaction_count']} released "
                      f"({result['at']} by {result['by']})")


@entries_app.command("transfer")
@handles_errors()
def entries_transfer(
    number: str,
    status: str = typer.Option(..., "--status", help="no|processing|yes|error|ignore"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record the GL integration's transfer status of an entry."""
    result = run_with_store(
        lambda _s, pool: entry_commands.set_transfer_status(pool, number, status)
    ).document()
    if as_json:
        print_json(result)
    else:
        done = f" ({result['at']} by {result['by']})" if result["at"] else " (unchanged)"
        console.print(f"{number}: transfer status {result['from']} -> {result['to']}{done}")


@entries_app.command("reverse")
@handles_errors()
def entries_reverse(
    number: str,
    on_date: str | None = typer.Option(
        None, "--date", help="The reversal's journal entry date (default today); it must "
                             "fall in an open period of the entry's org."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Reverse an entry transferred to accounting (yes): a new entry of the same run with
    every line on the other side; the entry's transactions are pending again. With --json,
    prints the journal_entry.reversed data; `journal-entries show` the new entry."""
    day = parse_date(on_date, "--date") if on_date else None
    done = run_with_store(lambda _s, pool: reverse_entry(pool, number, day))
    reversed_ = done.reversed.model_dump(mode="json")
    if as_json:
        print_json(reversed_)
        return
    print_entries([done.entry], title=f"{done.entry.number} reverses {number}")
    console.print(f"{number} reversed by {done.entry.number} ({reversed_['at']} by "
                  f"{reversed_['by']}); {reversed_['released_transaction_count']} transactions "
                  "pending again")


@entries_app.command("export")
@handles_errors()
def entries_export(
    number: str,
    out: Path | None = typer.Option(None, "-o", "--output", help="File (stdout if omitted)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Transaction detail CSV of a created entry, streamed."""
    if as_json and out is None:
        raise RejectedInput("export_json_needs_output",
                            "--json prints one JSON document: name the CSV file with -o")

    async def work(_s: Settings, pool: asyncpg.Pool) -> int:
        if out is None:
            async def to_stdout(chunk: bytes) -> None:
                sys.stdout.buffer.write(chunk)

            return await entry_commands.export_entry_csv(pool, number, to_stdout)
        with out.open("wb") as handle:
            async def to_file(chunk: bytes) -> None:
                handle.write(chunk)

            return await entry_commands.export_entry_csv(pool, number, to_file)

    count = run_with_store(work)
    if out is not None:
        if as_json:
            print_json({"number": number, "file": str(out), "transaction_count": count})
        else:
            console.print(f"wrote {count} transactions of {number} to {out}")


@handles_errors()
def pending(org: str | None = ORG_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The pending set: counts and sums by scope, type and period; held and excluded too."""
    rows = run_with_store(lambda _s, pool: pending_report(pool, org))
    if as_json:
        print_json(rows)
        return
    console.print(table(
        "pending transactions",
        ["org", "type", "period", "currency", "state", "reason", "count", "amount"],
        [[r["org"] or "(unlabeled)", r["transaction_type"], r["period"], r["currency"],
          r["state"], r["reason"], r["count"], r["amount"]] for r in rows],
    ))


@handles_errors()
def unlabeled(as_json: bool = JSON_OPTION) -> None:
    """Reconciliation report: transactions in the unlabeled scope, per period."""
    rows = run_with_store(lambda _s, pool: unlabeled_report(pool))
    if as_json:
        print_json(rows)
        return
    console.print(table(
        "unlabeled transactions",
        ["period", "type", "id", "date", "amount", "currency", "document", "label", "state"],
        [[r["period"], r["transaction_type"], r["id"], r["date"], r["amount"], r["currency"],
          r["document_number"], r["org_label"], r["state"]] for r in rows],
    ))
