"""Every command event records who did it in its metadata (docs/design.md, Security).

One case per write path of the command handlers: each runs as its own actor, and every event
it appended, whatever its type, must name that actor. A new write path that bypasses
``command_event`` shows up here as an event without one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import pytest

from events.journal_rules import JournalRunRequest
from services.actor import acting_as, current_actor, os_user
from services.commands.api_keys import create_api_key, revoke_api_key
from services.commands.orgs import create_org
from services.commands.periods import change_period_status, create_period
from services.commands.settings import set_settings
from services.ingest.records import InboundRecord, Rejection
from services.ingest.writer import write_batch
from services.journal.entries import cancel_entry, cancel_run, set_transfer_status
from services.journal.run import create_journal_run
from services.operations.dlq import replay_rejected
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows, scalar
from tests.integration.ledger_setup import set_up

Command = Callable[[asyncpg.Pool], Awaitable[Any]]


async def run_april(pool: asyncpg.Pool) -> Any:
    return await create_journal_run(pool, JournalRunRequest(types=("invoice_item",),
                                                            period="Apr-2024"))


async def ignore_rejection(_rejection: Rejection) -> None:
    """The DLQ topic is not the point here: the refusal is stored in the log all the same."""


async def refuse_a_message(pool: asyncpg.Pool) -> None:
    """What the ingest does with a message that is not JSON: a refusal, with no actor (its
    metadata names where it came from)."""
    record = InboundRecord("billing.events", 0, 7, None, b"{not json")
    await write_batch(pool, [record], group_id=None, max_bytes=1_000_000,
                      publish_rejection=ignore_rejection)


#: (the command, the event types it appends). Each runs after the ones before it.
WRITE_PATHS: list[tuple[str, Command, list[str]]] = [
    ("settings set (and the ledger's defaults it initialises)",
     lambda pool: set_settings(pool, {"harmonization": "true"}),
     ["settings.changed", "period.created", "settings.changed"]),
    ("orgs create", lambda pool: create_org(pool, "US"), ["org.created", "period.created"]),
    ("periods create",
     lambda pool: create_period(pool, org=None, name="Apr-2024", start=date(2024, 4, 1),
                                end=date(2024, 4, 30), fiscal_year=2024),
     ["period.created"]),
    ("periods close",
     lambda pool: change_period_status(pool, org=None, name="Apr-2024", to="closed"),
     ["period.status_changed"]),
    ("periods reopen",
     lambda pool: change_period_status(pool, org=None, name="Apr-2024", to="open"),
     ["period.status_changed"]),
    ("api-keys create", lambda pool: create_api_key(pool, "ci", "viewer"),
     ["api_key.created"]),
    ("api-keys revoke", lambda pool: revoke_api_key(pool, "ci"), ["api_key.revoked"]),
    ("journal-runs create", run_april,
     ["journal_entry.created", "journal_entry.created", "journal_run.completed"]),
    ("journal-entries transfer",
     lambda pool: set_transfer_status(pool, "JE-00000001", "processing"),
     ["journal_entry.transfer_status_changed"]),
    ("journal-entries cancel", lambda pool: cancel_entry(pool, "JE-00000002"),
     ["journal_entry.cancelled"]),
    ("journal-runs cancel (keeps the transferred entry)",
     lambda pool: cancel_run(pool, "JR-00000001"), ["journal_run.cancelled"]),
    ("dlq replay", lambda pool: replay_rejected(pool, max_bytes=1_000_000),
     ["rejected_message.retried"]),
]


async def events_after(pool: asyncpg.Pool, position: int) -> list[dict[str, Any]]:
    return await rows(pool, "SELECT event_type, metadata FROM events WHERE position > $1 "
                            "ORDER BY position", position)


async def test_every_command_write_path_records_its_actor(pool: asyncpg.Pool) -> None:
    lines = [txn("invoice_item", "I-1", date(2024, 4, 2), "5", debit="AR-1"),
             txn("invoice_item", "I-2", date(2024, 4, 3), "7", debit="AR-2")]
    for n, (what, command, types) in enumerate(WRITE_PATHS):
        if what == "journal-runs create":  # periods exist by now; the run needs lines
            await store_lines(pool, lines)
        if what == "dlq replay":
            await refuse_a_message(pool)
        head = int(await scalar(pool, "SELECT coalesce(max(position), 0) FROM events"))
        actor = f"actor-{n}@example.com"
        with acting_as(actor):
            await command(pool)
        appended = await events_after(pool, head)
        assert [e["event_type"] for e in appended] == types, what
        assert [json.loads(e["metadata"]) for e in appended] == [{"actor": actor}] * len(
            types), what


async def test_outside_any_request_or_command_the_actor_is_the_os_user(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    metadata = await rows(pool, "SELECT DISTINCT metadata FROM events")
    assert [json.loads(r["metadata"]) for r in metadata] == [{"actor": os_user()}]


@pytest.mark.parametrize("name", ["alice", "ops.bot@example.com"])
def test_acting_as_nests_and_restores(name: str) -> None:
    outer = current_actor()
    with acting_as(name):
        assert current_actor() == name
        with acting_as("inner"):
            assert current_actor() == "inner"
        assert current_actor() == name
    assert current_actor() == outer
