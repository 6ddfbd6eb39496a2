"""``ledger pending`` and ``ledger unlabeled``: what is waiting, held, excluded, and where.

Scope and period are derived here, at query time, from the settings and periods in force:
without Multi-Org every transaction is in the unlabeled scope; with it, a transaction is in
its org's scope unless its type is a legacy one (DOMAIN.md §2, seed 003).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from events.transaction_types import TRANSACTION_TYPES
from services.commands.recording import ensure_initialized, load_settings

LEGACY_TYPES = sorted(t.id for t in TRANSACTION_TYPES.values() if t.legacy)
REQUIRED = [(t.id, t.required_status) for t in TRANSACTION_TYPES.values()]

#: $1 multi_org, $2 legacy type ids, $3 type ids, $4 their required statuses.
SCOPED = """
WITH scoped AS (
    SELECT p.*,
           CASE WHEN $1::boolean AND NOT (p.type = ANY($2::text[])) THEN coalesce(p.org, '')
                ELSE '' END AS scope,
           r.required_status
    FROM pending_transactions p
    JOIN unnest($3::text[], $4::text[]) AS r(type, required_status) ON r.type = p.type
),
placed AS (
    SELECT s.*,
           coalesce(
               (SELECT ap.name FROM accounting_periods ap
                WHERE ap.scope = s.scope AND NOT ap.open_ended
                  AND s.date BETWEEN ap.start_date AND ap.end_date),
               CASE WHEN s.date > coalesce((SELECT max(ap.end_date) FROM accounting_periods ap
                                            WHERE ap.scope = s.scope), '-infinity'::date)
                    THEN 'Open-Ended' END
           ) AS period,
           CASE
               WHEN s.exclusion_reason IS NOT NULL THEN 'excluded'
               WHEN $1::boolean AND s.type = ANY($2::text[]) THEN 'held'
               WHEN s.required_status IS NOT NULL AND s.status <> s.required_status THEN 'held'
               ELSE 'pending'
           END AS state,
           CASE
               WHEN s.exclusion_reason IS NOT NULL THEN s.exclusion_reason
               WHEN $1::boolean AND s.type = ANY($2::text[]) THEN 'legacy_type_under_multi_org'
               WHEN s.required_status IS NOT NULL AND s.status <> s.required_status
                   THEN 'status_not_eligible'
           END AS reason
    FROM scoped s
    WHERE s.journal_entry IS NULL
)
"""

PENDING = SCOPED + """
SELECT scope, type, period, currency, state, reason, count(*) AS count, sum(amount) AS amount
FROM placed
WHERE ($5::text IS NULL OR scope = $5)
GROUP BY scope, type, period, currency, state, reason
ORDER BY scope, type, period NULLS LAST, currency, state, reason NULLS FIRST
"""

UNLABELED = SCOPED + """
SELECT period, type, id, date, status, amount, currency, document_number, account_number,
       org AS label, state, reason
FROM placed WHERE scope = ''
ORDER BY period NULLS LAST, type, date, id
"""


async def _args(conn: asyncpg.Connection) -> list[Any]:
    await ensure_initialized(conn)
    settings = await load_settings(conn)
    return [settings.multi_org, LEGACY_TYPES, [t for t, _ in REQUIRED], [s for _, s in REQUIRED]]


async def pending_report(pool: asyncpg.Pool, org: str | None = None) -> list[dict[str, Any]]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(PENDING, *await _args(conn), org)
    return [
        {
            "org": r["scope"] or None,
            "transaction_type": r["type"],
            "period": r["period"],
            "currency": r["currency"],
            "state": r["state"],
            "reason": r["reason"],
            "count": r["count"],
            "amount": str(r["amount"]),
        }
        for r in rows
    ]


async def unlabeled_report(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(UNLABELED, *await _args(conn))
    return [
        {
            "period": r["period"],
            "transaction_type": r["type"],
            "id": r["id"],
            "date": r["date"].isoformat(),
            "status": r["status"],
            "amount": str(r["amount"]),
            "currency": r["currency"],
            "document_number": r["document_number"],
            "account_number": r["account_number"],
            "org_label": r["label"],
            "state": r["state"],
            "reason": r["reason"],
        }
        for r in rows
    ]
