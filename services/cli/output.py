"""How every command answers: Rich for people, exactly one JSON document with ``--json``."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from services.errors import LedgerError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False)
    for column in columns:
        justify = "right" if column.lower() in {"count", "amount", "sum", "lag", "debit",
                                                "credit", "offset"} else "left"
        t.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def handles_errors(as_json_param: str = "as_json") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a LedgerError into its exit code and message (JSON error object with --json)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except LedgerError as error:
                if kwargs.get(as_json_param):
                    print_json(error.to_dict())
                else:
                    err_console.print(
                        f"[red]error[/red] [bold]{error.code}[/bold]: {error.message}"
                    )
                raise typer.Exit(error.exit_code) from error

        return wrapper

    return decorate
