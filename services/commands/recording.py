"""How a command writes: append its events, fold them into the projections, queue the
outbound ones. One path for every command, so none can forget a step."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

import projections
from events.journal_rules import LedgerSettings
from events.periods import OPEN_ENDED_NAME, UNLABELED_SCOPE, Period
from events.transaction_types import Settlement
from events.violations import RuleViolation
from services.actor import current_actor
from services.errors import Conflict, LedgerError, NotFound, RejectedInput
from services.store import locks, log

#: Serialises operator commands that validate and then append (settings, orgs, periods,
#: API keys).
ADMIN_LOCK = locks.ADMIN

#: Event types relayed to ``ledger.journal-entries`` (docs/contract.md §2, outbound).
OUTBOUND_TYPES = (
    "journal_run.completed",
    "journal_entry.created",
    "journal_entry.cancelled",
    "journal_entry.reversed",
    "journal_run.cancelled",
    "journal_entry.transfer_status_changed",
)

_OUTBOX = """
INSERT INTO outbox (event_id, event_type, key, payload, event_position)
SELECT event_id, event_type, coalesce(org, 'unlabeled'), payload - 'internal', position
FROM events WHERE position = ANY($1) AND event_type = ANY($2::text[])
ORDER BY position
"""


def command_metadata() -> str:
    """The ``metadata`` of a command event: who did it (``services.actor``), as JSON text."""
    return json.dumps({"actor": current_actor()}, separators=(",", ":"))


def command_event(
    event_type: str,
    stream: str,
    data: dict[str, Any],
    *,
    org: str | None = None,
    internal: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> log.NewEvent:
    """An event in the contract's envelope; ``internal`` holds what only the store needs,
    the metadata records the actor. ``occurred_at`` (default now): the command's time, when
    its data records it too (``at``, ``created_at``)."""
    event_id = uuid.uuid4()
    when = occurred_at if occurred_at is not None else datetime.now(UTC)
    payload: dict[str, Any] = {
        "event_id": str(event_id),
        "event_type": event_type,
        "occurred_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "org": org,
        "schema_version": 1,
        "data": data,
    }
    if internal is not None:
        payload["internal"] = internal
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    return log.NewEvent(
        stream=stream,
        event_id=event_id,
        event_type=event_type,
        org=org,
        payload=text,
        body_hash=hashlib.sha256(text.encode()).digest(),
        metadata=command_metadata(),
    )


async def record(conn: asyncpg.Connection, events: Sequence[log.NewEvent]) -> list[int]:
    """Append, apply to every projection, queue outbound events. Call inside a transaction."""
    return await fold(conn, sorted((await log.append(conn, events)).values()))


async def fold(conn: asyncpg.Connection, positions: list[int]) -> list[int]:
    """Apply just-appended events to every projection and queue the outbound ones."""
    if positions:
        await projections.apply_all(conn, positions[0], positions[-1], positions)
        await conn.execute(_OUTBOX, positions, list(OUTBOUND_TYPES))
    return positions


def as_ledger_error(violation: RuleViolation) -> LedgerError:
    kinds: dict[str, type[LedgerError]] = {
        "rejected": RejectedInput, "not_found": NotFound, "conflict": Conflict,
    }
    return kinds[violation.kind](violation.code, violation.message)


@asynccontextmanager
async def admin_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One transaction, serialised with other operator commands, on an initialised ledger."""
    async with pool.acquire() as conn, conn.transaction():
        await log.hold_writers_lock(conn)
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMIN_LOCK)
        await ensure_initialized(conn)
        yield conn


# -- reading the command-side state -------------------------------------------------------


async def ensure_initialized(conn: asyncpg.Connection) -> None:
    """A new ledger starts with default settings and the unlabeled open-ended period.

    Initialising takes the operator-command lock and checks again, so a journal run racing
    the first command of a new ledger cannot write the defaults a second time.
    """
    if await conn.fetchval("SELECT count(*) FROM ledger_settings"):
        return
    await log.hold_writers_lock(conn)  # always before ADMIN_LOCK: one lock order, no deadlock
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ADMIN_LOCK)
    if await conn.fetchval("SELECT count(*) FROM ledger_settings"):
        return
    defaults = LedgerSettings()
    await record(
        conn,
        [
            command_event(
                "settings.changed",
                "settings",
                {
                    "settlement": str(defaults.settlement),
                    "harmonization": defaults.harmonization,
                    "multi_org": defaults.multi_org,
                },
            ),
            open_ended_period_event(UNLABELED_SCOPE),
        ],
    )


def period_created_event(period: Period, *, notes: str | None = None) -> log.NewEvent:
    """``period.created``, built in this one place: the period gets its id here (32 hex
    digits, like Zuora's ids), recorded in the event so that every rebuild keeps it."""
    return command_event(
        "period.created",
        f"periods:{period.scope or 'unlabeled'}",
        {
            "id": uuid.uuid4().hex,
            "scope": period.scope,
            "name": period.name,
            "start_date": period.start.isoformat() if period.start else None,
            "end_date": period.end.isoformat() if period.end else None,
            "fiscal_year": period.fiscal_year,
            "fiscal_quarter": period.fiscal_quarter,
            "open_ended": period.open_ended,
            "notes": notes,
        },
        org=period.scope or None,
    )


def open_ended_period_event(scope: str) -> log.NewEvent:
    return period_created_event(Period(scope, OPEN_ENDED_NAME, None, None, open_ended=True))


async def load_settings(conn: asyncpg.Connection) -> LedgerSettings:
    row = await conn.fetchrow("SELECT settlement, harmonization, multi_org FROM ledger_settings")
    if row is None:
        return LedgerSettings()
    return LedgerSettings(Settlement(row["settlement"]), row["harmonization"], row["multi_org"])


async def load_orgs(conn: asyncpg.Connection) -> set[str]:
    return {r["name"] for r in await conn.fetch("SELECT name FROM orgs")}


async def load_periods(conn: asyncpg.Connection, scope: str) -> list[Period]:
    rows = await conn.fetch(
        "SELECT * FROM accounting_periods WHERE scope = $1 ORDER BY open_ended, start_date", scope
    )
    return [
        Period(
            scope=r["scope"],
            name=r["name"],
            start=r["start_date"],
            end=r["end_date"],
            status=r["status"],
            fiscal_year=r["fiscal_year"],
            fiscal_quarter=r["fiscal_quarter"],
            open_ended=r["open_ended"],
        )
        for r in rows
    ]


async def scope_of(conn: asyncpg.Connection, org: str | None) -> str:
    """The scope an ``--org`` option names: the org (which must exist) or unlabeled."""
    if org is None:
        return UNLABELED_SCOPE
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE name = $1)", org):
        raise NotFound("org_unknown", f"no org named {org!r}")
    return org
