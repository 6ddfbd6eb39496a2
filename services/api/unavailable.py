"""503 ``unavailable`` while PostgreSQL is away (docs/contract.md §4), never a 500.

"Away" is whatever a different request could not fix: the connection refused, reset or
lost; the pool closed; the server starting, shutting down or cancelling the statement
(SQLSTATE class 57: ``CannotConnectNow``, ``AdminShutdown``, a ``statement_timeout``);
out of connections or resources (class 53); no connection free within the pool's wait
limit (``TimeoutError``). The answer names none of the driver's detail (host names, ports,
users): the log has it, for the operator.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.api.errors import error_response

log = logging.getLogger("ledger.api")

CODE = "unavailable"

#: Exception types that always mean "PostgreSQL is away or overloaded".
AWAY: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, unreachable, name not resolved
    TimeoutError,  # no free connection in time; a connect or an export that timed out
    asyncpg.PostgresConnectionError,  # class 08, and a connection lost mid-statement
    asyncpg.exceptions.OperatorInterventionError,  # class 57
    asyncpg.exceptions.InsufficientResourcesError,  # class 53
)


def is_away(error: BaseException) -> bool:
    """Also an ``InterfaceError`` about a closed pool or connection; other interface errors
    are the program's bugs (500)."""
    if isinstance(error, AWAY):
        return True
    return isinstance(error, asyncpg.InterfaceError) and any(
        word in str(error) for word in ("closed", "closing"))


def unavailable_message(error: BaseException) -> str:
    """What a 503 says: why, without the driver's detail."""
    if isinstance(error, asyncpg.exceptions.QueryCanceledError):
        return "the database took longer than the API allows; try again later"
    if isinstance(error, TimeoutError):
        return "no database connection became free in time; try again later"
    return "the database is unavailable; try again later"


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    if not is_away(error):
        raise error  # a bug: the 500 handler answers and the server logs it
    log.warning("%s %s: 503 unavailable (%s: %s)", request.method, request.url.path,
                type(error).__name__, error)
    return error_response(503, [(CODE, unavailable_message(error))])


def install_unavailable_handler(app: FastAPI) -> None:
    for kind in (*AWAY, asyncpg.InterfaceError):
        app.add_exception_handler(kind, _unavailable)
