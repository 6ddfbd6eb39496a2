"""``ledger status``: how far behind the ingest is and what is waiting where."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.config import Settings
from services.ingest.writer import stored_offsets
from services.kafka_io import end_offsets
from services.store.log import head_position


def partition_lag(stored: int | None, end: int) -> int:
    """Never below zero: Tansu under-reports end offsets after multi-record batches."""
    return max(0, end - (stored or 0))


#: Per org label as sent (None: unlabeled); the scope a run sees also depends on settings.
_PENDING_BY_ORG = """
SELECT org, count(*) AS n FROM unjournaled_transactions
WHERE exclusion_reason IS NULL
GROUP BY org ORDER BY org NULLS LAST
"""

_LAST_RUNS = """
SELECT DISTINCT ON (scope) scope, number, status, target_period, transaction_count
FROM journal_runs ORDER BY scope, number DESC
"""


async def status_report(settings: Settings, pool: asyncpg.Pool) -> dict[str, Any]:
    assert settings.kafka_bootstrap
    async with pool.acquire() as conn:
        head = await head_position(conn)
        stored = await stored_offsets(conn, settings.consumer_group, settings.topic_billing)
        # waiting for a journal run: not journaled, not excluded (held ones included)
        pending = await conn.fetchval(
            "SELECT count(*) FROM unjournaled_transactions WHERE exclusion_reason IS NULL"
        )
        by_org = await conn.fetch(_PENDING_BY_ORG)
        last_runs = await conn.fetch(_LAST_RUNS)
        dlq = await conn.fetchval("SELECT count(*) FROM rejected_messages")
        outbox = 0
        if await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
            outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    ends = await end_offsets(settings, settings.topic_billing)
    partitions = []
    for partition in sorted(set(ends) | set(stored)):
        end = max(ends.get(partition, 0), stored.get(partition, 0))
        partitions.append(
            {
                "partition": partition,
                "stored_offset": stored.get(partition),
                "end_offset": end,
                "lag": partition_lag(stored.get(partition), end),
            }
        )
    return {
        "store_head": head,
        "lag": sum(p["lag"] for p in partitions),
        "partitions": partitions,
        "pending": int(pending),
        "dlq": int(dlq),
        "outbox_backlog": int(outbox),
        "pending_by_org": [
            {"org": r["org"], "pending": int(r["n"])} for r in by_org
        ],
        "last_journal_runs": [
            {"org": r["scope"] or None, "number": r["number"], "status": r["status"],
             "period": r["target_period"], "transaction_count": int(r["transaction_count"])}
            for r in last_runs
        ],
    }
