"""``ledger orgs``: org units. Creating one creates its open-ended period (docs/domain.md §2)."""

from __future__ import annotations

from typing import Any

import asyncpg

from events.ledger_events import OrgCreated
from services.commands.recording import (
    admin_unit_of_work,
    command_event,
    open_ended_period_event,
)
from services.errors import Conflict, RejectedInput

RESERVED = {"unlabeled"}


async def create_org(pool: asyncpg.Pool, name: str) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise RejectedInput("org_name_required", "an org needs a name")
    if name.lower() in RESERVED:
        raise RejectedInput("org_name_reserved", f"{name!r} names the unlabeled scope")
    created = OrgCreated(name=name)
    async with admin_unit_of_work(pool) as uow:
        if await uow.conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE name = $1)", name):
            raise Conflict("org_exists", f"org {name!r} already exists")
        await uow.record([command_event(created, f"org:{name}", org=name),
                          open_ended_period_event(name)])
    return created.model_dump(mode="json")


async def list_orgs(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT name FROM orgs ORDER BY name")
    return [{"name": r["name"]} for r in rows]
