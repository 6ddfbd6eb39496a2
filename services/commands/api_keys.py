"""``ledger api-keys``: the HTTP API's keys (docs/contract.md §3 and §4).

A key has a unique name (the actor its requests are recorded as) and a role: ``viewer``
reads, ``operator`` also writes. Its token is random (32 bytes from ``secrets``), handed out
once by ``create_api_key`` and never stored: the log and the ``api_keys`` table keep only its
SHA-256, which is enough for a token of that entropy (no salt or slow hash needed: nothing
can be guessed). Creating and revoking are events, so a rebuild restores every key as it was.
A name is never reused, even after revocation, so an actor in the log names one key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any, cast, get_args

import asyncpg

from events.ledger_events import ApiKeyCreated, ApiKeyRevoked, Role
from services.commands.recording import admin_unit_of_work, command_event
from services.errors import Conflict, NotFound, RejectedInput

ROLES: tuple[str, ...] = get_args(Role)
#: Letters, digits and ``. _ @ -``: a name is printed in logs and tables, so nothing that
#: could forge a line or hide in one.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
TOKEN_PREFIX = "lk_"
TOKEN_BYTES = 32

_KEY = "SELECT name, role, created_at, revoked_at FROM api_keys WHERE name = $1"
_LIST = "SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY name"


def new_token() -> str:
    """``lk_`` and 32 random bytes, URL-safe base64 (46 characters): the prefix lets secret
    scanners and people recognise a ledger key."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored and looked up: the SHA-256 of the token, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise RejectedInput(
            "api_key_name_invalid",
            f"an API key name is 1 to 100 letters, digits, '.', '_', '@' or '-' (starting "
            f"with a letter or digit), not {name!r}",
        )
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise RejectedInput("api_key_role_invalid",
                            f"an API key's role is one of {', '.join(ROLES)}, not {role!r}")
    return cast(Role, role)


def key_dict(row: asyncpg.Record) -> dict[str, Any]:
    """A key as ``ledger api-keys list`` shows it: never its token or hash."""
    return {"name": row["name"], "role": row["role"], "created_at": row["created_at"],
            "revoked_at": row["revoked_at"]}


async def create_api_key(pool: asyncpg.Pool, name: str, role: str) -> dict[str, Any]:
    """A new key; the answer's ``token`` is the only copy of it there will ever be."""
    check_name(name)
    checked_role = check_role(role)
    token = new_token()
    async with admin_unit_of_work(pool) as uow:
        if await uow.conn.fetchrow(_KEY, name) is not None:
            raise Conflict("api_key_exists",
                           f"an API key named {name!r} exists (or existed: names are not "
                           "reused); choose another name")
        created = ApiKeyCreated(name=name, role=checked_role, token_hash=token_hash(token),
                                created_at=datetime.now(UTC))
        await uow.record([command_event(created, f"api_key:{name}")])
    return {"name": name, "role": role, "token": token}


async def revoke_api_key(pool: asyncpg.Pool, name: str) -> dict[str, Any]:
    """The key stops working at once, in every server (they look keys up per request)."""
    async with admin_unit_of_work(pool) as uow:
        row = await uow.conn.fetchrow(_KEY, name)
        if row is None:
            raise NotFound("api_key_not_found", f"no API key named {name!r}")
        if row["revoked_at"] is not None:
            raise Conflict("api_key_already_revoked",
                           f"API key {name!r} was already revoked at {row['revoked_at']}")
        await uow.record([command_event(ApiKeyRevoked(name=name, revoked_at=datetime.now(UTC)),
                                        f"api_key:{name}")])
        revoked = await uow.conn.fetchrow(_KEY, name)
    assert revoked is not None
    return key_dict(revoked)


async def list_api_keys(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [key_dict(r) for r in await conn.fetch(_LIST)]


_LIVE = "SELECT name, role FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL"


async def find_live_key(pool: asyncpg.Pool, hashed: str) -> tuple[str, str] | None:
    """(name, role) of the unrevoked key whose token hashes to ``hashed``, if any: one
    unique-index probe, made on every HTTP request and console page."""
    row = await pool.fetchrow(_LIVE, hashed)
    return (row["name"], row["role"]) if row is not None else None
