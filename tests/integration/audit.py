"""Checking the who and when a command records (``at``/``by``, ``created_at``/``created_by``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

#: How the ledger writes a command's time: RFC 3339, UTC, microseconds, ``Z``.
UTC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def parse_stamp(text: str) -> datetime:
    assert UTC_TIMESTAMP.match(text), text
    return datetime.fromisoformat(text)


def unstamped(
    data: dict[str, Any], actor: str, since: datetime, *, keys: tuple[str, str] = ("at", "by")
) -> dict[str, Any]:
    """``data`` without its time and actor, once they are checked: the actor is ``actor``,
    and the time is UTC, written as the ledger writes it, between ``since`` and now."""
    at_key, by_key = keys
    rest = {k: v for k, v in data.items() if k not in keys}
    assert data[by_key] == actor, (data[by_key], actor)
    at = parse_stamp(data[at_key])
    assert since <= at <= datetime.now(UTC), (since, at)
    return rest


def run_unstamped(run: dict[str, Any], actor: str, since: datetime) -> dict[str, Any]:
    return unstamped(run, actor, since, keys=("created_at", "created_by"))
