"""Errors a command can answer with; each carries a stable code and the CLI exit code."""

from __future__ import annotations


class LedgerError(Exception):
    """Base: a refusal that names the rule it enforces."""

    exit_code = 1
    http_status = 500

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class RejectedInput(LedgerError):
    exit_code = 2
    http_status = 400


class NotFound(LedgerError):
    exit_code = 3
    http_status = 404


class Conflict(LedgerError):
    exit_code = 4
    http_status = 409
