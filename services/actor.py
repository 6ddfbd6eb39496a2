"""Who is acting: recorded in the metadata of every command event (docs/design.md, Security).

A context variable, so it follows the work without being passed through every command
handler: the HTTP API sets it to the API key's name for the duration of a request, the CLI
to ``LEDGER_ACTOR`` (or the OS user) for the duration of a command. asyncio tasks started
inside (a journal run, a CSV export) inherit it. Work that nobody set it for acts as the
process's OS user.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

__all__ = ["acting_as", "current_actor", "os_user", "reset_actor", "set_actor"]

#: Recorded when the OS cannot name the user (a container running as an unnamed uid).
UNKNOWN = "unknown"

_ACTOR: ContextVar[str | None] = ContextVar("ledger_actor", default=None)


def os_user() -> str:
    """The login name of this process, as ``getpass`` finds it (LOGNAME, USER, ..., pwd)."""
    try:
        return getpass.getuser() or UNKNOWN
    except (OSError, KeyError):  # no such variables and no passwd entry for the uid
        return UNKNOWN


def current_actor() -> str:
    """The actor set for this context, else the OS user."""
    return _ACTOR.get() or os_user()


def set_actor(name: str) -> Token[str | None]:
    """Set the actor for this context until ``reset_actor(token)`` (or use ``acting_as``)."""
    return _ACTOR.set(name)


def reset_actor(token: Token[str | None]) -> None:
    _ACTOR.reset(token)


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Everything inside, and every task started inside, acts as ``name``."""
    token = set_actor(name)
    try:
        yield
    finally:
        reset_actor(token)
