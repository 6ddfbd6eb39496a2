"""``ledger settings set``: settlement mode, harmonization, Multi-Org (docs/domain.md §1
Settings).

Rules: settlement only moves forward (legacy -> invoice settlement -> invoice item
settlement) once the ledger holds transactions; Multi-Org requires invoice settlement (or
invoice item settlement); turning it on is one-way, and is refused while transactions of
types Multi-Org does not support are still unjournaled, unless forced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from events.journal_rules import LedgerSettings
from events.ledger_events import SettingsChanged
from events.transaction_types import TRANSACTION_TYPES, Settlement
from services.commands.recording import admin_unit_of_work, command_event, load_settings
from services.errors import RejectedInput

KEYS = ("settlement", "harmonization", "multi_org")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

#: The only direction settlement moves in: the enum's order.
SETTLEMENT_ORDER: tuple[Settlement, ...] = tuple(Settlement)

#: Types Multi-Org does not support, in table order: they carry no org label (seed 003).
MULTI_ORG_UNSUPPORTED = tuple(t.id for t in TRANSACTION_TYPES.values() if not t.multi_org)

#: Unjournaled, not excluded transactions of the types named, per type. Held ones count too
#: (a status not yet eligible, a type the settlement settings do not enable): they are
#: still waiting for a run, and Multi-Org would strand them in the unlabeled scope.
_UNJOURNALED_BY_TYPE = """
SELECT type, count(*) AS n FROM unjournaled_transactions
WHERE exclusion_reason IS NULL AND type = ANY($1::text[])
GROUP BY type
"""

_HAS_TRANSACTIONS = "SELECT EXISTS (SELECT 1 FROM pending_transactions)"


def settings_dict(settings: LedgerSettings) -> dict[str, Any]:
    """The settings as ``ledger settings`` shows them: their event's data."""
    return SettingsChanged(settlement=settings.settlement, harmonization=settings.harmonization,
                           multi_org=settings.multi_org).model_dump(mode="json")


def _boolean(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise RejectedInput("setting_value_invalid", f"{key} takes true or false, not {value!r}")


def apply_changes(
    current: LedgerSettings, changes: Mapping[str, str], *, has_transactions: bool = True
) -> LedgerSettings:
    """The settings after ``changes``, or the rule they break. Pure.

    ``has_transactions``: whether the ledger has accepted any transaction line. Until it
    has, settlement may be set to any mode (a new ledger starts at invoice settlement, and
    a legacy tenant must be able to say so); from then on it only moves forward, as the
    transactions already recorded belong to the modes before.
    """
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
    if (
        has_transactions
        and SETTLEMENT_ORDER.index(settlement) < SETTLEMENT_ORDER.index(current.settlement)
    ):
        raise RejectedInput(
            "settlement_backwards",
            f"settlement only moves forward ({' -> '.join(SETTLEMENT_ORDER)}): the ledger "
            f"holds transactions under {current.settlement}, it cannot go back to "
            f"{settlement}",
        )
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


def check_multi_org_switch(
    current: LedgerSettings,
    new: LedgerSettings,
    unjournaled: Mapping[str, int],
    *,
    force: bool,
) -> bool:
    """Seed 002: "ensure you run the Journal Run before enabling Multi-Org". Pure.

    Turning Multi-Org on is refused while ``unjournaled`` (type -> count of transactions of
    a type Multi-Org does not support, still unjournaled and not excluded) is not empty,
    unless ``force``. Returns whether the guard was overridden, which the settings event
    records.
    """
    waiting = {t: n for t, n in unjournaled.items() if n}
    if current.multi_org or not new.multi_org or not waiting:
        return False
    if force:
        return True
    counts = ", ".join(f"{t} {n}" for t, n in waiting.items())
    raise RejectedInput(
        "legacy_transactions_unjournaled",
        f"Multi-Org does not support these transaction types, and they are still "
        f"unjournaled: {counts}; run a journal run for them first, or --force (they can "
        "never be journaled once Multi-Org is on)",
    )


async def unjournaled_unsupported(conn: asyncpg.Connection) -> dict[str, int]:
    """Unjournaled, not excluded transactions of types Multi-Org does not support, per type
    in table order."""
    rows = await conn.fetch(_UNJOURNALED_BY_TYPE, list(MULTI_ORG_UNSUPPORTED))
    counts = {r["type"]: int(r["n"]) for r in rows}
    return {t: counts[t] for t in MULTI_ORG_UNSUPPORTED if t in counts}


async def show_settings(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return settings_dict(await load_settings(conn))


async def set_settings(
    pool: asyncpg.Pool, changes: Mapping[str, str], *, force: bool = False
) -> dict[str, Any]:
    """Apply ``changes``; ``force`` turns Multi-Org on over unjournaled legacy transactions.

    Runs in a unit of work (it holds the log writers' lock), so no transaction arrives
    between the checks and the event. A forced switch records ``"forced": true`` and the
    counts it overrode in the ``settings.changed`` data.
    """
    async with admin_unit_of_work(pool) as uow:
        current = await load_settings(uow.conn)
        new = apply_changes(current, changes,
                            has_transactions=await uow.conn.fetchval(_HAS_TRANSACTIONS))
        if new == current:
            return settings_dict(new)
        overridden = None
        if not current.multi_org and new.multi_org:
            unjournaled = await unjournaled_unsupported(uow.conn)
            if check_multi_org_switch(current, new, unjournaled, force=force):
                overridden = unjournaled
        await uow.record([command_event(
            SettingsChanged(settlement=new.settlement, harmonization=new.harmonization,
                            multi_org=new.multi_org,
                            forced=True if overridden is not None else None,
                            unjournaled=overridden),
            "settings")])
        return settings_dict(new)
