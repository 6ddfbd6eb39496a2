"""``Idempotency-Key`` for journal runs (docs/contract.md §4): a request retried with the same
key and body gets the run the first one made; the same key with another body is a conflict.

The key is claimed inside the run's own transaction, first thing, by inserting it: a
concurrent request with the same key waits on the table's primary key until the first
transaction ends. If it committed, the waiter answers with that run; if it rolled back (a
refused request writes nothing, its key included), the waiter runs itself. So one key never
makes two runs, and a refusal is not remembered: a corrected retry may use the same key.
Keys are forgotten after ``KEPT_FOR``, as Zuora does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from services.errors import Conflict, RejectedInput

KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255  # Zuora's limit

_FORGET = """
DELETE FROM journal_run_idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
"""
_CLAIM = """
INSERT INTO journal_run_idempotency_keys (key, body_hash) VALUES ($1, $2)
ON CONFLICT (key) DO NOTHING
RETURNING key
"""
_FIRST = "SELECT body_hash, journal_run FROM journal_run_idempotency_keys WHERE key = $1"
_REMEMBER = "UPDATE journal_run_idempotency_keys SET journal_run = $2 WHERE key = $1"


@dataclass(frozen=True, slots=True)
class RequestKey:
    """An ``Idempotency-Key`` and the hash of the request body it came with."""

    key: str
    body_hash: bytes

    @classmethod
    def of(cls, key: str, body: Mapping[str, Any]) -> RequestKey:
        """``body`` as parsed: the same JSON value hashes the same, whatever its spacing or
        key order."""
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise RejectedInput(
                "idempotency_key_invalid",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters, not blank",
            )
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return cls(key, hashlib.sha256(canonical.encode()).digest())


class AlreadyRun(Exception):
    """The key's first request made run ``number``; this one wrote nothing."""

    def __init__(self, number: str) -> None:
        super().__init__(f"Idempotency-Key already made {number}")
        self.number = number


async def claim(conn: asyncpg.Connection, request: RequestKey) -> None:
    """Take the key for the run this transaction is about to make.

    Raises ``AlreadyRun`` when a committed request with the same body made a run, and
    ``Conflict`` (``idempotency_key_reused``) when its body differed.
    """
    await conn.execute(_FORGET, KEPT_FOR.total_seconds())
    for _ in range(2):  # the first's row may expire between the insert and the read: retry
        if await conn.fetchval(_CLAIM, request.key, request.body_hash) is not None:
            return
        first = await conn.fetchrow(_FIRST, request.key)
        if first is None:
            continue
        if first["body_hash"] != request.body_hash:
            raise Conflict(
                "idempotency_key_reused",
                f"Idempotency-Key {request.key!r} was used for another request body (it made "
                f"{first['journal_run']}): use a new key for a new request",
            )
        raise AlreadyRun(first["journal_run"])
    raise RuntimeError(f"Idempotency-Key {request.key!r} could not be claimed")


async def remember(conn: asyncpg.Connection, request: RequestKey, number: str) -> None:
    """Record the run the key made; commits with the run."""
    await conn.execute(_REMEMBER, request.key, number)
