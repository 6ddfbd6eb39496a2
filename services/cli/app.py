"""The ``ledger`` command line (docs/contract.md §3): every command, assembled into one Typer
app."""

from __future__ import annotations

import typer

from services.actor import os_user, reset_actor, set_actor
from services.cli import (
    api_key_cmds,
    demo,
    journal_cmds,
    migrate_cmd,
    ops_cmds,
    pipeline,
    setup_cmds,
)
from services.cli.output import LedgerTyper, set_debug
from services.config import load_settings
from services.logs import quiet_library_logs
from services.version import ledger_version

app = LedgerTyper(
    name="ledger",
    help="billing-ledger: billing events in, balanced summary journal entries out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def cli_actor() -> str:
    """Who a command acts as: ``LEDGER_ACTOR`` (environment or ``.env``), else the OS user."""
    try:
        configured = load_settings().actor
    except Exception:  # settings the command itself refuses, with its own message and exit
        configured = None
    return (configured or "").strip() or os_user()


def _print_version(asked: bool) -> None:
    if asked:
        print(ledger_version())
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of every error."),
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                  help="Print the ledger's version and exit."),
) -> None:
    # No docstring: it would replace the app's help. Runs before every command: each
    # command event it writes records the actor (services.actor).
    set_debug(debug)
    quiet_library_logs()
    token = set_actor(cli_actor())
    ctx.call_on_close(lambda: reset_actor(token))


app.command("migrate")(migrate_cmd.migrate_command)
app.command()(pipeline.publish)
app.command()(pipeline.serve)
app.command()(pipeline.status)
app.command()(pipeline.schema)
app.add_typer(setup_cmds.settings_app, name="settings")
app.add_typer(setup_cmds.orgs_app, name="orgs")
app.add_typer(setup_cmds.periods_app, name="periods")
app.add_typer(api_key_cmds.api_keys_app, name="api-keys")
app.add_typer(journal_cmds.runs_app, name="journal-runs")
app.add_typer(journal_cmds.entries_app, name="journal-entries")
app.command()(journal_cmds.pending)
app.command()(journal_cmds.unlabeled)
app.command("replay")(ops_cmds.replay_command)
app.add_typer(ops_cmds.projections_app, name="projections")
app.command("republish")(ops_cmds.republish_command)
app.add_typer(ops_cmds.dlq_app, name="dlq")
app.command("verify")(ops_cmds.verify_command)
app.command("asyncapi")(ops_cmds.asyncapi_command)
app.command()(demo.demo)

__all__ = ["app"]
