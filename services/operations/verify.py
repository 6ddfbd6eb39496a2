"""``ledger verify``: re-derive the journals from the log and check every invariant.

Each check returns the violations it found, each naming the check and the thing at fault.
The projection check folds the whole log into temporary shadow tables (temp tables come
first in the search path, so every projection's own ``apply`` writes into them) inside a
REPEATABLE READ snapshot, and compares them row by row with the live tables: nothing is
paused and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

import projections
from events.names import JOURNAL_ENTRY_CREATED
from projections.pending import entry_members
from services.operations.rebuild import drop_indexes, fold_log

BALANCE = """
SELECT j.number, j.total_debit, j.total_credit,
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS line_debit,
       coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS line_credit
FROM journal_entries j LEFT JOIN journal_entry_lines l ON l.journal_entry = j.number
GROUP BY j.number
HAVING j.total_debit <> j.total_credit
    OR j.total_debit <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0)
    OR j.total_credit <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0)
ORDER BY j.number
"""

MEMBERSHIP = entry_members(f"e.event_type = '{JOURNAL_ENTRY_CREATED}'") + """
SELECT m.number, m.type, m.id,
       'the log puts it in ' || m.number || ', the projection in '
       || coalesce(x.journal_entry, 'no entry') AS detail
FROM members m
JOIN journal_entries j ON j.number = m.number AND j.status = 'created'
LEFT JOIN journaled_transactions x ON x.type = m.type AND x.id = m.id
WHERE x.journal_entry IS DISTINCT FROM m.number
UNION ALL
SELECT x.journal_entry, x.type, x.id,
       'the projection puts it in ' || x.journal_entry || ', which is not a created entry'
FROM journaled_transactions x
LEFT JOIN journal_entries j ON j.number = x.journal_entry
WHERE j.status IS DISTINCT FROM 'created'
UNION ALL
SELECT x.journal_entry, x.type, x.id,
       'the projection puts it in ' || x.journal_entry || ' but holds no such transaction'
FROM journaled_transactions x
WHERE NOT EXISTS (SELECT 1 FROM pending_transactions p WHERE p.type = x.type AND p.id = x.id)
"""

TOTALS = """
WITH derived AS (
    SELECT x.journal_entry AS number, l.account, l.side, sum(l.amount) AS amount,
           count(*) AS n
    FROM journaled_transactions x JOIN pending_transactions p USING (type, id)
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN p.amount >= 0 THEN p.debit_account ELSE p.credit_account END, 'debit',
         abs(p.amount)),
        (CASE WHEN p.amount >= 0 THEN p.credit_account ELSE p.debit_account END, 'credit',
         abs(p.amount))) AS l(account, side, amount)
    GROUP BY x.journal_entry, l.account, l.side
),
stored AS (
    SELECT l.journal_entry AS number, l.account, l.side, l.amount
    FROM journal_entry_lines l JOIN journal_entries j ON j.number = l.journal_entry
    WHERE j.status = 'created' AND j.reverses IS NULL
)
SELECT coalesce(d.number, s.number) AS number, coalesce(d.account, s.account) AS account,
       coalesce(d.side, s.side) AS side, d.amount AS derived, s.amount AS stored
FROM derived d FULL JOIN stored s
  ON s.number = d.number AND s.account = d.account AND s.side = d.side
WHERE d.amount IS DISTINCT FROM s.amount
ORDER BY 1, 2, 3
"""

#: A reversal and the entry it reverses balance each other: the original is reversed by
#: it, both belong to the same run, org, type, currency and segments, and the reversal's lines
#: are the original's with their sides swapped. (Its transactions are pending again:
#: MEMBERSHIP finds any still held by a reversed entry; COUNTS that a reversal holds none.)
REVERSALS = """
SELECT r.number, 'reverses ' || r.reverses || ': ' || c.problem AS detail
FROM journal_entries r
LEFT JOIN journal_entries o ON o.number = r.reverses
CROSS JOIN LATERAL (VALUES
    (o.number IS NULL, 'no such entry'),
    (o.status IS DISTINCT FROM 'reversed' OR o.reversal_entry IS DISTINCT FROM r.number,
     'it is not marked reversed by this entry'),
    (o.journal_run IS DISTINCT FROM r.journal_run OR o.scope IS DISTINCT FROM r.scope
     OR o.transaction_type IS DISTINCT FROM r.transaction_type
     OR o.currency IS DISTINCT FROM r.currency OR o.segments IS DISTINCT FROM r.segments,
     'run, org, type, currency or segments differ'),
    (r.status <> 'created', 'the reversal is ' || r.status)
) AS c(failed, problem)
WHERE r.reverses IS NOT NULL AND c.failed
UNION ALL
SELECT o.number, 'is reversed, but ' || coalesce(o.reversal_entry, 'no entry')
                 || ' does not reverse it'
FROM journal_entries o
WHERE o.status = 'reversed'
  AND NOT EXISTS (SELECT 1 FROM journal_entries r
                  WHERE r.number = o.reversal_entry AND r.reverses = o.number)
UNION ALL
SELECT coalesce(m.reversal, t.reversal),
       coalesce(m.side, t.side) || ' ' || coalesce(m.account, t.account) || ': the reversal says '
       || coalesce(m.amount::text, 'nothing') || ', the swapped original '
       || coalesce(t.amount::text, 'nothing')
FROM (SELECT r.number AS reversal, l.account, l.side, l.amount
      FROM journal_entries r JOIN journal_entry_lines l ON l.journal_entry = r.number
      WHERE r.reverses IS NOT NULL) AS m
FULL JOIN (
      SELECT r.number AS reversal, l.account,
             CASE l.side WHEN 'debit' THEN 'credit' ELSE 'debit' END AS side, l.amount
      FROM journal_entries r JOIN journal_entry_lines l ON l.journal_entry = r.reverses) AS t
  ON t.reversal = m.reversal AND t.account = m.account AND t.side = m.side
WHERE m.amount IS DISTINCT FROM t.amount
ORDER BY 1, 2
"""

COUNTS = """
SELECT j.number, j.transaction_count, count(x.id) AS found
FROM journal_entries j LEFT JOIN journaled_transactions x ON x.journal_entry = j.number
WHERE j.status = 'created'
GROUP BY j.number, j.transaction_count
HAVING j.transaction_count <> count(x.id)
"""

NUMBERING = """
SELECT c.name, c.value,
       coalesce(max(substr(x.number, 4)::bigint), 0) AS highest, count(x.number) AS n
FROM counters c
LEFT JOIN (SELECT 'journal_run' AS name, number FROM journal_runs
           UNION ALL SELECT 'journal_entry', number FROM journal_entries) x ON x.name = c.name
GROUP BY c.name, c.value
ORDER BY c.name
"""

STALE_OUTBOX = """
SELECT count(*) AS n, min(created_at) AS oldest FROM outbox
WHERE sent_at IS NULL AND created_at < now() - make_interval(mins => $1)
"""


#: Room for the shadow tables (temp tables live in this backend's own buffers, 8 MB by
#: default) and for the comparisons' hashes and sorts; no JIT for one-off statements.
VERIFY_SESSION = "SET temp_buffers = '256MB'; SET work_mem = '128MB'; SET jit = off"


def violation(check: str, detail: str) -> dict[str, str]:
    return {"check": check, "detail": detail}


async def check_balances(conn: asyncpg.Connection) -> list[dict[str, str]]:
    return [violation("entries_balance",
                      f"{r['number']}: total debit {r['total_debit']}, total credit "
                      f"{r['total_credit']}, lines {r['line_debit']} / {r['line_credit']}")
            for r in await conn.fetch(BALANCE)]


async def check_membership(conn: asyncpg.Connection) -> list[dict[str, str]]:
    found = [violation("one_active_entry",
                       f"transaction {r['type']} {r['id']}: {r['detail']}")
             for r in await conn.fetch(MEMBERSHIP)]
    found += [violation("one_active_entry",
                        f"{r['number']}: {r['transaction_count']} transactions recorded, "
                        f"{r['found']} point at it")
              for r in await conn.fetch(COUNTS)]
    return found


async def check_totals(conn: asyncpg.Connection) -> list[dict[str, str]]:
    return [violation("entry_totals",
                      f"{r['number']} {r['side']} {r['account']}: lines say {r['stored']}, "
                      f"its transactions sum to {r['derived']}")
            for r in await conn.fetch(TOTALS)]


async def check_reversals(conn: asyncpg.Connection) -> list[dict[str, str]]:
    return [violation("reversals_balance", f"{r['number']} {r['detail']}")
            for r in await conn.fetch(REVERSALS)]


async def check_numbering(conn: asyncpg.Connection) -> list[dict[str, str]]:
    found = []
    for r in await conn.fetch(NUMBERING):
        if not r["value"] == r["highest"] == r["n"]:
            found.append(violation(
                "gapless_numbering",
                f"{r['name']}: counter at {r['value']}, highest number {r['highest']}, "
                f"{r['n']} numbers in use",
            ))
    return found


async def check_outbox(conn: asyncpg.Connection, max_age_minutes: int) -> list[dict[str, str]]:
    row = await conn.fetchrow(STALE_OUTBOX, max_age_minutes)
    assert row is not None
    if row["n"]:
        return [violation("outbox_fresh", f"{row['n']} outbox rows unsent for more than "
                                          f"{max_age_minutes} minutes (oldest {row['oldest']})")]
    return []


async def check_projections(
    conn: asyncpg.Connection, on_progress: Callable[[int, int], None] | None = None
) -> list[dict[str, str]]:
    schema = await conn.fetchval("SELECT current_schema()")
    tables = [t for p in projections.ALL for t in p.tables]
    for table in tables:
        await conn.execute(f"CREATE TEMP TABLE {table} (LIKE {schema}.{table} INCLUDING ALL) "
                           "ON COMMIT DROP")
    # As in a rebuild, the fold runs without the keys it never needs (nothing is restored:
    # the shadow tables are only compared, then dropped).
    await drop_indexes(conn, [f"pg_temp.{name}" for p in projections.ALL
                              for name in p.rebuild_without])
    head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
    await fold_log(conn, projections.ALL, head, on_progress=on_progress)
    found = []
    for table in tables:
        missing = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT * FROM pg_temp.{table} EXCEPT ALL "
            f"SELECT * FROM {schema}.{table}) d")
        extra = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT * FROM {schema}.{table} EXCEPT ALL "
            f"SELECT * FROM pg_temp.{table}) d")
        if missing or extra:
            found.append(violation(
                "projections_match_log",
                f"{table}: {extra} rows differ from a fresh fold of the log "
                f"({missing} rows of the fold are missing)",
            ))
    return found


async def verify(
    database_url: str,
    *,
    outbox_max_age_minutes: int = 5,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Every invariant over one consistent snapshot; writes nothing.

    Runs on a connection of its own without a statement cache, so no plan prepared earlier
    against the live tables can bypass the shadow tables.
    """
    conn = await asyncpg.connect(database_url, statement_cache_size=0)
    try:
        await conn.execute(VERIFY_SESSION)  # before the first temp table, or it cannot change
        transaction = conn.transaction(isolation="repeatable_read")
        await transaction.start()
        try:
            violations = [
                *await check_balances(conn),
                *await check_membership(conn),
                *await check_totals(conn),
                *await check_reversals(conn),
                *await check_numbering(conn),
                *await check_outbox(conn, outbox_max_age_minutes),
                *await check_projections(conn, on_progress),
            ]
            head = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        finally:
            await transaction.rollback()
    finally:
        await conn.close()
    return {"ok": not violations, "log_head": head, "violations": violations}
