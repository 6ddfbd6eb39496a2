"""The ledger's own command events: the ``data`` of what an operator's command records.

Settings, orgs, accounting periods and API keys change only by these events, and the
projections are folded from them (a rebuild replays them), so their field names are a
contract with the log as much as the outbound events are with GL consumers. They are
models for the same reason: a command builds its event from one of them, and a misnamed or
missing field fails when the event is made, before anything is written. Their JSON form is
what the log has always held (the same keys and values), so old logs fold the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events._fields import IsoZ
from events.names import (
    API_KEY_CREATED,
    API_KEY_REVOKED,
    ORG_CREATED,
    PERIOD_CREATED,
    PERIOD_STATUS_CHANGED,
    SETTINGS_CHANGED,
)
from events.transaction_types import Settlement

__all__ = [
    "LEDGER_EVENT_TYPES",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "OrgCreated",
    "PeriodCreated",
    "PeriodStatusChanged",
    "SettingsChanged",
]

def _absent(value: object) -> bool:
    return value is None


_LEDGER = ConfigDict(frozen=True, extra="forbid")

PeriodStatus = Literal["open", "pending_close", "closed"]
Role = Literal["viewer", "operator"]


class SettingsChanged(BaseModel):
    """``settings.changed``: the settings after the change. A Multi-Org switch forced over
    unjournaled transactions of types it does not support also records ``forced`` and the
    counts it overrode, per type (both absent otherwise)."""

    model_config = _LEDGER

    settlement: Settlement
    harmonization: bool
    multi_org: bool
    forced: bool | None = Field(default=None, exclude_if=_absent)
    unjournaled: dict[str, int] | None = Field(default=None, exclude_if=_absent)


class OrgCreated(BaseModel):
    """``org.created``; the org's open-ended period comes as its own ``period.created``."""

    model_config = _LEDGER

    name: str = Field(min_length=1)


class PeriodCreated(BaseModel):
    """``period.created``. ``scope`` is the org, or ``""`` for the unlabeled scope. ``id``
    is null only in events recorded before periods had ids (the projection derives one)."""

    model_config = _LEDGER

    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    scope: str
    name: str = Field(min_length=1)
    start_date: date | None
    end_date: date | None
    fiscal_year: int | None
    fiscal_quarter: int | None
    open_ended: bool
    notes: str | None = None


class PeriodStatusChanged(BaseModel):
    """``period.status_changed``; ``from`` is spelt ``from_`` in Python."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True
    )

    scope: str
    name: str
    from_: PeriodStatus = Field(alias="from")
    to: PeriodStatus


class ApiKeyCreated(BaseModel):
    """``api_key.created``: never the token, only its SHA-256 (hex)."""

    model_config = _LEDGER

    name: str = Field(min_length=1)
    role: Role
    token_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: IsoZ


class ApiKeyRevoked(BaseModel):
    """``api_key.revoked``: the key stops working."""

    model_config = _LEDGER

    name: str = Field(min_length=1)
    revoked_at: IsoZ


LEDGER_EVENT_TYPES: Mapping[str, type[BaseModel]] = MappingProxyType({
    SETTINGS_CHANGED: SettingsChanged,
    ORG_CREATED: OrgCreated,
    PERIOD_CREATED: PeriodCreated,
    PERIOD_STATUS_CHANGED: PeriodStatusChanged,
    API_KEY_CREATED: ApiKeyCreated,
    API_KEY_REVOKED: ApiKeyRevoked,
})
"""Command event type -> model of its ``data``."""
