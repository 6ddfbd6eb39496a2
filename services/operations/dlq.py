"""``ledger dlq``: list refused messages and replay them once their cause is fixed.

A replayed message goes through the same judgement as the ingest (nothing is special-cased):
stored now, it leaves the listing (``rejected_message.resolved``); refused again, it stays
with its new reason (``rejected_message.retried``). Consumer offsets do not move.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg

from services.commands.recording import command_event, fold
from services.ingest.records import InboundRecord, rejection_event_id
from services.ingest.writer import judge
from services.store import log

_LIST = """
SELECT event_id, topic, partition, "offset", key, value, headers, error_code, error_detail,
       error_field, rejected_at
FROM rejected_messages
WHERE ($1::text IS NULL OR error_code = $1)
ORDER BY topic, partition, "offset"
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


async def list_rejected(pool: asyncpg.Pool, error_code: str | None = None) -> list[dict[str, Any]]:
    return [_row_dict(r) for r in await pool.fetch(_LIST, error_code)]


def _record(row: asyncpg.Record) -> InboundRecord:
    headers = json.loads(row["headers"]) if isinstance(row["headers"], str) else row["headers"]
    return InboundRecord(
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        key=bytes(row["key"]) if row["key"] is not None else None,
        value=bytes(row["value"]),
        headers=tuple((k, base64.b64decode(v)) for k, v in headers),
    )


async def replay_rejected(
    pool: asyncpg.Pool, *, max_bytes: int, error_code: str | None = None
) -> dict[str, Any]:
    """Judge every listed message (of ``error_code``) again, in source order, in one go."""
    async with pool.acquire() as conn, conn.transaction():
        await log.hold_writers_lock(conn)
        rows = await conn.fetch(_LIST, error_code)
        records = [_record(r) for r in rows]
        outcome = await judge(conn, records, max_bytes, retrying_rejections=True)
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
    return {
        "replayed": len(records),
        "stored": len(outcome.new_events),
        "already_stored": len(outcome.duplicate_records),
        "still_rejected": len(outcome.rejections),
        "reasons": sorted({r.code for r in outcome.rejections}),
    }
