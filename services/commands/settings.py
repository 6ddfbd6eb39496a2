"""``ledger settings set``: settlement mode, harmonization, Multi-Org (DOMAIN.md §1 Settings).

Rules: Multi-Org requires invoice settlement (or invoice item settlement); turning it on is
one-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from events.journal_rules import LedgerSettings
from events.transaction_types import Settlement
from services.commands.recording import (
    admin_transaction,
    command_event,
    load_settings,
    record,
)
from services.errors import RejectedInput

KEYS = ("settlement", "harmonization", "multi_org")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def settings_dict(settings: LedgerSettings) -> dict[str, Any]:
    return {
        "settlement": str(settings.settlement),
        "harmonization": settings.harmonization,
        "multi_org": settings.multi_org,
    }


def _boolean(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise RejectedInput("setting_value_invalid", f"{key} takes true or false, not {value!r}")


def apply_changes(current: LedgerSettings, changes: Mapping[str, str]) -> LedgerSettings:
    """The settings after ``changes``, or the rule they break. Pure."""
    unknown = sorted(set(changes) - set(KEYS))
    if unknown:
        raise RejectedInput("setting_unknown",
                            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    settlement = current.settlement
    if "settlement" in changes:
        try:
            settlement = Settlement(changes["settlement"])
        except ValueError as error:
            raise RejectedInput(
                "setting_value_invalid",
                f"settlement is one of {', '.join(s.value for s in Settlement)}",
            ) from error
    harmonization = current.harmonization
    if "harmonization" in changes:
        harmonization = _boolean("harmonization", changes["harmonization"])
    multi_org = current.multi_org
    if "multi_org" in changes:
        multi_org = _boolean("multi_org", changes["multi_org"])
    if current.multi_org and not multi_org:
        raise RejectedInput("multi_org_one_way", "Multi-Org cannot be turned off once it is on")
    if multi_org and settlement == Settlement.LEGACY:
        raise RejectedInput(
            "multi_org_requires_invoice_settlement",
            "Multi-Org requires invoice settlement (or invoice item settlement)",
        )
    return LedgerSettings(settlement, harmonization, multi_org)


async def show_settings(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return settings_dict(await load_settings(conn))


async def set_settings(pool: asyncpg.Pool, changes: Mapping[str, str]) -> dict[str, Any]:
    async with admin_transaction(pool) as conn:
        current = await load_settings(conn)
        new = apply_changes(current, changes)
        if new != current:
            await record(conn, [command_event("settings.changed", "settings", settings_dict(new))])
        return settings_dict(new)
