"""Reading runs and entries back, in exactly the shape of their outbound event ``data``."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.errors import NotFound

_ENTRY = """
SELECT j.*, (SELECT jsonb_agg(jsonb_build_object('account', l.account, 'side', l.side,
                                                 'amount', l.amount::text)
                              ORDER BY l.side DESC, l.account)
             FROM journal_entry_lines l WHERE l.journal_entry = j.number) AS lines
FROM journal_entries j
"""


def entry_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "number": row["number"],
        "journal_run": row["journal_run"],
        "org": row["scope"] or None,
        "accounting_period": row["accounting_period"],
        "journal_entry_date": row["journal_entry_date"].isoformat(),
        "transaction_type": row["transaction_type"],
        "currency": row["currency"],
        "segments": json.loads(row["segments"]),
        "lines": json.loads(row["lines"]) if row["lines"] else [],
        "total_debit": str(row["total_debit"]),
        "total_credit": str(row["total_credit"]),
        "transaction_count": row["transaction_count"],
        "status": row["status"],
        "transfer_status": row["transfer_status"],
    }


def run_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "number": row["number"],
        "org": row["scope"] or None,
        "target": {
            "period": row["target_period"],
            "start_date": row["start_date"].isoformat(),
            "end_date": row["end_date"].isoformat(),
        },
        "journal_entry_date": row["journal_entry_date"].isoformat(),
        "transaction_types": list(row["transaction_types"]),
        "status": row["status"],
        "journal_entry_numbers": list(row["entry_numbers"]),
        "transaction_count": row["transaction_count"],
    }


async def get_entry(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> dict[str, Any]:
    row = await conn.fetchrow(_ENTRY + " WHERE j.number = $1", number)
    if row is None:
        raise NotFound("journal_entry_not_found", f"no journal entry {number}")
    return entry_dict(row)


async def list_entries(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    run: str | None = None,
    org: str | None = None,
    period: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        _ENTRY
        + """ WHERE ($1::text IS NULL OR j.journal_run = $1)
              AND ($2::text IS NULL OR j.scope = $2)
              AND ($3::text IS NULL OR j.accounting_period = $3)
            ORDER BY j.number LIMIT $4 OFFSET $5""",
        run, org, period, limit, offset,
    )
    return [entry_dict(r) for r in rows]


async def get_run(conn: asyncpg.Connection | asyncpg.Pool, number: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM journal_runs WHERE number = $1", number)
    if row is None:
        raise NotFound("journal_run_not_found", f"no journal run {number}")
    return run_dict(row)


async def list_runs(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM journal_runs ORDER BY number")
    return [run_dict(r) for r in rows]
