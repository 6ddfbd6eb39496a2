"""``ledger api-keys``: create (the token is printed once), list, revoke."""

from __future__ import annotations

from typing import Any

import typer

from services.cli.output import JSON_OPTION, console, err_console, handles_errors, print_json, table
from services.cli.runtime import run_with_store
from services.commands import api_keys as key_commands

api_keys_app = typer.Typer(help="API keys of the HTTP API: a name and a role (viewer, operator).")


@api_keys_app.command("create")
@handles_errors()
def keys_create(
    name: str,
    role: str = typer.Option(..., "--role", help="viewer (GET only) or operator (every call)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a key and print its token, once: only its hash is kept."""
    key_commands.check_name(name)  # refused before any server is started
    key_commands.check_role(role)
    result = run_with_store(lambda _s, pool: key_commands.create_api_key(pool, name, role))
    if as_json:
        print_json(result)
        return
    err_console.print(f"created API key [bold]{result['name']}[/bold] ({result['role']}); its "
                      "token follows, shown this once: store it now")
    # The token alone on stdout: TOKEN=$(ledger api-keys create ...) captures just it.
    typer.echo(result["token"])


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@api_keys_app.command("list")
@handles_errors()
def keys_list(as_json: bool = JSON_OPTION) -> None:
    """Every key: name, role, created and revoked times (never a token or hash)."""
    keys = run_with_store(lambda _s, pool: key_commands.list_api_keys(pool))
    if as_json:
        print_json(keys)
        return
    console.print(table("API keys", ["name", "role", "created", "revoked"],
                        [[k["name"], k["role"], _when(k["created_at"]), _when(k["revoked_at"])]
                         for k in keys]))


@api_keys_app.command("revoke")
@handles_errors()
def keys_revoke(name: str, as_json: bool = JSON_OPTION) -> None:
    """Revoke a key: it stops working at once, in every running server."""
    key = run_with_store(lambda _s, pool: key_commands.revoke_api_key(pool, name))
    if as_json:
        print_json(key)
    else:
        console.print(f"revoked API key {key['name']} ({key['role']}) at "
                      f"{_when(key['revoked_at'])}")
