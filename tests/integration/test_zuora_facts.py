"""What the Zuora-shaped API shows beyond the outbound events (a period's id, who and when of
its events, a run's executedOn, an entry's transfer time) is derived from the log: a
rebuild gives the same values, and a ledger migrated from before ids existed gets the ids a
rebuild derives."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from events.journal_rules import JournalRunRequest
from services.commands.periods import change_period_status, create_period
from services.journal.entries import set_transfer_status
from services.journal.run import create_journal_run
from services.operations.rebuild import rebuild
from services.store import log
from services.store.migrate import migrate, migration_files
from tests.integration.billing import store_lines, txn
from tests.integration.db import rows
from tests.integration.ledger_setup import set_up

FACTS = {
    "accounting_periods": "SELECT * FROM accounting_periods ORDER BY scope, name",
    "journal_runs": "SELECT * FROM journal_runs ORDER BY number",
    "journal_entries": "SELECT * FROM journal_entries ORDER BY number",
}


async def facts(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {name: await rows(pool, sql) for name, sql in FACTS.items()}


async def test_ids_and_times_are_recorded_and_a_rebuild_gives_them_back(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool, periods=[("Apr-2024", date(2024, 4, 1), date(2024, 4, 30))])
    await create_period(pool, org=None, name="May-2024", start=date(2024, 5, 1),
                        end=date(2024, 5, 31), fiscal_year=2024, notes="second")
    await store_lines(pool, [txn("invoice_item", "I-1", date(2024, 4, 2), "5.00")])
    await create_journal_run(pool, JournalRunRequest(types=("invoice_item",), period="Apr-2024"))
    await set_transfer_status(pool, "JE-00000001", "yes")
    await change_period_status(pool, org=None, name="Apr-2024", to="closed")

    created = await rows(pool, "SELECT e.payload -> 'data' ->> 'name' AS name, "
                               "e.payload -> 'data' ->> 'id' AS id, e.recorded_at "
                               "FROM events e WHERE event_type = 'period.created' "
                               "ORDER BY position")
    periods = {p["name"]: p for p in await rows(pool, "SELECT * FROM accounting_periods")}
    assert [(c["name"], c["id"]) for c in created] == [
        (name, periods[name]["id"]) for name in ("Open-Ended", "Apr-2024", "May-2024")]
    assert all(len(c["id"]) == 32 for c in created)
    assert periods["May-2024"]["notes"] == "second"
    closed_at = await rows(pool, "SELECT recorded_at FROM events "
                                 "WHERE event_type = 'period.status_changed'")
    assert (periods["Apr-2024"]["created_at"], periods["Apr-2024"]["updated_at"]) == (
        created[1]["recorded_at"], closed_at[0]["recorded_at"])
    assert periods["May-2024"]["updated_at"] == created[2]["recorded_at"]

    entry = (await rows(pool, "SELECT * FROM journal_entries"))[0]
    transferred = await rows(pool, "SELECT payload -> 'data' ->> 'at' AS at FROM events "
                                   "WHERE event_type = 'journal_entry.transfer_status_changed'")
    assert entry["transferred_at"] == datetime.fromisoformat(transferred[0]["at"])
    completed = await rows(pool, "SELECT recorded_at FROM events "
                                 "WHERE event_type = 'journal_run.completed'")
    assert (await rows(pool, "SELECT executed_at FROM journal_runs")) == [
        {"executed_at": completed[0]["recorded_at"]}]

    live = await facts(pool)
    async with pool.acquire() as conn:
        await rebuild(conn, page=2)
    assert await facts(pool) == live

    await set_transfer_status(pool, "JE-00000001", "processing")  # no longer yes: cleared
    assert await rows(pool, "SELECT transferred_at, transferred_by FROM journal_entries") == [
        {"transferred_at": None, "transferred_by": None}]


def old_period_event(data: dict[str, Any]) -> log.NewEvent:
    """A ``period.created`` as recorded before periods had ids (no ``id``, no ``notes``)."""
    event_id = uuid.uuid4()
    text = json.dumps({"event_id": str(event_id), "event_type": "period.created",
                       "occurred_at": "2024-03-01T00:00:00Z", "org": None,
                       "schema_version": 1, "data": data})
    return log.NewEvent(stream="periods:unlabeled", event_id=event_id,
                        event_type="period.created", org=None, payload=text,
                        body_hash=hashlib.sha256(text.encode()).digest())


async def test_periods_recorded_before_ids_get_the_ids_a_rebuild_derives(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                           "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, name, sql in migration_files():
            if version < 8:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) "
                                   "VALUES ($1, $2)", version, name)
        async with conn.transaction():
            await log.append(conn, [
                old_period_event({"scope": "", "name": "Open-Ended", "start_date": None,
                                  "end_date": None, "fiscal_year": None,
                                  "fiscal_quarter": None, "open_ended": True}),
                old_period_event({"scope": "", "name": "Apr-2024", "start_date": "2024-04-01",
                                  "end_date": "2024-04-30", "fiscal_year": 2024,
                                  "fiscal_quarter": None, "open_ended": False}),
            ])
            await conn.execute("""
                INSERT INTO accounting_periods (scope, name, start_date, end_date, fiscal_year,
                                                status, open_ended, event_position)
                VALUES ('', 'Open-Ended', NULL, NULL, NULL, 'open', true, 1),
                       ('', 'Apr-2024', '2024-04-01', '2024-04-30', 2024, 'open', false, 2)""")

        assert "0008_zuora_finance_shapes.sql" in await migrate(conn)

        query = ("SELECT p.name, p.id, p.created_at, p.updated_at, e.recorded_at "
                 "FROM accounting_periods p JOIN events e ON e.position = p.event_position "
                 "ORDER BY p.name")
        migrated = [dict(r) for r in await conn.fetch(query)]
        assert [(p["name"], p["id"]) for p in migrated] == [
            (name, hashlib.md5(f"accounting-period::{name}".encode()).hexdigest())
            for name in ("Apr-2024", "Open-Ended")]
        assert all(p["created_at"] == p["updated_at"] == p["recorded_at"] for p in migrated)

        await rebuild(conn, ["ledger"])
        assert [dict(r) for r in await conn.fetch(query)] == migrated
    finally:
        await conn.close()
