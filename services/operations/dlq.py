"""``ledger dlq``: list refused messages and replay them once their cause is fixed.

A replayed message goes through the same judgement and failure handling as the ingest
(nothing is special-cased): stored now, it leaves the listing (``rejected_message.resolved``);
refused again, it stays with its new reason (``rejected_message.retried``). Consumer offsets
do not move.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.commands.recording import command_event, fold
from services.errors import NotFound
from services.ingest.classify import Parsed, parse_all
from services.ingest.records import InboundRecord, rejection_event_id
from services.ingest.recovery import COMMAND_ATTEMPTS, retry_transient, store_isolating
from services.ingest.writer import judge
from services.store import log

_LIST = """
SELECT event_id, topic, partition, "offset", key, value, headers, error_code, error_detail,
       error_field, rejected_at
FROM rejected_messages
WHERE ($1::text IS NULL OR error_code = $1)
ORDER BY topic, partition, "offset"
"""
_PAGE = _LIST + " LIMIT $2 OFFSET $3"
_ONE = """
SELECT event_id, topic, partition, "offset", key, value, headers, error_code, error_detail,
       error_field, rejected_at
FROM rejected_messages WHERE event_id::text = $1
"""
_BY_CODE = """
SELECT error_code, count(*) AS n FROM rejected_messages GROUP BY error_code ORDER BY error_code
"""


def _row_dict(row: asyncpg.Record) -> dict[str, Any]:
    value = bytes(row["value"])
    return {
        "event_id": str(row["event_id"]),
        "source": f"{row['topic']}/{row['partition']}/{row['offset']}",
        "error_code": row["error_code"],
        "error_detail": row["error_detail"],
        "error_field": row["error_field"],
        "rejected_at": row["rejected_at"].isoformat(),
        "size": len(value),
        "preview": value[:120].decode("utf-8", errors="replace"),
    }


async def list_rejected(
    pool: asyncpg.Pool, error_code: str | None = None, *, limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    return [_row_dict(r) for r in await pool.fetch(_PAGE, error_code, limit, offset)]


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
) -> dict[str, Any]:
    """Judge every listed message (of ``error_code``) again, in source order.

    One transaction for all of them, unless the database refuses one for its content: then,
    as in the ingest, they are judged in parts until that one is found, and it stays listed
    as ``unstorable``. A transient failure is retried (``max_delay``: longest wait).
    """
    parts = await retry_transient(
        lambda: _replay_listed(pool, max_bytes, error_code),
        max_delay=max_delay, attempts=COMMAND_ATTEMPTS)
    return {
        "replayed": sum(p.replayed for p in parts),
        "stored": sum(p.stored for p in parts),
        "already_stored": sum(p.already_stored for p in parts),
        "still_rejected": sum(len(p.reasons) for p in parts),
        "reasons": sorted({code for p in parts for code in p.reasons}),
    }


@dataclass(frozen=True, slots=True)
class _Replayed:
    """What one transaction of a DLQ replay did."""

    replayed: int
    stored: int
    already_stored: int
    reasons: list[str]  # the code of each message still refused


async def _replay_listed(
    pool: asyncpg.Pool, max_bytes: int, error_code: str | None
) -> list[_Replayed]:
    records = [_record(r) for r in await pool.fetch(_LIST, error_code)]
    return await store_isolating(parse_all(records, max_bytes),
                                 functools.partial(_judge_again, pool))


async def _judge_again(pool: asyncpg.Pool, parsed: Sequence[Parsed]) -> _Replayed:
    async with pool.acquire() as conn, conn.transaction():
        await log.hold_writers_lock(conn)
        outcome = await judge(conn, parsed, retrying_rejections=True)
        repairs = []
        for record in [*outcome.accepted, *outcome.duplicate_records]:
            repairs.append(command_event(
                "rejected_message.resolved", f"rejected:{record.topic}/{record.partition}",
                {"rejection_event_id": str(rejection_event_id(record)),
                 "source": record.source},
            ))
        for rejection in outcome.rejections:
            repairs.append(command_event(
                "rejected_message.retried",
                f"rejected:{rejection.record.topic}/{rejection.record.partition}",
                {"rejection_event_id": str(rejection.event_id), "source": rejection.record.source,
                 "error_code": rejection.code, "error_detail": rejection.detail,
                 "error_field": rejection.field},
            ))
        positions = sorted((await log.append(conn, [*outcome.new_events, *repairs])).values())
        await fold(conn, positions)
    return _Replayed(
        replayed=len(parsed),
        stored=len(outcome.new_events),
        already_stored=len(outcome.duplicate_records),
        reasons=[r.code for r in outcome.rejections],
    )
