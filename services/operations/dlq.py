"""``ledger dlq``: list refused messages and replay them once their cause is fixed.

A replayed message goes through the same judgement and failure handling as the ingest
(nothing is special-cased): stored now, it leaves the listing (``rejected_message.resolved``);
refused again, it stays with its new reason (``rejected_message.retried``). Consumer offsets
do not move.

Both work a page at a time, in the order the messages were refused, so neither holds the
whole DLQ however large it grows: ``ledger dlq list`` shows one page and where the next one
starts (``--after``), ``ledger dlq replay`` judges one page per transaction.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from events.rejections import RejectedMessageResolved, RejectedMessageRetried
from services.commands.recording import command_event
from services.errors import NotFound, RejectedInput
from services.ingest.classify import Parsed, parse_all
from services.ingest.records import InboundRecord, rejected_stream, rejection_event_id
from services.ingest.recovery import COMMAND_ATTEMPTS, retry_transient, store_isolating
from services.ingest.writer import judge
from services.store.unit_of_work import unit_of_work

#: Messages per page of ``ledger dlq list`` unless told, and the most it will show at once.
LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
#: Messages per transaction of ``ledger dlq replay``, and the most bytes of message values
#: one page holds (a page always takes at least one message, however large).
REPLAY_PAGE = 1000
REPLAY_PAGE_BYTES = 16 * 1024 * 1024

# Pages are keyset pages in the order the refusals were recorded (their event position,
# indexed by migration 0013): each page is one index range however deep it is, and a page
# is never skipped or repeated when rows before it leave the table. Two statements, with
# and without the code, so each has its own plan.
_LIST_COLUMNS = """
SELECT event_id, event_position, topic, partition, "offset", error_code, error_detail,
       error_field, rejected_at, octet_length(value) AS size,
       substring(value FROM 1 FOR 120) AS head
FROM rejected_messages
"""
_LIST = _LIST_COLUMNS + "WHERE event_position > $1 ORDER BY event_position LIMIT $2"
_LIST_CODE = (_LIST_COLUMNS + "WHERE event_position > $1 AND error_code = $3 "
              "ORDER BY event_position LIMIT $2")
_ONE = """
SELECT event_id, event_position, topic, partition, "offset", key, value, headers, error_code,
       error_detail, error_field, rejected_at, octet_length(value) AS size,
       substring(value FROM 1 FOR 120) AS head
FROM rejected_messages WHERE event_id::text = $1
"""
_BY_CODE = """
SELECT error_code, count(*) AS n FROM rejected_messages GROUP BY error_code ORDER BY error_code
"""
_COUNT = "SELECT count(*), coalesce(max(event_position), 0) FROM rejected_messages"
_COUNT_CODE = _COUNT + " WHERE error_code = $1"

# A replay page: up to $3 messages after $1 up to $2, cut where their values pass $4 bytes
# (``octet_length`` reads a stored value's size without fetching it).
_PAGE = """
SELECT event_position, topic, partition, "offset", key, value, headers
FROM (
    SELECT event_position, topic, partition, "offset", key, value, headers,
           sum(octet_length(value)) OVER (ORDER BY event_position) AS running
    FROM rejected_messages
    WHERE event_position > $1 AND event_position <= $2 {code}
    ORDER BY event_position
    LIMIT $3
) page
WHERE running - octet_length(value) < $4
ORDER BY event_position
"""
_REPLAY_PAGE = _PAGE.format(code="")
_REPLAY_PAGE_CODE = _PAGE.format(code="AND error_code = $5")


def _row_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "event_id": str(row["event_id"]),
        "position": row["event_position"],
        "source": f"{row['topic']}/{row['partition']}/{row['offset']}",
        "error_code": row["error_code"],
        "error_detail": row["error_detail"],
        "error_field": row["error_field"],
        "rejected_at": row["rejected_at"].isoformat(),
        "size": row["size"],
        "preview": bytes(row["head"]).decode("utf-8", errors="replace"),
    }


async def list_rejected(
    pool: asyncpg.Pool,
    error_code: str | None = None,
    *,
    after: int = 0,
    limit: int = LIST_LIMIT,
) -> list[dict[str, Any]]:
    """One page of refused messages (of ``error_code``): the first ``limit`` recorded after
    position ``after``, in the order they were refused. The next page starts after the
    last one's ``position``; a page shorter than ``limit`` is the last."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise RejectedInput("dlq_limit_invalid",
                            f"--limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}")
    if after < 0:
        raise RejectedInput("dlq_cursor_invalid", f"--after must be a position >= 0, not {after}")
    if error_code is None:
        rows = await pool.fetch(_LIST, after, limit)
    else:
        rows = await pool.fetch(_LIST_CODE, after, limit, error_code)
    return [_row_dict(r) for r in rows]


async def count_rejected(pool: asyncpg.Pool, error_code: str | None = None) -> tuple[int, int]:
    """How many messages are listed (of ``error_code``), and the last one's position."""
    row = await (pool.fetchrow(_COUNT) if error_code is None
                 else pool.fetchrow(_COUNT_CODE, error_code))
    assert row is not None
    return int(row[0]), int(row[1])


async def rejected_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """How many messages are listed, per error code."""
    return {r["error_code"]: int(r["n"]) for r in await pool.fetch(_BY_CODE)}


async def get_rejected(pool: asyncpg.Pool, event_id: str) -> dict[str, Any]:
    """One listed message with all of it: the raw value, key and headers as received."""
    row = await pool.fetchrow(_ONE, event_id)
    if row is None:
        raise NotFound("rejected_message_not_found", f"no rejected message {event_id}")
    record = _record(row)
    return _row_dict(row) | {
        "key": record.key,
        "value": record.value,
        "headers": [(name, value) for name, value in record.headers],
    }


def _record(row: asyncpg.Record) -> InboundRecord:
    headers = json.loads(row["headers"]) if isinstance(row["headers"], str) else row["headers"]
    return InboundRecord(
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        key=bytes(row["key"]) if row["key"] is not None else None,
        value=bytes(row["value"]),
        headers=tuple((k, base64.b64decode(v) if v is not None else None) for k, v in headers),
    )


async def replay_rejected(
    pool: asyncpg.Pool,
    *,
    max_bytes: int,
    error_code: str | None = None,
    max_delay: float = 30.0,
    page: int = REPLAY_PAGE,
    page_bytes: int = REPLAY_PAGE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Judge every listed message (of ``error_code``) again, in the order they were refused.

    The messages listed when the replay starts are taken a page at a time (``page``
    messages, at most ``page_bytes`` of values), each page in one transaction, so memory
    stays flat however many there are; refusals recorded meanwhile wait for the next replay.
    If the database refuses a page for its content, as in the ingest it is judged in parts
    until that message is found, and that one stays listed as ``unstorable``. A transient
    failure is retried (``max_delay``: longest wait) from the page it hit: what that page
    had committed before is no longer listed or is judged again. ``on_progress`` gets
    (messages judged, messages to judge) after each page.
    """
    total, through = await count_rejected(pool, error_code)
    replayed = stored = already_stored = still_rejected = 0
    reasons: set[str] = set()
    after = 0
    if on_progress is not None:
        on_progress(0, total)
    while True:
        done, last = await retry_transient(
            functools.partial(_replay_page, pool, max_bytes, error_code, after, through,
                              page, page_bytes),
            max_delay=max_delay, attempts=COMMAND_ATTEMPTS)
        if last is None:
            break
        after = last
        for part in done:
            replayed += part.replayed
            stored += part.stored
            already_stored += part.already_stored
            still_rejected += len(part.reasons)
            reasons.update(part.reasons)
        if on_progress is not None:
            on_progress(replayed, total)
    return {"replayed": replayed, "stored": stored, "already_stored": already_stored,
            "still_rejected": still_rejected, "reasons": sorted(reasons)}


@dataclass(frozen=True, slots=True)
class _Replayed:
    """What one transaction of a DLQ replay did."""

    replayed: int
    stored: int
    already_stored: int
    reasons: list[str]  # the code of each message still refused


async def _replay_page(
    pool: asyncpg.Pool,
    max_bytes: int,
    error_code: str | None,
    after: int,
    through: int,
    page: int,
    page_bytes: int,
) -> tuple[list[_Replayed], int | None]:
    """Judge the page after position ``after``; return what it did and its last position
    (None: nothing is left up to ``through``)."""
    if error_code is None:
        rows = await pool.fetch(_REPLAY_PAGE, after, through, page, page_bytes)
    else:
        rows = await pool.fetch(_REPLAY_PAGE_CODE, after, through, page, page_bytes, error_code)
    if not rows:
        return [], None
    records = [_record(r) for r in rows]
    last = int(rows[-1]["event_position"])
    del rows
    done = await store_isolating(parse_all(records, max_bytes),
                                 functools.partial(_judge_again, pool))
    return done, last


async def _judge_again(pool: asyncpg.Pool, parsed: Sequence[Parsed]) -> _Replayed:
    async with unit_of_work(pool) as uow:
        outcome = await judge(uow.conn, parsed, retrying_rejections=True)
        repairs = []
        for record in [*outcome.accepted, *outcome.duplicate_records]:
            repairs.append(command_event(
                RejectedMessageResolved(rejection_event_id=rejection_event_id(record),
                                        source=record.source),
                rejected_stream(record)))
        for rejection in outcome.rejections:
            repairs.append(command_event(
                RejectedMessageRetried(rejection_event_id=rejection.event_id,
                                       source=rejection.record.source,
                                       error_code=rejection.code,
                                       error_detail=rejection.detail,
                                       error_field=rejection.field),
                rejected_stream(rejection.record)))
        await uow.record([*outcome.new_events, *repairs])
    return _Replayed(
        replayed=len(parsed),
        stored=len(outcome.new_events),
        already_stored=len(outcome.duplicate_records),
        reasons=[r.code for r in outcome.rejections],
    )
