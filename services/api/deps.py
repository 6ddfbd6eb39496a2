"""What a route needs from the app: the store's pool, the settings it was created with, and
the caller's API key (None on an anonymous route called without one)."""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from services.api.auth import SCOPE_KEY, ApiKey
from services.config import Settings
from services.errors import RejectedInput


def _pool(request: Request) -> asyncpg.Pool:
    return cast(asyncpg.Pool, request.app.state.pool)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def _caller(request: Request) -> ApiKey | None:
    return cast(ApiKey | None, request.scope.get(SCOPE_KEY))


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
AppSettings = Annotated[Settings, Depends(_settings)]
Caller = Annotated[ApiKey | None, Depends(_caller)]


def one_org(names: list[str], what: str) -> str | None:
    """The org named by ``organizationLabels``: none (unlabeled) or exactly one."""
    if len(names) > 1:
        raise RejectedInput(
            "organization_labels_multiple",
            f"{what} belongs to one org: name at most one organization label, not "
            f"{', '.join(names)}",
        )
    return names[0] if names else None
