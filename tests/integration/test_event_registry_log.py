"""Every event type any write path of the ledger writes is in the registry, and every payload
it stores validates as its model (the demo's log is checked the same way in
tests/e2e/test_demo.py)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date

import asyncpg

from events.catalogue import EVENT_TYPES
from services.ingest.records import InboundRecord
from services.ingest.writer import write_batch
from services.journal.entries import set_transfer_status
from services.journal.reversal import reverse_entry
from services.operations.dlq import replay_rejected
from services.store import log
from services.store.unit_of_work import unit_of_work
from tests.integration.billing import status_changed, store_lines, txn
from tests.integration.ledger_setup import set_up
from tests.integration.registry import off_the_registry, types_in
from tests.integration.test_actor import (
    WRITE_PATHS,
    ignore_rejection,
    refuse_a_message,
    run_april,
)


async def test_every_write_path_writes_registered_events_its_models_would_write(
    pool: asyncpg.Pool,
) -> None:
    await store_lines(pool, [txn("invoice_item", "I-1", date(2024, 4, 2), "5", debit="AR-1"),
                             txn("invoice_item", "I-2", date(2024, 4, 3), "7", debit="AR-2")])
    for what, command, _types in WRITE_PATHS:
        if what == "dlq replay":
            await refuse_a_message(pool)
        await command(pool)
    # what the actor test does not reach: a reversal, a second run, a replay that stores
    await run_april(pool)  # the cancelled entry's transaction again
    await set_transfer_status(pool, "JE-00000001", "yes")
    await reverse_entry(pool, "JE-00000001", date(2024, 4, 30))
    early = status_changed([("invoice_item", "I-9", "posted")])
    await write_batch(pool, [InboundRecord("billing.events", 0, 8, None,
                                           json.dumps(early).encode())],
                      group_id=None, max_bytes=1_000_000, publish_rejection=ignore_rejection)
    await store_lines(pool, [txn("invoice_item", "I-9", date(2024, 4, 4), "9")])
    replayed = await replay_rejected(pool, max_bytes=1_000_000)
    assert (replayed["stored"], replayed["still_rejected"]) == (1, 1)  # and the bad JSON

    assert await off_the_registry(pool) == []
    written = await types_in(pool)
    assert written == {t for t in EVENT_TYPES if t in written}
    assert written >= {t for t, kind in EVENT_TYPES.items() if kind.origin != "inbound"}


async def test_an_unregistered_type_or_a_payload_off_its_model_is_reported(
    pool: asyncpg.Pool,
) -> None:
    await set_up(pool)
    assert await off_the_registry(pool) == []
    stray = {"event_id": str(uuid.uuid4()), "event_type": "org.renamed", "data": {"name": "x"}}
    misnamed = {"event_id": str(uuid.uuid4()), "event_type": "org.created",
                "data": {"org_name": "x"}}
    async with unit_of_work(pool) as uow:
        for n, payload in enumerate((stray, misnamed)):
            text = json.dumps(payload)
            await log.append(uow.conn, [log.NewEvent(
                f"test:{n}", uuid.UUID(payload["event_id"]), payload["event_type"], None,
                text, hashlib.sha256(text.encode()).digest())])
    last = int(await pool.fetchval("SELECT max(position) FROM events"))
    found = await off_the_registry(pool)
    assert [line.split(":")[0] for line in found] == [
        f"org.renamed at {last - 1}", f"org.created at {last}"]
    assert found[0].endswith("not registered") and "org_name" in found[1]
