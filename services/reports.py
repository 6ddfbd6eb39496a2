"""``ledger pending`` and ``ledger unlabeled``: what is waiting, held, excluded, and where.

Scope and period are derived here, at query time, from the settings and periods in force:
without Multi-Org every transaction is in the unlabeled scope; with it, a transaction is in
its org's scope unless its type is a legacy one (docs/domain.md §2, seed 003). A revenue event
item is in the period it names. Held means "would be picked up but for": a legacy type under
Multi-Org, no org label under Multi-Org (every run names its org), a type the settlement
settings do not enable, or a status the type does not accept. Excluded means never picked
up (docs/domain.md §1).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from events.amounts import format_amount
from events.periods import OPEN_ENDED_NAME
from events.transaction_types import TRANSACTION_TYPES, enabled_types
from services.commands.recording import initialized, load_settings, scope_of

LEGACY_TYPES = sorted(t.id for t in TRANSACTION_TYPES.values() if t.legacy)
REQUIRED = [(t.id, t.required_status) for t in TRANSACTION_TYPES.values()]

#: The scope of transaction ``p``: its org's under Multi-Org, unless its type is a legacy
#: one ($1 multi_org, $2 legacy type ids).
SCOPE_OF = """
CASE WHEN $1::boolean AND NOT (p.type = ANY($2::text[])) THEN coalesce(p.org, '') ELSE '' END
"""

#: What an unjournaled transaction ``s`` (with its ``scope`` and its type's
#: ``required_status``) is: excluded, held or pending ($1 multi_org, $2 legacy type ids,
#: $5 the type ids the settlement settings enable); ``REASON`` says why.
STATE = """
CASE
    WHEN s.exclusion_reason IS NOT NULL THEN 'excluded'
    WHEN $1::boolean AND s.type = ANY($2::text[]) THEN 'held'
    WHEN $1::boolean AND s.scope = '' THEN 'held'
    WHEN NOT (s.type = ANY($5::text[])) THEN 'held'
    WHEN s.required_status IS NOT NULL AND s.status <> s.required_status THEN 'held'
    ELSE 'pending'
END
"""
REASON = """
CASE
    WHEN s.exclusion_reason IS NOT NULL THEN s.exclusion_reason
    WHEN $1::boolean AND s.type = ANY($2::text[]) THEN 'legacy_type_under_multi_org'
    WHEN $1::boolean AND s.scope = '' THEN 'unlabeled_under_multi_org'
    WHEN NOT (s.type = ANY($5::text[])) THEN 'type_not_enabled'
    WHEN s.required_status IS NOT NULL AND s.status <> s.required_status
        THEN 'status_not_eligible'
END
"""

#: $1 multi_org, $2 legacy type ids, $3 type ids, $4 their required statuses,
#: $5 the type ids the settlement settings enable.
SCOPED = f"""
WITH scoped AS (
    SELECT p.*, {SCOPE_OF} AS scope, r.required_status
    FROM unjournaled_transactions p
    JOIN unnest($3::text[], $4::text[]) AS r(type, required_status) ON r.type = p.type
),
placed AS (
    SELECT s.*,
           CASE WHEN s.type = 'revenue_event_item' THEN s.accounting_period ELSE coalesce(
               (SELECT ap.name FROM accounting_periods ap
                WHERE ap.scope = s.scope AND NOT ap.open_ended
                  AND s.date BETWEEN ap.start_date AND ap.end_date),
               CASE WHEN s.date > coalesce((SELECT max(ap.end_date) FROM accounting_periods ap
                                            WHERE ap.scope = s.scope), '-infinity'::date)
                    THEN '{OPEN_ENDED_NAME}' END
           ) END AS period,
           {STATE} AS state,
           {REASON} AS reason
    FROM scoped s
),
ordered AS (
    -- periods in calendar order (the open-ended one last), not in name order
    SELECT pl.*, ap.open_ended AS period_open_ended, ap.start_date AS period_start
    FROM placed pl
    LEFT JOIN accounting_periods ap ON ap.scope = pl.scope AND ap.name = pl.period
)
"""

PENDING = SCOPED + """
SELECT scope, type, period, currency, state, reason, count(*) AS count, sum(amount) AS amount
FROM ordered
WHERE ($6::text IS NULL OR scope = $6)
GROUP BY scope, type, period, period_open_ended, period_start, currency, state, reason
ORDER BY scope, type, period_open_ended NULLS LAST, period_start NULLS LAST, period NULLS LAST,
         currency, state, reason NULLS FIRST
"""

UNLABELED = SCOPED + """
SELECT period, type, id, date, status, amount, currency, document_number, account_number,
       org AS label, state, reason
FROM ordered WHERE scope = ''
ORDER BY period_open_ended NULLS LAST, period_start NULLS LAST, period NULLS LAST, type, date,
         id
"""


async def report_args(conn: asyncpg.Connection) -> list[Any]:
    """$1..$5 of ``SCOPED`` (and of the fragments), from the settings in force."""
    settings = await load_settings(conn)
    return [settings.multi_org, LEGACY_TYPES, [t for t, _ in REQUIRED], [s for _, s in REQUIRED],
            sorted(enabled_types(settings.settlement, settings.harmonization))]


async def pending_report(pool: asyncpg.Pool, org: str | None = None) -> list[dict[str, Any]]:
    await initialized(pool)
    async with pool.acquire() as conn:
        args = await report_args(conn)
        scope = None if org is None else await scope_of(conn, org)
        rows = await conn.fetch(PENDING, *args, scope)
    return [
        {
            "org": r["scope"] or None,
            "transaction_type": r["type"],
            "period": r["period"],
            "currency": r["currency"],
            "state": r["state"],
            "reason": r["reason"],
            "count": r["count"],
            "amount": format_amount(r["amount"], r["currency"]),
        }
        for r in rows
    ]


async def unlabeled_report(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    await initialized(pool)
    async with pool.acquire() as conn:
        rows = await conn.fetch(UNLABELED, *await report_args(conn))
    return [
        {
            "period": r["period"],
            "transaction_type": r["type"],
            "id": r["id"],
            "date": r["date"].isoformat(),
            "status": r["status"],
            "amount": format_amount(r["amount"], r["currency"]),
            "currency": r["currency"],
            "document_number": r["document_number"],
            "account_number": r["account_number"],
            "org_label": r["label"],
            "state": r["state"],
            "reason": r["reason"],
        }
        for r in rows
    ]
