"""How every command answers: Rich for people, exactly one JSON document with ``--json``."""

from __future__ import annotations

import functools
import json
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import asyncpg
import typer
from aiokafka.errors import KafkaConnectionError
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.errors import LedgerError
from services.logs import KAFKA_LAST_ERROR

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

#: The error code of an unexpected failure (exit 1; the traceback goes to stderr).
FAILURE = "failure"
#: The error code when PostgreSQL or Kafka cannot be reached (exit 1, no traceback).
UNAVAILABLE_CODE = "unavailable"
UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError, socket.gaierror, TimeoutError, KafkaConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
)
KAFKA_SETTING = "LEDGER_KAFKA_BOOTSTRAP"
DATABASE_SETTING = "LEDGER_DATABASE_URL"


class _Options:
    #: ``ledger --debug``: tracebacks for every error, expected ones included.
    debug = False


def set_debug(on: bool) -> None:
    """Called by the root command with its ``--debug`` flag."""
    _Options.debug = on


JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):  # the ledger's models print as they are emitted
        return value.model_dump(mode="json", by_alias=True)
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
    """Turn a LedgerError into its exit code and one line (JSON error object with --json).

    Servers that cannot be reached are ``unavailable`` (exit 1), in one line naming the
    setting when it is known, without a traceback. Anything else is a failure (exit 1): its
    traceback goes to stderr and, with --json, stdout still gets exactly one document,
    ``{"error": {"code": "failure", ...}}``. ``ledger --debug`` shows every traceback.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except (typer.Exit, typer.Abort, typer.TyperException):
                raise
            except Exception as error:
                known = as_ledger_error(error)
                if _Options.debug or known is None:
                    traceback.print_exception(error, file=sys.stderr)
                answer = known or LedgerError(FAILURE, f"{type(error).__name__}: {error}")
                if kwargs.get(as_json_param):
                    print_json(answer.to_dict())
                else:
                    prefix = ("[red]error[/red] [bold]" + answer.code + "[/bold]"
                              if isinstance(error, LedgerError) else "[red]failed[/red]")
                    # one line however long: no wrapping at the (non-)terminal's width
                    err_console.print(f"{prefix}: {escape(answer.message)}",
                                      soft_wrap=True, highlight=False)
                raise typer.Exit(answer.exit_code) from error

        return wrapper

    return decorate


def as_ledger_error(error: Exception) -> LedgerError | None:
    """The error to answer with, if ``error`` is an expected one (no traceback needed)."""
    if isinstance(error, LedgerError):
        return error
    if isinstance(error, KafkaConnectionError):
        detail = str(error).removeprefix("KafkaConnectionError: ")
        if KAFKA_LAST_ERROR.last:
            detail += f" (last error: {KAFKA_LAST_ERROR.last})"
        return LedgerError(UNAVAILABLE_CODE, f"{KAFKA_SETTING}: no Kafka broker answers: "
                                             f"{detail}")
    if isinstance(error, asyncpg.CannotConnectNowError | asyncpg.ConnectionDoesNotExistError):
        return LedgerError(UNAVAILABLE_CODE, f"{DATABASE_SETTING}: PostgreSQL went away: "
                                             f"{type(error).__name__}: {error}")
    if isinstance(error, UNAVAILABLE):
        return LedgerError(UNAVAILABLE_CODE, f"{type(error).__name__}: {error}")
    return None


class LedgerTyper(typer.Typer):
    """A Typer app whose usage errors, too, answer with one JSON document under --json."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "--json" not in sys.argv[1:] or "standalone_mode" in kwargs:
            return super().__call__(*args, **kwargs)
        try:
            result = super().__call__(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:  # typer's click: UsageError, BadParameter, ...
            format_message = getattr(error, "format_message", None)
            message = format_message() if callable(format_message) else str(error)
            exit_code = int(getattr(error, "exit_code", 2))
            print_json({"error": {"code": "usage", "message": message}})
            err_console.print(f"[red]usage[/red]: {message}")
            sys.exit(exit_code)
        except typer.Abort:
            print_json({"error": {"code": "aborted", "message": "aborted"}})
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)
