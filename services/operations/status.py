"""``ledger status``: how far behind the ingest is and what is waiting where (``/metrics``
reads the cheap part of it: the lag and the backlogs)."""

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

#: The outbox's unsent rows (a partial index) and the DLQ's messages (``rejected_messages``
#: holds only unrepaired refusals): cheap however long the ledger runs.
_BACKLOGS = """
SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS outbox_backlog,
       (SELECT count(*) FROM rejected_messages) AS dlq_messages
"""

_INGESTED = """
SELECT (SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])) AS stored,
       (SELECT count(*) FROM rejected_messages) AS rejected
"""

_LAST_RUNS = """
SELECT DISTINCT ON (scope) scope, number, status, target_period, transaction_count
FROM journal_runs ORDER BY scope, number DESC
"""


async def backlogs(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, int]:
    """(outbox rows not sent yet, messages in the DLQ)."""
    row = await conn.fetchrow(_BACKLOGS)
    assert row is not None
    return int(row["outbox_backlog"]), int(row["dlq_messages"])


async def ingested(pool: asyncpg.Pool, event_ids: list[str]) -> tuple[int, int]:
    """(how many of these events are stored, how many messages are in the DLQ): how far the
    ingest of a known set of events is (``ledger demo`` waits on it)."""
    row = await pool.fetchrow(_INGESTED, event_ids)
    assert row is not None
    return int(row["stored"]), int(row["rejected"])


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
        outbox, dlq = await backlogs(conn)
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
        "dlq": dlq,
        "outbox_backlog": outbox,
        "pending_by_org": [
            {"org": r["org"], "pending": int(r["n"])} for r in by_org
        ],
        "last_journal_runs": [
            {"org": r["scope"] or None, "number": r["number"], "status": r["status"],
             "period": r["target_period"], "transaction_count": int(r["transaction_count"])}
            for r in last_runs
        ],
    }
