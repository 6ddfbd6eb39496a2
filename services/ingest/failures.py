"""What a failure to store a batch says, and so what the writer does about it. No I/O.

docs/design.md, "Failures are classified, not retried blindly": retrying everything turns one
message the database cannot hold into an ingest that retries it forever and stores nothing
after it; stopping on everything turns a failover into an outage. So:

- ``TRANSIENT``: the database (or the DLQ's broker) is away, busy or shutting down, and the
  same batch will go through later. Retried with backoff, counted, nothing skipped.
- ``CONTENT``: the database refused what a message holds (a data exception, a program limit,
  a constraint no judging foresaw). The batch is split until that message is found; it is
  refused as ``unstorable`` and its neighbours are stored.
- ``BUG``: anything else. Retrying cannot help and refusing messages would hide it: the
  ingest stops and resumes at the stored offsets once restarted.
"""

from __future__ import annotations

from enum import StrEnum

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

__all__ = [
    "CONTENT_CLASSES",
    "TRANSIENT_CLASSES",
    "UNIQUE_VIOLATION",
    "Failure",
    "classify_failure",
    "failure_reason",
    "unstorable_detail",
]

#: SQLSTATE classes of a database that is away or busy: connection exception, transaction
#: rollback (serialization, deadlock), insufficient resources, operator intervention
#: (shutdown, cancel, cannot connect now), system error (I/O).
TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
#: SQLSTATE classes of a refusal of the data itself: data exception, integrity constraint
#: violation, program limit exceeded (an index row or a value too large).
CONTENT_CLASSES = frozenset({"22", "23", "54"})
#: ... except a unique violation: the keys it guards are the ones the writer judges, and it
#: judges a batch again after one (another writer stored the same event meanwhile). One it
#: still meets after that is its own judging's fault, not the message's.
UNIQUE_VIOLATION = "23505"

#: The longest database message kept as an unstorable message's detail: some messages
#: quote the value they refused, and that value may be a message's worth of text.
DETAIL_MAX_CHARS = 500

# asyncpg reports a connection that died under it this way when there is no SQLSTATE to give.
_DEAD_CONNECTION = ("connection is closed", "connection was closed")


class Failure(StrEnum):
    TRANSIENT = "transient"
    CONTENT = "content"
    BUG = "bug"


def classify_failure(error: BaseException) -> Failure:
    """Which of the three a failure to store (or to send a refusal to the DLQ) is."""
    if isinstance(error, asyncpg.PostgresError):
        state = _sqlstate_class(error)
        if state in TRANSIENT_CLASSES:
            return Failure.TRANSIENT
        if state in CONTENT_CLASSES and error.sqlstate != UNIQUE_VIOLATION:
            return Failure.CONTENT
        return Failure.BUG
    if _connection_lost(error) or _kafka_unavailable(error):
        return Failure.TRANSIENT
    return Failure.BUG


def failure_reason(error: BaseException) -> str:
    """A short label for metrics and logs: the SQLSTATE class (``"08"``, ``"40"``, ...), else
    ``connection`` (no SQLSTATE: the connection itself failed) or ``kafka``."""
    if isinstance(error, asyncpg.PostgresError):
        return _sqlstate_class(error) or "unknown"
    if isinstance(error, KafkaError):
        return "kafka"
    if _connection_lost(error):
        return "connection"
    return type(error).__name__


def unstorable_detail(error: BaseException) -> str:
    """The database's own words for a refused message, with its SQLSTATE, bounded."""
    if isinstance(error, asyncpg.PostgresError):
        message = str(getattr(error, "message", None) or error)
        code = f"SQLSTATE {error.sqlstate}"
    else:
        message, code = str(error), f"{type(error).__name__}, no SQLSTATE"
    if len(message) > DETAIL_MAX_CHARS:
        message = f"{message[:DETAIL_MAX_CHARS]}... ({len(message)} characters)"
    return f"the database refused it: {message} ({code})"


def _sqlstate_class(error: asyncpg.PostgresError) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state[:2] if isinstance(state, str) and len(state) == 5 else None


def _connection_lost(error: BaseException) -> bool:
    if isinstance(error, OSError):  # ConnectionError, TimeoutError, refused, unreachable
        return True
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error)
        return any(words in text for words in _DEAD_CONNECTION)
    return False


def _kafka_unavailable(error: BaseException) -> bool:
    """The DLQ's broker is away or slow: aiokafka marks most such errors retriable, but not
    its own timeout or a connection that could not be made."""
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)
