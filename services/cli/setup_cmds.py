"""``ledger settings``, ``ledger orgs``, ``ledger periods``."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import typer

from services.cli.output import JSON_OPTION, console, handles_errors, print_json, table
from services.cli.runtime import run_with_store
from services.cli.summary_view import summary_view
from services.commands import orgs as org_commands
from services.commands import periods as period_commands
from services.commands import settings as setting_commands
from services.config import Settings
from services.errors import RejectedInput
from services.period_summary import period_summary

settings_app = typer.Typer(help="Tenant-wide settings: settlement, harmonization, multi_org.")
orgs_app = typer.Typer(help="Org units (Multi-Org).")
periods_app = typer.Typer(help="Accounting periods of a scope (an org, or unlabeled).")

ORG_OPTION = typer.Option(None, "--org", help="Org unit; unlabeled scope when omitted.")


def _show_settings(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        console.print(table("settings", ["setting", "value"], [[k, v] for k, v in result.items()]))


@settings_app.command("show")
@handles_errors()
def settings_show(as_json: bool = JSON_OPTION) -> None:
    """Show the settings in force."""
    _show_settings(run_with_store(lambda _s, pool: setting_commands.show_settings(pool)), as_json)


@settings_app.command("set")
@handles_errors()
def settings_set(
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE pairs."),
    force: bool = typer.Option(
        False, "--force",
        help="Turn multi_org on even though transactions of types Multi-Org does not support "
             "are still unjournaled (recorded in the settings event).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change settings (recorded as an event). Settlement only moves forward (legacy ->
    invoice_settlement -> invoice_item_settlement); Multi-Org is one-way and waits for the
    legacy transactions to be journaled unless --force."""
    changes: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise RejectedInput("setting_syntax", f"expected KEY=VALUE, got {item!r}")
        changes[key.strip()] = value.strip()
    result = run_with_store(
        lambda _s, pool: setting_commands.set_settings(pool, changes, force=force))
    _show_settings(result, as_json)


@orgs_app.command("create")
@handles_errors()
def orgs_create(name: str, as_json: bool = JSON_OPTION) -> None:
    """Create an org unit and its open-ended period."""
    result = run_with_store(lambda _s, pool: org_commands.create_org(pool, name))
    if as_json:
        print_json(result)
    else:
        console.print(f"created org {result['name']} with its open-ended period")


@orgs_app.command("list")
@handles_errors()
def orgs_list(as_json: bool = JSON_OPTION) -> None:
    """List org units."""
    result = run_with_store(lambda _s, pool: org_commands.list_orgs(pool))
    if as_json:
        print_json(result)
    else:
        console.print(table("orgs", ["name"], [[o["name"]] for o in result]))


def _print_period(period: dict[str, Any], as_json: bool) -> None:
    """One period: a JSON object with --json (a list prints an array)."""
    if as_json:
        print_json(period)
    else:
        _print_periods([period], as_json)


def _print_periods(periods: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(periods)
        return
    console.print(table(
        "accounting periods",
        ["org", "name", "start", "end", "fiscal year", "quarter", "status"],
        [[p["org"] or "(unlabeled)", p["name"], p["start_date"], p["end_date"] or "(open-ended)",
          p["fiscal_year"], p["fiscal_quarter"], p["status"]] for p in periods],
    ))


@periods_app.command("create")
@handles_errors()
def periods_create(
    name: str = typer.Option(..., "--name"),
    start: str = typer.Option(..., "--start", help="YYYY-MM-DD"),
    end: str = typer.Option(..., "--end", help="YYYY-MM-DD"),
    fiscal_year: int = typer.Option(..., "--fiscal-year"),
    fiscal_quarter: int | None = typer.Option(None, "--fiscal-quarter"),
    org: str | None = ORG_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create the next accounting period (contiguous with the last one)."""
    start_date, end_date = parse_date(start, "--start"), parse_date(end, "--end")

    async def work(_s: Settings, pool: asyncpg.Pool) -> dict[str, Any]:
        return await period_commands.create_period(
            pool, org=org, name=name, start=start_date, end=end_date,
            fiscal_year=fiscal_year, fiscal_quarter=fiscal_quarter,
        )

    _print_period(run_with_store(work), as_json)


@periods_app.command("list")
@handles_errors()
def periods_list(org: str | None = ORG_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List the periods of a scope, oldest first, the open-ended one last."""
    _print_periods(run_with_store(lambda _s, pool: period_commands.list_periods(pool, org)),
                   as_json)


def _status_command(to: str, doc: str) -> Any:
    @handles_errors()
    def command(name: str, org: str | None = ORG_OPTION, as_json: bool = JSON_OPTION) -> None:
        result = run_with_store(
            lambda _s, pool: period_commands.change_period_status(pool, org=org, name=name, to=to)
        )
        _print_period(result, as_json)

    command.__doc__ = doc
    return command


periods_app.command("close")(_status_command("closed", "Close a period (earlier ones first)."))
periods_app.command("pending-close")(
    _status_command("pending_close", "Mark a period pending close (finance is reviewing).")
)
periods_app.command("reopen")(_status_command("open", "Reopen the latest closed period."))


@periods_app.command("summary")
@handles_errors()
def periods_summary(name: str, org: str | None = ORG_OPTION, as_json: bool = JSON_OPTION) -> None:
    """The month-end close check: per currency, each account's debit and credit over the
    entries dated in the period (not cancelled), the totals, and what is still pending,
    held or excluded there."""
    result = run_with_store(lambda _s, pool: period_summary(pool, name, org))
    if as_json:
        print_json(result)
    else:
        console.print(summary_view(result))


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise RejectedInput("date_invalid", f"{option} must be a date YYYY-MM-DD, not {text!r}") \
            from error
