"""``ledger api-keys`` as an operator runs it (docs/contract.md §3), and the actor the CLI
records: ``LEDGER_ACTOR``, else the OS user."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

import asyncpg

from services.actor import os_user
from services.config import Settings
from tests.e2e.test_cli import Ledger, error_code
from tests.helpers import process_env
from tests.integration.db import rows


async def test_create_list_revoke_and_a_rebuild_restores_them(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    ledger = Ledger(settings)
    ci = await ledger("api-keys", "create", "ci", "--role", "viewer")
    assert set(ci) == {"name", "role", "token"}
    assert (ci["name"], ci["role"]) == ("ci", "viewer")
    assert ci["token"].startswith("lk_") and len(ci["token"]) >= 43
    ops, bad_role, bad_name, unknown, taken, revoked = await ledger.many(
        ("api-keys", "create", "ops", "--role", "operator"),
        ("api-keys", "create", "admin", "--role", "admin", 2),
        ("api-keys", "create", "two words", "--role", "viewer", 2),
        ("api-keys", "revoke", "nobody", 3),
        ("api-keys", "create", "ci", "--role", "operator", 4),
        ("api-keys", "revoke", "ci"),
    )
    assert ops["token"] != ci["token"]
    assert [error_code(e) for e in (bad_role, bad_name, unknown, taken)] == [
        "api_key_role_invalid", "api_key_name_invalid", "api_key_not_found", "api_key_exists"]
    assert set(revoked) == {"name", "role", "created_at", "revoked_at"}
    assert (revoked["name"], revoked["role"]) == ("ci", "viewer") and revoked["revoked_at"]
    # only the token's SHA-256 is kept
    stored = await rows(pool, "SELECT name, token_hash FROM api_keys ORDER BY name")
    assert stored == [{"name": n, "token_hash": hashlib.sha256(t.encode()).hexdigest()}
                      for n, t in (("ci", ci["token"]), ("ops", ops["token"]))]

    again, reused, listed = await ledger.many(
        ("api-keys", "revoke", "ci", 4), ("api-keys", "create", "ci", "--role", "viewer", 4),
        ("api-keys", "list"))
    assert (error_code(again), error_code(reused)) == ("api_key_already_revoked",
                                                       "api_key_exists")
    assert [set(k) for k in listed] == [{"name", "role", "created_at", "revoked_at"}] * 2
    assert [(k["name"], k["role"], k["revoked_at"] is not None) for k in listed] == [
        ("ci", "viewer", True), ("ops", "operator", False)]
    text = json.dumps(listed)
    assert ci["token"] not in text and stored[0]["token_hash"] not in text

    rebuilt = await ledger("projections", "rebuild", "api_keys")
    assert rebuilt["rebuilt"] == ["api_keys"]
    relisted, verified = await ledger.many(("api-keys", "list"), ("verify",))
    assert relisted == listed  # the revoked key stays revoked
    assert (verified["ok"], verified["violations"]) == (True, [])


async def test_without_json_the_token_alone_is_on_stdout(
    settings: Settings, pool: asyncpg.Pool  # a migrated schema
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "api-keys", "create", "deploy", "--role",
        "operator", env=process_env(settings), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    token = out.decode().strip()
    assert token.startswith("lk_") and len(token) >= 43 and token in out.decode().splitlines()
    assert "shown this once" in err.decode() and token not in err.decode()


async def test_a_command_records_ledger_actor_or_else_the_os_user(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    as_alice = Ledger(settings)
    as_alice.env["LEDGER_ACTOR"] = "alice"
    as_os_user = Ledger(settings)
    as_os_user.env.pop("LEDGER_ACTOR", None)
    await asyncio.gather(as_alice("orgs", "create", "US"), as_os_user("orgs", "create", "EU"))
    written = await rows(pool, "SELECT org, event_type, metadata FROM events "
                               "WHERE org IN ('US', 'EU') ORDER BY org DESC, position")
    assert [(e["org"], e["event_type"], json.loads(e["metadata"])) for e in written] == [
        ("US", "org.created", {"actor": "alice"}),
        ("US", "period.created", {"actor": "alice"}),
        ("EU", "org.created", {"actor": os_user()}),
        ("EU", "period.created", {"actor": os_user()}),
    ]
