"""Every refusal as ``{"success": false, "reasons": [{"code", "message"}]}``.

A command handler's ``LedgerError`` keeps its code and status (400 rejected, 404 not found,
409 conflict); a request the models refuse is a 400 ``request_invalid`` naming the field;
an unknown route or method keeps its HTTP status.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.api.models import ErrorAnswer, Reason
from services.errors import LedgerError

#: For route decorators: the error shape in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorAnswer, "description": "Rejected: the reason names the rule."},
    404: {"model": ErrorAnswer, "description": "Not found."},
    409: {"model": ErrorAnswer, "description": "Conflict with the current state."},
    503: {"model": ErrorAnswer,
          "description": "`unavailable`: PostgreSQL is away or no connection is free in time."},
}

_HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed"}


def error_response(
    status: int, reasons: list[tuple[str, str]], **extra: Any
) -> JSONResponse:
    body = ErrorAnswer(reasons=[Reason(code=c, message=m) for c, m in reasons])
    return JSONResponse(body.model_dump() | extra, status_code=status)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _ledger_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
    return error_response(error.http_status, [(error.code, error.message)])


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    reasons = [("request_invalid", f"{_field(e['loc'])}: {e['msg']}") for e in error.errors()]
    return error_response(400, reasons or [("request_invalid", "invalid request")])


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    return error_response(error.status_code, [(code, str(error.detail))])


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    # Starlette re-raises after answering, so the server logs the traceback once.
    return error_response(500, [("internal_error", f"{type(error).__name__}: see the log")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
