"""How a command's events are made, and the command-side state it reads.

Every command writes through a unit of work (``services.store.unit_of_work``), which takes
the locks, appends, folds the projections and fills the outbox; its events are made here
from their data models (``events.catalogue``), so their type and field names cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from events.catalogue import event_envelope
from events.journal_rules import LedgerSettings
from events.ledger_events import PeriodCreated, SettingsChanged
from events.periods import OPEN_ENDED_NAME, UNLABELED_SCOPE, Period
from events.transaction_types import Settlement
from events.violations import RuleViolation
from services.actor import current_actor
from services.errors import Conflict, LedgerError, NotFound, RejectedInput
from services.store import log
from services.store.unit_of_work import UnitOfWork, unit_of_work


def command_metadata() -> str:
    """The ``metadata`` of a command event: who did it (``services.actor``), as JSON text."""
    return json.dumps({"actor": current_actor()}, separators=(",", ":"))


def command_event(
    data: BaseModel,
    stream: str,
    *,
    org: str | None = None,
    internal: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> log.NewEvent:
    """The event whose data ``data`` is (its type from the registry), in the contract's
    envelope; ``internal`` holds what only the store needs, the metadata records the actor.
    ``occurred_at`` (default now): the command's time, when its data records it too
    (``at``, ``created_at``)."""
    event_id = uuid.uuid4()
    payload = event_envelope(data, org, event_id, occurred_at)
    if internal is not None:
        payload["internal"] = internal
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    return log.NewEvent(
        stream=stream,
        event_id=event_id,
        event_type=payload["event_type"],
        org=org,
        payload=text,
        body_hash=hashlib.sha256(text.encode()).digest(),
        metadata=command_metadata(),
    )


def as_ledger_error(violation: RuleViolation) -> LedgerError:
    kinds: dict[str, type[LedgerError]] = {
        "rejected": RejectedInput, "not_found": NotFound, "conflict": Conflict,
    }
    return kinds[violation.kind](violation.code, violation.message)


# -- a new ledger ---------------------------------------------------------------------------

_INITIALIZED = "SELECT EXISTS (SELECT 1 FROM ledger_settings)"


async def ensure_initialized(uow: UnitOfWork) -> None:
    """A new ledger starts with default settings and the unlabeled open-ended period.

    Initialising takes the operator commands' lock and checks again, so a journal run racing
    the first command of a new ledger cannot write the defaults a second time.
    """
    if await uow.conn.fetchval(_INITIALIZED):
        return
    await uow.lock_admin()
    if await uow.conn.fetchval(_INITIALIZED):
        return
    defaults = LedgerSettings()
    await uow.record([
        command_event(SettingsChanged(settlement=defaults.settlement,
                                      harmonization=defaults.harmonization,
                                      multi_org=defaults.multi_org), "settings"),
        open_ended_period_event(UNLABELED_SCOPE),
    ])


@asynccontextmanager
async def admin_unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[UnitOfWork]:
    """A unit of work serialised with the other operator commands, on an initialised
    ledger."""
    async with unit_of_work(pool, admin=True) as uow:
        await ensure_initialized(uow)
        yield uow


async def initialized(pool: asyncpg.Pool) -> None:
    """For a reader: make sure the ledger is initialised. Once it is (after its first
    command), this is one read and takes no lock; before, it initialises it in a unit of
    work of its own."""
    if await pool.fetchval(_INITIALIZED):
        return
    async with unit_of_work(pool) as uow:
        await ensure_initialized(uow)


def period_created_event(period: Period, *, notes: str | None = None) -> log.NewEvent:
    """``period.created``, built in this one place: the period gets its id here (32 hex
    digits, like Zuora's ids), recorded in the event so that every rebuild keeps it."""
    created = PeriodCreated(
        id=uuid.uuid4().hex, scope=period.scope, name=period.name, start_date=period.start,
        end_date=period.end, fiscal_year=period.fiscal_year,
        fiscal_quarter=period.fiscal_quarter, open_ended=period.open_ended, notes=notes)
    return command_event(created, periods_stream(period.scope), org=period.scope or None)


def periods_stream(scope: str) -> str:
    """The stream of a scope's period events."""
    return f"periods:{scope or 'unlabeled'}"


def run_stream(number: str) -> str:
    """The stream of a journal run's events."""
    return f"journal_run:{number}"


def entry_stream(number: str) -> str:
    """The stream of a journal entry's events (``run_sql`` names it so for a run's)."""
    return f"journal_entry:{number}"


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
